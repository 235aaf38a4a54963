# shellcheck shell=bash disable=SC2034  # the variables are for up.sh / down.sh / status.sh
# Shared by up.sh / down.sh / status.sh: layout of the two-libvirtd test bed. Sourced, not run.
#
# Two monolithic libvirtd (Debian 12: libvirt 9.0) instances, each in its own network namespace
# (one veth pair between them, TEST-NET-1 addresses that exist only inside those namespaces) and
# its own private mount namespace (its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, ...).
# Clients in the root namespace reach them through their unix sockets.
# shellcheck source=../../../scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/scripts/lib.sh"

TB_CACHE=$S390X_KVM_CACHE/testbed
TB_LIBVIRT=$TB_CACHE/libvirt
TB_IMAGES=$TB_LIBVIRT/images          # same path on both hosts: the "shared storage"
TB_HOSTS=(kvmhost1 kvmhost2)
# The libvirt stack the two hosts run (TB_STACK, or --stack for up/down/status.sh):
#   debian12  this machine's libvirt 9.0 and QEMU 7.2 (hosts under $TB_LIBVIRT)
#   debian13  libvirt 11 and QEMU 10 of a Debian 13 root (../lib/debian13.sh), chrooted, hosts
#             under $TB_LIBVIRT/debian13, in the same network namespaces as debian12's (so a guest
#             can migrate from one stack to the other), with their own migration ports.
TB_STACKS=(debian12 debian13)
if [ "${1:-}" = --stack ]; then
    TB_STACK=${2:-}
    shift 2 || true
fi
TB_STACK=${TB_STACK:-debian12}
case $TB_STACK in
    debian12) TB_STACK_DIR=$TB_LIBVIRT ;;
    debian13) TB_STACK_DIR=$TB_LIBVIRT/debian13 ;;
    *) echo "unknown stack '$TB_STACK' (allowed: ${TB_STACKS[*]})" >&2; exit 2 ;;
esac
TB_LIBVIRT_DIRS=(etc run lib log cache)
# Bind mount targets inside each host's mount namespace, in TB_LIBVIRT_DIRS order.
TB_LIBVIRT_TARGETS=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)
TB_APT_PACKAGES=(qemu-system-misc qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    iproute2 util-linux)

# host_index NAME -> 1 or 2
host_index() { case $1 in kvmhost1) echo 1 ;; kvmhost2) echo 2 ;; *) echo "unknown host $1" >&2; return 1 ;; esac; }
host_dir() { echo "$TB_STACK_DIR/$1"; }
host_netns() { echo "s390xkvm-h$(host_index "$1")"; }
host_ifname() { echo "tbveth$(host_index "$1")"; }
host_addr() { echo "192.0.2.$(host_index "$1")"; }      # 192.0.2.0/30, RFC 5737 TEST-NET-1, never routed
host_uuid() { echo "5a390b1e-7e57-4000-8000-0000000000$([ "$TB_STACK" = debian12 ] && echo 0 || echo 1)$(host_index "$1")"; }
# QEMU's incoming migration ports (qemu.conf): each stack its own range, as they share the namespaces.
host_migration_ports() { [ "$TB_STACK" = debian12 ] && echo "49152 49215" || echo "49216 49279"; }
host_pidfile() { echo "$(host_dir "$1")/libvirtd.pid"; }
host_socket() { echo "$(host_dir "$1")/run/libvirt-sock"; }
host_uri() { echo "qemu+unix:///system?socket=$(host_socket "$1")"; }

# host_pid NAME: the pid of that host's libvirtd if it runs, else nothing (status 1). By its pid
# file, or else by the command line naming that pid file (only our instances do: a libvirtd whose
# pid file was removed under it must still be found).
host_pid() {
    local pidfile pid p
    pidfile=$(host_pidfile "$1")
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ]; then
            echo "$pid"; return 0
        fi
    fi
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = libvirtd ] || continue
        if tr '\0' '\n' < "$p/cmdline" 2>/dev/null | grep -qxF -- "$pidfile"; then
            echo "${p#/proc/}"; return 0
        fi
    done
    return 1
}

# tb_lock: serialise up.sh/down.sh runs (several pytest sessions may share the test bed).
tb_lock() {
    mkdir -p "$TB_CACHE"
    exec 9>"$TB_CACHE/.libvirt-setup.lock"
    if ! flock -w 600 9; then
        echo "could not lock $TB_CACHE/.libvirt-setup.lock within 600 s" >&2
        exit 1
    fi
}

# netns_inode NS: inode of the named network namespace (empty if absent).
netns_inode() { stat -L -c %i "/run/netns/$1" 2>/dev/null || true; }

# netns_in_use NS: a process (another stack's libvirtd or QEMU) still lives in that namespace.
netns_in_use() {
    local want p
    want=$(netns_inode "$1")
    [ -n "$want" ] || return 1
    for p in /proc/[0-9]*; do
        [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$want" ] && return 0
    done
    return 1
}

# host_in_netns NAME PID: does PID live in NAME's network namespace?
host_in_netns() {
    local want have
    want=$(netns_inode "$(host_netns "$1")")
    have=$(stat -L -c %i "/proc/$2/ns/net" 2>/dev/null || true)
    [ -n "$want" ] && [ "$want" = "$have" ]
}

# host_ready NAME: libvirtd answers on its socket.
host_ready() { virsh -q -c "$(host_uri "$1")" uri >/dev/null 2>&1; }
