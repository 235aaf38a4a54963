#!/usr/bin/env bash
# The fault-injection matrix of s390x.kvm.migrate on the two real libvirt hosts: every phase with
# every fault that applies, the invariants after each, and a second run. Prints the matrix.
# Usage: scripts/fault-matrix.sh [pytest options]
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT"
set +e
python -m pytest -q -p no:cacheprovider tests/integration/libvirt/test_migrate_faults.py "$@"
rc=$?
set -e
python -m tests.testbed.fault_matrix || rc=1
exit $rc
