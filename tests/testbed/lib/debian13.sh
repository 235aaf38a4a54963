# shellcheck shell=bash
# The Debian 13 (trixie) root: the second libvirt/QEMU stack of the test bed (libvirt 11, QEMU 10,
# virtiofsd of its own) and the Python 3.13 controller. Built with debootstrap, cached, rebuilt
# only when its recipe (the package list and this file) changes. Sourced, not run.
#
#   source tests/testbed/lib/debian13.sh
#   debian13_root_ensure        # builds it if needed; $DEBIAN13_ROOT is the root
#   debian13_chroot CMD...      # runs CMD in it with /proc, /sys and /dev (private mount namespace)
#
# bookworm's debootstrap 1.0.128 fails on trixie with --include (systemd's pre-depends ordering):
# a plain --variant=minbase trixie, then apt-get install --no-install-recommends inside, works.

# shellcheck source=debs.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debs.sh"

DEBIAN13_ROOT=$S390X_KVM_CACHE/roots/debian13
# libvirt's monolithic daemon and QEMU driver (no libvirt-daemon-system: it would add users and
# units a chroot does not need), QEMU for s390x guests, virtiofsd (its own package since Debian 13),
# Python for the controller and the modules (pip for the execution environment's build, the ssh
# client for the controller's jobs against the emulated Z host, FUSE for the unit tests' kernel
# stand-in), and what a systemd container needs
# (molecule and the execution environment import the same root as their Debian 13 image).
DEBIAN13_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-s390x qemu-utils
    virtiofsd iproute2 python3 python3-venv python3-pip python3-libvirt python3-apt openssh-client
    libfuse3-4 ca-certificates systemd systemd-sysv dbus sudo procps)

# The recipe: the packages, how the root is built (the functions' code, not this file's comments)
# and the proxy CA it trusts.
debian13_recipe() {
    (echo "${DEBIAN13_PACKAGES[*]}"; declare -f debian13_root_ensure debian13_root_build debian13_chroot root_apt_like_host
     cat /usr/local/share/ca-certificates/*.crt 2>/dev/null) | sha256sum | cut -c1-12
}

# debian13_chroot ROOT CMD...: CMD inside ROOT with the kernel's file systems, in a private mount
# namespace (nothing stays mounted when it ends).
debian13_chroot() {
    local root=$1
    shift
    # shellcheck disable=SC2016  # expanded by the inner shell
    unshare -m --propagation private /bin/bash -euc '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        exec chroot "$root" "$@"
    ' debian13-chroot "$root" "$@"
}

debian13_root_ensure() {
    local recipe
    recipe=$(debian13_recipe)
    [ "$(cat "$DEBIAN13_ROOT/.recipe" 2>/dev/null)" = "$recipe" ] && return 0
    need_root
    mkdir -p "$(dirname "$DEBIAN13_ROOT")"
    # One build at a time (the test stages and the execution environment's build may ask at once);
    # who waited finds it built.
    (
        flock -w 1800 9 || { echo "debian13_root_ensure: $DEBIAN13_ROOT.lock held for 1800 s" >&2; exit 1; }
        [ "$(cat "$DEBIAN13_ROOT/.recipe" 2>/dev/null)" = "$recipe" ] && exit 0
        debian13_root_build "$recipe"
    ) 9>"$DEBIAN13_ROOT.lock"
}

# debian13_root_build RECIPE: debootstrap, the packages, then the new root replaces the old one.
debian13_root_build() {
    local recipe=$1 new start
    # A libvirtd chrooted in the old root would lose its files under it.
    local p
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$DEBIAN13_ROOT" ]; then
            echo "the Debian 13 root must be rebuilt, but pid ${p#/proc/} runs in it: stop the test bed's Debian 13" \
                "hosts first (tests/testbed/libvirt/down.sh --stack debian13)" >&2
            return 1
        fi
    done
    apt_ensure debootstrap debian-archive-keyring
    start=$(date +%s)
    new=$DEBIAN13_ROOT.new
    rm -rf "$new"
    mkdir -p "$TB_CACHE/debootstrap-trixie" "$(dirname "$DEBIAN13_ROOT")"
    log "debootstrap --variant=minbase trixie from $(debs_mirror)"
    if ! debootstrap --variant=minbase --cache-dir="$TB_CACHE/debootstrap-trixie" trixie "$new" "$(debs_mirror)" \
            > "$TB_CACHE/debootstrap-trixie.log" 2>&1; then
        tail -n 30 "$TB_CACHE/debootstrap-trixie.log" >&2
        return 1
    fi
    # The machine's proxy settings, and the CA of a TLS-intercepting proxy, inside too.
    root_apt_like_host "$new"
    # No service starts inside: the test bed starts libvirtd itself.
    printf '#!/bin/sh\nexit 101\n' > "$new/usr/sbin/policy-rc.d"
    chmod 0755 "$new/usr/sbin/policy-rc.d"
    cp -L /etc/resolv.conf "$new/etc/resolv.conf" 2>/dev/null || true
    log "apt-get install ${DEBIAN13_PACKAGES[*]} (Debian 13)"
    if ! debian13_chroot "$new" /usr/bin/env DEBIAN_FRONTEND=noninteractive /bin/sh -c \
            'apt-get -q update && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
            install "${DEBIAN13_PACKAGES[@]}" > "$TB_CACHE/debian13-apt.log" 2>&1; then
        tail -n 30 "$TB_CACHE/debian13-apt.log" >&2
        return 1
    fi
    if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
        debian13_chroot "$new" update-ca-certificates > /dev/null 2>&1 || true
    fi
    # libvirt-daemon-system would create the user libvirtd resolves before reading qemu.conf.
    grep -q '^libvirt-qemu:' "$new/etc/group" || echo "libvirt-qemu:x:64055:" >> "$new/etc/group"
    grep -q '^libvirt-qemu:' "$new/etc/passwd" \
        || echo "libvirt-qemu:x:64055:64055:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin" >> "$new/etc/passwd"
    rm -rf "$new"/var/lib/apt/lists/*
    # What the stack is, for test names and the support matrix.
    # shellcheck disable=SC2016  # dpkg-query's format, not the shell's
    debian13_chroot "$new" dpkg-query -W -f='${Package} ${Version}\n' libvirt-daemon qemu-system-s390x virtiofsd python3 \
        > "$new/.versions"
    echo "$recipe" > "$new/.recipe"
    rm -rf "$DEBIAN13_ROOT"
    mv "$new" "$DEBIAN13_ROOT"
    log "Debian 13 root built in $(( $(date +%s) - start )) s: $(tr '\n' ' ' < "$DEBIAN13_ROOT/.versions")"
}
