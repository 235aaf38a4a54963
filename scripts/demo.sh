#!/usr/bin/env bash
# The main job, against the embedded default environment:
#   1. discovery of the bundled example IBM Z KVM host (a sysfs tree with DASDs, OSA, HiperSockets,
#      FCP, zPCI and crypto), as tables and JSON;
#   2. discovery of the emulated IBM Z host: Debian's s390x 6.12 kernel under qemu-system-s390x,
#      its real css/ccw/zPCI sysfs read over ssh like any Z host;
#   3. an s390x guest on a real libvirtd (qemu-system-s390x TCG) deployed from inventory variables
#      by s390x.kvm.deploy_guests, shown as the guest saw it and as domain_info reports it, removed;
#   4. live migration of a running guest with a zPCI device (non-migratable, like pass-through)
#      between the two libvirt hosts and back with s390x.kvm.migrate: preflight report, phase and
#      outage table, the hotplug events the guest saw; then the guest is removed.
# Usage: scripts/demo.sh [1 2 3 4]   (default: all parts; S390X_KVM_DEMO_KEEP=1 keeps the guests and
# the libvirt hosts up; otherwise what the demo started is stopped again)
# Installs what it needs (Debian packages, a virtualenv, the collection, the test bed) on first use.
source "$(dirname "$0")/lib.sh"
base_setup
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(1 2 3 4)
tb_cache=$S390X_KVM_CACHE/testbed

demo_root=${S390X_KVM_DEMO_ROOT:-$S390X_KVM_CACHE/demo/example-zhost}
export S390X_KVM_DEMO_ROOT=$demo_root
report_dir=$S390X_KVM_CACHE/demo/reports

part_1() {
    log "part 1: building the example Z host tree at $demo_root"
    (cd "$S390X_KVM_ROOT" && python -m tests.fixtures.sysfs_builder tests/fixtures/hosts/small_kvm_host.yml "$demo_root" --force)
    log "discovering it with s390x.kvm.discover"
    ansible-playbook -i "$S390X_KVM_ROOT/playbooks/inventory/demo.yml" "$S390X_KVM_ROOT/playbooks/discover.yml" \
        -e report_dir="$report_dir"
    log "JSON report: $report_dir/example-zhost.json"
    python - "$report_dir/example-zhost.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for section in ("ccw", "zpci", "ap"):
    report[section].pop("invocation", None)
print(json.dumps({"summary": report["ccw"]["summary"], "ipl": report["ccw"].get("ipl"),
                  "dasds": [d for d in report["ccw"]["devices"] if d["kind"] == "dasd"][:3],
                  "zpci": report["zpci"]["functions"][:2]}, indent=2))
print("... full report: %s" % sys.argv[1])
PY
}

zhost_started=""
part_2() {
    local zhost=$S390X_KVM_ROOT/tests/testbed/zhost
    log "part 2: the emulated IBM Z host (Debian's s390x 6.12 kernel under qemu-system-s390x, TCG)"
    if ! bash "$zhost/status.sh" >/dev/null 2>&1; then
        zhost_started=1
    fi
    bash "$zhost/up.sh"
    log "discovering it over ssh with s390x.kvm.discover"
    ansible-playbook -i "$tb_cache/zhost/inventory.yml" "$S390X_KVM_ROOT/playbooks/discover.yml" -e report_dir="$report_dir"
    log "JSON report: $report_dir/zhost.json"
    if [ -n "$zhost_started" ]; then
        bash "$zhost/down.sh"
        zhost_started=""
    fi
}

# libvirt_up: the two libvirt hosts, taken down again at the end if the demo started them.
libvirt_started=""
libvirt_up() {
    if [ -z "$libvirt_started" ] && ! bash "$S390X_KVM_ROOT/tests/testbed/libvirt/status.sh" >/dev/null 2>&1; then
        libvirt_started=1
    fi
    bash "$S390X_KVM_ROOT/tests/testbed/libvirt/up.sh"
}
libvirt_down() {
    if [ -n "$libvirt_started" ] && [ "${S390X_KVM_DEMO_KEEP:-0}" != 1 ]; then
        log "stopping the libvirt hosts the demo started"
        bash "$S390X_KVM_ROOT/tests/testbed/libvirt/down.sh" >/dev/null
    fi
}
# Whatever happens, stop what the demo started.
on_exit() {
    if [ -n "$zhost_started" ]; then
        bash "$S390X_KVM_ROOT/tests/testbed/zhost/down.sh" >/dev/null 2>&1 || true
    fi
    libvirt_down
}
trap on_exit EXIT

part_3() {
    local vars=$S390X_KVM_CACHE/demo/guest-vars.yml
    log "part 3: an s390x guest on a real libvirtd (kvmhost1 of the test bed)"
    libvirt_up
    bash "$S390X_KVM_ROOT/tests/testbed/guest/build.sh"
    # The guest's variables, as an operator writes them in an inventory (paths of this machine).
    python - "$tb_cache" "$vars" "${S390X_KVM_DEMO_KEEP:-0}" <<'PY'
import json, os, sys, yaml
tb_cache, out, keep = sys.argv[1:]
image = json.load(open(os.path.join(tb_cache, "guest", "image.json")))
work = os.path.join(tb_cache, "libvirt", "images", "demo")
guest = {
    "name": "demo-guest", "memory_mib": 512,
    "kernel": image["kernel"], "initrd": image["initrd"], "cmdline": image["cmdline"] + " tb.virtiofs=share",
    "console_log": os.path.join(work, "demo-guest.console.log"),
    "disks": [{"name": "vda", "kind": "image", "path": os.path.join(work, "root.qcow2")},
              {"name": "sda", "kind": "cdrom", "path": os.path.join(work, "install.iso")}],
    "interfaces": [{"kind": "bridge", "source": "demobr0", "name": "lan"}],
    "filesystems": [{"tag": "share", "source": os.path.join(work, "share")}],
    "gpu": True, "keyboard": True, "mouse": True,
}
yaml.safe_dump({"kvm_guests": [guest], "demo_dir": work, "demo_netns": "s390xkvm-h1", "demo_bridge": "demobr0",
                "demo_keep": keep == "1", "deploy_guests_hosts": "kvmhost1", "guest_uri": "{{ libvirt_uri }}"},
               open(out, "w"), default_flow_style=False)
PY
    rm -f "$tb_cache/libvirt/images/demo/demo-guest.console.log"
    ansible-playbook -i "$S390X_KVM_ROOT/tests/testbed/libvirt/inventory.yml" "$S390X_KVM_ROOT/scripts/demo/guest.yml" -e "@$vars"
}

part_4() {
    log "part 4: live migration with a zPCI device between the two libvirt hosts, and back"
    libvirt_up
    bash "$S390X_KVM_ROOT/tests/testbed/guest/build.sh"
    ansible-playbook -i "$S390X_KVM_ROOT/tests/testbed/libvirt/inventory.yml" "$S390X_KVM_ROOT/scripts/demo/migrate.yml" \
        -e demo_keep="${S390X_KVM_DEMO_KEEP:-0}"
}

for part in "${parts[@]}"; do
    case $part in
        1|2|3|4) "part_$part" ;;
        *) echo "unknown part $part (allowed: 1 2 3 4)" >&2; exit 2 ;;
    esac
done
