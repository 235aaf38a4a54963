"""s390x.kvm.vfio_ccw and s390x.kvm.vfio_pci on the REAL s390x kernel of the emulated Z host,
through Ansible over ssh, as a user runs them: check mode, bind + mdev, idempotence,
persistence files, and the way back."""

import json

import pytest

pytestmark = pytest.mark.zhost


@pytest.fixture
def spare_disk(zhost):
    """A spare virtio-blk CCW disk of the emulated host (not the root disk, not the ssh NIC)."""
    bus_id = [c["bus_id"] for c in zhost.devices["ccw"] if c["role"] == "data"][0]
    yield bus_id
    # Whatever happened, leave it on io_subchannel, online, without persistence files.
    zhost.ansible("s390x.kvm.vfio_ccw", {"devices": [bus_id], "state": "absent", "allow_non_dasd": True}, check=False)


def sch_of(zhost, bus_id):
    tree = zhost.sysfs_tree("/sys/bus/css/devices/*/dev_busid")
    return [p.split("/")[-2] for p, v in tree.items() if v == bus_id][0]


def test_vfio_ccw_module_on_the_real_kernel(zhost, spare_disk):
    args = {"devices": [spare_disk], "allow_non_dasd": True}
    # A virtio-blk device is not a DASD: refused unless allowed, and nothing changes.
    refused = zhost.ansible("s390x.kvm.vfio_ccw", {"devices": [spare_disk]}, check=False)
    # (the tree callback keeps the module's own result, without Ansible's "failed" flag)
    assert refused["msg"].startswith("refusing to change anything: %s: not a DASD (kind virtio, control unit 3832/02)"
                                     % spare_disk), refused["msg"]
    assert "allow_non_dasd" in refused["msg"] and refused["changed"] is False
    assert zhost.read_sysfs("/sys/bus/ccw/devices/%s/online" % spare_disk) == "1"

    planned = zhost.ansible("s390x.kvm.vfio_ccw", args, options=("--check", "--diff"))
    assert planned["changed"] is True
    (plan,) = planned["devices"]
    sch = plan["subchannel"]
    assert zhost.read_sysfs("/sys/bus/css/devices/%s/driver_override" % sch) == "(null)"

    done = zhost.ansible("s390x.kvm.vfio_ccw", args)
    assert done["changed"] is True
    (dev,) = done["devices"]
    assert dev["steps"] == plan["steps"] and dev["uuid"] == plan["uuid"]
    css = "/sys/bus/css/devices/" + sch
    tree = zhost.sysfs_tree(css + "/driver", css + "/driver_override", css + "/" + dev["uuid"],
                            "/etc/driverctl.d/css-" + sch, "/etc/mdevctl.d/%s/%s" % (sch, dev["uuid"]),
                            "/sys/bus/mdev/devices/" + dev["uuid"])
    assert tree[css + "/driver"].endswith("/vfio_ccw")
    assert tree[css + "/driver_override"] == "vfio_ccw"
    assert isinstance(tree[css + "/" + dev["uuid"]], dict)
    assert tree["/etc/driverctl.d/css-" + sch] == "vfio_ccw"
    assert json.loads(tree["/etc/mdevctl.d/%s/%s" % (sch, dev["uuid"])]) == {
        "mdev_type": "vfio_ccw-io", "start": "auto", "attrs": []}
    assert done["map"] == {spare_disk: {"subchannel": sch, "uuid": dev["uuid"]}}

    again = zhost.ansible("s390x.kvm.vfio_ccw", args)
    assert again["changed"] is False and again["devices"][0]["steps"] == []

    # ccw_info sees the subchannel on vfio_ccw with its mdev (the CCW device is unregistered).
    info = zhost.module("s390x.kvm.ccw_info", gather=["subchannels"])
    sub = [s for s in info["subchannels"] if s["bus_id"] == sch][0]
    assert sub["driver"] == "vfio_ccw" and sub["mdevs"] == [dev["uuid"]]

    back = zhost.ansible("s390x.kvm.vfio_ccw", dict(args, state="absent"))
    assert back["changed"] is True, back
    tree = zhost.sysfs_tree(css + "/driver", css + "/driver_override", "/sys/bus/ccw/devices/%s/online" % spare_disk,
                            "/etc/driverctl.d/css-" + sch)
    assert tree[css + "/driver"].endswith("/io_subchannel")
    assert tree[css + "/driver_override"] == "(null)"
    assert tree["/sys/bus/ccw/devices/%s/online" % spare_disk] == "1"
    assert tree.get("/etc/driverctl.d/css-" + sch) is None
    assert zhost.ansible("s390x.kvm.vfio_ccw", dict(args, state="absent"))["changed"] is False


def test_vfio_pci_module_on_the_real_kernel(zhost):
    func = [f for f in zhost.devices["zpci"] if f["kind"] == "blk"][0]   # a virtio-blk-pci function, unused
    fid = "0x%x" % func["fid"]
    try:
        done = zhost.ansible("s390x.kvm.vfio_pci", {"fids": [fid]})
        assert done["changed"] is True
        (res,) = done["functions"]
        base = "/sys/bus/pci/devices/" + res["address"]
        tree = zhost.sysfs_tree(base + "/driver", "/etc/driverctl.d/pci-" + res["address"])
        assert tree[base + "/driver"].endswith("/vfio-pci")
        assert tree["/etc/driverctl.d/pci-" + res["address"]] == "vfio-pci"
        assert "<zpci uid='0x%04x' fid='0x%08x'/>" % (res["uid"], res["fid"]) in res["hostdev_xml"]
        assert zhost.ansible("s390x.kvm.vfio_pci", {"fids": [fid]})["changed"] is False
        back = zhost.ansible("s390x.kvm.vfio_pci", {"fids": [fid], "state": "absent"})
        assert back["changed"] is True
        assert zhost.sysfs_tree(base + "/driver")[base + "/driver"].endswith("/virtio-pci")
    finally:
        zhost.ansible("s390x.kvm.vfio_pci", {"fids": [fid], "state": "absent"}, check=False)


@pytest.mark.parametrize("role, fragment", [("root", "mounted at /"), ("ssh", "carries the host's")])
def test_host_devices_are_refused_on_the_real_kernel(zhost, role, fragment):
    """The root disk and the NIC Ansible itself came in on are the host's, even with allow_non_dasd."""
    bus_id = [c["bus_id"] for c in zhost.devices["ccw"] if c["role"] == role][0]
    res = zhost.ansible("s390x.kvm.vfio_ccw", {"devices": [bus_id], "allow_non_dasd": True}, check=False)
    assert res["msg"].startswith("refusing to change anything: %s: used by the host" % bus_id), res["msg"]
    assert fragment in res["msg"] and res["changed"] is False
    assert zhost.read_sysfs("/sys/bus/ccw/devices/%s/online" % bus_id) == "1"
