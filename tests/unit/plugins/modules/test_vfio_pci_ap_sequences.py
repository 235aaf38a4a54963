"""vfio_pci and vfio_ap against the kernel-reaction simulator: sequences, idempotence, reversal."""

import json
import os

import pytest

from tests.fixtures.kernel_sim import sim_host
from tests.unit.vfio_harness import run_module_inprocess, snapshot_diff, tree_snapshot
from tests.unit.helpers import HOSTS

NIC = "/sys/bus/pci/devices/0010:00:00.0"


@pytest.fixture
def sim(tmp_path):
    s = sim_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "host", delay=0)
    yield s
    s.close()


def test_vfio_pci_present_absent_round_trip(sim):
    before = tree_snapshot(sim.root)
    rc, res = run_module_inprocess("vfio_pci", {"fids": ["0x10"]}, sim)
    assert rc == 0 and res["changed"], res
    assert sim.log == [
        (NIC + "/driver_override", "vfio-pci\n", 0),
        (NIC + "/driver/unbind", "0010:00:00.0", 0),
        ("/sys/bus/pci/drivers_probe", "0010:00:00.0", 0),
    ]
    assert sim.link_name(NIC + "/driver") == "vfio-pci"
    assert sim.read("/etc/driverctl.d/pci-0010:00:00.0") == "vfio-pci"
    rc, again = run_module_inprocess("vfio_pci", {"fids": ["0x10"]}, sim)
    assert rc == 0 and again["changed"] is False and len(sim.log) == 3
    rc, res = run_module_inprocess("vfio_pci", {"fids": ["0x10"], "state": "absent"}, sim)
    assert rc == 0 and res["changed"]
    assert sim.link_name(NIC + "/driver") == "mlx5_core"
    assert not sim.exists("/etc/driverctl.d/pci-0010:00:00.0")
    # Everything is as before, but the lock files and the loaded vfio-pci driver's directory.
    changed = [p for p in snapshot_diff(before, tree_snapshot(sim.root))
               if not p.startswith(("run/", "etc/driverctl.d", "sys/bus/pci/drivers/vfio-pci"))]
    assert changed == [], changed


def test_vfio_ap_present_idempotent_absent(sim):
    args = {"guest": "db1", "adapters": [3], "domains": [6], "control_domains": [6]}
    rc, res = run_module_inprocess("vfio_ap", args, sim)
    assert rc == 0 and res["changed"], res
    uuid = res["uuid"]
    base = "/sys/devices/vfio_ap/matrix/" + uuid
    assert sim.read(base + "/matrix") == "03.0006"
    assert sim.read(base + "/control_domains") == "0006"
    assert sim.link_name("/sys/bus/ap/devices/03.0006/driver") == "vfio_ap"
    config = json.loads(sim.read("/etc/mdevctl.d/matrix/" + uuid))
    assert config == {"mdev_type": "vfio_ap-passthrough", "start": "auto",
                      "attrs": [{"assign_adapter": "3"}, {"assign_domain": "0x6"}, {"assign_control_domain": "0x6"}]}
    assert 'ATTR{../../bus/ap/apmask}="%s"' % sim.read("/sys/bus/ap/apmask") in sim.read("/etc/udev/rules.d/41-ap.rules")
    rc, again = run_module_inprocess("vfio_ap", args, sim)
    assert rc == 0 and again["changed"] is False, again["steps"]
    # a changed list assigns/unassigns only the difference
    rc, res = run_module_inprocess("vfio_ap", dict(args, control_domains=[]), sim)
    assert res["steps"][0] == "unassign control domain 0x06"
    rc, res = run_module_inprocess("vfio_ap", {"guest": "db1", "state": "absent"}, sim)
    assert rc == 0 and res["changed"]
    assert not sim.isdir(base) and not sim.exists("/etc/mdevctl.d/matrix/" + uuid)
    assert sim.link_name("/sys/bus/ap/devices/03.0006/driver") == "cex4queue"


PCI_STARTS = {
    "fresh": [],
    "passed through": [{"fids": ["0x10"]}],
    "passed through, not persistent": [{"fids": ["0x10"], "persist": False}],
    "given back": [{"fids": ["0x10"]}, {"fids": ["0x10"], "state": "absent"}],
}
AP_ARGS = {"guest": "db1", "adapters": [3], "domains": [6], "control_domains": [6]}
AP_STARTS = {
    "fresh": [],
    "matrix defined": [AP_ARGS],
    "matrix smaller": [AP_ARGS, dict(AP_ARGS, control_domains=[])],
    "matrix removed": [AP_ARGS, {"guest": "db1", "state": "absent"}],
}


def _check_mode_is_write_free(sim, module, starts, asked):
    for args in starts:
        rc, res = run_module_inprocess(module, args, sim)
        assert rc == 0, res
    mark, files = len(sim.log), tree_snapshot(sim.root)
    rc, res = run_module_inprocess(module, asked, sim, check_mode=True, diff=True)
    assert rc == 0, res
    assert sim.log[mark:] == [] and snapshot_diff(files, tree_snapshot(sim.root)) == []
    return res


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("start", sorted(PCI_STARTS))
def test_vfio_pci_check_mode_writes_nothing_from_any_start_state(sim, start, state):
    _check_mode_is_write_free(sim, "vfio_pci", PCI_STARTS[start], {"fids": ["0x10"], "state": state})


@pytest.mark.parametrize("asked", [AP_ARGS, dict(AP_ARGS, domains=[6, 7]), {"guest": "db1", "state": "absent"}],
                         ids=["same", "bigger", "absent"])
@pytest.mark.parametrize("start", sorted(AP_STARTS))
def test_vfio_ap_check_mode_writes_nothing_from_any_start_state(sim, start, asked):
    _check_mode_is_write_free(sim, "vfio_ap", AP_STARTS[start], asked)
