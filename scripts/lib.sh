# shellcheck shell=bash
# Shared set-up for the README's commands and CI: sourced, not run.
# Installs what is missing (Debian packages, a virtualenv, the collection itself)
# and exports the environment every script needs. Safe to source repeatedly.
set -euo pipefail

S390X_KVM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything expensive lives outside the clone so later runs and CI reuse it.
S390X_KVM_CACHE=${S390X_KVM_CACHE:-/var/cache/s390x-kvm}
S390X_KVM_VENV=$S390X_KVM_CACHE/venv
# One collections path per checkout: two clones (or CI's clone next to yours) never re-point each
# other's s390x.kvm link while both run.
S390X_KVM_COLLECTIONS=$S390X_KVM_CACHE/collections/$(printf %s "$S390X_KVM_ROOT" | sha256sum | cut -c1-12)
export S390X_KVM_ROOT S390X_KVM_CACHE S390X_KVM_VENV S390X_KVM_COLLECTIONS

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "run this as root (it installs Debian packages and starts services)" >&2
        exit 1
    fi
}

# apt_ensure PKG... : install the Debian packages that are not installed yet.
apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    mkdir -p "$S390X_KVM_CACHE"
    # One apt-get at a time: the test stages run side by side, and apt-get fails at once on a held lock.
    (
        flock -w 900 8 || { echo "apt_ensure: $S390X_KVM_CACHE/.apt.lock held for 900 s" >&2; exit 1; }
        # Also when the machine has no package lists (a fresh machine given a kept cache, apt-get clean).
        if [ ! -f "$S390X_KVM_CACHE/.apt-updated" ] || [ -n "$(find "$S390X_KVM_CACHE/.apt-updated" -mmin +720 2>/dev/null)" ] \
                || ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
            apt-get update -q >/dev/null
            touch "$S390X_KVM_CACHE/.apt-updated"
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    ) 8>"$S390X_KVM_CACHE/.apt.lock"
}

# dev_ensure DEVICE MODULE WHY: the character device DEVICE, loading MODULE when it is missing (a
# fresh machine may not have loaded it yet); fails naming the device, the module and WHY otherwise.
dev_ensure() {
    if [ ! -c "$1" ]; then
        apt_ensure kmod
        modprobe "$2" 2>/dev/null || true
    fi
    [ -c "$1" ] && return 0
    echo "$1 is missing and 'modprobe $2' did not provide it: $3" >&2
    return 1
}

# The controller Python: Debian 12's python3 is 3.11, which ansible-core 2.19 supports.
controller_python() {
    local py
    for py in python3.11 /usr/bin/python3.11 python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    echo "no Python 3.11 found (Debian 12's python3 is 3.11)" >&2
    return 1
}

# venv_ensure REQUIREMENTS_FILE [VENV]: a virtualenv (default: the controller's, $S390X_KVM_VENV) with
# those requirements, rebuilt only when they change. The docs and the execution environment's tools
# have virtualenvs of their own.
venv_ensure() {
    local req=$1 venv=${2:-$S390X_KVM_VENV} stamp want
    want=$(sha256sum "$req" | cut -c1-16)
    stamp=$venv/.requirements-$want
    if [ ! -f "$stamp" ]; then
        mkdir -p "$S390X_KVM_CACHE"
        if [ ! -x "$venv/bin/python" ]; then
            log "creating virtualenv $venv"
            "$(controller_python)" -m venv "$venv"
        fi
        log "pip install -r ${req#"$S390X_KVM_ROOT"/} (${venv#"$S390X_KVM_CACHE"/})"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" 2> >(grep -v "is ignored: it is neither" >&2)
        rm -f "$venv"/.requirements-* && touch "$stamp"
    fi
}

# collection_ensure: make this checkout the installed s390x.kvm collection.
collection_ensure() {
    local dest=$S390X_KVM_COLLECTIONS/ansible_collections/s390x/kvm
    mkdir -p "$(dirname "$dest")"
    if [ "$(readlink "$dest" 2>/dev/null)" != "$S390X_KVM_ROOT" ]; then
        rm -rf "$dest"
        ln -s "$S390X_KVM_ROOT" "$dest"
    fi
}

# controller_env: the venv first on PATH and this checkout as the collection (exports only;
# base_setup installs them first).
controller_env() {
    export VIRTUAL_ENV=$S390X_KVM_VENV
    case ":$PATH:" in *":$S390X_KVM_VENV/bin:"*) ;; *) export PATH=$S390X_KVM_VENV/bin:$PATH ;; esac
    export ANSIBLE_COLLECTIONS_PATH=$S390X_KVM_COLLECTIONS
    export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
}

# tmpfs_ensure DIR SIZE: a private tmpfs at DIR (real sysfs lives in memory; big fixture trees
# on disk measure page-cache reclaim, not code). nr_inodes=0: tmpfs counts hard links as inodes.
tmpfs_ensure() {
    mkdir -p "$1"
    mountpoint -q "$1" || mount -t tmpfs -o "size=$2,nr_inodes=0" tmpfs "$1"
}

# big_trees_env: the unit tests' big fixture trees (65,536 subchannels) go to a tmpfs of the cache.
big_trees_env() {
    tmpfs_ensure "$S390X_KVM_CACHE/tmpfs" 6g
    export SYSFS_BUILDER_BIG_DIR=$S390X_KVM_CACHE/tmpfs
}

# root_apt_like_host ROOT: the machine's apt settings that reach the archive (proxy, validity
# checks) and the CA of a TLS-intercepting proxy, copied into a root built with debootstrap; the
# caller runs update-ca-certificates inside once ca-certificates is installed there.
root_apt_like_host() {
    apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
        | sed 's/$/;/' > "$1/etc/apt/apt.conf.d/99s390x-kvm-host" || true
    if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
        mkdir -p "$1/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"
    fi
}

# Packages every command needs: a controller Python with venv, what libvirt-python builds with, and
# the FUSE library of the fleet simulation's kernel stand-in (tests/fixtures/kernel_watch.py, mfusepy).
BASE_APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev rsync ca-certificates
    libfuse3-3)

base_setup() {
    need_root
    apt_ensure "${BASE_APT_PACKAGES[@]}"
    venv_ensure "$S390X_KVM_ROOT/requirements-dev.txt"
    collection_ensure
    controller_env
    export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}
}
