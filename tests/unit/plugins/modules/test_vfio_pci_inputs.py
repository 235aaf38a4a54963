"""s390x.kvm.vfio_pci: how fids/uids are read, functions without a UID, the way back from states a
run can leave behind, guests that are only defined, and check mode against the real run."""

import os

import pytest

from tests.fixtures.kernel_sim import copy_description, sim_host
from tests.unit.vfio_harness import SMALL, module_runner, small_sim

BDF = "0010:00:00.0"
NIC = "/sys/bus/pci/devices/" + BDF


sim = small_sim   # the harness fixture, under the name these tests use
run = module_runner("vfio_pci")


@pytest.mark.parametrize("fid", ["0x10", "10", "0x00000010", "0X10"])
def test_fids_are_hex_text(sim, fid):
    rc, res = run(sim, check=True, fids=[fid])
    assert rc == 0 and [f["address"] for f in res["functions"]] == [BDF], res


@pytest.mark.parametrize("args, fragment", [
    ({"uids": ["0x0"]}, "invalid uid '0x0': out of range 0x0001-0xffff"),
    ({"uids": ["0"]}, "invalid uid '0': out of range 0x0001-0xffff"),
    # YAML reads an unquoted 0x10 as 16: as text that would be function 0x16, so numbers are refused
    ({"fids": [16]}, "16 is a number, not text"),
    ({"fids": [True]}, "True is not text"),
    ({"fids": ["0x100000000"]}, "invalid fid '0x100000000': out of range 0x0-0xffffffff"),
    ({"fids": ["-1"]}, "invalid fid '-1'"),
    ({"addresses": ["10:00:00.0"]}, "invalid PCI address '10:00:00.0'"),
])
def test_bad_selectors_name_the_value(sim, args, fragment):
    rc, res = run(sim, **args)
    assert rc == 1 and fragment in res["msg"] and "Traceback" not in res["msg"], res
    assert sim.log == []


def test_a_function_without_uid_gets_a_hostdev_without_uid(tmp_path):
    desc = copy_description(SMALL)
    desc["pci"][0]["uid"] = "0x0"
    sim = sim_host(desc, tmp_path / "nouid", delay=0)
    try:
        rc, res = run(sim, check=True, fids=["0x10"])
        assert rc == 0, res
        (func,) = res["functions"]
        assert func["uid"] is None and res["map"]["0x00000010"]["uid"] is None
        assert "<zpci fid='0x00000010'/>" in func["hostdev_xml"] and "uid=" not in func["hostdev_xml"]
    finally:
        sim.close()


def override_and_unbound(sim):
    sim.write(NIC + "/driver_override", "vfio-pci\n")
    sim.write(NIC + "/driver/unbind", BDF)


STATES = {
    "fresh": lambda sim: None,
    "override set, still mlx5_core": lambda sim: sim.write(NIC + "/driver_override", "vfio-pci\n"),
    "override set, unbound": override_and_unbound,
    "bound by hand": lambda sim: (override_and_unbound(sim), sim.write("/sys/bus/pci/drivers_probe", BDF)),
}


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("start", sorted(STATES))
def test_from_each_state_check_mode_matches_and_the_second_run_is_quiet(sim, start, state):
    STATES[start](sim)
    rc, planned = run(sim, check=True, fids=["0x10"], state=state)
    assert rc == 0, planned
    rc, done = run(sim, fids=["0x10"], state=state)
    assert rc == 0, done
    assert planned["functions"][0]["steps"] == done["functions"][0]["steps"] and planned["changed"] is done["changed"]
    assert sim.link_name(NIC + "/driver") == ("vfio-pci" if state == "present" else "mlx5_core")
    assert sim.read(NIC + "/driver_override") == ("vfio-pci" if state == "present" else "(null)")
    mark = len(sim.log)
    rc, again = run(sim, fids=["0x10"], state=state)
    assert rc == 0 and again["changed"] is False and sim.log[mark:] == [], again


def test_absent_refused_while_a_defined_guest_has_the_function(sim):
    assert run(sim, fids=["0x10"])[0] == 0
    os.makedirs(sim.path("/etc/libvirt/qemu"), exist_ok=True)
    with open(sim.path("/etc/libvirt/qemu/net1.xml"), "w", encoding="utf-8") as handle:
        handle.write("<domain type='kvm'><name>net1</name><devices><hostdev mode='subsystem' type='pci' managed='no'>"
                     "<source><address domain='0x0010' bus='0x00' slot='0x00' function='0x0'/></source></hostdev>"
                     "</devices></domain>")
    mark = len(sim.log)
    rc, res = run(sim, fids=["0x10"], state="absent")
    assert rc == 1 and "0010:00:00.0 (fid 0x00000010): defined guest net1 has it as a pass-through device" in res["msg"], res
    assert sim.log[mark:] == [] and sim.link_name(NIC + "/driver") == "vfio-pci"
