#!/bin/bash
# Take the two libvirt hosts of the test bed down (idempotent): destroys their running
# domains, stops their libvirtd and removes their network namespaces (unless the other stack's
# hosts still run in them). Keeps the state (configuration, defined domains, images) unless
# --purge is given. Usage: down.sh [--stack debian12|debian13] [--purge]
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
tb_lock
purge=0
[ "${1:-}" = --purge ] && purge=1

for h in "${TB_HOSTS[@]}"; do
    dir=$(host_dir "$h")
    if pid=$(host_pid "$h"); then
        if [ $purge = 1 ]; then
            for dom in $(virsh -q -c "$(host_uri "$h")" list --all --name 2>/dev/null); do
                virsh -q -c "$(host_uri "$h")" destroy "$dom" >/dev/null 2>&1 || true
                virsh -q -c "$(host_uri "$h")" undefine --nvram "$dom" >/dev/null 2>&1 \
                    || virsh -q -c "$(host_uri "$h")" undefine "$dom" >/dev/null 2>&1 || true
            done
        else
            for dom in $(virsh -q -c "$(host_uri "$h")" list --name 2>/dev/null); do
                virsh -q -c "$(host_uri "$h")" destroy "$dom" >/dev/null 2>&1 || true
            done
        fi
    fi
    # QEMU processes this host started (and that outlived their libvirtd): by their pid files only.
    for qpid in "$dir"/run/qemu/*.pid; do
        [ -s "$qpid" ] || continue
        p=$(cat "$qpid")
        if [ -d "/proc/$p" ] && grep -q qemu-system "/proc/$p/cmdline" 2>/dev/null; then
            log "$h: killing leftover qemu pid $p"
            kill "$p" 2>/dev/null || true
        fi
    done
    if pid=$(host_pid "$h"); then
        log "$h: stopping libvirtd (pid $pid)"
        kill "$pid"
        for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then kill -9 "$pid"; fi
    fi
    rm -f "$(host_pidfile "$h")"
done
# The namespaces are the machines both stacks run on: they go with the last daemon in them.
for h in "${TB_HOSTS[@]}"; do
    ns=$(host_netns "$h")
    if [ -e "/run/netns/$ns" ] && ! netns_in_use "$ns"; then
        ip netns del "$ns"
    fi
done
if [ $purge = 1 ]; then
    for h in "${TB_HOSTS[@]}"; do
        log "removing $(host_dir "$h")"
        rm -rf "$(host_dir "$h")"
    done
fi
exit 0
