"""module_utils/_vfio/pci.py: VfioPci's plan, apply and predict for the states a zPCI function can
be in, PciTarget, select_functions and function_refusals, on the small KVM host (NIC 0010:00:00.0
on mlx5_core, NVMe 0020:00:00.0 mounted at /srv/nvme) under the kernel simulator."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.pci import (
    ITS_OWN_DRIVER, VFIO_PCI, PciState, PciTarget, VfioPci, function_refusals, select_functions)

from tests.unit.helpers import add_running_guest
from tests.unit.vfio_harness import small_sim

NIC = "0010:00:00.0"
PCI_HOSTDEV = ("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
               "<address domain='0x0010' bus='0x00' slot='0x00' function='0x0'/></source></hostdev>")

sim = small_sim


def state(driver="mlx5_core", override=None, persisted=None):
    s = PciState()
    s.address, s.driver, s.override, s.persisted_override, s.iommu_group = NIC, driver, override, persisted, "2"
    return s


# A step's action is the change itself (a callable); its text says which change it is.
STEP_KINDS = (("set driver_override", "override"), ("clear driver_override", "override"), ("unbind ", "bind"),
              ("probe ", "bind"), ("write /etc/driverctl", "persist"), ("remove /etc/driverctl", "persist"))


def actions(steps):
    return [([kind for prefix, kind in STEP_KINDS if step.text.startswith(prefix)][0], step.value) for step in steps]


def test_targets():
    assert PciTarget.passed_through(True) == (VFIO_PCI, VFIO_PCI)
    assert PciTarget.passed_through(False) == (VFIO_PCI, None)
    assert PciTarget.with_host() == (ITS_OWN_DRIVER, None)
    assert PciTarget.as_before(state(VFIO_PCI, VFIO_PCI, VFIO_PCI)) == (VFIO_PCI, VFIO_PCI)
    assert PciTarget.as_before(state()) == (ITS_OWN_DRIVER, None)


@pytest.mark.parametrize("before, target, expected", [
    (state(), PciTarget.passed_through(True),
     [("override", VFIO_PCI), ("bind", None), ("persist", VFIO_PCI)]),
    (state(), PciTarget.passed_through(False), [("override", VFIO_PCI), ("bind", None)]),
    (state(VFIO_PCI, VFIO_PCI, VFIO_PCI), PciTarget.passed_through(True), []),
    (state(VFIO_PCI, VFIO_PCI, VFIO_PCI), PciTarget.with_host(),
     [("override", None), ("bind", None), ("persist", None)]),
    (state(None, VFIO_PCI), PciTarget.with_host(), [("override", None), ("bind", None)]),   # interrupted run
    (state(None, None, VFIO_PCI), PciTarget.with_host(), [("bind", None), ("persist", None)]),
    (state(None), PciTarget.with_host(), []),            # no driver and none of ours: left alone
    (state(), PciTarget.with_host(), []),
])
def test_plan(before, target, expected):
    assert actions(VfioPci(None).plan(before, target)) == expected


def test_plan_texts_name_the_function_and_files():
    steps = VfioPci(None).plan(state(), PciTarget.passed_through(True))
    assert [s.text for s in steps] == ["set driver_override of 0010:00:00.0 to vfio-pci",
                                       "unbind 0010:00:00.0 from mlx5_core and probe vfio-pci",
                                       "write /etc/driverctl.d/pci-0010:00:00.0"]


def test_predict():
    driver = VfioPci(None)
    before = state().as_dict()
    target = PciTarget.passed_through(True)
    assert driver.predict(before, target, driver.plan(state(), target)) == dict(
        before, driver=VFIO_PCI, driver_override=VFIO_PCI, persistent_override=VFIO_PCI)
    assert driver.predict(before, target, []) == before
    bound = state(VFIO_PCI, VFIO_PCI, VFIO_PCI)
    back = driver.predict(bound.as_dict(), PciTarget.with_host(), driver.plan(bound, PciTarget.with_host()))
    assert (back["driver"], back["driver_override"], back["persistent_override"]) == ("(its own driver)", None, None)


def test_apply_there_and_back_on_the_simulator(sim):
    driver = VfioPci(sim, settle_timeout=2)
    before = driver.read(NIC)
    assert (before.driver, before.override, before.persisted_override) == ("mlx5_core", None, None)
    target = PciTarget.passed_through(True)
    first = driver.read(NIC)   # apply() updates the state it is given; keep the first one apart
    driver.apply(before, target, driver.plan(before, target))
    assert (before.driver, before.override) == (VFIO_PCI, VFIO_PCI)
    now = driver.read(NIC)
    assert (now.driver, now.override, now.persisted_override) == (VFIO_PCI, VFIO_PCI, VFIO_PCI)
    assert sim.read("/etc/driverctl.d/pci-" + NIC).strip() == VFIO_PCI
    assert driver.plan(now, target) == []
    # the rollback target of the first state brings it back
    driver.apply(now, driver.Target.as_before(first), driver.plan(now, driver.Target.as_before(first)))
    back = driver.read(NIC)
    assert (back.driver, back.override, back.persisted_override) == ("mlx5_core", None, None)


def params(fids=(), uids=(), addresses=()):
    return {"fids": list(fids), "uids": list(uids), "addresses": list(addresses)}


def test_select_functions_each_once_in_order(sim):
    chosen, refusals = select_functions(sim, params(fids=["0x20"], uids=["0x10"], addresses=["0020:00:00.0"]))
    assert [f["address"] for f in chosen] == ["0020:00:00.0", NIC] and refusals == []
    chosen, refusals = select_functions(sim, params(fids=["0x99"], uids=["0x77"]))
    assert chosen == [] and refusals == ["fid 0x99: no zPCI function on this host has it",
                                         "uid 0x77: no zPCI function on this host has it"]


@pytest.mark.parametrize("kwargs, message", [
    ({"uids": ["0x0"]}, "invalid uid '0x0': out of range 0x0001-0xffff"),
    ({"fids": [16]}, "fids: 16 is a number, not text"),
])
def test_select_functions_refuses_bad_values(sim, kwargs, message):
    with pytest.raises(VfioError, match=message):
        select_functions(sim, params(**kwargs))


def test_function_refusals(sim):
    chosen = select_functions(sim, params(fids=["0x10", "0x20"]))[0]
    warnings = []
    refusals = function_refusals(sim, chosen, "present", warnings.append)
    assert len(refusals) == 1 and refusals[0].startswith("0020:00:00.0 (fid 0x00000020): used by the host")
    assert "/dev/nvme0n1: mounted at /srv/nvme" in refusals[0]
    assert warnings == []


def test_function_refusals_for_guests(sim):
    add_running_guest(sim.root, "net1", PCI_HOSTDEV)
    chosen = select_functions(sim, params(fids=["0x10"]))[0]
    assert function_refusals(sim, chosen, "absent", [].append) == [
        "0010:00:00.0 (fid 0x00000010): used by running guest net1"]
    chosen = select_functions(sim, params(fids=["0x10"]))[0]
    assert function_refusals(sim, chosen, "present", [].append) == [
        "0010:00:00.0 (fid 0x00000010): running guest net1 is defined with it"]
