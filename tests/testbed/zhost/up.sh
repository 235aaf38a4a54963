#!/bin/bash
# Bring the emulated IBM Z host up (idempotent): Debian's s390x 6.12 kernel (+ vfio_ccw/mdev
# built out of tree) under qemu-system-s390x (TCG), reachable as root over ssh on a forwarded
# loopback port. Waits until ssh works, writes the Ansible inventory and prints it.
#   tests/testbed/zhost/up.sh
#   S390X_KVM_ZHOST_PORT=22220 (default)  S390X_KVM_ZHOST_MEM=1024  S390X_KVM_ZHOST_SMP=2
# Every boot starts from the pristine image (a fresh qcow2 overlay and fresh data disks).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
t_start=$(date +%s.%N)
# The controller too (venv with ansible-core, this checkout as the collection), so the ansible
# command printed at the end works on a fresh machine.
base_setup
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

write_inventory() {
    local port=$1
    mkdir -p "$ZH_DIR"
    cat > "$ZH_INVENTORY.new" <<EOF
# The emulated IBM Z host of the test bed (tests/testbed/zhost/up.sh); generated, do not edit.
all:
  children:
    zhosts:
      hosts:
        zhost:
          ansible_host: 127.0.0.1
          ansible_port: $port
          ansible_user: root
          ansible_connection: ssh
          ansible_python_interpreter: /usr/bin/python3
          ansible_ssh_private_key_file: $ZH_SSH/id_ed25519
          ansible_ssh_common_args: >-
            -o IdentitiesOnly=yes -o UserKnownHostsFile=$ZH_SSH/known_hosts
            -o HostKeyAlias=$ZH_HOSTKEY_ALIAS -o StrictHostKeyChecking=yes
          ansible_ssh_pipelining: true
          zhost_console_log: $ZH_CONSOLE
          zhost_qmp_socket: $ZH_RUN/qmp.sock
EOF
    mv -f "$ZH_INVENTORY.new" "$ZH_INVENTORY"
}

# devices.json: what this boot configured, for tests to compare with what the guest's kernel shows.
write_devices() {
    python3 - "$ZH_RUN/devices.json" "${ZH_CCW[@]}" -- "${ZH_ZPCI[@]}" <<'PY'
import json, sys
out, args = sys.argv[1], sys.argv[2:]
sep = args.index("--")
cutypes = {"net": "3832/01", "blk": "3832/02", "rng": "3832/04"}
pci_ids = {"net": 0x1000, "blk": 0x1001, "rng": 0x1005}   # transitional virtio PCI device ids
ccw = []
for line in args[:sep]:
    kind, devno, role = line.split()
    ccw.append({"kind": kind, "devno": "fe.0." + devno, "bus_id": "0.0." + devno, "role": role,
                "cutype": cutypes[kind], "devtype": "n/a"})
zpci = []
for line in args[sep + 1:]:
    kind, uid, fid = line.split()
    uid, fid = int(uid), int(fid)
    zpci.append({"kind": kind, "uid": uid, "fid": fid, "address": "%04x:00:00.0" % uid,
                 "function_id": "0x%08x" % fid, "vendor": 0x1af4, "device": pci_ids[kind]})
with open(out, "w") as f:
    json.dump({"ccw": ccw, "zpci": zpci}, f, indent=1)
PY
}

# net_up: our namespace with the tap the guest's ssh NIC is attached to (idempotent).
net_up() {
    [ -e "/run/netns/$ZH_NETNS" ] || ip netns add "$ZH_NETNS"
    ip -n "$ZH_NETNS" link set lo up
    ip -n "$ZH_NETNS" link show "$ZH_TAP" >/dev/null 2>&1 || ip -n "$ZH_NETNS" tuntap add dev "$ZH_TAP" mode tap vnet_hdr
    ip -n "$ZH_NETNS" addr replace "$ZH_GATEWAY/${ZH_ADDR#*/}" dev "$ZH_TAP"
    ip -n "$ZH_NETNS" link set "$ZH_TAP" up
}

# relays_up PORT: 127.0.0.1:PORT -> unix socket -> guest:22 inside the namespace (idempotent).
relays_up() {
    local port=$1 sock=$ZH_RUN/ssh-relay.sock
    if ! zh_relay_pid inner >/dev/null; then
        rm -f "$sock"
        ip netns exec "$ZH_NETNS" setsid socat -lf "$ZH_RUN/relay-inner.log" \
            "UNIX-LISTEN:$sock,fork,mode=0600" "TCP:$ZH_GUEST_IP:22" </dev/null >/dev/null 2>&1 &
        echo $! > "$ZH_RUN/relay-inner.pid"
    fi
    if ! zh_relay_pid outer >/dev/null; then
        setsid socat -lf "$ZH_RUN/relay-outer.log" "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" \
            "UNIX-CONNECT:$sock" </dev/null >/dev/null 2>&1 &
        echo $! > "$ZH_RUN/relay-outer.pid"
    fi
    sleep 0.2
    # shellcheck disable=SC2015  # the message when either relay is not running
    zh_relay_pid inner >/dev/null && zh_relay_pid outer >/dev/null || {
        echo "the ssh relays did not start:" >&2; cat "$ZH_RUN"/relay-*.log >&2; exit 1; }
}

if pid=$(zh_pid); then
    port=$(zh_port)
    relays_up "$port"
    if zh_ssh true 2>/dev/null; then
        write_inventory "$port"
        log "zhost already up (qemu pid $pid, ssh 127.0.0.1:$port), checked in $(elapsed "$t_start") s"
        echo "inventory: $ZH_INVENTORY"
        exit 0
    fi
    log "zhost qemu pid $pid runs but ssh does not answer yet: waiting"
else
    apt_ensure "${ZH_APT_PACKAGES[@]}"
    dev_ensure /dev/net/tun tun "the emulated Z host's ssh NIC is a tap device" || exit 1
    bash "$ZH_HERE/build.sh"
    t_built=$(date +%s.%N)
    port=$ZH_PORT
    zh_kill_stale_relays
    sleep 0.2
    if zh_port_busy "$port"; then
        echo "port 127.0.0.1:$port is in use by something else: set S390X_KVM_ZHOST_PORT to a free port" >&2
        exit 1
    fi
    version=$(cat "$TB_KERNEL/version")
    rm -rf "$ZH_RUN"
    mkdir -p "$ZH_RUN"
    echo "$port" > "$ZH_RUN/port"
    # Fresh state each boot: an overlay on the pristine root image, empty data disks.
    qemu-img create -q -f qcow2 -F raw -b "$ZH_IMAGE/root.img" "$ZH_RUN/root.qcow2"
    # shellcheck disable=SC2054  # QEMU's options are comma lists
    args=(-name zhost -M s390-ccw-virtio -accel tcg -m "$ZH_MEM" -smp "$ZH_SMP" -nodefaults -no-user-config
        -display none -monitor none -daemonize -pidfile "$ZH_PIDFILE"
        -chardev "socket,id=con0,path=$ZH_RUN/console.sock,server=on,wait=off,logfile=$ZH_CONSOLE" -device sclpconsole,chardev=con0
        -qmp "unix:$ZH_RUN/qmp.sock,server=on,wait=off"
        -kernel "$TB_KERNEL/vmlinuz" -initrd "$ZH_IMAGE/initrd.gz"
        -append "console=ttysclp0 zhost.root=0.0.0001 loglevel=5")
    hub=1 ndata=0
    for line in "${ZH_CCW[@]}"; do
        read -r kind devno role <<< "$line"
        id=ccw$devno
        case $kind/$role in
            blk/root)
                args+=(-drive "file=$ZH_RUN/root.qcow2,if=none,id=$id,format=qcow2,cache=unsafe"
                    -device "virtio-blk-ccw,drive=$id,devno=fe.0.$devno") ;;
            blk/*)
                truncate -s 64M "$ZH_RUN/data$ndata.img"
                args+=(-drive "file=$ZH_RUN/data$ndata.img,if=none,id=$id,format=raw,cache=unsafe"
                    -device "virtio-blk-ccw,drive=$id,devno=fe.0.$devno,serial=zhost-data$ndata")
                ndata=$((ndata + 1)) ;;
            net/ssh)
                # tap in our namespace (see common.sh for why not user networking)
                args+=(-netdev "tap,id=$id,ifname=$ZH_TAP,script=no,downscript=no,vhost=off"
                    -device "virtio-net-ccw,netdev=$id,devno=fe.0.$devno,mac=$ZH_MAC") ;;
            net/*)
                args+=(-netdev "hubport,id=$id,hubid=$hub" -device "virtio-net-ccw,netdev=$id,devno=fe.0.$devno")
                hub=$((hub + 1)) ;;
            rng/*)
                args+=(-device "virtio-rng-ccw,devno=fe.0.$devno") ;;
            *) echo "unknown CCW device kind $kind" >&2; exit 1 ;;
        esac
    done
    for line in "${ZH_ZPCI[@]}"; do
        read -r kind uid fid <<< "$line"
        id=pci$uid
        args+=(-device "zpci,uid=$uid,fid=$fid,target=$id,id=zpci$uid")
        case $kind in
            net) args+=(-netdev "hubport,id=n$id,hubid=$hub" -device "virtio-net-pci,id=$id,netdev=n$id,romfile=")
                 hub=$((hub + 1)) ;;
            blk) truncate -s 64M "$ZH_RUN/pci$uid.img"
                 args+=(-drive "file=$ZH_RUN/pci$uid.img,if=none,id=d$id,format=raw,cache=unsafe"
                     -device "virtio-blk-pci,id=$id,drive=d$id,romfile=,serial=zhost-pci$uid") ;;
            rng) args+=(-device "virtio-rng-pci,id=$id,romfile=") ;;
            *) echo "unknown zPCI device kind $kind" >&2; exit 1 ;;
        esac
    done
    printf '%q ' qemu-system-s390x "${args[@]}" > "$ZH_RUN/qemu.cmdline"
    write_devices
    net_up
    log "starting qemu-system-s390x (kernel $version, ssh on 127.0.0.1:$port)"
    # Unconnected hubs warn on stderr; keep it in the run dir.
    ip netns exec "$ZH_NETNS" qemu-system-s390x "${args[@]}" 2> "$ZH_RUN/qemu.stderr" \
        || { cat "$ZH_RUN/qemu.stderr" >&2; exit 1; }
    relays_up "$port"
    pid=$(zh_pid) || { echo "qemu did not stay up" >&2; cat "$ZH_RUN/qemu.stderr" >&2; exit 1; }
    log "qemu pid $pid (build/cache check took $(awk -v a="$t_start" -v b="$t_built" 'BEGIN { printf "%.1f", b - a }') s)"
fi

t_boot=$(date +%s.%N)
deadline=$(( $(date +%s) + ZH_BOOT_TIMEOUT ))
until zh_ssh true 2>/dev/null; do
    if ! zh_pid >/dev/null; then
        echo "qemu exited; last console lines:" >&2
        tail -n 40 "$ZH_CONSOLE" >&2
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "ssh did not answer within ${ZH_BOOT_TIMEOUT} s; last console lines:" >&2
        tail -n 40 "$ZH_CONSOLE" >&2
        exit 1
    fi
    sleep 1
done
write_inventory "$port"
echo "{\"up_s\": $(elapsed "$t_start"), \"boot_to_ssh_s\": $(elapsed "$t_boot")}" > "$ZH_RUN/timing.json"
log "zhost up: ssh root@127.0.0.1 -p $port in $(elapsed "$t_boot") s after start, $(elapsed "$t_start") s in all"
echo "inventory: $ZH_INVENTORY"
echo "source $S390X_KVM_ROOT/scripts/env.sh     # once per shell: ansible-core 2.19 + this collection"
echo "ansible -i $ZH_INVENTORY zhost -m s390x.kvm.ccw_info"
