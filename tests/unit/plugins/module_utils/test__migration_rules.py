# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration_rules: what migrate does with each device of a live domain XML, and how
pass-through devices are mapped to the destination's."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx
from ansible_collections.s390x.kvm.plugins.module_utils import _migration_rules as rules

MDEV = "8f1b4c2e-0000-4000-8000-00000000c0de"
LIVE = """<domain type='kvm'><name>g</name><memory>1048576</memory>
<os><type arch='s390x' machine='s390-ccw-virtio-9.2'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/g.qcow2'/>
  <target dev='vda' bus='virtio'/><alias name='virtio-disk0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2' iothread='1'/><source file='/srv/local/h.qcow2'/>
  <target dev='vdb' bus='virtio'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0004'/></disk>
<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/><model type='virtio'/>
  <alias name='net0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></interface>
<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/>
  <rom enabled='no'/><target dev='vnet7'/><alias name='net1'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'><zpci uid='0x0005' fid='0x0000000a'/></address></interface>
<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-ccw'><source><address uuid='%s'/></source>
  <alias name='hostdev0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>
<hostdev mode='subsystem' type='pci' managed='no'><driver name='vfio'/><source>
  <address domain='0x0003' bus='0x00' slot='0x00' function='0x0'/></source><alias name='hostdev1'/>
  <address type='pci' domain='0x0001' bus='0x00' slot='0x02' function='0x0'><zpci uid='0x0011' fid='0x00000111'/></address></hostdev>
<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-ap'><source><address uuid='11111111-2222-4333-8444-555555555555'/></source></hostdev>
<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/srv/share'/><target dir='share'/></filesystem>
</devices></domain>""" % MDEV


def fs_type_of(path):
    return "nfs4" if path.startswith("/var/lib/libvirt/images") else "ext4"


def by_key(items):
    return dict((i["key"], i) for i in items)


def test_classify_unplugs_passthrough_and_zpci_and_refuses_the_rest():
    items = by_key(rules.classify(dx.parse(LIVE), 9002000, fs_type_of))
    assert items["hostdev[mdev:%s]" % MDEV]["action"] == "unplug"
    assert items["hostdev[mdev:%s]" % MDEV]["kind"] == "vfio-ccw"
    assert items["interface[52:54:00:00:00:02]"]["action"] == "unplug"
    assert items["interface[52:54:00:00:00:02]"]["kind"] == "zpci"        # emulated virtio-net-pci: QEMU blocks zPCI
    assert items["hostdev[pci:0x0003:0x00:0x00.0x0]"]["kind"] == "vfio-pci"
    ap = items["hostdev[mdev:11111111-2222-4333-8444-555555555555]"]
    assert ap["action"] == "refuse" and "ap_policy=unplug" in ap["reason"]
    assert items["filesystem[share]"]["action"] == "refuse"
    assert items["disk[vdb]"]["action"] == "refuse" and "unsafe=true" in items["disk[vdb]"]["reason"]
    assert "disk[vda]" not in items and "interface[52:54:00:00:00:01]" not in items     # shared storage, CCW NIC


def test_classify_options_change_what_is_refused():
    items = by_key(rules.classify(dx.parse(LIVE), None, fs_type_of, ap_policy="unplug", unsafe=True))
    assert items["hostdev[mdev:11111111-2222-4333-8444-555555555555]"]["action"] == "unplug"
    assert items["disk[vdb]"]["action"] == "warn"
    copied = by_key(rules.classify(dx.parse(LIVE), None, fs_type_of, copy_storage="all"))
    assert copied["disk[vdb]"]["action"] == "refuse" and "iothread" in copied["disk[vdb]"]["reason"]


def test_blockers_and_classify_agree():
    root = dx.parse(LIVE)
    assert sorted(b["device"] for b in rules.migration_blockers(root, fs_type_of=fs_type_of)) == \
        sorted(i["key"] for i in rules.classify(root, fs_type_of=fs_type_of))


def test_host_source_and_mapping():
    root = dx.parse(LIVE)
    mdev = root.find("./devices/hostdev")
    pci = root.findall("./devices/hostdev")[1]
    assert rules.host_source(mdev) == MDEV
    assert rules.host_source(pci) == "0003:00:00.0"
    assert rules.host_source(root.findall("./devices/interface")[1]) is None
    moved = rules.mapped_element(mdev, "AAAAAAAA-0000-4000-8000-000000000001")
    assert moved.find("./source/address").get("uuid") == "aaaaaaaa-0000-4000-8000-000000000001"
    assert moved.find("address").get("devno") == "0x0009"          # the guest's side stays
    assert mdev.find("./source/address").get("uuid") == MDEV        # a copy
    moved = rules.mapped_element(pci, "0004:00:00.0")
    assert dx.device_key(moved) == "hostdev[pci:0x0004:0x00:0x00.0x0]"
    assert moved.find("./address/zpci").get("fid") == "0x00000111"
    with pytest.raises(rules.DeviceMapError, match="mdev UUID, not '0.0.0100'"):
        rules.mapped_element(mdev, "0.0.0100")
    with pytest.raises(rules.DeviceMapError, match="PCI address"):
        rules.mapped_element(pci, "fid-17")


def test_resolve_device_map_by_source_or_key_and_refuses_unknown_names():
    root = dx.parse(LIVE)
    entries = [i for i in rules.classify(root) if i["action"] == "unplug"]
    mapped = rules.resolve_device_map({MDEV.upper(): "aaaaaaaa-0000-4000-8000-000000000001",
                                       "3:00:00.0": "0004:00:00.0"}, entries)
    assert mapped == {"hostdev[mdev:%s]" % MDEV: "aaaaaaaa-0000-4000-8000-000000000001",
                      "hostdev[pci:0x0003:0x00:0x00.0x0]": "0004:00:00.0"}
    with pytest.raises(rules.DeviceMapError, match="'0.0.0100' names no pass-through device"):
        rules.resolve_device_map({"0.0.0100": MDEV}, entries)


def test_fs_type_of_takes_the_longest_mount_point(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\nsrv:/img /var/lib/libvirt/images nfs4 rw 0 0\n"
                      "tmpfs /var/lib/libvirt/images/scratch tmpfs rw 0 0\n")
    assert rules.fs_type_of("/var/lib/libvirt/images/a.qcow2", str(mounts)) == "nfs4"
    assert rules.fs_type_of("/var/lib/libvirt/images/scratch/b.raw", str(mounts)) == "tmpfs"
    assert rules.fs_type_of("/var/lib/libvirt/imagesX/c.raw", str(mounts)) == "ext4"
    assert rules.fs_type_of("/x", str(tmp_path / "missing")) is None
