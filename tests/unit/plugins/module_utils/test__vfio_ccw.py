"""module_utils/_vfio/ccw.py: VfioCcw's plan from each state a run can leave a device in (the
sequence of Documentation/arch/s390/vfio-ccw.rst), CcwTarget (with the rollback target
as_before), predict, apply on the kernel simulator, and CcwBatch.select over IDs, ranges and
cio_ignore (tests/fixtures/hosts/small_kvm_host.yml, cio_ignore_host.yml)."""

import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.ccw import (
    IO_SUBCHANNEL, MDEV_TYPE, VFIO_CCW, CcwBatch, CcwState, CcwTarget, VfioCcw, mdev_definition, parse_uuids)
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError

from tests.unit.helpers import HOSTS
from tests.unit.vfio_harness import simulated, small_sim

MINE = "11111111-2222-3333-4444-555555555555"
OTHER = "66666666-7777-8888-9999-000000000000"
BUS, SCH = "0.0.0105", "0.0.0005"

sim = small_sim
ignoring = simulated(os.path.join(HOSTS, "cio_ignore_host.yml"))


def state(driver=IO_SUBCHANNEL, online=True, override=None, mdevs=(), persisted_override=None, definitions=None):
    s = CcwState()
    s.bus_id, s.subchannel, s.cutype = BUS, SCH, "3990/e9"
    s.registered = driver == IO_SUBCHANNEL
    s.online = online if s.registered else None
    s.driver, s.override, s.mdevs = driver, override, list(mdevs)
    s.persisted_override, s.definitions = persisted_override, dict(definitions or {})
    s.persisted_mdevs = sorted(s.definitions)
    return s


PASSED = CcwTarget.passed_through(MINE, persist=True, autostart=True)
HOST_ONLINE = CcwTarget.with_host(online=True)


# A step's action is the change itself (a callable); its text says which change it is.
STEP_KINDS = (("set driver_override", "override"), ("clear driver_override", "override"), ("unbind subchannel", "bind"),
              ("remove mdev", "remove_mdev"), ("create mdev", "create_mdev"), ("write /etc/driverctl", "persist_override"),
              ("remove /etc/driverctl", "persist_override"), ("define ", "persist_mdevs"))


def actions(steps):
    kinds = []
    for step in steps:
        if step.text.startswith("set CCW device "):
            kinds.append(step.text.rsplit(" ", 1)[1])   # online or offline
        else:
            kinds.append([kind for prefix, kind in STEP_KINDS if step.text.startswith(prefix)][0])
    return kinds


def test_targets():
    assert PASSED == (VFIO_CCW, MINE, None, VFIO_CCW, {MINE: {"mdev_type": "vfio_ccw-io", "start": "auto", "attrs": []}})
    assert CcwTarget.passed_through(MINE, persist=False, autostart=True) == (VFIO_CCW, MINE, None, None, {})
    assert HOST_ONLINE == (IO_SUBCHANNEL, None, True, None, {})
    assert mdev_definition(False) == {"mdev_type": MDEV_TYPE, "start": "manual", "attrs": []}


def test_rollback_target_is_the_state_before():
    assert CcwTarget.as_before(state(online=False)) == (IO_SUBCHANNEL, None, False, None, {})
    defs = {MINE: mdev_definition()}
    assert CcwTarget.as_before(state(VFIO_CCW, override=VFIO_CCW, mdevs=[MINE], persisted_override=VFIO_CCW,
                                     definitions=defs)) == (VFIO_CCW, MINE, None, VFIO_CCW, defs)
    # no driver (an interrupted run): back to io_subchannel, online left as it comes
    assert CcwTarget.as_before(state(None)) == (IO_SUBCHANNEL, None, None, None, {})


@pytest.mark.parametrize("before, target, expected", [
    (state(), PASSED, ["offline", "override", "bind", "create_mdev", "persist_override", "persist_mdevs"]),
    (state(online=False), PASSED, ["override", "bind", "create_mdev", "persist_override", "persist_mdevs"]),
    (state(override=VFIO_CCW, online=False), PASSED, ["bind", "create_mdev", "persist_override", "persist_mdevs"]),
    (state(VFIO_CCW, override=VFIO_CCW), PASSED, ["create_mdev", "persist_override", "persist_mdevs"]),
    (state(VFIO_CCW, override=VFIO_CCW, mdevs=[OTHER]), PASSED,
     ["remove_mdev", "create_mdev", "persist_override", "persist_mdevs"]),
    (state(VFIO_CCW, override=VFIO_CCW, mdevs=[MINE], persisted_override=VFIO_CCW,
           definitions={MINE: mdev_definition()}), PASSED, []),
    (state(VFIO_CCW, override=VFIO_CCW, mdevs=[MINE], persisted_override=VFIO_CCW,
           definitions={MINE: mdev_definition(autostart=False)}), PASSED, ["persist_mdevs"]),
    (state(VFIO_CCW, override=VFIO_CCW, mdevs=[MINE], persisted_override=VFIO_CCW,
           definitions={MINE: mdev_definition()}), HOST_ONLINE,
     ["remove_mdev", "override", "bind", "online", "persist_override", "persist_mdevs"]),
    (state(None, override=VFIO_CCW), HOST_ONLINE, ["override", "bind", "online"]),
    (state(online=False), HOST_ONLINE, ["online"]),
    (state(), CcwTarget.with_host(online=None), []),
    (state(), CcwTarget.with_host(online=False), ["offline"]),
])
def test_plan(before, target, expected):
    assert actions(VfioCcw(None).plan(before, target)) == expected


def test_plan_texts_and_values():
    steps = VfioCcw(None).plan(state(), PASSED)
    assert [s.text for s in steps] == [
        "set CCW device 0.0.0105 offline",
        "set driver_override of subchannel 0.0.0005 to vfio_ccw",
        "unbind subchannel 0.0.0005 from io_subchannel and probe vfio_ccw",
        "create mdev %s (vfio_ccw-io) on subchannel 0.0.0005" % MINE,
        "write /etc/driverctl.d/css-0.0.0005",
        "define %s / remove other mdevctl definitions of parent 0.0.0005" % MINE]
    assert steps[1].value == VFIO_CCW and steps[3].value == MINE and steps[5].value == PASSED.mdev_files


def test_predict():
    driver = VfioCcw(None)
    before = state().as_dict()
    after = driver.predict(before, PASSED, driver.plan(state(), PASSED))
    assert after == dict(before, driver=VFIO_CCW, driver_override=VFIO_CCW, mdevs=[MINE], online=None,
                         persistent_override=VFIO_CCW, persistent_mdevs=[MINE])
    assert driver.predict(before, PASSED, []) == before
    bound = state(VFIO_CCW, override=VFIO_CCW, mdevs=[MINE])
    back = driver.predict(bound.as_dict(), HOST_ONLINE, driver.plan(bound, HOST_ONLINE))
    assert (back["driver"], back["driver_override"], back["mdevs"], back["online"]) == (IO_SUBCHANNEL, None, [], True)


def read(driver, bus_id):
    driver.subchannels[bus_id] = driver.subchannel_of(bus_id)
    return driver.read(bus_id)


def test_read_the_fixture_states(sim):
    driver = VfioCcw(sim)
    s = read(driver, BUS)
    assert (s.subchannel, s.registered, s.online, s.driver, s.override, s.mdevs, s.cutype) == (
        SCH, True, True, IO_SUBCHANNEL, None, [], "3990/e9")
    # 0.0.0106 is bound to vfio_ccw: no CCW device, found through its subchannel's dev_busid
    s = read(driver, "0.0.0106")
    assert (s.subchannel, s.registered, s.driver, s.override) == ("0.0.0010", False, VFIO_CCW, VFIO_CCW)
    assert s.mdevs == ["3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"] and s.persisted_mdevs == s.mdevs
    assert driver.subchannel_of("0.0.9999") is None


def test_apply_there_and_back_on_the_simulator(sim):
    driver = VfioCcw(sim, settle_timeout=5)
    first = read(driver, BUS)
    s = read(driver, BUS)
    driver.apply(s, PASSED, driver.plan(s, PASSED))
    now = read(driver, BUS)
    assert (now.driver, now.override, now.mdevs, now.registered) == (VFIO_CCW, VFIO_CCW, [MINE], False)
    assert (now.persisted_override, now.persisted_mdevs) == (VFIO_CCW, [MINE])
    assert os.path.isdir(sim.path("/sys/bus/css/devices/%s/%s" % (SCH, MINE)))
    assert driver.plan(now, PASSED) == []
    back = CcwTarget.as_before(first)
    driver.apply(now, back, driver.plan(now, back))
    again = read(driver, BUS)
    assert (again.driver, again.override, again.mdevs, again.online) == (IO_SUBCHANNEL, None, [], True)
    assert (again.persisted_override, again.persisted_mdevs) == (None, [])


def batch(driver, **params):
    base = {"free_ignored": False, "devices": [], "uuids": {}, "state": "present"}
    base.update(params)
    return CcwBatch(driver, base, {}, check_mode=True, warn=[].append)


def test_select_ids_and_ranges(sim):
    selected, refusals = batch(VfioCcw(sim)).select(["0.0.0104-0.0.0106", "0.0.0105", "0.0.9999", "0.0.9000-0.0.90ff"])
    assert selected == [("0.0.0104", "0.0.0004", True), ("0.0.0105", SCH, False), ("0.0.0106", "0.0.0010", True)]
    assert refusals == ["0.0.9999: no such CCW device on this host (no subchannel names it)",
                        "0.0.9000-0.0.90ff: the range selects no existing CCW device"]


def test_select_cio_ignored_devices(ignoring):
    selected, refusals = batch(VfioCcw(ignoring)).select(["0.0.0104", "0.0.0102-0.0.0105"])
    assert refusals == ["0.0.0104: on the cio_ignore list; set free_ignored: true to free it first"]
    assert [b for b, _sch, _r in selected] == ["0.0.0102", "0.0.0103"]
    selected, refusals = batch(VfioCcw(ignoring), free_ignored=True).select(["0.0.0104", "0.0.0102-0.0.0105"])
    assert refusals == []
    # ignored ones have no subchannel yet; 0.0.0104 is named alone, so it must appear once freed
    assert [(b, sch is None, r) for b, sch, r in selected] == [
        ("0.0.0104", True, False), ("0.0.0102", False, True), ("0.0.0103", False, True), ("0.0.0105", True, True)]


def test_parse_uuids():
    assert parse_uuids({"devices": ["0.0.0105"], "uuids": {"105": MINE.upper()}}) == {BUS: MINE}
    with pytest.raises(VfioError, match="^uuids: "):
        parse_uuids({"devices": ["0.0.0105"], "uuids": {BUS: "not-a-uuid"}})
    with pytest.raises(VfioError, match="devices"):
        parse_uuids({"devices": [260], "uuids": {}})
