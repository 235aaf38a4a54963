# shellcheck shell=bash source-path=SCRIPTDIR
# For your own shell:   source scripts/env.sh
# Puts this project's controller environment in the current shell: the virtualenv (ansible-core 2.19,
# ansible-lint, molecule, pytest, libvirt-python) first on PATH, and this checkout as the s390x.kvm
# collection (ANSIBLE_COLLECTIONS_PATH). Installs them first when missing, in a child shell, so a
# failed install reports and returns instead of closing yours; your shell options stay as they were.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "source it: source ${BASH_SOURCE[0]}" >&2
    exit 2
fi
if bash -c 'source "$1/lib.sh" && base_setup' _ "$(dirname "${BASH_SOURCE[0]}")"; then
    _s390x_kvm_opts=$(set +o)
    # shellcheck source=lib.sh
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    controller_env
    eval "$_s390x_kvm_opts"
    unset _s390x_kvm_opts
    echo "s390x.kvm: $(ansible --version | head -n 1), collection at $S390X_KVM_COLLECTIONS" >&2
else
    echo "s390x.kvm: set-up failed (see above); nothing changed in this shell" >&2
    false
fi
