#!/bin/bash
# The s390x guest kernel of the test bed: Debian bookworm-backports' 6.12 s390x kernel (it has
# vfio, vfio_iommu_type1 and vfio-pci; bookworm's 6.1 has no VFIO at all) and busybox-static:s390x.
# Run it (`bash tests/testbed/lib/kernel.sh`) or source it and call kernel_ensure. Idempotent:
# once the files are there it only checks them (set TB_KERNEL_REFRESH=1 to take a newer kernel).
#
# Stable output paths (other scripts rely on them):
#   $TB_CACHE/kernel-6.12/vmlinuz                          the kernel image
#   $TB_CACHE/kernel-6.12/version                          its version string, e.g. 6.12.95+deb12-s390x
#   $TB_CACHE/kernel-6.12/modules/lib/modules/<version>/   modules as plain .ko, with depmod's files
#   $TB_CACHE/kernel-6.12/package                          the .deb it came from (name_version_arch)
#   $TB_CACHE/busybox/busybox                              static s390x busybox
# where TB_CACHE = ${S390X_KVM_CACHE:-/var/cache/s390x-kvm}/testbed.

# shellcheck source=debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/debs.sh"

TB_KERNEL=$TB_CACHE/kernel-6.12
TB_BUSYBOX=$TB_CACHE/busybox/busybox
TB_KERNEL_PACKAGE_RE='linux-image-6\.12\.[0-9]+\+deb12-s390x'

kernel_complete() {
    local v
    [ -s "$TB_KERNEL/version" ] || return 1
    v=$(cat "$TB_KERNEL/version")
    [ -s "$TB_KERNEL/vmlinuz" ] && [ -s "$TB_KERNEL/modules/lib/modules/$v/modules.dep" ] && [ -x "$TB_BUSYBOX" ]
}

kernel_ensure() {
    if [ "${TB_KERNEL_REFRESH:-0}" != 1 ] && kernel_complete; then
        return 0
    fi
    need_root
    mkdir -p "$TB_CACHE"
    # The Z host's and the guest's builds may run at once (scripts/integration.sh's lanes): one fetches,
    # the other waits and finds the kernel there.
    local lock
    exec {lock}>"$TB_CACHE/.kernel-fetch.lock"
    flock "$lock"
    if [ "${TB_KERNEL_REFRESH:-0}" != 1 ] && kernel_complete; then
        exec {lock}>&-
        return 0
    fi
    _kernel_fetch
    local rc=$?
    exec {lock}>&-
    return $rc
}

_kernel_fetch() {
    apt_ensure kmod xz-utils
    local t0 pkg deb work version
    t0=$(date +%s)
    mkdir -p "$TB_CACHE"
    pkg=$(debs_newest "$TB_KERNEL_PACKAGE_RE" s390x)
    deb=$(debs_download "$TB_DEBS" "$pkg:s390x")
    rm -rf "$TB_CACHE"/.kernel.*        # leftovers of an interrupted run
    work=$(mktemp -d "$TB_CACHE/.kernel.XXXXXX")
    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$work/pkg"
    local vmlinuz moddir
    vmlinuz=$(find "$work/pkg/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
    [ -n "$vmlinuz" ] || { echo "no /boot/vmlinuz-* in $deb" >&2; return 1; }
    version=${vmlinuz##*/vmlinuz-}
    moddir=
    for d in "$work/pkg/lib/modules/$version" "$work/pkg/usr/lib/modules/$version"; do
        [ -d "$d" ] && moddir=$d && break
    done
    [ -n "$moddir" ] || { echo "no modules directory for $version in $deb" >&2; return 1; }
    mkdir -p "$work/out/modules/lib/modules"
    mv "$moddir" "$work/out/modules/lib/modules/$version"
    # busybox's modprobe (and the initramfs) want plain .ko files.
    find "$work/out/modules/lib/modules/$version" -name '*.ko.xz' -print0 | xargs -0 -r -P 2 -n 200 xz -d
    depmod -b "$work/out/modules" "$version"
    cp "$vmlinuz" "$work/out/vmlinuz"
    [ -f "$work/pkg/boot/config-$version" ] && cp "$work/pkg/boot/config-$version" "$work/out/config"
    [ -f "$work/pkg/boot/System.map-$version" ] && cp "$work/pkg/boot/System.map-$version" "$work/out/System.map"
    basename "$deb" .deb > "$work/out/package"
    echo "$version" > "$work/out/version.new"

    # busybox-static:s390x
    local bbdeb
    bbdeb=$(debs_download "$TB_DEBS" busybox-static:s390x)
    dpkg-deb -x "$bbdeb" "$work/bb"
    mkdir -p "$(dirname "$TB_BUSYBOX")"
    install -m 0755 "$work/bb/bin/busybox" "$TB_BUSYBOX.new"
    mv -f "$TB_BUSYBOX.new" "$TB_BUSYBOX"

    # Swap in the new tree; the version file is written last (it marks a complete tree).
    rm -rf "$TB_KERNEL.old"
    [ -d "$TB_KERNEL" ] && mv "$TB_KERNEL" "$TB_KERNEL.old"
    mv "$work/out" "$TB_KERNEL"
    mv "$TB_KERNEL/version.new" "$TB_KERNEL/version"
    rm -rf "$TB_KERNEL.old" "$work"
    log "kernel $version ready in $TB_KERNEL ($(( $(date +%s) - t0 )) s)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    kernel_ensure
    echo "kernel:  $TB_KERNEL/vmlinuz"
    echo "version: $(cat "$TB_KERNEL/version")"
    echo "modules: $TB_KERNEL/modules/lib/modules/$(cat "$TB_KERNEL/version")"
    echo "busybox: $TB_BUSYBOX"
fi
