#!/bin/bash
# Show the state of the two libvirt hosts; exit 0 only when both answer.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rc=0
for h in "${TB_HOSTS[@]}"; do
    ns=$(host_netns "$h")
    if pid=$(host_pid "$h") && host_in_netns "$h" "$pid" && host_ready "$h"; then
        state="up (libvirtd pid $pid)"
    elif [ -n "${pid:-}" ]; then
        state="libvirtd pid $pid not answering or outside $ns"; rc=1
    else
        state=down; rc=1
    fi
    printf '%s (%s): %s\n  uri: %s\n  netns: %s%s\n  migration_address: %s\n' "$h" "$TB_STACK" "$state" "$(host_uri "$h")" \
        "$ns" "$([ -e "/run/netns/$ns" ] || echo ' (absent)')" "$(host_addr "$h")"
    if [[ $state == up* ]]; then
        virsh -q -c "$(host_uri "$h")" list --all | sed 's/^/  /'
    fi
done
exit $rc
