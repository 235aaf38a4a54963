"""s390x.kvm.vfio_ap on the kernel simulator: which mask bits it clears and sets, what it refuses,
how it rolls back. Mask semantics (vfio-ap.rst): a queue belongs to the host's default drivers while
its adapter is set in apmask AND its domain in aqmask."""

import errno
import json
import os

import pytest

from tests.fixtures.kernel_sim import copy_description, sim_host
from tests.unit.vfio_harness import run_module_inprocess, snapshot_diff, tree_snapshot
from tests.unit.helpers import HOSTS

OTHER = "62177883-f1bb-47f0-914d-32a22e3a8804"   # small_kvm_host's matrix device: 04.0007


def host(tmp_path, cards=None):
    """small_kvm_host (ap_domain 5; card 4 and domain 7 reserved for vfio_ap), optionally other cards."""
    desc = copy_description(os.path.join(HOSTS, "small_kvm_host.yml"))
    if cards is not None:
        desc["ap"]["cards"] = cards
    return sim_host(desc, tmp_path / "host", delay=0)


@pytest.fixture
def sim(tmp_path):
    s = host(tmp_path)
    yield s
    s.close()


def run(sim, check=False, diff=False, **args):
    return run_module_inprocess("vfio_ap", dict({"guest": "db1"}, **args), sim, check_mode=check, diff=diff)


def driver(sim, apqn):
    return sim.link_name("/sys/bus/ap/devices/%s/driver" % apqn)


def test_the_host_keeps_its_default_domain_queue(sim):
    apmask = sim.read("/sys/bus/ap/apmask")
    rc, res = run(sim, adapters=[3], domains=[6])
    assert rc == 0, res
    assert driver(sim, "03.0006") == "vfio_ap"
    # 03.0005 is the host's default domain (ap_domain 5): clearing adapter 3 in apmask would take it
    assert driver(sim, "03.0005") == "cex4queue"
    assert sim.read("/sys/bus/ap/apmask") == apmask and res["also_leaving_host"] == []


def test_adapters_are_cleared_when_that_takes_fewer_host_queues(tmp_path):
    cards = [{"id": 3, "type": "CEX8C", "domains": [5, 6, 7]}, {"id": 4, "type": "CEX8A", "domains": [5, 6, 7]},
             {"id": 9, "type": "CEX8C", "domains": [6, 8]}]
    sim = host(tmp_path, cards)
    try:
        aqmask = sim.read("/sys/bus/ap/aqmask")
        rc, res = run(sim, adapters=[9], domains=[6, 8])
        assert rc == 0, res
        # clearing domains 6 and 8 would also take 03.0006; clearing adapter 9 takes nothing else
        assert sim.read("/sys/bus/ap/aqmask") == aqmask
        assert driver(sim, "09.0006") == driver(sim, "09.0008") == "vfio_ap"
        assert driver(sim, "03.0006") == "cex4queue" and res["also_leaving_host"] == []
    finally:
        sim.close()


def test_a_smaller_matrix_gives_the_rest_back_and_absent_restores_the_masks(tmp_path):
    cards = [{"id": 3, "type": "CEX8C", "domains": [5, 6, 8]}, {"id": 4, "type": "CEX8A", "domains": [5, 6, 7]}]
    sim = host(tmp_path, cards)
    try:
        masks = (sim.read("/sys/bus/ap/apmask"), sim.read("/sys/bus/ap/aqmask"))
        assert run(sim, adapters=[3], domains=[6, 8])[0] == 0
        assert driver(sim, "03.0008") == "vfio_ap"
        rc, res = run(sim, adapters=[3], domains=[6])
        assert rc == 0 and res["changed"], res
        assert driver(sim, "03.0008") == "cex4queue" and driver(sim, "03.0006") == "vfio_ap"
        assert res["steps"][0] == "unassign domain 0x08"
        assert run(sim, adapters=[3], domains=[6])[1]["changed"] is False
        rc, res = run(sim, state="absent")
        assert rc == 0 and res["changed"], res
        assert (sim.read("/sys/bus/ap/apmask"), sim.read("/sys/bus/ap/aqmask")) == masks
        assert driver(sim, "03.0006") == "cex4queue" and driver(sim, "04.0007") == "vfio_ap"   # the other matrix's
    finally:
        sim.close()


def test_absent_keeps_what_another_matrix_holds(sim):
    """db1 gets 04.0006 next to the other device's 04.0007: absent returns domain 6 only."""
    assert run(sim, adapters=[4], domains=[6])[0] == 0
    rc, res = run(sim, state="absent")
    assert rc == 0, res
    assert driver(sim, "04.0007") == "vfio_ap" and sim.read("/sys/devices/vfio_ap/matrix/%s/matrix" % OTHER) == "04.0007"


def test_apqns_of_a_defined_but_stopped_matrix_are_refused(sim):
    other = "0d3c2f1e-5b4a-4c3d-8e9f-a0b1c2d3e4f5"
    path = sim.path("/etc/mdevctl.d/matrix/" + other)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"mdev_type": "vfio_ap-passthrough", "start": "auto",
                   "attrs": [{"assign_adapter": "3"}, {"assign_domain": "0x6"}]}, handle)
    before = tree_snapshot(sim.root)
    rc, res = run(sim, adapters=[3], domains=[6])
    assert rc == 1 and "APQNs 03.0006 are held by matrix device %s" % other in res["msg"], res
    assert snapshot_diff(before, tree_snapshot(sim.root)) == [] and sim.log == []


@pytest.mark.parametrize("args, fragment", [
    ({"adapters": ["zz"], "domains": [6]}, "adapters: 'zz' is not an AP number; allowed: 0-255 as a number"),
    ({"adapters": [3], "domains": [256]}, "domains: 256 is not an AP number"),
    ({"adapters": [3], "domains": [-1]}, "domains: -1 is not an AP number"),
    ({"adapters": [3], "domains": [6], "control_domains": ["0x100"]}, "control_domains: '0x100' is not an AP number"),
    ({"adapters": [3], "domains": [6], "guest": " "}, "guest: give the name of the guest"),
    ({"adapters": [3], "domains": ["0x55"]}, "domains: 85 out of range; this machine allows 0-84"),
])
def test_bad_ids_name_the_value(sim, args, fragment):
    before = tree_snapshot(sim.root)
    rc, res = run(sim, **args)
    assert rc == 1 and fragment in res["msg"], res
    assert "Traceback" not in res["msg"] and snapshot_diff(before, tree_snapshot(sim.root)) == []


def test_hex_strings_and_integers_mean_the_same_ids(sim):
    rc, res = run(sim, adapters=["0x03"], domains=["6", 6], control_domains=["0x6"], check=True)
    assert rc == 0 and res["matrix"] == {"adapters": [3], "domains": [6], "control_domains": [6]}, res


def test_check_mode_reports_the_steps_the_real_run_takes(sim, tmp_path):
    args = {"adapters": [3], "domains": [6], "control_domains": [6, 7]}
    rc, planned = run(sim, check=True, diff=True, **args)
    assert rc == 0 and sim.log == []
    rc, done = run(sim, diff=True, **args)
    assert rc == 0 and planned["steps"] == done["steps"] and planned["changed"] is done["changed"] is True
    assert planned["diff"]["after"] == done["diff"]["after"]
    assert planned["diff"]["before"] == done["diff"]["before"]


def _bindings_as_the_masks_say(sim):
    """The fixture binds 04.0005/04.0006 to cex4queue although apmask lacks adapter 4; a mask write
    makes the simulated AP bus rebind every queue by the masks (ap_bus_revise_bindings)."""
    sim.write("/sys/bus/ap/apmask", "-200")
    sim.write("/sys/bus/ap/apmask", "+200")
    del sim.log[:]


def test_a_failing_step_restores_masks_matrix_and_files(sim):
    _bindings_as_the_masks_say(sim)
    before = tree_snapshot(sim.root)
    sim.fail_on("/sys/devices/vfio_ap/matrix/*/assign_control_domain", errno.EIO)
    rc, res = run(sim, adapters=[3], domains=[6], control_domains=[6])
    assert rc == 1 and "input/output error" in res["msg"] and "(rolled back)" in res["msg"], res
    diff = [d for d in snapshot_diff(before, tree_snapshot(sim.root)) if not d.startswith("sys/kernel/iommu_groups")]
    assert diff == []


def test_a_failing_step_on_an_existing_matrix_puts_it_back(sim):
    assert run(sim, adapters=[3], domains=[6], control_domains=[6])[0] == 0
    before = tree_snapshot(sim.root)
    sim.fail_on("/sys/devices/vfio_ap/matrix/*/assign_domain", errno.EIO)
    cards_before = driver(sim, "03.0006")
    rc, res = run(sim, adapters=[3], domains=[6, 8], control_domains=[])
    assert rc == 1 and "(rolled back)" in res["msg"], res
    assert snapshot_diff(before, tree_snapshot(sim.root)) == [] and driver(sim, "03.0006") == cards_before


def _guest_with(sim, name, uuid, running):
    directory = sim.path("/run/libvirt/qemu" if running else "/etc/libvirt/qemu")
    os.makedirs(directory, exist_ok=True)
    domain = ("<domain type='kvm'><name>%s</name><devices><hostdev mode='subsystem' type='mdev' model='vfio-ap'>"
              "<source><address uuid='%s'/></source></hostdev></devices></domain>" % (name, uuid))
    with open(os.path.join(directory, name + ".xml"), "w", encoding="utf-8") as handle:
        handle.write("<domstatus state='running'>%s</domstatus>" % domain if running else domain)


def test_a_running_guests_matrix_is_not_changed_nor_removed(sim):
    """Removing an mdev a guest holds open blocks in the kernel (vfio_unregister_group_dev)."""
    rc, res = run(sim, adapters=[3], domains=[6])
    assert rc == 0, res
    _guest_with(sim, "db1", res["uuid"], running=True)
    sim.open_mdevs.add(res["uuid"])
    mark = len(sim.log)
    for args in ({"state": "absent"}, {"adapters": [3], "domains": [6], "control_domains": [6]}):
        rc, out = run(sim, **args)
        assert rc == 1 and "is used by running guest db1; shut it down" in out["msg"], out
    assert sim.log[mark:] == []
    assert run(sim, adapters=[3], domains=[6])[1]["changed"] is False   # nothing to change: fine


def test_absent_refused_for_a_defined_guests_matrix(sim):
    rc, res = run(sim, adapters=[3], domains=[6])
    _guest_with(sim, "db1", res["uuid"], running=False)
    mark = len(sim.log)
    rc, out = run(sim, state="absent")
    assert rc == 1 and "is a hostdev of defined guest db1" in out["msg"], out
    assert sim.log[mark:] == []
