#!/usr/bin/env bash
# All tests: unit, sanity, lint, the changelog, the docsite, the release artifact, the execution
# environment, the current controller, then the real-part suites (emulated Z host, libvirt, molecule).
# Usage: scripts/test.sh [stage ...]   stages: unit sanity lint changelog docs artifact ee current
#                                      integration molecule (default: all)
# Installs what it needs on first use. In CI (CI=true) a missing prerequisite fails instead of skipping.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT"

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(unit sanity lint changelog docs artifact ee current integration molecule)
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
if [[ " ${stages[*]} " =~ \ (ee|current|integration|molecule)\  ]]; then
    apt_ensure debootstrap debian-archive-keyring
    (source tests/testbed/lib/debian13.sh && debian13_root_ensure) > "$S390X_KVM_CACHE/debian13-root.log" 2>&1 &
    root_job=$!
fi
debian13_root_wait() {
    [ -n "$root_job" ] || return 0
    if ! wait "$root_job"; then
        log "building the Debian 13 root failed (the stage tries again):"
        tail -n 20 "$S390X_KVM_CACHE/debian13-root.log" >&2
    fi
    root_job=""
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
            run_stage lint bash scripts/lint.sh ;;
        changelog)
            run_stage changelog bash scripts/changelog.sh ;;
        docs)
            run_stage docs bash scripts/docs.sh ;;
        artifact)
            run_stage artifact bash scripts/artifact.sh ;;
        ee)
            debian13_root_wait
            run_stage ee bash scripts/ee.sh ;;
        current)
            debian13_root_wait
            run_stage current bash scripts/current.sh ;;
        integration)
            debian13_root_wait
            run_stage integration bash scripts/integration.sh ;;
        molecule)
            debian13_root_wait
            run_stage molecule bash scripts/molecule.sh ;;
        *)
            echo "unknown stage $stage (allowed: unit sanity lint changelog docs artifact ee current integration molecule)" >&2; exit 2 ;;
    esac
done

log "stage times (s): $(for s in "${stages[@]}"; do printf '%s=%s ' "$s" "${took[$s]:-0}"; done)"
if [ ${#failed[@]} -ne 0 ]; then
    log "FAILED stages: ${failed[*]}"
    exit 1
fi
log "all stages passed"
