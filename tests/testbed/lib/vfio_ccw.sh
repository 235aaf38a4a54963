#!/bin/bash
# vfio_ccw.ko and mdev.ko for the test bed's 6.12 s390x kernel, built out of tree.
# Debian's s390x 6.12 kernel has vfio, vfio_iommu_type1 and vfio-pci but not vfio_ccw or mdev
# (CONFIG_VFIO_CCW / CONFIG_VFIO_MDEV unset). This builds exactly those two modules from Debian's
# linux-source-6.12 of the same version, against its linux-headers, with gcc-s390x-linux-gnu.
# Run it (`bash tests/testbed/lib/vfio_ccw.sh`) or source it and call vfio_ccw_ensure. Output:
#   $TB_CACHE/vfio-ccw/<kernel version>/{mdev.ko,vfio_ccw.ko}   (cached; rebuilt when this file changes)

# shellcheck source=kernel.sh
source "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"

TB_VFIO_CCW_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/vfio_ccw.sh

vfio_ccw_dir() { echo "$TB_CACHE/vfio-ccw/$(cat "$TB_KERNEL/version")"; }

vfio_ccw_ensure() {
    kernel_ensure
    local version out key
    version=$(cat "$TB_KERNEL/version")
    out=$(vfio_ccw_dir)
    key=$(sha256sum "$TB_VFIO_CCW_SELF" | cut -c1-16)
    if [ -s "$out/vfio_ccw.ko" ] && [ -s "$out/mdev.ko" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
        return 0
    fi
    need_root
    apt_ensure gcc-s390x-linux-gnu make xz-utils bc flex bison libelf-dev kmod   # kmod: modinfo (kernel_ensure may have returned early)
    local t0 pkgver kv work
    t0=$(date +%s)
    # The package version of the kernel we have (name_version_arch of its .deb), e.g. 6.12.95-1~bpo12+1,
    # and its ABI name without the flavour, e.g. 6.12.95+deb12.
    pkgver=$(cut -d_ -f2 "$TB_KERNEL/package")
    kv=${version%-s390x}
    local debs
    if ! debs=$(debs_download "$TB_DEBS" "linux-kbuild-$kv:amd64=$pkgver" "linux-headers-$kv-common=$pkgver" \
            "linux-headers-$kv-s390x:s390x=$pkgver" "linux-source-6.12=$pkgver"); then
        echo "cannot fetch the build inputs of kernel $version ($pkgver); if the archive moved on," \
             "rerun with TB_KERNEL_REFRESH=1 to take its newer kernel" >&2
        return 1
    fi
    rm -rf "$TB_CACHE"/.vfio-ccw.*
    work=$(mktemp -d "$TB_CACHE/.vfio-ccw.XXXXXX")
    log "building vfio_ccw + mdev for $version"
    local deb
    for deb in $debs; do
        case $deb in
            */linux-source-*) ;;
            *) dpkg-deb -x "$deb" "$work/root" ;;
        esac
    done
    local hdr=$work/root/usr/src/linux-headers-$version
    # The flavour's Makefile includes the -common headers by absolute path.
    sed -i "s|/usr/src/linux-headers-$kv-common|$work/root/usr/src/linux-headers-$kv-common|" "$hdr/Makefile"
    # Only the sources of the two modules (the tarball holds the whole tree).
    local src=$work/src
    mkdir -p "$src"
    dpkg-deb --fsys-tarfile "$(echo "$debs" | grep /linux-source-)" \
        | tar -xO ./usr/src/linux-source-6.12.tar.xz | xz -dc \
        | tar -x -C "$src" --strip-components=2 --wildcards 'linux-source-6.12/drivers/s390/cio/*' \
            'linux-source-6.12/drivers/vfio/mdev/*'
    local m=$work/mod
    mkdir -p "$m"
    mv "$src/s390/cio" "$m/cio"
    mv "$src/vfio/mdev" "$m/mdev"
    rm -f "$m/cio/Makefile" "$m/mdev/Makefile" "$m/mdev/Kconfig"
    cat > "$m/Kbuild" <<'KBUILD'
# The two modules the Debian s390x kernel does not build, from their in-tree sources.
obj-m := mdev.o vfio_ccw.o
mdev-y := mdev/mdev_core.o mdev/mdev_sysfs.o mdev/mdev_driver.o
vfio_ccw-y := cio/vfio_ccw_drv.o cio/vfio_ccw_cp.o cio/vfio_ccw_ops.o cio/vfio_ccw_fsm.o \
	cio/vfio_ccw_async.o cio/vfio_ccw_trace.o cio/vfio_ccw_chp.o
ccflags-y := -I$(src)/cio
CFLAGS_cio/vfio_ccw_trace.o := -I$(src)/cio
KBUILD
    # No pahole here: no BTF for the modules (the kernel does not need it to load them).
    make -s -C "$hdr" M="$m" ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- CONFIG_DEBUG_INFO_BTF_MODULES= \
        -j"$(nproc)" modules >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; return 1; }
    mkdir -p "$out"
    cp "$m/mdev.ko" "$m/vfio_ccw.ko" "$out/"
    s390x-linux-gnu-strip --strip-debug "$out/mdev.ko" "$out/vfio_ccw.ko"
    modinfo -F vermagic "$out/vfio_ccw.ko" > "$out/vermagic"
    echo "$key" > "$out/key"
    rm -rf "$work"
    log "vfio_ccw + mdev built in $out ($(( $(date +%s) - t0 )) s; vermagic $(cat "$out/vermagic"))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    vfio_ccw_ensure
    ls -l "$(vfio_ccw_dir)"
fi
