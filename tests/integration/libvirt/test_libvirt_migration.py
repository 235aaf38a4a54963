"""(c) Live migration of a running s390x guest kvmhost1 -> kvmhost2 -> kvmhost1 with
migrateToURI3 (peer to peer over the veth); the guest keeps running (heartbeat on its console)."""

import time

import libvirt
import pytest

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(900)]

FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
         | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
         # the image directory is the same path on both hosts, but libvirt does not know it is shared
         | libvirt.VIR_MIGRATE_UNSAFE)


def migrate(name, src, dst):
    dom = src.conn().lookupByName(name)
    params = {
        libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri,
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: dst.migration_address,
    }
    t0 = time.monotonic()
    dom.migrateToURI3(dst.uri, params, FLAGS)
    wall = time.monotonic() - t0
    moved = dst.conn().lookupByName(name)
    state, reason = moved.state()
    assert state == libvirt.VIR_DOMAIN_RUNNING, (state, reason)
    assert moved.isPersistent()
    with pytest.raises(libvirt.libvirtError) as err:
        src.conn().lookupByName(name)
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    stats = moved.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    return {"wall_s": round(wall, 3), "elapsed_ms": stats.get("time_elapsed"),
            "downtime_ms": stats.get("downtime"), "memory_mib": round(stats.get("memory_total", 0) / 2**20)}


def test_live_migration_there_and_back(basic_guest, libvirt_hosts, testbed_results):
    host1, host2 = libvirt_hosts["kvmhost1"], libvirt_hosts["kvmhost2"]
    _, dom, console, _ = basic_guest("tb-migrate", host=host1, cmdline_extra="tb.heartbeat=1")
    name = dom.name()
    console.wait("READY", timeout=240)
    console.wait("HEARTBEAT", timeout=30)
    results = {}
    for label, src, dst in (("there", host1, host2), ("back", host2, host1)):
        results[label] = migrate(name, src, dst)
        # From here on only the destination's QEMU writes the (shared) console log.
        last = console.records(kind="HEARTBEAT")[-1]
        since = console.mark()
        t0 = time.monotonic()
        beat = console.wait("HEARTBEAT", timeout=60, since=since)
        results[label]["first_heartbeat_after_s"] = round(time.monotonic() - t0, 3)
        assert int(beat["seq"]) > int(last["seq"])
        # the heartbeat keeps counting: the guest was not restarted
        beat2 = console.wait("HEARTBEAT", timeout=60, since=since, seq=int(beat["seq"]) + 1)
        assert float(beat2["uptime"]) > float(last["uptime"])
        assert name in dst.domain_names(active_only=True)
        assert name not in src.domain_names()
    assert console.records(kind="BOOT").__len__() == 1, "the guest booted again"
    testbed_results["migration"] = results
    print("\nmigration: %s" % results)
