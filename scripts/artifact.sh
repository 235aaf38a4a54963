#!/usr/bin/env bash
# The release artifact, as users get it (the changelog is the changelog stage's: scripts/changelog.sh):
# `ansible-galaxy collection build` -> the tarball checked (what it must hold, what it must not), installed into an empty
# collections path, and the discovery playbook run from there on the example host (a fixture tree),
# with nothing of this checkout on the collections path.
#   scripts/artifact.sh [OUTDIR]    (OUTDIR keeps the tarball; default: a temporary directory)
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${1:-$work/dist}
mkdir -p "$out"

version=$(sed -n 's/^version: *//p' galaxy.yml)
log "ansible-galaxy collection build (s390x.kvm $version)"
ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$out/s390x-kvm-$version.tar.gz
[ -f "$tarball" ] || { echo "no $tarball after the build" >&2; exit 1; }

tar -tzf "$tarball" | sed 's|^\./||' | sort > "$work/content"
missing=()
for path in MANIFEST.json FILES.json README.md CHANGELOG.md meta/runtime.yml meta/execution-environment.yml \
        requirements.txt bindep.txt playbooks/discover.yml playbooks/deploy_guests.yml playbooks/migrate.yml \
        plugins/modules/ccw_info.py plugins/module_utils/host_fs.py plugins/plugin_utils/_guest_model.py \
        plugins/inventory/libvirt_guests.py roles/guest/meta/argument_specs.yml roles/guest/templates/domain.xml.j2; do
    grep -qx "$path" "$work/content" || missing+=("$path")
done
# The test bed, fixtures, scripts, molecule scenarios and the execution environment's definitions
# stay out (galaxy.yml build_ignore).
unwanted=$(grep -E '^(tests/(testbed|integration|fixtures|molecule)|scripts|benchmarks|ee|\.ci)/|/molecule/|\.tar\.gz$' \
    "$work/content" || true)
if [ ${#missing[@]} -ne 0 ] || [ -n "$unwanted" ]; then
    echo "the tarball lacks: ${missing[*]:-nothing}" >&2
    echo "and holds what it must not: ${unwanted:-nothing}" >&2
    exit 1
fi
log "$(basename "$tarball"): $(wc -l < "$work/content") entries, $(du -k "$tarball" | cut -f1) KiB"

log "ansible-galaxy collection install (an empty collections path, offline)"
ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-galaxy collection install --offline -p "$work/collections" "$tarball" >/dev/null
python -m tests.fixtures.sysfs_builder tests/fixtures/hosts/small_kvm_host.yml "$work/example-zhost" --force >/dev/null
cat > "$work/inventory.yml" <<EOF
all:
  hosts:
    example-zhost:
      ansible_connection: local
      ansible_python_interpreter: $(command -v python)
      host_root: $work/example-zhost
EOF

log "the installed collection's discovery playbook on the example host"
# Only the installed copy: no checkout symlink, no collections of the Python installation, no ansible.cfg
# (the run is in the temporary directory).
(cd "$work" && env ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ansible-playbook -i inventory.yml s390x.kvm.discover -e report_dir="$work/reports")
report=$work/reports/example-zhost.json
python -m tests.testbed.discover_report "$report" tests/fixtures/hosts/small_kvm_host.yml
(cd "$work" && ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ansible-doc -t role s390x.kvm.guest -e guests >/dev/null)
log "artifact: built, installed and run${1:+ (kept: $tarball)}"
