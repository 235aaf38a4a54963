#!/bin/bash
# Stop the emulated Z host (idempotent). Only the qemu whose pid file is ours is stopped.
#   tests/testbed/zhost/down.sh           stop it (the next up.sh boots from the pristine image)
#   tests/testbed/zhost/down.sh --purge   also remove the built image (the next up.sh rebuilds it)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
if pid=$(zh_pid); then
    log "stopping zhost qemu (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
fi
for r in outer inner; do
    if rpid=$(zh_relay_pid "$r"); then kill "$rpid" 2>/dev/null || true; fi
    rm -f "$ZH_RUN/relay-$r.pid"
done
zh_kill_stale_relays
[ -e "/run/netns/$ZH_NETNS" ] && ip netns del "$ZH_NETNS"
rm -f "$ZH_RUN/ssh-relay.sock" "$ZH_PIDFILE" "$ZH_RUN/root.qcow2" "$ZH_RUN"/data*.img "$ZH_RUN"/pci*.img "$ZH_RUN/qmp.sock"
if [ "${1:-}" = --purge ]; then
    log "removing $ZH_IMAGE and $ZH_RUN"
    rm -rf "$ZH_IMAGE" "$ZH_RUN"
fi
exit 0
