#!/usr/bin/env bash
# Tests against real parts: the emulated IBM Z host (real s390x kernel under qemu-system-s390x),
# two real libvirtd hosts running s390x guests. The fixtures bring the test bed up themselves.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT"
python -m pytest -v -p no:cacheprovider --durations=0 tests/integration "$@"
