#!/usr/bin/env bash
# Tests against real parts: the emulated IBM Z host (real s390x kernel under qemu-system-s390x),
# two real libvirtd hosts per stack running s390x guests. The fixtures bring the test bed up themselves.
#
#   scripts/integration.sh                 every lane (below)
#   scripts/integration.sh --lane NAME     one lane: zhost, debian12 or debian13
#   scripts/integration.sh PYTEST_ARGS...  one pytest run (e.g. a file, -k EXPR)
#
# The Z host and the Debian 12 stack are different test beds, so their lanes run at once (each is
# mostly one TCG vCPU or one ansible-playbook at a time; two run well on two cores). The two stacks
# share the hosts' network namespaces (and the fault tests cut the link between them), so the
# Debian 13 lane runs after the other two:
#   zhost     the emulated Z host's tests (the discovery playbook on both controllers)
#   debian12  the demo and the execution environment's jobs first (they read the Z host while the zhost
#             lane keeps it up), the libvirt and guest tests on the Debian 12 stack, the fleet simulation
#   debian13  the libvirt and guest tests on the Debian 13 stack, then migration between the stacks,
#             with Ansible on the current controller (the newest ansible-core 2.2x, Python 3.13)
# Each lane's output goes to $S390X_KVM_CACHE/lanes/NAME.log and is printed when the lane ends.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

run_pytest() { python -m pytest -v -p no:cacheprovider --durations=0 "$@"; }

lane() {
    local between=tests/integration/libvirt/test_migrate_between_stacks.py
    case $1 in
        zhost)
            run_pytest tests/integration/zhost ;;
        debian12)
            S390X_KVM_STACKS=debian12 run_pytest tests/integration/test_demo.py tests/integration/ee \
                tests/integration/libvirt tests/integration/guest tests/integration/test_fleet_simulation.py \
                --ignore="$between" ;;
        debian13)
            # Ansible on the current controller too (scripts/current.sh): Debian 13 end to end.
            local rc=0
            S390X_KVM_CONTROLLER=current S390X_KVM_STACKS=debian13 run_pytest tests/integration/libvirt \
                tests/integration/guest --ignore="$between" || rc=$?
            S390X_KVM_CONTROLLER=current run_pytest "$between" || rc=$?
            return $rc ;;
        *)
            echo "unknown lane $1 (allowed: zhost debian12 debian13)" >&2; return 2 ;;
    esac
}

# lane_start NAME: the lane in the background; its status file gets its exit code when it ends.
LANES=$S390X_KVM_CACHE/lanes
lane_start() {
    mkdir -p "$LANES"
    rm -f "$LANES/$1.rc"
    ( set +e; lane "$1" > "$LANES/$1.log" 2>&1; echo $? > "$LANES/$1.rc" ) &
}

# lane_wait NAME: waits for the lane's status file, prints its output, returns its exit code.
lane_wait() {
    while [ ! -s "$LANES/$1.rc" ]; do sleep 5; done
    log "lane $1 (exit $(cat "$LANES/$1.rc")):"
    cat "$LANES/$1.log"
    return "$(cat "$LANES/$1.rc")"
}

if [ "${1:-}" = --lane ]; then
    [ $# -eq 2 ] || { echo "usage: $0 --lane zhost|debian12|debian13" >&2; exit 2; }
    lane "$2"
    exit $?
fi
if [ $# -gt 0 ]; then
    run_pytest "$@"
    exit $?
fi

lane_start zhost
lane_start debian12
failed=()
for name in zhost debian12; do
    lane_wait "$name" || failed+=("$name")
done
lane_start debian13
lane_wait debian13 || failed+=(debian13)
if [ ${#failed[@]} -ne 0 ]; then
    log "integration lanes that failed: ${failed[*]}"
    exit 1
fi
