#!/bin/bash
# Build (or reuse) the s390x test-bed guest: Debian's 6.12 s390x kernel (from
# tests/testbed/lib/kernel.sh) + a small busybox initramfs whose /init (./init) reports on the
# sclp console what the guest sees and every hotplug, plus a heartbeat.
# Output in $TB_CACHE/guest: vmlinuz, initrd.gz, image.json; rebuilt only when an input changes.
#   TB_GUEST_EXTRA_MODULES="mod1 mod2"  modules to put into the initramfs besides init's list
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/scripts/lib.sh"
need_root
apt_ensure cpio kmod gzip

HERE=$S390X_KVM_ROOT/tests/testbed/guest
TB_CACHE=$S390X_KVM_CACHE/testbed
KDIR=$TB_CACHE/kernel-6.12
OUT=$TB_CACHE/guest
KERNEL_SH=$S390X_KVM_ROOT/tests/testbed/lib/kernel.sh
# Two test sessions may ask for the image at once (scripts/integration.sh's lanes): one builds it.
mkdir -p "$TB_CACHE"
exec 8>"$TB_CACHE/.guest-build.lock"
flock 8

if [ ! -f "$KERNEL_SH" ]; then
    echo "missing $KERNEL_SH (it provides the 6.12 s390x kernel, its modules and busybox)" >&2
    exit 1
fi
bash "$KERNEL_SH" >&2
version=$(cat "$KDIR/version")
MODROOT=$KDIR/modules
BUSYBOX=$TB_CACHE/busybox/busybox
for f in "$KDIR/vmlinuz" "$MODROOT/lib/modules/$version/modules.dep" "$BUSYBOX"; do
    [ -e "$f" ] || { echo "kernel.sh did not provide $f" >&2; exit 1; }
done

# The modules /init loads (its MODULES= line) plus any extra ones.
modules=$(sed -n 's/^MODULES="\(.*\)"$/\1/p' "$HERE/init")
modules="$modules ${TB_GUEST_EXTRA_MODULES:-}"

key=$( { cat "$HERE/init" "$HERE/build.sh"; echo "$version $modules"; sha256sum "$KDIR/vmlinuz" "$BUSYBOX"; } \
    | sha256sum | cut -c1-16)
if [ -f "$OUT/key" ] && [ "$(cat "$OUT/key")" = "$key" ] && [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinuz" ]; then
    log "guest image up to date ($OUT)"
    cat "$OUT/image.json"
    exit 0
fi

log "building guest initramfs for kernel $version"
t0=$(date +%s.%N)
work=$(mktemp -d "$TB_CACHE/.guest-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,mnt,tmp,usr/bin,usr/sbin,lib/modules/"$version"}
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
install -m 0755 "$HERE/init" "$root/init"
ln -s busybox "$root/bin/sh"     # /init's interpreter; init installs the other applets itself
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# Copy each module and its dependencies (modules.dep resolves them; works cross-arch).
src=$MODROOT/lib/modules/$version
for m in $modules; do
    if ! deps=$(modprobe -d "$MODROOT" -S "$version" --show-depends "$m" 2>&1); then
        log "module $m not available for $version: skipped"
        continue
    fi
    while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        rel=${path#"$src"/}
        mkdir -p "$root/lib/modules/$version/$(dirname "$rel")"
        cp -n "$path" "$root/lib/modules/$version/$rel"
    done <<< "$deps"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ -f "$src/$f" ] && cp "$src/$f" "$root/lib/modules/$version/"
done
depmod -b "$root" "$version"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -6 > "$work/initrd.gz"
mkdir -p "$OUT"
cp "$KDIR/vmlinuz" "$work/vmlinuz"
nmods=$(find "$root/lib/modules" -name '*.ko' | wc -l)
t1=$(date +%s.%N)
cat > "$work/image.json" <<JSON
{
  "kernel": "$OUT/vmlinuz",
  "initrd": "$OUT/initrd.gz",
  "version": "$version",
  "cmdline": "console=ttysclp0 quiet loglevel=4",
  "modules": $nmods,
  "initrd_bytes": $(stat -c %s "$work/initrd.gz"),
  "build_seconds": $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }"),
  "key": "$key"
}
JSON
mv -f "$work/vmlinuz" "$OUT/vmlinuz.new" && mv -f "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv -f "$work/initrd.gz" "$OUT/initrd.gz.new" && mv -f "$OUT/initrd.gz.new" "$OUT/initrd.gz"
mv -f "$work/image.json" "$OUT/image.json"
echo "$key" > "$OUT/key"
log "guest image built: $OUT ($nmods modules)"
cat "$OUT/image.json"
