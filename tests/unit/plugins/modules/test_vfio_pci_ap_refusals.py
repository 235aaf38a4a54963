"""Refusals of vfio_pci and vfio_ap name the bad value and change nothing."""

import pytest

from tests.unit.helpers import add_running_guest, private_host, refused, snapshot


@pytest.fixture
def small(tmp_path):
    return private_host("small_kvm_host", tmp_path)


@pytest.mark.parametrize("args, fragments", [
    ({"fids": ["0x20"]}, ["0020:00:00.0 (fid 0x00000020): used by the host", "/dev/nvme0n1: mounted at /srv/nvme"]),
    ({"fids": ["0x99"]}, ["fid 0x99: no zPCI function on this host has it"]),
    ({"uids": ["0x77"]}, ["uid 0x77: no zPCI function"]),
    ({"fids": ["0xzz"]}, ["invalid fid '0xzz'"]),
    ({"addresses": ["0010:00:00"]}, ["invalid PCI address '0010:00:00'"]),
    ({}, ["give the functions to change in fids, uids or addresses"]),
])
def test_vfio_pci_refusals(run_module, small, args, fragments):
    refused(run_module, "vfio_pci", small, fragments, **args)


def test_vfio_pci_function_of_a_running_guest(run_module, small):
    add_running_guest(small, "net1", "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                                     "<address domain='0x0010' bus='0x00' slot='0x00' function='0x0'/></source></hostdev>")
    refused(run_module, "vfio_pci", small, ["0010:00:00.0 (fid 0x00000010): used by running guest net1"],
            fids=["0x10"], state="absent")


def test_vfio_pci_check_mode_plan(run_module, small):
    before = snapshot(small)
    rc, res = run_module("vfio_pci", host_root=small, fids=["0x10"], _ansible_check_mode=True)
    assert rc == 0 and res["changed"]
    (func,) = res["functions"]
    assert func["steps"] == ["set driver_override of 0010:00:00.0 to vfio-pci",
                             "unbind 0010:00:00.0 from mlx5_core and probe vfio-pci",
                             "write /etc/driverctl.d/pci-0010:00:00.0"]
    assert "<zpci uid='0x0010' fid='0x00000010'/>" in func["hostdev_xml"]
    assert snapshot(small) == before


@pytest.mark.parametrize("args, fragments", [
    ({"adapters": [4], "domains": [7]}, ["APQNs 04.0007 are held by matrix device 62177883-f1bb-47f0-914d-32a22e3a8804"]),
    ({"adapters": [3], "domains": [5]}, ["domains: 5 is the host's default AP domain"]),
    ({"adapters": [3], "domains": [99]}, ["domains: 99 out of range; this machine allows 0-84"]),
    ({"adapters": [9], "domains": [6]}, ["adapters: card09 does not exist"]),
    ({"adapters": [3], "domains": []}, ["adapters and domains: give at least one of each"]),
    ({"adapters": [3], "domains": [6], "uuid": "nope"}, ["uuid: invalid UUID 'nope'"]),
])
def test_vfio_ap_refusals(run_module, small, args, fragments):
    refused(run_module, "vfio_ap", small, fragments, guest="db1", **args)


def test_vfio_ap_check_mode_plan(run_module, small):
    before = snapshot(small)
    rc, res = run_module("vfio_ap", host_root=small, guest="db1", adapters=[3], domains=[6], control_domains=[6],
                         _ansible_check_mode=True)
    # Only domain 6 leaves aqmask: clearing adapter 3 in apmask would take 03.0005, a queue of the
    # host's default domain 5, too.
    assert rc == 0 and res["changed"] and res["also_leaving_host"] == []
    assert res["steps"][0].startswith("set aqmask 0xfc") and not any("apmask" in s for s in res["steps"])
    assert res["steps"][1:5] == ["create matrix mdev %s" % res["uuid"], "assign adapter 0x03", "assign domain 0x06",
                                 "assign control domain 0x06"]
    assert snapshot(small) == before


def test_vfio_pci_refuses_an_nvme_function_it_cannot_prove_free(run_module, small):
    """Without /sys/class/block the mounted namespace cannot be traced: the NVMe function is refused naming
    why (check mode too) and nothing changes; the RoCE function (no block device) can still be prepared."""
    from tests.fixtures.degraded import degrade
    from tests.unit.vfio_harness import snapshot_diff, tree_snapshot
    degrade(small, "no_class_block")
    before = tree_snapshot(small)
    expected = ("0020:00:00.0 (fid 0x00000020): cannot prove the host does not use it: /sys/class/block is missing "
                "(so mounts, swap and device-mapper stacks cannot be traced to their devices)")
    for check in (True, False):
        res = refused(run_module, "vfio_pci", small, [expected], fids=["0x20"], _ansible_check_mode=check)
        assert res["refusals"] == [expected]
        assert snapshot_diff(before, tree_snapshot(small)) == []
    rc, res = run_module("vfio_pci", host_root=small, fids=["0x10"], _ansible_check_mode=True)
    assert rc == 0 and res["changed"] is True, res.get("msg")
