# shellcheck shell=bash
# The Debian 13 root (debian13.sh) as a podman image: the Debian 13 platform of the molecule
# scenarios (scripts/molecule.sh) and the base of the execution environment (scripts/ee.sh, ee/).
# Sourced, not run; needs scripts/lib.sh (log, need_root, root_apt_like_host) and podman.
#
#   source tests/testbed/lib/debian13_image.sh
#   debian13_image_ensure       # builds the root if needed, imports it as $DEBIAN13_IMAGE
#
# No registry is needed: the root is debootstrapped from Debian's archive and imported.

DEBIAN13_IMAGE=localhost/s390x-kvm-debian13:latest

# rootfs_for_container ROOTFS: a container has no console gettys or udev; keep systemd's boot short.
rootfs_for_container() {
    local unit
    for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
                systemd-remount-fs.service systemd-firstboot.service; do
        ln -sf /dev/null "$1/etc/systemd/system/$unit"
    done
}

# debian13_image_ensure: $DEBIAN13_IMAGE imported from the Debian 13 root, again only when its recipe
# changes. The recipe label hashes the root's recipe and the code of the functions that make the image.
debian13_image_ensure() {
    local recipe work rootfs
    # shellcheck source=debian13.sh
    source "$S390X_KVM_ROOT/tests/testbed/lib/debian13.sh"
    debian13_root_ensure
    recipe=$( (debian13_recipe; declare -f debian13_image_ensure rootfs_for_container) | sha256sum | cut -c1-12)
    [ "$(podman image inspect --format '{{index .Config.Labels "s390x-kvm.recipe"}}' "$DEBIAN13_IMAGE" \
            2>/dev/null)" = "$recipe" ] && return 0
    work=$S390X_KVM_CACHE/images
    mkdir -p "$work"
    # One import at a time (molecule and the execution environment's build may ask at once); who
    # waited finds it imported.
    (
        flock -w 900 9 || { echo "debian13_image_ensure: $work/debian13.lock held for 900 s" >&2; exit 1; }
        [ "$(podman image inspect --format '{{index .Config.Labels "s390x-kvm.recipe"}}' "$DEBIAN13_IMAGE" \
                2>/dev/null)" = "$recipe" ] && exit 0
        rootfs=$work/rootfs-debian13.tmp
        rm -rf "$rootfs"
        cp -a "$DEBIAN13_ROOT" "$rootfs"
        # A container starts its services (the root keeps them from starting inside the test bed's chroot).
        rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/.recipe" "$rootfs/.versions"
        rootfs_for_container "$rootfs"
        log "podman import $DEBIAN13_IMAGE"
        tar -C "$rootfs" -c . | podman import --change "LABEL s390x-kvm.recipe=$recipe" --change 'CMD ["/sbin/init"]' \
            - "$DEBIAN13_IMAGE" >/dev/null
        rm -rf "$rootfs"
    ) 9>"$work/debian13.lock"
}
