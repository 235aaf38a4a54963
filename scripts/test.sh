#!/usr/bin/env bash
# All tests: unit, sanity, lint, then the real-part suites (emulated Z host, libvirt, molecule).
# Usage: scripts/test.sh [stage ...]   stages: unit sanity lint integration molecule  (default: all)
# Installs what it needs on first use. In CI (CI=true) a missing prerequisite fails instead of skipping.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT"

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(unit sanity lint integration molecule)
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

for stage in "${stages[@]}"; do
    case $stage in
        unit)
            tmpfs_ensure "$S390X_KVM_CACHE/tmpfs" 6g
            export SYSFS_BUILDER_BIG_DIR=$S390X_KVM_CACHE/tmpfs
            run_stage unit python -m pytest -q -p no:cacheprovider --durations=5 tests/unit ;;
        sanity)
            run_stage sanity bash scripts/sanity.sh ;;
        lint)
            run_stage lint ansible-lint --profile production ;;
        integration)
            run_stage integration bash scripts/integration.sh ;;
        molecule)
            run_stage molecule bash scripts/molecule.sh ;;
        *)
            echo "unknown stage $stage (allowed: unit sanity lint integration molecule)" >&2; exit 2 ;;
    esac
done

log "stage times (s): $(for s in "${stages[@]}"; do printf '%s=%s ' "$s" "${took[$s]:-0}"; done)"
if [ ${#failed[@]} -ne 0 ]; then
    log "FAILED stages: ${failed[*]}"
    exit 1
fi
log "all stages passed"
