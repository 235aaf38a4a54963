"""s390x.kvm.vfio_ccw against the kernel-reaction simulator (tests/fixtures/kernel_sim.py):
the exact write sequences, convergence from intermediate states, roll-back and batch cost."""

import errno
import json
import os
import time

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import derive_mdev_uuid

from tests.fixtures.kernel_sim import sim_host
from tests.unit.vfio_harness import run_module_inprocess, snapshot_diff, tree_snapshot
from tests.unit.helpers import HOSTS

SMALL = os.path.join(HOSTS, "small_kvm_host.yml")
BUS, SCH = "0.0.0105", "0.0.0005"      # small_kvm_host: free online DASD dasde on subchannel 0.0.0005
CSS = "/sys/bus/css/devices/" + SCH


@pytest.fixture
def sim(tmp_path):
    s = sim_host(SMALL, tmp_path / "host", delay=0.3)
    yield s
    s.close()


def run(sim, **args):
    return run_module_inprocess("vfio_ccw", args, sim)


def persisted(sim, uuid):
    override = "/etc/driverctl.d/css-" + SCH
    mdev = "/etc/mdevctl.d/%s/%s" % (SCH, uuid)
    return (sim.read(override, default=None) if sim.exists(override) else None,
            sim.read(mdev, default=None) if sim.exists(mdev) else None)


MDEVCTL_JSON = json.dumps({"mdev_type": "vfio_ccw-io", "start": "auto", "attrs": []}, indent=2, sort_keys=True)


def test_present_exact_sequence_persistence_and_idempotence(sim):
    uuid = derive_mdev_uuid(sim, BUS)
    rc, res = run(sim, devices=[BUS])
    assert rc == 0, res
    assert res["changed"] is True and res["map"] == {BUS: {"subchannel": SCH, "uuid": uuid}}
    assert sim.log == [
        ("/sys/bus/ccw/devices/%s/online" % BUS, "0", 0),
        (CSS + "/driver_override", "vfio_ccw\n", 0),
        (CSS + "/driver/unbind", SCH, 0),
        ("/sys/bus/css/drivers_probe", SCH, 0),
        (CSS + "/mdev_supported_types/vfio_ccw-io/create", uuid, 0),
    ]
    assert sim.link_name(CSS + "/driver") == "vfio_ccw" and sim.isdir(CSS + "/" + uuid)
    assert not os.path.lexists(sim.path("/sys/block/dasde"))
    # driverctl: one line with the driver; mdevctl: the JSON config (README "Config file format")
    assert persisted(sim, uuid) == ("vfio_ccw", MDEVCTL_JSON)
    with open(sim.path("/etc/driverctl.d/css-" + SCH), encoding="utf-8") as handle:
        assert handle.read() == "vfio_ccw\n"
    with open(sim.path("/etc/mdevctl.d/%s/%s" % (SCH, uuid)), encoding="utf-8") as handle:
        assert handle.read() == MDEVCTL_JSON + "\n"
    del sim.log[:]
    rc, res = run(sim, devices=[BUS])
    assert rc == 0 and res["changed"] is False and sim.log == []


def test_absent_restores_io_subchannel_online_and_removes_persistence(sim):
    before = tree_snapshot(sim.root)
    uuid = derive_mdev_uuid(sim, BUS)
    assert run(sim, devices=[BUS])[0] == 0
    del sim.log[:]
    rc, res = run(sim, devices=[BUS], state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert sim.log == [
        (CSS + "/%s/remove" % uuid, "1", 0),
        (CSS + "/driver_override", "\n", 0),
        (CSS + "/driver/unbind", SCH, 0),
        ("/sys/bus/css/drivers_probe", SCH, 0),
        ("/sys/bus/ccw/devices/%s/online" % BUS, "1", 0),   # after the CCW device came back (0.3 s)
    ]
    assert sim.link_name(CSS + "/driver") == "io_subchannel" and sim.read(CSS + "/driver_override") == "(null)"
    assert sim.read("/sys/bus/ccw/devices/%s/online" % BUS) == "1" and sim.exists("/sys/block/dasde")
    assert persisted(sim, uuid) == (None, None)
    assert snapshot_diff(before, tree_snapshot(sim.root)) == []
    del sim.log[:]
    rc, res = run(sim, devices=[BUS], state="absent")
    assert rc == 0 and res["changed"] is False and sim.log == []


def test_absent_on_the_prebuilt_vfio_ccw_device(sim):
    """0.0.0106 was bound to vfio_ccw at boot with a persistent mdev: it comes back as a DASD."""
    rc, res = run(sim, devices=["0.0.0106"], state="absent")
    assert rc == 0, res
    base = "/sys/bus/css/devices/0.0.0010"
    assert [w[0] for w in sim.log] == [
        base + "/3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51/remove", base + "/driver_override",
        base + "/driver/unbind", "/sys/bus/css/drivers_probe", "/sys/bus/ccw/devices/0.0.0106/online"]
    assert sim.link_name("/sys/bus/ccw/devices/0.0.0106/driver") == "dasd-eckd"
    assert sim.listdir("/sys/bus/ccw/devices/0.0.0106/block") == ["dasdg"]
    assert not sim.exists("/etc/mdevctl.d/0.0.0010")


def _final_state(sim):
    uuid = derive_mdev_uuid(sim, BUS)
    return (sim.link_name(CSS + "/driver"), sim.read(CSS + "/driver_override"), sorted(
        e for e in sim.listdir(CSS) if e == uuid), persisted(sim, uuid))


@pytest.mark.parametrize("steps", [
    "override",                        # driver_override set, still io_subchannel (device offline)
    "unbound",                         # override set and unbound: no driver, no mdev
    "bound",                           # vfio_ccw bound, no mdev
    "mdev",                            # vfio_ccw bound with the mdev, no persistence files
])
def test_rerun_from_intermediate_states_converges(sim, tmp_path, steps):
    ref = sim_host(SMALL, tmp_path / "ref", delay=0)
    try:
        assert run(ref, devices=[BUS])[0] == 0
        want = _final_state(ref)
    finally:
        ref.close()
    uuid = derive_mdev_uuid(sim, BUS)
    sim.write("/sys/bus/ccw/devices/%s/online" % BUS, "0")
    sim.write(CSS + "/driver_override", "vfio_ccw\n")
    if steps in ("unbound", "bound", "mdev"):
        sim.write(CSS + "/driver/unbind", SCH)
    if steps in ("bound", "mdev"):
        sim.write("/sys/bus/css/drivers_probe", SCH)
    if steps == "mdev":
        sim.write(CSS + "/mdev_supported_types/vfio_ccw-io/create", uuid)
    done = len(sim.log)
    rc, res = run(sim, devices=[BUS])
    assert rc == 0 and res["changed"] is True, res
    writes = [w[0].rsplit("/", 1)[-1] for w in sim.log[done:]]
    expected = {"override": ["unbind", "drivers_probe", "create"], "unbound": ["drivers_probe", "create"],
                "bound": ["create"], "mdev": []}[steps]
    assert writes == expected
    assert _final_state(sim) == want
    done = len(sim.log)
    rc, res = run(sim, devices=[BUS])
    assert rc == 0 and res["changed"] is False and sim.log[done:] == []


FOUR = {"arch": "s390x", "hostname": "kvm-four",
        "dasd": [{"busid": "0.0.0300", "online": False}, {"busid": "0.0.0301", "online": True, "partitions": []},
                 {"busid": "0.0.0302", "online": True}, {"busid": "0.0.0303", "online": False}]}


def _rolled_back_run(tmp_path):
    sim = sim_host(FOUR, tmp_path / "four", delay=0.2)
    before = tree_snapshot(sim.root)
    sim.fail_on("/sys/bus/css/drivers_probe", errno.ENOMEM, after=2)   # the 3rd device's probe
    rc, res = run(sim, devices=["0.0.0300-0.0.0303"])
    return sim, before, rc, res


def test_failure_in_third_device_rolls_back_the_first_two(tmp_path):
    sim, before, rc, res = _rolled_back_run(tmp_path)
    try:
        assert rc == 1 and res["failed"] is True and res["failed_device"] == "0.0.0302"
        assert res["rolled_back"] == ["0.0.0302", "0.0.0301", "0.0.0300"]
        assert "Cannot allocate memory" in res["msg"]
        assert ("/sys/bus/css/drivers_probe", "0.0.0002", errno.ENOMEM) in sim.log
        assert not any("0.0.0003" in w[0] or "0.0.0303" in w[0] for w in sim.log)   # the 4th was never touched
        # every kernel-side change and the driverctl override are undone
        diff = snapshot_diff(before, tree_snapshot(sim.root))
        assert [d for d in diff if not d.startswith("etc/mdevctl.d")] == []
    finally:
        sim.close()


def test_roll_back_also_removes_the_mdevctl_definitions(tmp_path):
    sim, before, rc, _res = _rolled_back_run(tmp_path)
    try:
        assert rc == 1
        assert snapshot_diff(before, tree_snapshot(sim.root)) == []
    finally:
        sim.close()


def _many(n):
    return {"arch": "s390x", "hostname": "kvm-many",
            "generate": [{"range": "0.0.1000-0.0.%04x" % (0x1000 + n - 1), "kind": "dasd-eckd", "online_every": 2}]}


_COUNTED = ("read", "read_abs", "read_bytes", "scandir", "listdir", "link_name", "readlink", "exists", "isdir")


def _count_host_access(sim):
    """Count every host-tree access the module makes through ``sim`` (a deterministic cost measure;
    wall-clock ratios belong to benchmarks/, where a loaded CI machine cannot make them flaky)."""
    counts = {"n": 0}
    for name in _COUNTED:
        original = getattr(sim, name)

        def counted(*args, _original=original, **kwargs):
            counts["n"] += 1
            return _original(*args, **kwargs)
        setattr(sim, name, counted)
    return counts


def test_batch_of_256_is_cheaper_than_256_single_runs(tmp_path):
    n = 256
    # host-tree accesses are counted, not timed: the trees can live anywhere (pytest's tmp_path)
    batch = sim_host(_many(n), str(tmp_path / "batch"), delay=0)
    single = sim_host(_many(n), str(tmp_path / "single"), delay=0)
    batch_access, single_access = _count_host_access(batch), _count_host_access(single)
    try:
        t0 = time.time()
        rc, res = run(batch, devices=["0.0.1000-0.0.%04x" % (0x1000 + n - 1)])
        t_batch = time.time() - t0
        assert rc == 0 and len(res["devices"]) == n and all(d["changed"] for d in res["devices"]), res.get("msg")
        t0 = time.time()
        for i in range(n):
            rc, res = run(single, devices=["0.0.%04x" % (0x1000 + i)])
            assert rc == 0, res.get("msg")
        t_single = time.time() - t0
        # the simulated kernel's own work (writing the tree) is the same for both; the rest is the module
        m_batch, m_single = t_batch - batch.write_seconds, t_single - single.write_seconds
        print("\nvfio_ccw present, %d DASDs: one batch %.2f s, %d single runs %.2f s, ratio %.1fx; "
              "without the simulator's writes: %.2f s vs %.2f s, ratio %.1fx"
              % (n, t_batch, n, t_single, t_single / t_batch, m_batch, m_single, m_single / max(m_batch, 1e-6)))
        print("host-tree accesses: batch %d, single runs %d" % (batch_access["n"], single_access["n"]))
        assert [w[0].rsplit("/", 1)[-1] for w in batch.log] == [w[0].rsplit("/", 1)[-1] for w in single.log]
        assert len(batch.log) == n // 2 * 5 + n // 2 * 4    # online ones also go offline
        # one discovery and one usage scan for the batch against one per device (the saving that
        # matters, one module process per task, is measured by benchmarks/run.sh bench_vfio_batch)
        assert batch_access["n"] < single_access["n"]
    finally:
        batch.close()
        single.close()


def test_absent_when_auto_online_wins_the_race(sim, monkeypatch):
    """The device comes back online by itself (virtio_ccw, or DASD auto-online through udev) between
    our read and our write: the kernel answers EINVAL (ccw_device_set_online on an online device),
    which is done, not a failure (seen on the real 6.12 kernel under load)."""
    assert run(sim, devices=[BUS])[0] == 0
    original = sim._ccw_online

    def racing(data, sch, busid):
        if data.strip() == "1":
            sim._put("/sys/devices/css0/%s/%s/online" % (sch, busid), "1\n")     # auto-online got there first
        return original(data, sch, busid)

    monkeypatch.setattr(sim, "_ccw_online", racing)
    rc, res = run(sim, devices=[BUS], state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert sim.log[-1] == ("/sys/bus/ccw/devices/%s/online" % BUS, "1", errno.EINVAL)
    assert sim.read("/sys/bus/ccw/devices/%s/online" % BUS) == "1"
