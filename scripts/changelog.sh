#!/usr/bin/env bash
# The changelog: the fragments linted, and CHANGELOG.md and CHANGELOG.rst exactly what the release
# history (changelogs/changelog.yaml) generates - checked in a copy, so the checkout is not touched.
source "$(dirname "$0")/lib.sh"
base_setup
cd "$S390X_KVM_ROOT" || exit 1

log "antsibull-changelog lint"
antsibull-changelog lint

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a galaxy.yml CHANGELOG.md CHANGELOG.rst changelogs "$work/"
(cd "$work" && antsibull-changelog generate)
for file in CHANGELOG.md CHANGELOG.rst; do
    if ! diff -u "$file" "$work/$file"; then
        echo "$file is not what changelogs/changelog.yaml generates: run antsibull-changelog generate" >&2
        exit 1
    fi
done
log "changelog: fragments lint clean, CHANGELOG.md and .rst up to date"
