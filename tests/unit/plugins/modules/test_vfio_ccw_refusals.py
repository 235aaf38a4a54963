"""Every refusal of s390x.kvm.vfio_ccw names the device and the reason, and changes nothing.

Run against fixture trees with the module executed as on a host; the whole tree (sysfs,
procfs, /etc, /run) is compared before and after.
"""

import pytest

from tests.unit import helpers
from tests.unit.helpers import add_running_guest, private_host, snapshot


@pytest.fixture
def small(tmp_path):
    return private_host("small_kvm_host", tmp_path)


def refused(run_module, root, fragments, **args):
    return helpers.refused(run_module, "vfio_ccw", root, fragments, **args)


@pytest.mark.parametrize("device, fragments", [
    ("0.0.0100", ["0.0.0100: used by the host", "IPL device", "mounted at /"]),
    ("0.0.0101", ["0.0.0101: used by the host", "active swap"]),
    ("0.0.0102", ["0.0.0102: used by the host", "LVM physical volume of active logical volume vg_images-lv_images"]),
    ("0.0.0103", ["0.0.0103: used by the host", "LVM physical volume (LVM2 label on /dev/dasdd1)"]),
    ("0.0.f500", ["0.0.f500: a QDIO device", "vfio_ccw cannot drive QDIO"]),
    ("0.0.f601", ["0.0.f601: a QDIO device"]),
    ("0.0.7001", ["0.0.7001: a QDIO device"]),
    ("0.0.1900", ["0.0.1900: a QDIO device (FCP"]),
    ("0.0.01ff", ["0.0.01ff: a PAV alias DASD; pass its base device through instead"]),
    ("0.0.9999", ["0.0.9999: no such CCW device"]),
    ("0.0.9000-0.0.90ff", ["0.0.9000-0.0.90ff: the range selects no existing CCW device"]),
])
def test_refusals(run_module, small, device, fragments):
    refused(run_module, small, fragments, devices=[device])


def test_one_bad_device_refuses_the_whole_batch(run_module, small):
    res = refused(run_module, small, ["0.0.0101: used by the host"], devices=["0.0.0104", "0.0.0101", "0.0.0105"])
    assert res["refusals"] == [r for r in res["refusals"] if r.startswith("0.0.0101")]


def test_device_used_as_disk_by_a_running_guest(run_module, small):
    add_running_guest(small, "web1", "<disk type='block' device='disk'><source dev='/dev/disk/by-path/ccw-0.0.0105'/>"
                                     "<target dev='vda' bus='virtio'/></disk>")
    refused(run_module, small, ["0.0.0105: used by running guest web1 (disk /dev/disk/by-path/ccw-0.0.0105)"],
            devices=["0.0.0105"])


def test_mdev_used_by_a_running_guest_is_not_released(run_module, small):
    add_running_guest(small, "db1", "<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source>"
                                    "<address uuid='3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51'/></source></hostdev>")
    refused(run_module, small, ["0.0.0106: used by running guest db1 (mdev 3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51)"],
            devices=["0.0.0106"], state="absent")
    # nor replaced by another mdev while the guest holds it
    refused(run_module, small, ["0.0.0106: used by running guest db1"],
            devices=["0.0.0106"], uuids={"0.0.0106": "11111111-2222-3333-4444-555555555555"})


def test_cio_ignored_device_needs_free_ignored(run_module, tmp_path):
    root = private_host("cio_ignore_host", tmp_path)
    refused(run_module, root, ["0.0.0104: on the cio_ignore list; set free_ignored: true"], devices=["0.0.0104"])


@pytest.mark.parametrize("args, fragment", [
    ({"devices": ["0.0.zzzz"]}, "devices: invalid bus ID '0.0.zzzz'"),
    ({"devices": ["0.0.0104"], "uuids": {"0.0.0104": "not-a-uuid"}}, "uuids: invalid UUID 'not-a-uuid'"),
    ({"devices": ["0.0.0104"], "uuids": {"0.0.1zz4": "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"}}, "uuids: invalid bus ID '0.0.1zz4'"),
    ({"devices": ["0.0.0104"], "state": "gone"}, "state"),
])
def test_bad_input(run_module, small, args, fragment):
    refused(run_module, small, [fragment], **args)


def test_check_mode_plans_without_changing(run_module, small):
    before = snapshot(small)
    rc, res = run_module("vfio_ccw", host_root=small, devices=["0.0.0104"], _ansible_check_mode=True, _ansible_diff=True)
    assert rc == 0 and res["changed"] is True
    (dev,) = res["devices"]
    assert dev["subchannel"] == "0.0.0004"
    assert dev["steps"][:3] == [
        "set driver_override of subchannel 0.0.0004 to vfio_ccw",
        "unbind subchannel 0.0.0004 from io_subchannel and probe vfio_ccw",
        "create mdev %s (vfio_ccw-io) on subchannel 0.0.0004" % dev["uuid"],
    ]
    assert res["diff"]["before"]["0.0.0104"]["driver"] == "io_subchannel"
    assert res["diff"]["after"]["0.0.0104"]["driver"] == "vfio_ccw"
    assert "<address uuid='%s'/>" % dev["uuid"] in dev["hostdev_xml"]
    assert "devno='0x0104'" in dev["hostdev_xml"]
    assert snapshot(small) == before
    # the derived UUID is stable
    rc, again = run_module("vfio_ccw", host_root=small, devices=["0x104"], _ansible_check_mode=True)
    assert again["devices"][0]["uuid"] == dev["uuid"]


# -- failing closed: the host's use cannot be determined (issue 11, part 5) ------------------------

NO_CLASS_BLOCK = "/sys/class/block is missing (so mounts, swap and device-mapper stacks cannot be traced to their devices)"
CAUSES = {
    "no_class_block": NO_CLASS_BLOCK,
    "no_mount_table": "/proc/self/mountinfo is missing and /proc/mounts is missing, so mounted file systems cannot be "
                      "traced to their devices",
    "unresolved_swap": "swap device /dev/disk/by-id/ccw-IBM.750000000ABC12.0101.01-part1 resolves to no block device",
    "root_unknown": "the root file system's device is unknown: /dev/root mounted at / resolves to no block device",
}


def refused_unchanged(run_module, root, fragments, **args):
    """Refused in check mode and in a real run, the tree unchanged to the byte (vfio_harness.tree_snapshot)."""
    from tests.unit.vfio_harness import snapshot_diff, tree_snapshot
    before = tree_snapshot(root)
    for check in (True, False):
        res = refused(run_module, root, fragments, _ansible_check_mode=check, **args)
        assert snapshot_diff(before, tree_snapshot(root)) == []
    return res


@pytest.mark.parametrize("no_ipl", [False, True], ids=["root-dasd-is-ipl-device", "root-dasd-only-mounted"])
def test_acceptance_without_class_block_the_dasd_holding_root_is_refused(run_module, small, no_ipl):
    """Issue 11, part 5: on a host tree where /sys/class/block is missing, vfio_ccw refuses the DASD that
    holds / with a message saying why, and changes nothing. Without the IPL device's mark (no_ipl) nothing
    proves the use: the refusal is the missing directory's alone."""
    from tests.fixtures.degraded import degrade
    if no_ipl:
        degrade(small, "no_ipl")
        # with /sys/class/block the mount at / alone refuses it
        refused_unchanged(run_module, small, ["0.0.0100: used by the host: /dev/dasda1: mounted at /"], devices=["0.0.0100"])
    degrade(small, "no_class_block")
    if no_ipl:
        expected = "0.0.0100: cannot prove the host does not use it: " + NO_CLASS_BLOCK
    else:
        expected = "0.0.0100: used by the host: IPL device (ccw) (and cannot prove there is no other use: %s)" % NO_CLASS_BLOCK
    res = refused_unchanged(run_module, small, ["refusing to change anything: " + expected], devices=["0.0.0100"])
    assert res["refusals"] == [expected]


@pytest.mark.parametrize("brk", sorted(CAUSES))
def test_a_dasd_not_proven_free_is_refused_naming_what_could_not_be_read(run_module, small, brk):
    from tests.fixtures.degraded import degrade
    degrade(small, brk)
    res = refused_unchanged(run_module, small, [], devices=["0.0.0104", "0.0.0105"], state="present")
    # the offline DASD holds no block device: only the online one is refused, and the whole batch with it
    assert res["refusals"] == ["0.0.0105: cannot prove the host does not use it: " + CAUSES[brk]]


def test_an_offline_dasd_is_still_prepared_when_block_devices_cannot_be_traced(run_module, small):
    """An offline DASD has no block device (and Linux sets none offline while it is open), so the
    missing /sys/class/block hides no use of it."""
    from tests.fixtures.degraded import degrade
    degrade(small, "no_class_block")
    rc, res = run_module("vfio_ccw", host_root=small, devices=["0.0.0104"], _ansible_check_mode=True)
    assert rc == 0 and res["changed"] is True, res.get("msg")
