#!/bin/bash
# Bring up the two libvirt hosts of the test bed (idempotent). See README.md.
#   tests/testbed/libvirt/up.sh [--stack debian12|debian13]   -> prints the hosts' URIs when both answer
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
apt_ensure "${TB_APT_PACKAGES[@]}"
chroot_root=""
if [ "$TB_STACK" = debian13 ]; then
    # shellcheck source=../lib/debian13.sh
    source "$(dirname "${BASH_SOURCE[0]}")/../lib/debian13.sh"
    debian13_root_ensure
    chroot_root=$DEBIAN13_ROOT
fi
dev_ensure /dev/net/tun tun "the test bed's guests have tap NICs (interface type ethernet/bridge)" || exit 1
tb_lock

# --- network: one veth pair between the two namespaces, nothing in the root namespace ---
net_up() {
    local h ns
    for h in "${TB_HOSTS[@]}"; do
        ns=$(host_netns "$h")
        [ -e "/run/netns/$ns" ] || ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    local ns1 ns2 if1 if2
    ns1=$(host_netns kvmhost1) ns2=$(host_netns kvmhost2)
    if1=$(host_ifname kvmhost1) if2=$(host_ifname kvmhost2)
    if ! ip -n "$ns1" link show "$if1" >/dev/null 2>&1 || ! ip -n "$ns2" link show "$if2" >/dev/null 2>&1; then
        ip -n "$ns1" link del "$if1" 2>/dev/null || true
        ip -n "$ns2" link del "$if2" 2>/dev/null || true
        ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2" \
            || { echo "cannot create the veth pair $if1/$if2 between $ns1 and $ns2 (kernel module veth)" >&2; exit 1; }
    fi
    for h in "${TB_HOSTS[@]}"; do
        ns=$(host_netns "$h")
        ip -n "$ns" addr replace "$(host_addr "$h")/30" dev "$(host_ifname "$h")"
        ip -n "$ns" link set "$(host_ifname "$h")" up
    done
}

# --- configuration of one host (rewritten every time: cheap, and keeps it in step with this file) ---
host_config() {
    local h=$1 dir d
    dir=$(host_dir "$h")
    for d in "${TB_LIBVIRT_DIRS[@]}"; do mkdir -p "$dir/$d"; done
    mkdir -p "$TB_IMAGES"
    cat > "$dir/etc/libvirtd.conf" <<CONF
# s390x.kvm test bed: $h, stack $TB_STACK (written by tests/testbed/libvirt/up.sh)
host_uuid = "$(host_uuid "$h")"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
    cat > "$dir/etc/qemu.conf" <<CONF
# s390x.kvm test bed: $h (written by tests/testbed/libvirt/up.sh)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_address = "$(host_addr "$h")"
migration_host = "$(host_addr "$h")"
migration_port_min = $(host_migration_ports "$h" | cut -d' ' -f1)
migration_port_max = $(host_migration_ports "$h" | cut -d' ' -f2)
CONF
}

# --- start one libvirtd inside its network namespace and a private mount namespace ---
host_start() {
    local h=$1 dir ns pid
    dir=$(host_dir "$h") ns=$(host_netns "$h")
    if pid=$(host_pid "$h"); then
        if host_in_netns "$h" "$pid" && host_ready "$h"; then
            log "$h: libvirtd already running (pid $pid)"
            return 0
        fi
        log "$h: libvirtd (pid $pid) is outside namespace $ns or does not answer: restarting it"
        kill "$pid"
        for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then kill -9 "$pid"; fi
    fi
    rm -f "$(host_pidfile "$h")"
    log "$h: starting libvirtd in netns $ns ($(host_addr "$h"))"
    # The mount points must exist on the root file system (empty directories).
    mkdir -p "${TB_LIBVIRT_TARGETS[@]}"
    # libvirtd 9.0 resolves the user "libvirt-qemu" (made by libvirt-daemon-system, which we do not
    # install: it would start the system libvirtd) even with user = "root": give the namespace its
    # own passwd/group with that user instead of changing the machine's.
    local ids=""
    if [ -z "$chroot_root" ] && ! getent passwd libvirt-qemu >/dev/null; then
        cp /etc/passwd "$dir/passwd" && cp /etc/group "$dir/group"
        grep -q '^libvirt-qemu:' "$dir/group" || echo "libvirt-qemu:x:64055:" >> "$dir/group"
        echo "libvirt-qemu:x:64055:64055:Libvirt Qemu (s390x.kvm test bed),,,:/var/lib/libvirt:/usr/sbin/nologin" >> "$dir/passwd"
        ids=1
    fi
    # shellcheck disable=SC2016
    # 9>&-: libvirtd must not inherit (and so hold forever) the set-up lock of tb_lock
    ip netns exec "$ns" unshare -m --propagation private /bin/bash -euc '
        dir=$1 pidfile=$2 ids=$3 root=$4 cache=$5; shift 5
        # The new namespace starts with a copy of every mount (the root namespace is private, so
        # later unmounts do not reach it). Drop the copies whose lifetime belongs to others: a FUSE
        # file system (its server never sees the last unmount while a copy lives here: molecule
        # destroy waited for it forever) and named network namespaces (a copy keeps a deleted one).
        awk '"'"'$3 ~ /^fuse/ || $3 == "nsfs" { print $2 }'"'"' /proc/self/mounts | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        if [ -n "$root" ]; then
            # Debian 13: libvirtd of the root, chrooted, with the kernel file systems, this
            # machine'"'"'s /tmp and the cache (images, kernels, the host directories) at their paths.
            # The root is made a mount point first: virtiofsd'"'"'s sandbox remounts / (EINVAL on a
            # plain directory).
            mount --bind "$root" "$root"
            mount -t proc proc "$root/proc"
            mount --rbind /sys "$root/sys"
            mount --rbind /dev "$root/dev"
            mount -t tmpfs -o mode=0755 tmpfs "$root/run"
            mount --rbind /tmp "$root/tmp"
            mkdir -p "$root$cache"
            mount --bind "$cache" "$root$cache"
        fi
        for d in etc run lib log cache; do
            mkdir -p "$root$1"
            mount --bind "$dir/$d" "$root$1"; shift
        done
        if [ -n "$ids" ]; then
            mount --bind "$dir/passwd" /etc/passwd
            mount --bind "$dir/group" /etc/group
        fi
        cd /
        if [ -n "$root" ]; then
            exec chroot "$root" /usr/sbin/libvirtd -d --pid-file "$pidfile"
        fi
        exec /usr/sbin/libvirtd -d --pid-file "$pidfile"
    ' host-start "$dir" "$(host_pidfile "$h")" "$ids" "$chroot_root" "$S390X_KVM_CACHE" "${TB_LIBVIRT_TARGETS[@]}" 9>&-
    for _ in $(seq 300); do
        host_ready "$h" && break
        sleep 0.1
    done
    if ! host_ready "$h"; then
        echo "$h: libvirtd did not answer on $(host_socket "$h"); log: $dir/log/libvirtd.log" >&2
        tail -n 20 "$dir/log/libvirtd.log" >&2 2>/dev/null || true
        exit 1
    fi
}

net_up
for h in "${TB_HOSTS[@]}"; do host_config "$h"; done
for h in "${TB_HOSTS[@]}"; do host_start "$h"; done
for h in "${TB_HOSTS[@]}"; do
    printf '%s %s migration_address=%s pid=%s\n' "$h" "$(host_uri "$h")" "$(host_addr "$h")" "$(host_pid "$h")"
done
