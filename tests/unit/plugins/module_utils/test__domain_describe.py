"""module_utils/domain_describe.py: devices, pass-through devices and facts of a domain XML as
libvirt writes it for s390x guests (CCW addresses cssid 0xfe, zPCI <zpci uid fid>; formats from
libvirt's formatdomain documentation). The whole-domain check with migration blockers is in
test_domain_xml.py (test_describe_devices_passthrough_and_blockers)."""

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._domain_describe import (
    describe_device, describe_domain, guest_bus_id, passthrough)

DOMAIN = """<domain type='kvm'>
  <name>web1</name>
  <memory unit='GiB'>2</memory>
  <vcpu placement='static'>4</vcpu>
  <os><type arch='s390x' machine='s390-ccw-virtio-9.2'>hvm</type></os>
  <cpu mode='host-model'><model>gen16a</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source dev='/dev/disk/by-path/ccw-0.0.0105'/>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
      <alias name='virtio-disk0'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source bridge='br0'/>
      <virtualport type='openvswitch'/>
      <model type='virtio'/>
      <target dev='vnet3'/>
      <address type='ccw' cssid='0xfe' ssid='0x1' devno='0x000a'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0010' bus='0x00' slot='0x00' function='0x0'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'>
        <zpci uid='0x0010' fid='0x00000010'/>
      </address>
    </hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-ccw'>
      <source><address uuid='3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51'/></source>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0002'/>
    </hostdev>
    <controller type='virtio-serial' index='0'/>
    <console type='pty'><target type='sclp' port='0'/></console>
  </devices>
</domain>"""


def element(text):
    return ET.fromstring(text)


@pytest.fixture(scope="module")
def info():
    return describe_domain(DOMAIN)


def test_guest_bus_id_from_devno_and_ssid():
    assert guest_bus_id("0x0001") == "0.0.0001"
    assert guest_bus_id("0x000a", "0x1") == "0.1.000a"
    assert guest_bus_id("1000") == "0.0.1000"


def test_domain_facts(info):
    assert (info["type"], info["arch"], info["machine"]) == ("kvm", "s390x", "s390-ccw-virtio-9.2")
    assert info["memory_kib"] == 2 * 1024 * 1024 and info["vcpus"] == 4
    assert info["cpu"] == {"mode": "host-model", "model": "gen16a"}
    assert "emulator" not in [d["kind"] for d in info["devices"]]


def test_dasd_disk(info):
    disk = info["devices"][0]
    assert disk["key"] == "disk[vda]" and disk["backing"] == "/dev/disk/by-path/ccw-0.0.0105"
    assert (disk["backing_kind"], disk["target"], disk["bus"], disk["readonly"]) == ("dasd", "vda", "virtio", False)
    assert disk["driver"] == {"name": "qemu", "type": "raw", "cache": "none", "io": "native"}
    assert (disk["boot_order"], disk["alias"], disk["address_type"], disk["devno"], disk["guest_bus_id"]) == (
        1, "virtio-disk0", "ccw", "0x0001", "0.0.0001")


def test_openvswitch_interface(info):
    nic = info["devices"][1]
    assert (nic["backing_kind"], nic["backing"], nic["mac"], nic["model"], nic["host_interface"]) == (
        "openvswitch", "br0", "52:54:00:aa:bb:cc", "virtio", "vnet3")
    assert nic["guest_bus_id"] == "0.1.000a"


def test_other_devices(info):
    controller, console = info["devices"][-2:]
    assert (controller["kind"], controller["type"], controller["index"], controller["model"]) == (
        "controller", "virtio-serial", "0", None)
    assert (console["kind"], console["target_type"]) == ("console", "sclp")


def test_passthrough_devices(info):
    pci, ccw = info["passthrough"]
    assert pci == {"type": "pci", "model": "vfio-pci", "key": pci["key"], "source": "0x0010:0x00:0x00.0x0",
                   "address_type": "pci", "zpci": {"uid": "0x0010", "fid": "0x00000010"},
                   "pci_address": "0x0000:0x00:0x01.0x0"}
    assert (ccw["model"], ccw["source"], ccw["guest_bus_id"]) == (
        "vfio-ccw", "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51", "0.0.0002")


@pytest.mark.parametrize("xml, kind", [
    ("<disk type='file'><source file='/var/lib/libvirt/images/a.qcow2'/></disk>", "image"),
    ("<disk type='network'><source protocol='rbd' name='pool/img'/></disk>", "network"),
    ("<disk type='volume'><source pool='p' volume='v'/></disk>", "volume"),
    ("<disk type='block'><source dev='/dev/dasdc'/></disk>", "dasd"),
    ("<disk type='block'><source dev='/dev/mapper/mpatha'/></disk>", "scsi"),
    ("<disk type='block'><source dev='/dev/disk/by-id/wwn-0x6005076303ffc562'/></disk>", "scsi"),
    ("<disk type='block'><source dev='/dev/disk/by-path/ccw-0.0.1900-fc-0x500507630300c562-lun-0x4010400000000000'/>"
     "</disk>", "scsi"),
    ("<disk type='block'><source dev='/dev/nvme0n1'/></disk>", "nvme"),
    ("<disk type='block'><source dev='/dev/vg/lv'/></disk>", "block"),
])
def test_disk_backing_kinds(xml, kind):
    assert describe_device(element(xml))["backing_kind"] == kind


@pytest.mark.parametrize("xml, expected", [
    ("<interface type='hostdev'><source><address type='pci' domain='0x0010' bus='0x00' slot='0x00' function='0x0'/>"
     "</source></interface>", ("pci", "vfio-pci")),
    ("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='1' unit='0'/></source></hostdev>", ("scsi", "scsi")),
    ("<hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.5001405df3e54061'/></hostdev>",
     ("scsi_host", "vhost-scsi")),
    ("<hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address uuid='u'/></source></hostdev>",
     ("mdev", "vfio-ap")),
])
def test_passthrough_models(xml, expected):
    out = passthrough(element(xml))
    assert (out["type"], out["model"]) == expected


def test_scsi_hostdev_source_and_no_passthrough_for_a_disk():
    out = passthrough(element("<hostdev type='scsi'><source><adapter name='scsi_host0'/>"
                              "<address bus='0' target='1' unit='0'/></source></hostdev>"))
    assert out["source"] == "scsi_host0:0:1:0"
    assert passthrough(element("<disk type='file'/>")) is None
    assert passthrough(element("<interface type='bridge'/>")) is None
