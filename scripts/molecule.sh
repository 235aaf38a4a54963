#!/usr/bin/env bash
# Molecule scenarios of the roles, on podman with local Debian 12 and Debian 13 systemd images.
# Usage: scripts/molecule.sh [ROLE ...]        (default: every role with molecule/default)
#        MOLECULE_COMMAND=converge scripts/molecule.sh kvm_host   (any molecule sub-command)
# Installs what it needs on first use: podman + runc, the base image (debootstrap, no registry
# needed), molecule into the virtualenv and the containers.podman collection (from the PyPI
# "ansible" wheel: no Galaxy). Fails when any scenario fails.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

MOLECULE_CACHE=$S390X_KVM_CACHE/molecule
MOLECULE_IMAGE=localhost/s390x-kvm-debian12:latest
mkdir -p "$MOLECULE_CACHE"

# -- podman ------------------------------------------------------------------------------
apt_ensure podman runc containernetworking-plugins iptables debootstrap libfuse3-3
# The fixture hosts' simulated kernel is served to the containers through FUSE (kernel_watch.py).
if ! dev_ensure /dev/fuse fuse "the molecule scenarios serve their fixture hosts through FUSE"; then
    [ "${CI:-}" = true ] && exit 1
    log "molecule SKIPPED (no /dev/fuse)"; exit 0
fi
# Project-owned settings (runc, ulimits) instead of editing /etc/containers/containers.conf.
export CONTAINERS_CONF=$S390X_KVM_ROOT/tests/molecule/containers.conf

# -- base images: debootstrap + podman import, rebuilt only when the recipe changes ----------
# The Debian 13 image (and rootfs_for_container, which the Debian 12 image uses too) is the test
# bed's Debian 13 root, imported (shared with the execution environment, scripts/ee.sh).
# shellcheck source=../tests/testbed/lib/debian13_image.sh
source "$S390X_KVM_ROOT/tests/testbed/lib/debian13_image.sh"
IMAGE_PACKAGES=python3,python3-apt,sudo,systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates

debian_mirror() {
    local uri
    uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -1)
    [ -n "$uri" ] || uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
    echo "${uri:-http://deb.debian.org/debian}"
}

image_ensure() {
    local recipe tarball rootfs start
    # The recipe: what goes in, plus this function's own text.
    recipe=$( (echo "$IMAGE_PACKAGES"; declare -f image_ensure rootfs_for_container root_apt_like_host; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null) | sha256sum | cut -c1-12)
    if [ "$(podman image inspect --format '{{index .Config.Labels "s390x-kvm.recipe"}}' "$MOLECULE_IMAGE" 2>/dev/null)" = "$recipe" ]; then
        return 0
    fi
    tarball=$MOLECULE_CACHE/debian12-$recipe.tar
    if [ ! -f "$tarball" ]; then
        start=$(date +%s)
        rootfs=$MOLECULE_CACHE/rootfs.tmp
        rm -rf "$rootfs"
        log "debootstrap bookworm ($IMAGE_PACKAGES) from $(debian_mirror)"
        debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$rootfs" "$(debian_mirror)" >"$MOLECULE_CACHE/debootstrap.log" 2>&1 \
            || { tail -20 "$MOLECULE_CACHE/debootstrap.log" >&2; return 1; }
        # The host's archive sources (updates, security) and its Acquire::Check-* settings.
        rm -f "$rootfs/etc/apt/sources.list"
        cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null \
            || cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
        # HTTPS through the machine's TLS-intercepting proxy needs its CA inside too.
        root_apt_like_host "$rootfs"
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
        fi
        rootfs_for_container "$rootfs"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
        log "base image rootfs built in $(( $(date +%s) - start )) s"
    fi
    log "podman import $MOLECULE_IMAGE"
    podman import --change "LABEL s390x-kvm.recipe=$recipe" --change 'CMD ["/sbin/init"]' \
        "$tarball" "$MOLECULE_IMAGE" >/dev/null
    find "$MOLECULE_CACHE" -maxdepth 1 -name 'debian12-*.tar' ! -name "debian12-$recipe.tar" -delete
}

# -- containers.podman (molecule's podman driver and connection) without Galaxy --------------
# The PyPI "ansible" package bundles it; only that collection is unpacked from the wheel.
PODMAN_COLLECTIONS=$MOLECULE_CACHE/collections
podman_collection_ensure() {
    local dest=$PODMAN_COLLECTIONS/ansible_collections/containers/podman wheel
    if [ ! -f "$dest/MANIFEST.json" ]; then
        log "containers.podman from the PyPI ansible wheel"
        mkdir -p "$MOLECULE_CACHE/wheels"
        pip download -q --disable-pip-version-check --no-deps -d "$MOLECULE_CACHE/wheels" "ansible>=12,<13" \
            2> >(grep -v "is ignored: it is neither" >&2)
        # shellcheck disable=SC2012  # wheel file names are plain
        wheel=$(ls -t "$MOLECULE_CACHE"/wheels/ansible-12.*.whl | head -1)
        rm -rf "$dest"
        python - "$wheel" "$PODMAN_COLLECTIONS" <<'PY'
import sys, zipfile
prefix = "ansible_collections/containers/podman/"
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith(prefix)])
PY
        rm -f "$wheel"
    fi
    export ANSIBLE_COLLECTIONS_PATH=$S390X_KVM_COLLECTIONS:$PODMAN_COLLECTIONS
}

podman_collection_ensure
image_ensure
# Only the scenarios with a Debian 13 platform need its image.
if grep -qs "s390x-kvm-debian13" roles/*/molecule/default/molecule.yml; then
    debian13_image_ensure
fi

# -- scenarios ----------------------------------------------------------------------------
roles=("$@")
if [ ${#roles[@]} -eq 0 ]; then
    for dir in roles/*/molecule/default; do
        [ -f "$dir/molecule.yml" ] && roles+=("$(basename "$(dirname "$(dirname "$dir")")")")
    done
fi
export NO_COLOR=${NO_COLOR:-1}
failed=()
times=()
for role in "${roles[@]}"; do
    start=$(date +%s)
    log "molecule ${MOLECULE_COMMAND:-test}: $role"
    if ! (cd "roles/$role" && molecule "${MOLECULE_COMMAND:-test}"); then
        failed+=("$role")
    fi
    times+=("$role=$(( $(date +%s) - start ))")
done
log "molecule times (s): ${times[*]}"
if [ ${#failed[@]} -ne 0 ]; then
    log "molecule FAILED: ${failed[*]}"
    exit 1
fi
