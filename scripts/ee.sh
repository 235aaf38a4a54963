#!/usr/bin/env bash
# The execution environment (ee/): the collection's release tarball, ansible-core and ansible-runner
# in an image on the project's Debian 13 base, built with ansible-builder (podman); then a job run in
# it the way AWX/AAP run one (ansible-runner --process-isolation, a private data dir): the discovery
# playbook on the example host, its report checked.
#   scripts/ee.sh            build (skipped when nothing it reads changed), the AAP variant's build
#                            context, the job
#   scripts/ee.sh build      the image only (tests/integration/ee runs this first)
#   scripts/ee.sh job        the job only (builds the image first when it is missing)
#   scripts/ee.sh create     the build contexts of both definitions only (ee/, ee/aap/)
# Installs what it needs on first use: podman + runc, ansible-builder and ansible-runner in a
# virtualenv of their own ($S390X_KVM_CACHE/venv-ee), the Debian 13 base image (no registry).
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

EE_VENV=$S390X_KVM_CACHE/venv-ee
EE_CACHE=$S390X_KVM_CACHE/ee
EE_IMAGE=localhost/s390x-kvm-ee
# Where the definitions take the tarball from (ee/../build/ee), under a name without its version.
EE_TARBALL=$S390X_KVM_ROOT/build/ee/s390x-kvm.tar.gz
EE_VERSION=$(sed -n 's/^version: *//p' galaxy.yml)
mkdir -p "$EE_CACHE"

# shellcheck source=../tests/testbed/lib/debian13_image.sh
source "$S390X_KVM_ROOT/tests/testbed/lib/debian13_image.sh"

ee_tools_ensure() {
    apt_ensure podman runc containernetworking-plugins iptables
    # This machine's podman settings (runc, rlimits), shared with the molecule scenarios.
    export CONTAINERS_CONF=$S390X_KVM_ROOT/tests/molecule/containers.conf
    venv_ensure "$S390X_KVM_ROOT/requirements-ee.txt" "$EE_VENV"
}

# ee_tarball: `ansible-galaxy collection build` of this checkout, as released (galaxy.yml's build_ignore).
ee_tarball() {
    local out
    out=$(dirname "$EE_TARBALL")
    mkdir -p "$out"
    ansible-galaxy collection build --force --output-path "$out" . >/dev/null
    mv -f "$out/s390x-kvm-$EE_VERSION.tar.gz" "$EE_TARBALL"
}

# ee_create DEFINITION CONTEXT: ansible-builder's build context (validates the definition).
ee_create() {
    rm -rf "$2"
    if ! "$EE_VENV/bin/ansible-builder" create -f "$1" --context "$2" > "$2.log" 2>&1; then
        cat "$2.log" >&2
        return 1
    fi
}

ee_build() {
    local base_id inputs old_id start
    ee_tools_ensure
    debian13_image_ensure
    # One build at a time: the tests and this script's other users may ask at once.
    (
        flock -w 1800 9 || { echo "ee_build: $EE_CACHE/build.lock held for 1800 s" >&2; exit 1; }
        ee_tarball
        ee_create ee/execution-environment.yml "$EE_CACHE/context"
        base_id=$(podman image inspect --format '{{.Id}}' "$DEBIAN13_IMAGE")
        inputs=$(python -m tests.testbed.ee inputs "$EE_CACHE/context" "$EE_TARBALL" "$base_id")
        old_id=$(podman image inspect --format '{{.Id}}' "$EE_IMAGE:$EE_VERSION" 2>/dev/null || true)
        if [ "$(podman image inspect --format '{{index .Config.Labels "s390x-kvm.ee-inputs"}}' "$EE_IMAGE:$EE_VERSION" \
                2>/dev/null)" = "$inputs" ]; then
            log "$EE_IMAGE:$EE_VERSION is up to date (inputs $inputs)"
        else
            log "ansible-builder build $EE_IMAGE:$EE_VERSION (inputs $inputs; log: $EE_CACHE/build.log)"
            start=$(date +%s)
            if ! "$EE_VENV/bin/ansible-builder" build -f ee/execution-environment.yml --context "$EE_CACHE/context" \
                    --container-runtime podman --tag "$EE_IMAGE:$EE_VERSION" \
                    --extra-build-cli-args "--label s390x-kvm.ee-inputs=$inputs" -v 3 > "$EE_CACHE/build.log" 2>&1; then
                tail -n 40 "$EE_CACHE/build.log" >&2
                exit 1
            fi
            log "built in $(( $(date +%s) - start )) s: $(podman image inspect --format '{{.Size}}' \
                "$EE_IMAGE:$EE_VERSION" | awk '{ printf "%d MB", $1 / 1e6 }')"
            # The image this one replaces, and the stage images of earlier builds (they carry the
            # inputs label too); this build's stay as the next build's layer cache.
            if [ -n "$old_id" ]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi
            podman images --filter dangling=true --filter label=s390x-kvm.ee-inputs \
                    --format '{{.ID}} {{index .Labels "s390x-kvm.ee-inputs"}}' \
                | awk -v keep="$inputs" '$2 != keep { print $1 }' | xargs -r podman rmi >/dev/null 2>&1 || true
        fi
        podman tag "$EE_IMAGE:$EE_VERSION" "$EE_IMAGE:latest"
        python -m tests.testbed.ee check-image "$EE_IMAGE:$EE_VERSION" "$EE_TARBALL"
    ) 9>"$EE_CACHE/build.lock"
}

# ee_create_aap: the AAP variant cannot be built here (registry.redhat.io); its definition must
# still validate and give a build context that installs the tarball on the AAP base with microdnf.
ee_create_aap() {
    local context=$EE_CACHE/context-aap
    ee_tools_ensure
    [ -f "$EE_TARBALL" ] || ee_tarball
    ee_create ee/aap/execution-environment.yml "$context"
    local want
    for want in 'ARG EE_BASE_IMAGE="registry.redhat.io/ansible-automation-platform-26/ee-minimal-rhel9:latest"' \
            'ARG PKGMGR="/usr/bin/microdnf"' 'COPY _build/bindep.txt bindep.txt'; do
        grep -qxF "$want" "$context/Containerfile" || { echo "ee/aap: no '$want' in $context/Containerfile" >&2; return 1; }
    done
    for want in collections/s390x-kvm.tar.gz exclude-bindep.txt; do
        [ -f "$context/_build/$want" ] || { echo "ee/aap: the build context lacks _build/$want" >&2; return 1; }
    done
    log "ansible-builder create ee/aap: $context/Containerfile"
}

ee_job() {
    local work start
    ee_tools_ensure
    podman image exists "$EE_IMAGE:latest" || ee_build
    work=$(mktemp -d "$EE_CACHE/job.XXXXXX")
    log "ansible-runner --process-isolation: s390x.kvm.discover on the example host in $EE_IMAGE:latest"
    start=$(date +%s)
    if ! python -m tests.testbed.ee example-job "$EE_IMAGE:latest" "$work"; then
        log "the job failed; its private data dir is kept: $work/job"
        return 1
    fi
    log "job done in $(( $(date +%s) - start )) s"
    rm -rf "$work"
}

case ${1:-all} in
    build) ee_build ;;
    job) ee_job ;;
    create)
        ee_tools_ensure
        ee_tarball
        ee_create ee/execution-environment.yml "$EE_CACHE/context"
        ee_create_aap ;;
    all)
        ee_build
        ee_create_aap
        ee_job ;;
    *)
        echo "usage: $0 [build|job|create]" >&2; exit 2 ;;
esac
