#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at .../ansible_collections/s390x/kvm (where
# ansible-test requires it), with the pip bootstrap served locally (see ansible_test_get_pip.py).
#   scripts/sanity.sh [ARGS]             ansible-core 2.19 on Python 3.11 (the baseline controller)
#   scripts/sanity.sh --current [ARGS]   the current controller's ansible-core on Python 3.13 (scripts/current.sh)
source "$(dirname "$0")/lib.sh"
base_setup
apt_ensure git   # the copy takes git's file list; ansible-test lists the copy's files through git

# A copy per checkout (as lib.sh's collections path): two checkouts' runs never delete each other's.
checkout=$(basename "$S390X_KVM_COLLECTIONS")
if [ "${1:-}" = --current ]; then
    shift
    python_version=3.13
    work=$S390X_KVM_CACHE/sanity-current/$checkout/ansible_collections/s390x/kvm
    in_controller() { bash "$S390X_KVM_ROOT/scripts/current.sh" run "$@"; }
else
    python_version=3.11
    work=$S390X_KVM_CACHE/sanity/$checkout/ansible_collections/s390x/kvm
    in_controller() { "$@"; }
fi

# ansible-test fetches get-pip.py for the pip it pins; this machine serves it from its cache.
pip_version=$(in_controller python "$S390X_KVM_ROOT/scripts/ansible_test_pip_version.py")
mkdir -p "$HOME/.ansible/test/cache"
cp "$S390X_KVM_ROOT/scripts/ansible_test_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

rm -rf "$work" && mkdir -p "$work"
# What the released collection contains: every file, less galaxy.yml's build_ignore.
(cd "$S390X_KVM_ROOT" && git ls-files -co --exclude-standard -z \
    | python "$S390X_KVM_ROOT/scripts/release_files.py" "$S390X_KVM_ROOT/galaxy.yml" \
    | rsync -a --from0 --files-from=- ./ "$work/")
cd "$work" || exit 1
# ansible-test lists a collection's files through git when it can (the Debian 13 root has no git:
# there it walks the copy, which holds the same files).
[ "$python_version" = 3.13 ] || { git init -q && git add -A >/dev/null; }
log "ansible-test sanity (python $python_version)"
in_controller ansible-test sanity --local --python "$python_version" --requirements --color no "$@"
