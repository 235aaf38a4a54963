#!/usr/bin/env bash
# The fleet simulation in one command (as root): bash benchmarks/fleet/run.sh [--sizes 10,50,200] [--forks 10]
# Trees live on a private tmpfs, served through FUSE by one simulated kernel per host.
source "$(dirname "$0")/../../scripts/lib.sh"
base_setup
apt_ensure libfuse3-3
dev_ensure /dev/fuse fuse "the fleet's hosts are served through FUSE" || exit 1
cd "$S390X_KVM_ROOT" || exit 1
out=$S390X_KVM_CACHE/bench
mkdir -p "$out"
tmpfs_ensure "$out/tmpfs" 6g
large=$out/tmpfs/large_65536     # built by benchmarks/run.sh; discovered once when present
[ -f "$large/.built" ] && set -- --large "$large" "$@"
python benchmarks/fleet/fleet.py --work "$out/tmpfs/fleet" --json "$out/fleet.json" "$@"
