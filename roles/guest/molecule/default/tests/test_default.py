# -*- coding: utf-8 -*-
"""The guests the guest role defined on the container's libvirtd, read back from libvirt."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

URI = "qemu:///system"
CCW = {"type": "ccw", "cssid": "0xfe", "ssid": "0x0"}


def virsh(host, *args):
    return host.check_output("virsh --connect %s %s" % (URI, " ".join(args)))


def domain(host, name):
    return ET.fromstring(virsh(host, "dumpxml", "--inactive", name))


def ccw_devnos(dom):
    """Device -> devno for every device on the CCW transport; fails on any other CCW address."""
    devnos = {}
    for dev in dom.find("devices"):
        address = dev.find("address")
        if address is None or address.get("type") != "ccw":
            continue
        assert dict((k, v) for k, v in address.attrib.items() if k != "devno") == CCW, ET.tostring(dev)
        if dev.tag == "disk":
            key = "disk:" + dev.find("target").get("dev")
        elif dev.tag == "interface":
            key = "interface:" + dev.find("mac").get("address")
        elif dev.tag == "filesystem":
            key = "filesystem:" + dev.find("target").get("dir")
        elif dev.tag in ("controller", "input"):
            key = "%s:%s" % (dev.tag, dev.get("type"))
        else:
            key = dev.tag
        assert key not in devnos, key
        devnos[key] = address.get("devno")
    return devnos


def test_libvirt_in_the_container(host):
    for name in ("libvirt-daemon-system", "qemu-system-misc", "python3-libvirt"):
        assert host.package(name).is_installed, name
    assert host.service("libvirtd").is_running


def test_both_guests_defined_and_shut_off(host):
    listed = {}
    for line in virsh(host, "list", "--all").splitlines()[2:]:
        fields = line.split(None, 2)
        if len(fields) == 3:
            listed[fields[1]] = fields[2].strip()
    assert listed == {"mol-full": "shut off", "mol-small": "shut off"}
    for name in listed:
        assert virsh(host, "dominfo", name).count("Persistent:     yes") == 1, name


@pytest.mark.parametrize("name", ["mol-full", "mol-small"])
def test_s390x_ccw_machine_under_tcg(host, name):
    dom = domain(host, name)
    assert dom.get("type") == "qemu"          # no /dev/kvm in the container: auto resolved to TCG
    os_type = dom.find("os/type")
    assert os_type.get("arch") == "s390x"
    assert os_type.get("machine").startswith("s390-ccw-virtio")
    cpu = dom.find("cpu")
    assert cpu.get("mode") == "custom" and cpu.find("model").text == "qemu"
    assert dom.find("devices/emulator").text == "/usr/bin/qemu-system-s390x"
    # No device fell back to PCI: every addressed virtio device is on the CCW transport.
    for dev in dom.find("devices"):
        address = dev.find("address")
        assert address is None or address.get("type") in ("ccw", "drive"), ET.tostring(dev)


def test_full_guest_devnos_allocated_per_kind(host):
    dom = domain(host, "mol-full")
    mac = dom.find("devices/interface/mac").get("address")
    assert ccw_devnos(dom) == {
        "disk:vda": "0x1000",
        "interface:" + mac: "0x2000",
        "filesystem:share": "0x3000",
        "controller:scsi": "0x4000",
        "video": "0x5000",
        "input:keyboard": "0x5001",
        "input:mouse": "0x5002",
        "memballoon": "0xff00",
        "rng": "0xff01",
    }
    assert mac.startswith("52:54:00:")


def test_full_guest_image_disk_on_virtio_blk(host):
    disk = domain(host, "mol-full").find("devices/disk[@device='disk']")
    assert disk.get("type") == "file"
    assert disk.find("source").get("file") == "/var/lib/libvirt/images/mol-full-root.qcow2"
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}
    assert disk.find("driver").attrib == {"name": "qemu", "type": "qcow2", "cache": "none", "io": "native",
                                          "iothread": "1"}
    assert disk.find("boot").get("order") == "1"


def test_full_guest_cdrom_on_virtio_scsi_read_only(host):
    dom = domain(host, "mol-full")
    cdrom = dom.find("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == "/var/lib/libvirt/images/install.iso"
    assert cdrom.find("target").attrib == {"dev": "sda", "bus": "scsi"}
    assert cdrom.find("readonly") is not None
    assert cdrom.find("address").attrib == {"type": "drive", "controller": "0", "bus": "0", "target": "0",
                                            "unit": "0"}
    controller = dom.find("devices/controller[@type='scsi']")
    assert controller.get("index") == "0" and controller.get("model") == "virtio-scsi"


def test_full_guest_bridge_interface(host):
    interface = domain(host, "mol-full").find("devices/interface")
    assert interface.get("type") == "bridge"
    assert interface.find("source").get("bridge") == "br-mol"
    assert interface.find("model").get("type") == "virtio"
    assert "br-mol" in host.check_output("ip -o link show type bridge")


def test_full_guest_virtiofs_with_shared_memory(host):
    dom = domain(host, "mol-full")
    backing = dom.find("memoryBacking")
    assert backing is not None
    assert backing.find("source").get("type") == "memfd"
    assert backing.find("access").get("mode") == "shared"
    fs = dom.find("devices/filesystem")
    assert fs.get("type") == "mount" and fs.get("accessmode") == "passthrough"
    assert fs.find("driver").get("type") == "virtiofs"
    assert fs.find("binary").get("path") == "/usr/lib/qemu/virtiofsd"
    assert fs.find("source").get("dir") == "/srv/mol-full/share"
    assert fs.find("target").get("dir") == "share"
    assert host.file("/srv/mol-full/share").is_directory


def test_full_guest_gpu_keyboard_mouse(host):
    devices = domain(host, "mol-full").find("devices")
    assert devices.find("video/model").get("type") == "virtio"
    assert sorted((i.get("type"), i.get("bus")) for i in devices.findall("input")) == [
        ("keyboard", "virtio"), ("mouse", "virtio")]


def test_small_guest_explicit_devnos_and_no_extras(host):
    dom = domain(host, "mol-small")
    macs = [m.get("address") for m in dom.findall("devices/interface/mac")]
    assert len(set(macs)) == 2
    # devno "0.0.1234" and 0x2100 as given; the other interface takes the lowest free one of its kind.
    assert ccw_devnos(dom) == {"disk:vda": "0x1234", "interface:" + macs[0]: "0x2000",
                               "interface:" + macs[1]: "0x2100"}
    assert dom.find("memoryBacking") is None               # no virtio-fs: no shared memory
    assert dom.find("devices/memballoon").get("model") == "none"
    assert dom.find("devices/rng") is None
    disk = dom.find("devices/disk")
    assert disk.find("driver").get("type") == "raw"
    assert disk.find("source").get("file") == "/var/lib/libvirt/images/mol-small-root.img"
