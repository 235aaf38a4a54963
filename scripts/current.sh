#!/usr/bin/env bash
# The current controller: the newest ansible-core 2.2x (requirements-current.txt) on Python 3.13,
# which Debian 12 does not have. It runs in the test bed's Debian 13 root (tests/testbed/lib/debian13.sh),
# from a virtualenv in the cache that sees Debian 13's python3-libvirt; this checkout, the cache, /tmp
# and $HOME appear in the root at their own paths, so inventories, sockets and keys work unchanged.
#
#   scripts/current.sh                  the stage: the unit tests, then ansible-test sanity --python 3.13
#   scripts/current.sh unit [ARGS]      the unit tests (ARGS: more pytest arguments, e.g. -k EXPR)
#   scripts/current.sh sanity [ARGS]    ansible-test sanity on Python 3.13 (scripts/sanity.sh --current)
#   scripts/current.sh run CMD...       CMD with the current controller first on PATH (the integration
#                                       tests' playbooks when S390X_KVM_CONTROLLER=current)
#   scripts/current.sh version          the ansible-core version it runs
source "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/testbed/lib/debian13.sh
source "$S390X_KVM_ROOT/tests/testbed/lib/debian13.sh"

CURRENT_VENV=$S390X_KVM_CACHE/venv-current
CURRENT_REQUIREMENTS=$S390X_KVM_ROOT/requirements-current.txt

# What the root shows at its own path: the checkout, the cache (test beds, sockets, keys, venv), /tmp,
# $HOME, and the team's shared data beside the checkout when it is there (tests that read it skip
# without it).
CURRENT_BINDS=("$S390X_KVM_ROOT" "$S390X_KVM_CACHE" /tmp "$HOME")
[ -d "$(dirname "$S390X_KVM_ROOT")/shared" ] && CURRENT_BINDS+=("$(dirname "$S390X_KVM_ROOT")/shared")

# current_run CMD...: CMD in the Debian 13 root, in the directory it was called from, with a clean
# environment but for the variables the tests and Ansible are configured with. A private mount
# namespace: nothing stays mounted when it ends.
current_run() {
    local -a vars=("PATH=$CURRENT_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        "HOME=$HOME" "VIRTUAL_ENV=$CURRENT_VENV" "LANG=C.UTF-8"
        # The root trusts the machine's CA (root_apt_like_host); pip's own bundle would not.
        "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" "PIP_DISABLE_PIP_VERSION_CHECK=1"
        # $HOME is the machine's: its pip configuration may name local paths the root lacks.
        "PIP_CONFIG_FILE=/dev/null")
    local name
    for name in $(compgen -e); do
        case $name in
            ANSIBLE_*|S390X_KVM_*|SYSFS_BUILDER_*|PYTEST_*|CI|TERM|NO_COLOR) vars+=("$name=${!name}") ;;
        esac
    done
    # shellcheck disable=SC2016  # expanded by the inner shells
    /usr/bin/env -i "${vars[@]}" /usr/bin/unshare -m --propagation private /bin/bash -euc '
        root=$1 dir=$2
        shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        while [ "$1" != -- ]; do
            mkdir -p "$root$1"
            mount --rbind "$1" "$root$1"
            shift
        done
        shift
        exec /usr/sbin/chroot "$root" /bin/sh -c '\''cd "$0" && exec "$@"'\'' "$dir" "$@"
    ' current-run "$DEBIAN13_ROOT" "$PWD" "${CURRENT_BINDS[@]}" -- "$@"
}

# current_ensure: the root, and the virtualenv rebuilt when its requirements or the root change.
current_ensure() {
    local stamp core
    debian13_root_ensure
    stamp=$CURRENT_VENV/.stamp-$( (cat "$CURRENT_REQUIREMENTS" "$DEBIAN13_ROOT/.recipe") | sha256sum | cut -c1-16)
    [ -f "$stamp" ] && return 0
    (
        flock -w 900 9 || { echo "current_ensure: $CURRENT_VENV.lock held for 900 s" >&2; exit 1; }
        [ -f "$stamp" ] && exit 0
        log "the current controller: a Python 3.13 virtualenv with $(grep -m1 '^ansible-core' "$CURRENT_REQUIREMENTS")"
        rm -rf "$CURRENT_VENV"
        current_run /usr/bin/python3 -m venv --system-site-packages "$CURRENT_VENV"
        mkdir -p "$S390X_KVM_CACHE/current-wheels"
        core=$(current_run python "$S390X_KVM_ROOT/scripts/current_core.py" "$CURRENT_REQUIREMENTS" \
            "$S390X_KVM_CACHE/current-wheels")
        log "the current controller: ansible-core $core"
        current_run pip install -q -r "$CURRENT_REQUIREMENTS" "ansible-core==$core"
        touch "$stamp"
    ) 9>"$CURRENT_VENV.lock"
}

current_stage() {
    local rc=0
    big_trees_env
    log "the current controller: $(current_run ansible --version | head -n 1), $(current_run python --version)"
    log "unit tests (current controller)"
    current_run python -m pytest -q -p no:cacheprovider tests/unit || rc=1
    log "ansible-test sanity (current controller)"
    bash "$S390X_KVM_ROOT/scripts/sanity.sh" --current || rc=1
    return $rc
}

need_root
current_ensure
case ${1:-stage} in
    # The caller's directory and Ansible settings (its collections path, its callbacks) stay as they are.
    run) shift; current_run "$@"; exit ;;
esac
collection_ensure
controller_env
cd "$S390X_KVM_ROOT" || exit 1
case ${1:-stage} in
    stage) current_stage ;;
    unit) shift; current_run python -m pytest -q -p no:cacheprovider tests/unit "$@" ;;
    sanity) shift; bash "$S390X_KVM_ROOT/scripts/sanity.sh" --current "$@" ;;
    version) current_run python -c 'import ansible; print(ansible.__version__)' ;;
    *) echo "unknown command $1 (allowed: stage unit sanity run version)" >&2; exit 2 ;;
esac
