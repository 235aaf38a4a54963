# shellcheck shell=bash disable=SC2034  # the settings are read by the scripts that source this file
# Shared by build.sh / up.sh / down.sh / status.sh: layout and device configuration of the
# emulated IBM Z host (Debian's s390x 6.12 kernel under qemu-system-s390x, TCG). Sourced, not run.

# shellcheck source=../lib/vfio_ccw.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/vfio_ccw.sh"

ZH_HERE=$S390X_KVM_ROOT/tests/testbed/zhost
ZH_DIR=$TB_CACHE/zhost
ZH_IMAGE=$ZH_DIR/image          # built once (cached): root.img (pristine), initrd.gz, key
ZH_RUN=$ZH_DIR/run              # per boot: overlay, data disks, console log, pid file, QMP socket
ZH_SSH=$ZH_DIR/ssh              # host keys and the test key pair (kept across image rebuilds)
ZH_INVENTORY=$ZH_DIR/inventory.yml
ZH_PIDFILE=$ZH_RUN/qemu.pid
ZH_CONSOLE=$ZH_RUN/console.log
ZH_PORT=${S390X_KVM_ZHOST_PORT:-22220}
# 2 GiB: room for two nested libvirtd and their QEMUs (tests/testbed/zhost/nested-libvirt-up.sh).
ZH_MEM=${S390X_KVM_ZHOST_MEM:-2048}
ZH_SMP=${S390X_KVM_ZHOST_SMP:-2}
ZH_BOOT_TIMEOUT=${S390X_KVM_ZHOST_BOOT_TIMEOUT:-300}
# The build boots the new image once to fill libvirt's QEMU capability cache (guest/bake).
ZH_BAKE_TIMEOUT=${S390X_KVM_ZHOST_BAKE_TIMEOUT:-900}
ZH_HOSTNAME=zhost
ZH_HOSTKEY_ALIAS=s390x-kvm-zhost
# Networking. Not QEMU's user networking (slirp): under TCG this 6.12 s390x guest computes TCP
# checksums wrongly on receive and drops every segment slirp sends (TcpInCsumErrors; the packets
# themselves are correct). A tap device with virtio-net header offload hands the guest packets
# marked checksum-partial/valid, so the guest never verifies them. The tap lives in a network
# namespace of our own (no route anywhere); the loopback port reaches it through two socat
# relays joined by a unix socket (unix sockets cross network namespaces):
#   127.0.0.1:PORT (root ns) -> run/ssh-relay.sock -> 10.0.2.15:22 (netns s390xkvm-zh)
# The guest finds the NIC by its MAC; addresses are private to the namespace.
ZH_NETNS=s390xkvm-zh
ZH_TAP=zhtap0
ZH_ADDR=10.0.2.15/24
ZH_GUEST_IP=10.0.2.15
ZH_GATEWAY=10.0.2.2
ZH_MAC=52:54:00:5a:39:02
ZH_APT_PACKAGES=(qemu-system-misc qemu-utils debootstrap e2fsprogs cpio gzip kmod xz-utils
    openssh-client python3 iproute2 socat)
# Packages of the s390x root file system (debootstrap --variant=minbase adds the essentials; its
# --include resolves their dependencies). libvirt + QEMU for nested KVM-host tests: the packages the
# two-libvirtd test bed installs (TB_APT_PACKAGES of tests/testbed/libvirt/common.sh, whose up.sh
# runs inside this host too: see nested-libvirt-up.sh) plus python3-libvirt for the modules.
# shellcheck disable=SC2016  # expanded by that bash
ZH_NESTED_PACKAGES=$(bash -c 'source "$1" && echo "${TB_APT_PACKAGES[*]}"' libvirt-packages \
    "$S390X_KVM_ROOT/tests/testbed/libvirt/common.sh")
# shellcheck disable=SC2086  # ZH_NESTED_PACKAGES: one word per package
ZH_ROOTFS_INCLUDE=$(printf '%s\n' python3 kmod openssh-server openssh-sftp-server iproute2 procps pciutils \
    python3-libvirt $ZH_NESTED_PACKAGES | awk '!seen[$0]++' | paste -sd, -)
# Modules loaded at start-up (the initramfs loads only what mounting the root needs).
ZH_MODULES="virtio_net virtio_blk virtio_rng vfio vfio_iommu_type1 vfio-pci mdev vfio_ccw"
ZH_INITRD_MODULES="virtio_blk ext4"

# The CCW devices: "KIND DEVNO ROLE". QEMU's css 0xfe is what the guest sees as css 0, so
# devno fe.0.XXXX becomes bus ID 0.0.XXXX. Roles: root (the root disk), ssh (user networking),
# data (a spare 64 MiB disk), hub (a NIC on an otherwise empty hub), spare (no backend needed).
ZH_CCW=(
    "blk 0001 root"
    "net 0002 ssh"
    "blk 0100 data"
    "blk 0101 data"
    "blk 0102 data"
    "net 0200 hub"
    "net 0201 hub"
    "rng 0300 spare"
)
# The zPCI functions: "KIND UID FID". The guest sees uid U as PCI domain U (hex), fid F as
# function_id 0x%08x.
ZH_ZPCI=(
    "net 5 10"
    "blk 6 11"
    "rng 7 32"
)

# zh_live_pid PIDFILE PATTERN: the pid in PIDFILE if that process runs and its command line
# matches PATTERN (so a recycled pid of some other program is never taken for ours).
zh_live_pid() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$2" || return 1
    echo "$pid"
}

# zh_pid: the pid of our qemu if it runs (pid file + its command line names our run dir).
zh_pid() { zh_live_pid "$ZH_PIDFILE" "qemu-system-s390x.*$ZH_RUN/"; }

# zh_relay_pid NAME: pid of our socat relay NAME (outer|inner) if it runs.
zh_relay_pid() { zh_live_pid "$ZH_RUN/relay-$1.pid" "^socat .*$ZH_RUN/ssh-relay.sock"; }

# zh_kill_stale_relays: relays whose pid file was lost (and their per-connection children):
# only socat processes whose command line names our own relay socket.
zh_kill_stale_relays() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = socat ] || continue
        tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "$ZH_RUN/ssh-relay.sock" && kill "${p#/proc/}" 2>/dev/null || true
    done
}

# zh_port: the port the running host forwards (from the run dir), else the configured one.
zh_port() {
    if zh_pid >/dev/null && [ -s "$ZH_RUN/port" ]; then cat "$ZH_RUN/port"; else echo "$ZH_PORT"; fi
}

zh_ssh_opts() {
    echo "-i $ZH_SSH/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=$ZH_SSH/known_hosts" \
         "-o HostKeyAlias=$ZH_HOSTKEY_ALIAS -o StrictHostKeyChecking=yes -o BatchMode=yes" \
         "-o ConnectTimeout=10 -o LogLevel=ERROR"
}

# zh_ssh CMD...: run a command on the emulated host as root.
zh_ssh() {
    # shellcheck disable=SC2046
    ssh $(zh_ssh_opts) -p "$(zh_port)" root@127.0.0.1 "$@"
}

# zh_port_busy PORT: something listens on 127.0.0.1:PORT (or the wildcard address).
zh_port_busy() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}
