#!/bin/bash
# Build (or reuse) the emulated Z host's boot files in $TB_CACHE/zhost/image:
#   root.img   ext4 image of a Debian bookworm s390x root (minbase + python3, kmod, openssh-server,
#              iproute2, ..., libvirt 9.0 + QEMU 7.2 for nested guests), with the 6.12 kernel's modules
#              plus the out-of-tree vfio_ccw/mdev, and libvirt's QEMU capability cache already filled
#              (the build boots the image once: guest/bake)
#   initrd.gz  busybox initramfs: loads virtio_blk + ext4, mounts the root by CCW bus ID, switch_root
#   key        hash of every input; the image is rebuilt only when it changes
# and, kept across rebuilds, $TB_CACHE/zhost/ssh: host keys, the test key pair, known_hosts.
# No second debootstrap stage and no emulation: the .debs are unpacked (dpkg-deb | tar, which keeps
# the merged-usr symlinks), and what the skipped maintainer scripts would do is done here.
# build.json records the times, including the bake's first libvirt connection without and with the
# capability cache.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
apt_ensure "${ZH_APT_PACKAGES[@]}"
kernel_ensure
vfio_ccw_ensure

version=$(cat "$TB_KERNEL/version")
vfio_dir=$(vfio_ccw_dir)

zh_conf() {
    cat <<EOF
# Written by tests/testbed/zhost/build.sh; read by /usr/lib/zhost/rc.
ZHOST_HOSTNAME=$ZH_HOSTNAME
ZHOST_MAC=$ZH_MAC
ZHOST_ADDR=$ZH_ADDR
ZHOST_GATEWAY=$ZH_GATEWAY
ZHOST_MODULES="$ZH_MODULES"
EOF
}

# --- ssh keys: generated on this side once, so the known_hosts entry stays valid ---
mkdir -p "$ZH_SSH"
chmod 0700 "$ZH_SSH"
for t in ed25519 ecdsa; do
    [ -s "$ZH_SSH/ssh_host_${t}_key" ] || ssh-keygen -q -t "$t" -N '' -C "root@$ZH_HOSTNAME" -f "$ZH_SSH/ssh_host_${t}_key"
done
[ -s "$ZH_SSH/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "s390x-kvm-testbed" -f "$ZH_SSH/id_ed25519"
{
    for t in ed25519 ecdsa; do
        echo "$ZH_HOSTKEY_ALIAS $(cut -d' ' -f1-2 "$ZH_SSH/ssh_host_${t}_key.pub")"
    done
} > "$ZH_SSH/known_hosts"

key=$( {
    cat "${BASH_SOURCE[0]}" "$ZH_HERE"/guest/*
    zh_conf
    echo "$version $ZH_ROOTFS_INCLUDE $ZH_INITRD_MODULES $(debs_mirror)"
    cat "$vfio_dir/key" "$TB_KERNEL/package"
    cat "$ZH_SSH"/*.pub
} | sha256sum | cut -c1-16)
if [ -f "$ZH_IMAGE/key" ] && [ "$(cat "$ZH_IMAGE/key")" = "$key" ] && [ -s "$ZH_IMAGE/root.img" ] \
        && [ -s "$ZH_IMAGE/initrd.gz" ]; then
    log "zhost image up to date ($ZH_IMAGE)"
    exit 0
fi

t0=$(date +%s)
log "building the zhost image (kernel $version)"
rm -rf "$ZH_DIR"/.build.*
work=$(mktemp -d "$ZH_DIR/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

# --- 1. debootstrap, first stage only (downloads are cached) ---
mkdir -p "$TB_CACHE/debootstrap-debs"
log "debootstrap --foreign --arch=s390x --variant=minbase bookworm"
if ! debootstrap --foreign --arch=s390x --variant=minbase --include="$ZH_ROOTFS_INCLUDE" \
        --cache-dir="$TB_CACHE/debootstrap-debs" bookworm "$root" "$(debs_mirror)" > "$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
fi
t1=$(date +%s)

# --- 2. unpack every downloaded package (what the second stage would install) ---
log "unpacking $(wc -l < "$root/debootstrap/debpaths") packages"
while read -r _ deb; do
    dpkg-deb --fsys-tarfile "$root/$deb" | tar -x -C "$root" --keep-directory-symlink --numeric-owner -p
done < "$root/debootstrap/debpaths"
# dpkg's status database, as the second stage would leave it: every package installed (the test
# bed's scripts ask dpkg-query what is installed before they would reach for apt-get).
while read -r _ deb; do
    dpkg-deb -f "$root/$deb" | awk 'NR == 1 { print; print "Status: install ok installed"; next } { print }'
    echo
done < "$root/debootstrap/debpaths" > "$root/var/lib/dpkg/status"
# debootstrap --foreign leaves proc as a symlink to the host's /proc
for d in proc sys dev run tmp; do
    [ -L "$root/$d" ] && rm -f "$root/$d"
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp"
rm -rf "$root/debootstrap" "$root"/var/cache/apt/archives/*.deb
for l in bin sbin lib; do
    [ "$(readlink "$root/$l")" = "usr/$l" ] || { echo "merged-usr symlink /$l lost" >&2; exit 1; }
done

# --- 3. what the skipped maintainer scripts would have done (only what we need) ---
cp "$root/usr/share/base-passwd/passwd.master" "$root/etc/passwd"
cp "$root/usr/share/base-passwd/group.master" "$root/etc/group"
echo "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin" >> "$root/etc/passwd"
# libvirt-daemon-system would create these; libvirtd 9.0 resolves libvirt-qemu before it reads
# qemu.conf (which then says root).
echo "libvirt-qemu:x:64055:64055:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin" >> "$root/etc/passwd"
echo "libvirt-qemu:x:64055:" >> "$root/etc/group"
echo "kvm:x:64056:" >> "$root/etc/group"
awk -F: '{ printf "%s:%s:19000:0:99999:7:::\n", $1, ($1 == "root" ? "*" : "!*") }' "$root/etc/passwd" > "$root/etc/shadow"
awk -F: '{ printf "%s:*::\n", $1 }' "$root/etc/group" > "$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
echo "$ZH_HOSTNAME" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$ZH_HOSTNAME" > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
echo "/dev/root / ext4 rw 0 1" > "$root/etc/fstab"
# base-files ships /var/run as a directory and its postinst makes it a symlink
[ -L "$root/var/run" ] || rm -rf "$root/var/run"
ln -sfn /run "$root/var/run"
ln -sfn /proc/self/mounts "$root/etc/mtab"
[ -e "$root/etc/localtime" ] || ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
# /bin/sh (dash's postinst would not be needed: the symlink ships in the package; check anyway)
[ -e "$root/usr/bin/sh" ] || ln -s dash "$root/usr/bin/sh"
# awk through the alternatives system (mawk's postinst), as on every Debian
ln -sfn /usr/bin/mawk "$root/etc/alternatives/awk"
ln -sfn /etc/alternatives/awk "$root/usr/bin/awk"
# libvirt: the host's own libvirtd (only the bake starts it; the nested test bed gives each of its
# daemons a configuration of its own), with the settings of the two-libvirtd test bed: no security
# driver, no cgroups, no namespaces, no virtlogd, QEMU as root.
mkdir -p "$root/etc/libvirt" "$root/var/lib/libvirt" "$root/var/log/libvirt" "$root/var/cache/libvirt"
cat > "$root/etc/libvirt/libvirtd.conf" <<'CONF'
# Written by tests/testbed/zhost/build.sh
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
cat > "$root/etc/libvirt/qemu.conf" <<'CONF'
# Written by tests/testbed/zhost/build.sh
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF

# --- 4. sshd: our config, host keys, the test key authorized for root ---
install -m 0644 "$ZH_HERE/guest/sshd_config" "$root/etc/ssh/sshd_config"
rm -f "$root"/etc/ssh/sshd_config.d/*
for t in ed25519 ecdsa; do
    install -m 0600 "$ZH_SSH/ssh_host_${t}_key" "$root/etc/ssh/"
    install -m 0644 "$ZH_SSH/ssh_host_${t}_key.pub" "$root/etc/ssh/"
done
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$ZH_SSH/id_ed25519.pub" "$root/root/.ssh/authorized_keys"

# --- 5. the kernel's modules plus vfio_ccw and mdev ---
mkdir -p "$root/usr/lib/modules"
cp -a "$TB_KERNEL/modules/lib/modules/$version" "$root/usr/lib/modules/$version"
mkdir -p "$root/usr/lib/modules/$version/updates"
cp "$vfio_dir/mdev.ko" "$vfio_dir/vfio_ccw.ko" "$root/usr/lib/modules/$version/updates/"
depmod -b "$root" "$version"

# --- 6. start-up: PID 1, busybox init, rc ---
install -d "$root/usr/lib/zhost"
install -m 0755 "$TB_BUSYBOX" "$root/usr/lib/zhost/busybox"
install -m 0755 "$ZH_HERE/guest/init" "$ZH_HERE/guest/rc" "$ZH_HERE/guest/bake" "$root/usr/lib/zhost/"
install -m 0644 "$ZH_HERE/guest/inittab" "$root/etc/inittab"
zh_conf > "$root/etc/zhost.conf"

# --- 7. byte-compile Python (no postinst ran; pyc files are portable within 3.11) ---
if [ -x /usr/bin/python3 ] && [ -d "$root/usr/lib/python3.11" ] && \
        [ "$(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
    log "byte-compiling the guest's Python 3.11 standard library"
    /usr/bin/python3 -m compileall -q -j 0 -s "$root" -p / "$root/usr/lib/python3.11" \
        "$root/usr/lib/python3/dist-packages" >/dev/null 2>&1 || true
fi
t2=$(date +%s)

# --- 8. the root image (no loop mount: mke2fs -d) and the initramfs ---
log "mke2fs -d: root.img"
size_mb=$(( $(du -sm "$root" | cut -f1) + 400 ))
mke2fs -q -t ext4 -L zhost-root -E root_owner=0:0 -d "$root" "$work/root.img" "${size_mb}M" >/dev/null

ird=$work/initrd
mkdir -p "$ird"/{bin,sbin,dev,proc,sys,newroot,etc,usr/bin,usr/sbin,lib/modules/"$version"}
install -m 0755 "$TB_BUSYBOX" "$ird/bin/busybox"
install -m 0755 "$ZH_HERE/guest/initramfs-init" "$ird/init"
mknod -m 600 "$ird/dev/console" c 5 1
mknod -m 666 "$ird/dev/null" c 1 3
src=$TB_KERNEL/modules/lib/modules/$version
for m in $ZH_INITRD_MODULES; do
    modprobe -d "$TB_KERNEL/modules" -S "$version" --show-depends "$m" | while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        rel=${path#"$src"/}
        mkdir -p "$ird/lib/modules/$version/$(dirname "$rel")"
        cp -n "$path" "$ird/lib/modules/$version/$rel"
    done
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ -f "$src/$f" ] && cp "$src/$f" "$ird/lib/modules/$version/"
done
depmod -b "$ird" "$version"
echo "$ZH_INITRD_MODULES" > "$ird/etc/initrd-modules"
(cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -6 > "$work/initrd.gz"
t3=$(date +%s)

# --- 9. bake: boot the new image once, writable (not through a per-boot overlay), so that libvirt
# probes QEMU's capabilities now and the pristine root.img carries its cache. Under TCG a libvirt
# host's capabilities (virsh capabilities, virConnectGetCapabilities, which s390x.kvm.migrate's
# preflight reads) take ~55-65 s to probe all of qemu-system-misc's dozen emulators (the s390x one
# alone ~5 s), which every boot (and every nested libvirtd) would otherwise pay again: cached ~2 s.
# libvirt keeps the cache while the qemu binaries' ctime (which the image preserves) and its own
# version stay.
# guest/rc sees zhost.bake=1, runs guest/bake (no network needed) and powers off.
log "bake: booting the image once to fill libvirt's QEMU capability cache (timeout ${ZH_BAKE_TIMEOUT} s)"
bake_log=$work/bake-console.log
# shellcheck disable=SC2054  # QEMU's options are comma lists
qemu-system-s390x -name zhost-bake -M s390-ccw-virtio -accel tcg -m "$ZH_MEM" -smp "$ZH_SMP" -nodefaults \
    -no-user-config -display none -monitor none \
    -chardev "file,id=con0,path=$bake_log" -device sclpconsole,chardev=con0 \
    -kernel "$TB_KERNEL/vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttysclp0 zhost.root=0.0.0001 zhost.bake=1 loglevel=5" \
    -drive "file=$work/root.img,if=none,id=root,format=raw,cache=unsafe" \
    -device virtio-blk-ccw,drive=root,devno=fe.0.0001 </dev/null >"$work/bake-qemu.log" 2>&1 &
bake_pid=$!
done_at=
deadline=$(( $(date +%s) + ZH_BAKE_TIMEOUT ))
while [ -d "/proc/$bake_pid" ]; do
    # The guest powers off by itself; a guest that said it is done but still runs is stopped.
    if [ -z "$done_at" ] && grep -q '^zhost-bake: DONE' "$bake_log" 2>/dev/null; then done_at=$(date +%s); fi
    if [ -n "$done_at" ] && [ $(( $(date +%s) - done_at )) -gt 60 ]; then kill "$bake_pid"; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        kill "$bake_pid"
        echo "bake: the image did not finish within ${ZH_BAKE_TIMEOUT} s; console:" >&2
        tail -n 40 "$bake_log" >&2
        exit 1
    fi
    sleep 1
done
wait "$bake_pid" || true
bake_json=$(sed -n 's/^zhost-bake: RESULT //p' "$bake_log" | tail -n 1 | tr -d '\r')
if [ -z "$bake_json" ] || ! grep -q '^zhost-bake: DONE' "$bake_log"; then
    echo "bake failed; console:" >&2
    tail -n 40 "$bake_log" >&2
    cat "$work/bake-qemu.log" >&2
    exit 1
fi
# A clean file system (the guest remounted it read-only before powering off; e2fsck fixes what a
# stopped guest left), and the cache really in it.
e2fsck -fy "$work/root.img" > "$work/e2fsck.log" 2>&1 || [ $? -le 1 ] || { cat "$work/e2fsck.log" >&2; exit 1; }
if ! debugfs -R "ls -l /var/cache/libvirt/qemu/capabilities" "$work/root.img" 2>/dev/null | grep -q '\.xml'; then
    echo "bake: no capability cache in the image; console:" >&2
    tail -n 40 "$bake_log" >&2
    exit 1
fi
t4=$(date +%s)
log "bake: $bake_json ($((t4 - t3)) s)"

mkdir -p "$ZH_IMAGE"
rm -f "$ZH_IMAGE/key"
mv -f "$work/root.img" "$ZH_IMAGE/root.img"
mv -f "$work/initrd.gz" "$ZH_IMAGE/initrd.gz"
mv -f "$bake_log" "$ZH_IMAGE/bake-console.log"
cat > "$ZH_IMAGE/build.json" <<JSON
{"kernel": "$version", "debootstrap_s": $((t1 - t0)), "rootfs_s": $((t2 - t1)), "image_s": $((t3 - t2)),
 "bake_s": $((t4 - t3)), "bake": $bake_json,
 "total_s": $((t4 - t0)), "root_img_mb": $size_mb, "key": "$key"}
JSON
echo "$key" > "$ZH_IMAGE/key"
log "zhost image built in $((t4 - t0)) s (debootstrap $((t1 - t0)) s, rootfs $((t2 - t1)) s, image $((t3 - t2)) s, bake $((t4 - t3)) s)"
