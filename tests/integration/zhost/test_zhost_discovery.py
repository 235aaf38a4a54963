"""s390x.kvm.ccw_info and s390x.kvm.zpci_info on the emulated IBM Z host (real s390x kernel),
run through Ansible over ssh with the host's own python3, cross-checked against sysfs read
directly in the same test: every subchannel, every CCW device, every PCI function."""

import os

import pytest

pytestmark = pytest.mark.zhost

CSS = "/sys/bus/css/devices/"
CCW = "/sys/bus/ccw/devices/"
PCI = "/sys/bus/pci/devices/"


def link_base(value):
    return os.path.basename(value[3:]) if isinstance(value, str) and value.startswith("-> ") else None


def entries(tree, prefix):
    """Names of the entries directly under prefix that the tree holds."""
    return {p[len(prefix):].split("/")[0] for p in tree if p.startswith(prefix)}


def test_ccw_info_matches_sysfs(zhost):
    result = zhost.module("s390x.kvm.ccw_info", subchannels="all")
    tree = zhost.sysfs_tree(CSS + "*", CSS + "*/type", CSS + "*/dev_busid", CSS + "*/driver",
                            CCW + "*", CCW + "*/cutype", CCW + "*/devtype", CCW + "*/online", CCW + "*/driver",
                            CCW + "*/availability")
    assert result["s390x_host"] is True

    # --- subchannels: the same set, and per subchannel the same type, device and driver ---
    subchannels = {s["bus_id"]: s for s in result["subchannels"]}
    assert set(subchannels) == entries(tree, CSS)
    for bus_id, s in subchannels.items():
        p = CSS + bus_id
        assert s["type"] == int(tree[p + "/type"], 16), bus_id
        dev_busid = tree.get(p + "/dev_busid")
        assert s["dev_busid"] == (None if dev_busid in (None, "none") else dev_busid), bus_id
        assert s["driver"] == link_base(tree.get(p + "/driver")), bus_id

    # --- CCW devices: the same set, and per device every attribute of the contract ---
    devices = {d["bus_id"]: d for d in result["devices"]}
    assert set(devices) == entries(tree, CCW)
    for bus_id, d in devices.items():
        p = CCW + bus_id
        assert d["subchannel"] == os.path.basename(os.path.dirname(tree[p][3:])), bus_id
        assert d["cutype"] == tree[p + "/cutype"], bus_id
        devtype = tree[p + "/devtype"]
        assert d["devtype"] == (None if devtype == "n/a" else devtype) or d["devtype"] == devtype, bus_id
        assert d["online"] is (tree[p + "/online"] == "1"), bus_id
        assert d["driver"] == link_base(tree.get(p + "/driver")), bus_id
        assert d["availability"] == tree[p + "/availability"], bus_id
        # and the subchannel's view agrees with the device's
        assert subchannels[d["subchannel"]]["dev_busid"] == bus_id

    # --- the default (compact) list leaves out exactly the subchannels a device record stands for ---
    compact = {s["bus_id"] for s in zhost.module("s390x.kvm.ccw_info", gather=["subchannels", "devices"])["subchannels"]}
    for bus_id, s in subchannels.items():
        plain = (s["type"] == 0 and s["dev_busid"] in devices and s["driver"] == "io_subchannel"
                 and s["driver_override"] is None and s["pam"] == s["pim"]
                 and int(s["pom"], 16) & int(s["pim"], 16) == int(s["pim"], 16))
        assert (bus_id in compact) is not plain, bus_id

    # --- and it is what QEMU was configured with ---
    assert set(devices) == {c["bus_id"] for c in zhost.devices["ccw"]}
    for c in zhost.devices["ccw"]:
        assert devices[c["bus_id"]]["cutype"] == c["cutype"]


def test_ccw_info_bus_id_filter(zhost):
    want = [c["bus_id"] for c in zhost.devices["ccw"] if c["role"] == "data"]
    result = zhost.module("s390x.kvm.ccw_info", bus_ids=want)
    assert sorted(d["bus_id"] for d in result["devices"]) == sorted(want)


def test_zpci_info_matches_sysfs(zhost):
    result = zhost.module("s390x.kvm.zpci_info")
    tree = zhost.sysfs_tree(PCI + "*", PCI + "*/function_id", PCI + "*/uid", PCI + "*/vendor", PCI + "*/device",
                            PCI + "*/driver", PCI + "*/net/*", PCI + "*/virtio*/net/*", PCI + "*/virtio*/block/*")
    assert result["s390x_host"] is True
    functions = {f["address"]: f for f in result["functions"]}
    assert set(functions) == entries(tree, PCI)
    for address, f in functions.items():
        p = PCI + address
        assert f["fid"] == int(tree[p + "/function_id"], 16), address
        assert f["uid"] == int(tree[p + "/uid"], 16), address
        assert f["vendor"] == int(tree[p + "/vendor"], 16), address
        assert f["device"] == int(tree[p + "/device"], 16), address
        assert f["driver"] == link_base(tree.get(p + "/driver")), address
        # interfaces and disks: directly below (NIC drivers) or below the virtio device (virtio-pci)
        below = [k.split("/") for k in tree if k.startswith(p + "/")]
        assert f["netdevs"] == sorted(k[-1] for k in below if k[-2] == "net"), address
        assert f["block_devices"] == sorted(k[-1] for k in below if k[-2] == "block"), address
    # the virtio-net-pci and virtio-blk-pci functions do have them (the comparison above is not empty)
    assert any(f["netdevs"] for f in functions.values()) and any(f["block_devices"] for f in functions.values())
    # the configuration: zPCI uid U is PCI domain U, fid as configured
    configured = {c["address"]: c for c in zhost.devices["zpci"]}
    assert set(functions) == set(configured)
    for address, c in configured.items():
        assert (functions[address]["uid"], functions[address]["fid"]) == (c["uid"], c["fid"])
