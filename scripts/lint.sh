#!/usr/bin/env bash
# The lint stage: ansible-lint (production profile) over the collection, and shellcheck (warnings and
# errors) over every shell script of the repository, found by name or by its first line.
source "$(dirname "$0")/lib.sh"
base_setup
apt_ensure shellcheck
cd "$S390X_KVM_ROOT" || exit 1

log "ansible-lint --profile production"
ansible-lint --profile production

mapfile -t scripts < <(git ls-files -co --exclude-standard | while read -r path; do
    [ -f "$path" ] || continue
    case $path in
        *.sh) echo "$path" ;;
        *) head -n 1 "$path" | grep -qE '^#!(/usr/bin/env )?(/bin/)?(ba)?sh|^# shellcheck shell=' && echo "$path" ;;
    esac
done)
log "shellcheck: ${#scripts[@]} scripts"
shellcheck --external-sources --severity=warning "${scripts[@]}"
