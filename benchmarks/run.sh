#!/usr/bin/env bash
# One command for all benchmarks. Figures are ratios against baselines measured in the same run.
#   bash benchmarks/run.sh   (BENCH_REPEAT, BENCH_HOSTS, BENCH_VFIO_DEVICES: see README.md here)
source "$(dirname "$0")/../scripts/lib.sh"
base_setup
apt_ensure libfuse3-3   # bench_vfio_batch serves its tree through FUSE (tests/fixtures/kernel_watch.py)
dev_ensure /dev/fuse fuse "bench_vfio_batch serves its tree through FUSE" || exit 1
cd "$S390X_KVM_ROOT" || exit 1
out=$S390X_KVM_CACHE/bench
mkdir -p "$out"

# Real sysfs lives in memory; a disk-backed tree measures page-cache reclaim, not code.
tmpfs=$out/tmpfs
tmpfs_ensure "$tmpfs" 6g
big=$tmpfs/large_65536
if [ ! -f "$big/.built" ]; then
    log "building the 65,536-subchannel host on tmpfs"
    start=$(date +%s)
    python -m tests.fixtures.sysfs_builder tests/fixtures/hosts/large_65536.yml "$big" --force
    touch "$big/.built"
    log "built in $(( $(date +%s) - start )) s, $(du -sh "$big" | cut -f1)"
fi
small=$tmpfs/small_kvm_host
python -m tests.fixtures.sysfs_builder tests/fixtures/hosts/small_kvm_host.yml "$small" --force >/dev/null

log "ccw_info vs. raw-read floor (65,536 subchannels)"
python benchmarks/bench_ccw_info.py "$big" --repeat "${BENCH_REPEAT:-3}" --json "$out/ccw_info.json"
log "cost per host vs. setup gather_subset=min"
python benchmarks/bench_per_host.py "$small" --hosts "${BENCH_HOSTS:-8}" --repeat "${BENCH_REPEAT:-3}" --json "$out/per_host.json"
log "vfio_ccw: one task for 256 DASDs vs. 256 single-device tasks (FUSE-served simulated kernel)"
python benchmarks/bench_vfio_batch.py --devices "${BENCH_VFIO_DEVICES:-256}" --json "$out/vfio_batch.json"
log "migrate vs. bare virsh migrate --live --p2p (two real libvirt hosts, s390x TCG guest), and with a zPCI device"
python benchmarks/bench_migrate.py --rounds "${BENCH_MIGRATE_ROUNDS:-5}" --json "$out/migrate.json"
log "fleet simulation: the collection's playbooks over ${BENCH_FLEET_SIZES:-10,50,200} hosts vs. ansible.builtin.ping"
bash benchmarks/fleet/run.sh --sizes "${BENCH_FLEET_SIZES:-10,50,200}"
