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
TB_LIBVIRT_DIRS=(etc run lib log cache)
# Bind mount targets inside each host's mount namespace, in TB_LIBVIRT_DIRS order.
TB_LIBVIRT_TARGETS=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)
TB_APT_PACKAGES=(qemu-system-misc qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    iproute2 util-linux)

# host_index NAME -> 1 or 2
host_index() { case $1 in kvmhost1) echo 1 ;; kvmhost2) echo 2 ;; *) echo "unknown host $1" >&2; return 1 ;; esac; }
host_dir() { echo "$TB_LIBVIRT/$1"; }
host_netns() { echo "s390xkvm-h$(host_index "$1")"; }
host_ifname() { echo "tbveth$(host_index "$1")"; }
host_addr() { echo "192.0.2.$(host_index "$1")"; }      # 192.0.2.0/30, RFC 5737 TEST-NET-1, never routed
host_uuid() { echo "5a390b1e-7e57-4000-8000-00000000000$(host_index "$1")"; }
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

# host_in_netns NAME PID: does PID live in NAME's network namespace?
host_in_netns() {
    local want have
    want=$(netns_inode "$(host_netns "$1")")
    have=$(stat -L -c %i "/proc/$2/ns/net" 2>/dev/null || true)
    [ -n "$want" ] && [ "$want" = "$have" ]
}

# host_ready NAME: libvirtd answers on its socket.
host_ready() { virsh -q -c "$(host_uri "$1")" uri >/dev/null 2>&1; }
