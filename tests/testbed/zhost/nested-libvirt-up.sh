#!/bin/bash
# Two libvirt hosts INSIDE the emulated Z host (nested: QEMU under TCG inside QEMU under TCG), for
# tests that need real s390x pass-through devices (vfio-ccw mdevs of the zhost's real kernel) in a
# guest that is migrated from one libvirtd to another. Idempotent.
#   tests/testbed/zhost/nested-libvirt-up.sh            bring them up (the zhost must be up: up.sh)
#   tests/testbed/zhost/nested-libvirt-up.sh --restart  stop them first (their running guests are
#                                                       destroyed), then bring them up
#   tests/testbed/zhost/nested-libvirt-up.sh --down     stop them and remove their state
# Prints, per host, the line tests/testbed/libvirt/up.sh prints:
#   kvmhost1 qemu+unix:///system?socket=/var/cache/s390x-kvm/testbed/libvirt/kvmhost1/run/libvirt-sock migration_address=192.0.2.1 pid=1234
# The URIs work from the zhost's root namespace (for virsh, python3-libvirt and the modules run
# there); the migration addresses exist only inside the two hosts' network namespaces.
#
# It is the two-libvirtd test bed itself (tests/testbed/libvirt/up.sh, down.sh and their
# common.sh, with scripts/lib.sh) run inside the zhost: this script copies them there (to
# /usr/local/lib/s390x-kvm, the checkout's layout) and runs them with --inside. The zhost image
# carries their packages (zhost/common.sh takes TB_APT_PACKAGES into the image), so their apt_ensure
# finds everything installed, and libvirt's QEMU capability cache, baked at build time, which is
# copied into each host's own cache directory: the first connection then takes ~2 s instead of ~50 s.

NESTED_FILES=(scripts/lib.sh tests/testbed/libvirt/common.sh tests/testbed/libvirt/up.sh
    tests/testbed/libvirt/down.sh tests/testbed/zhost/nested-libvirt-up.sh)
NESTED_DEST=/usr/local/lib/s390x-kvm
BAKED_CACHE=/var/cache/libvirt/qemu/capabilities

# ---------------------------------------------------------------- inside the zhost
inside() {
    local top h cache missing=() p t0
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    # shellcheck source=../libvirt/common.sh
    source "$top/tests/testbed/libvirt/common.sh"
    need_root
    # up.sh would reach for apt-get (offline here) for anything missing: say what to rebuild instead.
    for p in "${TB_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        echo "the zhost image lacks ${missing[*]} (TB_APT_PACKAGES of tests/testbed/libvirt/common.sh):" \
             "rebuild it (tests/testbed/zhost/down.sh; tests/testbed/zhost/up.sh)" >&2
        exit 1
    fi
    case ${1:-} in
        --down) bash "$top/tests/testbed/libvirt/down.sh" --purge; return ;;
        # (down.sh looks for each host's libvirtd even without a pid file, one process at a time:
        # ~1 min under TCG when none runs)
        --restart) if pidof libvirtd >/dev/null; then bash "$top/tests/testbed/libvirt/down.sh"; fi ;;
        "") ;;
        *) echo "unknown option $1 (allowed: --restart, --down)" >&2; exit 2 ;;
    esac
    for h in "${TB_HOSTS[@]}"; do
        cache=$(host_dir "$h")/cache/qemu/capabilities
        if ! compgen -G "$cache/*.xml" >/dev/null && compgen -G "$BAKED_CACHE/*.xml" >/dev/null; then
            mkdir -p "$cache"
            cp -a "$BAKED_CACHE/." "$cache/"
        fi
    done
    t0=$(date +%s.%N)
    bash "$top/tests/testbed/libvirt/up.sh"
    log "nested libvirt hosts up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

if [ "${1:-}" = --inside ]; then
    shift
    inside "$@"
    exit 0
fi

# ---------------------------------------------------------------- on this machine
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
zh_pid >/dev/null || { echo "the zhost is not up (tests/testbed/zhost/up.sh)" >&2; exit 1; }
# shellcheck disable=SC2029  # expanded here on purpose
tar -C "$S390X_KVM_ROOT" -c "${NESTED_FILES[@]}" \
    | zh_ssh "rm -rf $NESTED_DEST && mkdir -p $NESTED_DEST && tar -x -C $NESTED_DEST --no-same-owner &&
              bash $NESTED_DEST/tests/testbed/zhost/nested-libvirt-up.sh --inside ${1:-}"
