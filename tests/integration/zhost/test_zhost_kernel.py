"""Kernel truth on the emulated IBM Z host: the real s390x 6.12 kernel shows exactly the CCW
devices and zPCI functions QEMU was configured with (tests/testbed/zhost/common.sh), and the
vfio modules (vfio_ccw + mdev built out of tree) are loaded. Everything is read over ssh."""

import os

import pytest

pytestmark = pytest.mark.zhost


def base(value):
    """Basename of a ``sysfs_tree`` symlink value ("-> ../x/y" -> "y"); None for no link."""
    return os.path.basename(value[3:]) if isinstance(value, str) and value.startswith("-> ") else None


def test_kernel_and_machine(zhost):
    out = zhost.ssh("uname -m -r; cat /proc/sys/kernel/tainted", check=True).stdout.split()
    assert out[0].startswith("6.12.") and out[0].endswith("-s390x")
    assert out[1] == "s390x"


def test_ccw_devices_are_the_configured_ones(zhost):
    tree = zhost.sysfs_tree("/sys/bus/ccw/devices/*", "/sys/bus/ccw/devices/*/cutype", "/sys/bus/ccw/devices/*/devtype",
                            "/sys/bus/ccw/devices/*/online", "/sys/bus/ccw/devices/*/driver",
                            "/sys/bus/ccw/devices/*/availability", "/sys/bus/css/devices/*/dev_busid",
                            "/sys/bus/css/devices/*/type")
    dev = "/sys/bus/ccw/devices/"
    seen = {p[len(dev):] for p in tree if p.startswith(dev) and p.count("/") == 5}
    configured = {d["bus_id"]: d for d in zhost.devices["ccw"]}
    # devno fe.0.XXXX (QEMU's virtual css 0xfe) appears as bus ID 0.0.XXXX
    assert all(d["devno"] == "fe.0." + b[4:] for b, d in configured.items())
    assert seen == set(configured)
    for bus_id, d in configured.items():
        p = dev + bus_id
        assert tree[p + "/cutype"] == d["cutype"], bus_id
        assert tree[p + "/devtype"] == "n/a", bus_id
        assert tree[p + "/online"] == "1", bus_id
        assert tree[p + "/availability"] == "good", bus_id
        assert base(tree[p + "/driver"]) == "virtio_ccw", bus_id
        # the parent directory of the CCW device is its I/O subchannel, which points back at it
        sch = os.path.basename(os.path.dirname(tree[p][3:]))
        assert tree["/sys/bus/css/devices/%s/dev_busid" % sch] == bus_id
        assert tree["/sys/bus/css/devices/%s/type" % sch] == "0"


def test_channel_path(zhost):
    tree = zhost.sysfs_tree("/sys/devices/css0/chp0.*/type", "/sys/devices/css0/chp0.*/status")
    assert tree["/sys/devices/css0/chp0.00/type"] == "32"        # QEMU's virtual CHPID 00
    assert tree["/sys/devices/css0/chp0.00/status"] == "online"


def test_zpci_functions_are_the_configured_ones(zhost):
    tree = zhost.sysfs_tree("/sys/bus/pci/devices/*/uid", "/sys/bus/pci/devices/*/function_id",
                            "/sys/bus/pci/devices/*/vendor", "/sys/bus/pci/devices/*/device",
                            "/sys/bus/pci/devices/*/driver")
    seen = {p.split("/")[5] for p in tree}
    configured = {f["address"]: f for f in zhost.devices["zpci"]}
    assert seen == set(configured)
    for address, f in configured.items():
        p = "/sys/bus/pci/devices/" + address
        assert int(tree[p + "/uid"], 16) == f["uid"]
        assert tree[p + "/function_id"] == f["function_id"]          # 0x%08x of the fid
        assert int(tree[p + "/vendor"], 16) == f["vendor"]
        assert int(tree[p + "/device"], 16) == f["device"]
        assert base(tree[p + "/driver"]) == "virtio-pci"


def test_vfio_modules_loaded(zhost):
    tree = zhost.sysfs_tree("/sys/module/vfio_ccw", "/sys/module/mdev", "/sys/module/vfio",
                            "/sys/module/vfio_iommu_type1", "/sys/module/vfio_pci", "/sys/bus/css/drivers/*",
                            "/sys/bus/pci/drivers/*", "/sys/module/vfio_ccw/taint")
    for m in ("vfio_ccw", "mdev", "vfio", "vfio_iommu_type1", "vfio_pci"):
        assert "/sys/module/" + m in tree, m
    assert "/sys/bus/css/drivers/vfio_ccw" in tree and "/sys/bus/css/drivers/io_subchannel" in tree
    assert "/sys/bus/pci/drivers/vfio-pci" in tree
    assert "O" in tree["/sys/module/vfio_ccw/taint"]                 # built out of tree
