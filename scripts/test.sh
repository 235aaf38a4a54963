#!/usr/bin/env bash
# All tests: unit, sanity, lint, the changelog, the docsite, the release artifact, the execution
# environment, the current controller, then the real-part suites (emulated Z host, libvirt, molecule).
# Usage: scripts/test.sh [stage ...]   stages: unit sanity lint changelog docs artifact ee current
#                                      integration molecule (default: all)
# Installs what it needs on first use. In CI (CI=true) a missing prerequisite fails instead of skipping.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT"

# Every stage but unit runs scripts/<stage>.sh; those in ROOT_STAGES use the Debian 13 root.
ALL_STAGES=(unit sanity lint changelog docs artifact ee current integration molecule)
ROOT_STAGES=(ee current integration molecule)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=("${ALL_STAGES[@]}")
for stage in "${stages[@]}"; do
    if [[ " ${ALL_STAGES[*]} " != *" $stage "* ]]; then
        echo "unknown stage $stage (allowed: ${ALL_STAGES[*]})" >&2
        exit 2
    fi
done
failed=()
declare -A took

run_stage() {
    local name=$1 start rc
    shift
    start=$(date +%s)
    log "stage: $name"
    set +e
    "$@"
    rc=$?
    set -e
    took[$name]=$(( $(date +%s) - start ))
    if [ $rc -ne 0 ]; then
        failed+=("$name")
        log "stage $name FAILED (exit $rc)"
    fi
}

# The Debian 13 root (the execution environment's base, the current controller, the second libvirt
# stack, the molecule image) downloads and installs while the unit, sanity and lint stages run; the
# stages that use it wait for it.
root_job=""
needs_root() { [[ " ${ROOT_STAGES[*]} " == *" $1 "* ]]; }
for stage in "${stages[@]}"; do
    if needs_root "$stage"; then
        apt_ensure debootstrap debian-archive-keyring
        (source tests/testbed/lib/debian13.sh && debian13_root_ensure) > "$S390X_KVM_CACHE/debian13-root.log" 2>&1 &
        root_job=$!
        break
    fi
done
debian13_root_wait() {
    [ -n "$root_job" ] || return 0
    if ! wait "$root_job"; then
        log "building the Debian 13 root failed (the stage tries again):"
        tail -n 20 "$S390X_KVM_CACHE/debian13-root.log" >&2
    fi
    root_job=""
}

for stage in "${stages[@]}"; do
    if [ "$stage" = unit ]; then
        big_trees_env
        run_stage unit python -m pytest -q -p no:cacheprovider --durations=5 tests/unit
        continue
    fi
    needs_root "$stage" && debian13_root_wait
    run_stage "$stage" bash "scripts/$stage.sh"
done

log "stage times (s): $(for s in "${stages[@]}"; do printf '%s=%s ' "$s" "${took[$s]:-0}"; done)"
if [ ${#failed[@]} -ne 0 ]; then
    log "FAILED stages: ${failed[*]}"
    exit 1
fi
log "all stages passed"
