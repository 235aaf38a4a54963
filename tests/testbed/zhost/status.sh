#!/bin/bash
# Show the state of the emulated Z host; exit 0 only when it answers over ssh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rc=1
if pid=$(zh_pid); then
    port=$(zh_port)
    if out=$(zh_ssh 'echo "$(uname -r) $(cut -d" " -f1 /proc/uptime)"' 2>&1); then
        echo "zhost: up (qemu pid $pid), ssh root@127.0.0.1 -p $port, kernel ${out% *}, uptime ${out##* } s"
        rc=0
    else
        echo "zhost: qemu pid $pid runs, ssh on 127.0.0.1:$port does not answer: $out"
    fi
    for r in outer inner; do
        zh_relay_pid "$r" >/dev/null || echo "  ssh relay $r: not running"
    done
else
    echo "zhost: down"
fi
echo "  image:     $ZH_IMAGE ($([ -s "$ZH_IMAGE/key" ] && echo "built, key $(cat "$ZH_IMAGE/key")" || echo "not built"))"
echo "  inventory: $ZH_INVENTORY"
echo "  console:   $ZH_CONSOLE (interactive: unix socket $ZH_RUN/console.sock)"
exit $rc
