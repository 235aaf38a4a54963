# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Semantic comparison against what libvirt 9.0 really stored (fixtures/domain_xml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import _domain_describe as ddesc
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "domain_xml")


def fixture(name):
    with open(os.path.join(HERE, name)) as handle:
        return handle.read()


DESIRED = fixture("all-kinds.desired.xml")
STORED = fixture("all-kinds.libvirt-9.0-inactive.xml")
PTY_STORED = fixture("pty-console.libvirt-9.0-inactive.xml")
LIVE = fixture("s390tcg.libvirt-9.0-live.xml")

# What a user would write for the running guest in s390tcg.libvirt-9.0-live.xml.
LIVE_DESIRED = """
<domain type='qemu'>
  <name>s390tcg</name>
  <memory unit='MiB'>768</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='s390x' machine='s390-ccw-virtio'>hvm</type>
    <kernel>WORKDIR/kpkg612/boot/vmlinuz-6.12.95+deb12-s390x</kernel>
    <initrd>WORKDIR/q3/initrd-live.gz</initrd>
    <cmdline>console=ttysclp0 loglevel=4</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='WORKDIR/q3/root.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='ccw' cssid='0xFE' ssid='0' devno='0x1'/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:AA:00:01'/>
      <model type='virtio'/>
    </interface>
    <console type='pty'>
      <log file='WORKDIR/q3/console.log' append='on'/>
    </console>
  </devices>
</domain>
"""


def replace(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def paths(comparison):
    return [c["path"] for c in comparison.changes]


def test_what_libvirt_stored_is_no_change():
    result = dx.compare(DESIRED, STORED)
    assert not result.changed, result.unified_diff()
    assert result.changes == []


def test_pty_console_becomes_sclp_serial_and_is_no_change():
    desired = replace(DESIRED, "<console type='pty'><target type='sclp'/></console>", "<console type='pty'/>")
    assert not dx.compare(desired, PTY_STORED).changed


def test_live_xml_with_aliases_ptys_and_defaults_is_no_change():
    result = dx.compare(LIVE_DESIRED, LIVE)
    assert not result.changed, result.unified_diff()


def test_one_attribute_changes_exactly_one_field():
    desired = replace(DESIRED, "cache='none' io='native' iothread='1'", "cache='none' io='threads' iothread='1'")
    result = dx.compare(desired, STORED)
    assert result.changed
    assert result.changes == [{"path": "domain/devices/disk[vda]/driver/@io", "before": "native", "after": "threads"}]
    diff = result.unified_diff()
    assert "-      <driver name='qemu' type='raw' cache='none' io='native' iothread='1'/>" in diff
    assert "+      <driver name='qemu' type='raw' cache='none' io='threads' iothread='1'/>" in diff
    body = diff.splitlines()[2:]
    assert len([x for x in body if x.startswith("-")]) == 1 and len([x for x in body if x.startswith("+")]) == 1


def test_removed_user_attribute_is_a_change():
    desired = replace(DESIRED, " io='native' iothread='1'", "")
    result = dx.compare(desired, STORED)
    assert paths(result) == ["domain/devices/disk[vda]/driver/@io", "domain/devices/disk[vda]/driver/@iothread"]


def test_removed_boot_order_and_removed_device_are_changes():
    desired = replace(DESIRED, "<boot order='1'/>", "")
    assert paths(dx.compare(desired, STORED)) == ["domain/devices/disk[vda]/boot"]
    start = DESIRED.index("<watchdog")
    desired = DESIRED[:start] + DESIRED[DESIRED.index("/>", start) + 2:]
    result = dx.compare(desired, STORED)
    assert paths(result) == ["domain/devices/watchdog"]
    assert result.changes[0]["after"] == "removed"


def test_added_device_is_a_change():
    extra = ("<disk type='file' device='disk'><source file='/tmp/b.raw'/><target dev='vdb' bus='virtio'/>"
             "</disk></devices>")
    result = dx.compare(replace(DESIRED, "</devices>", extra), STORED)
    assert paths(result) == ["domain/devices/disk[vdb]"]


def test_removed_memory_backing_is_a_change():
    desired = replace(DESIRED, "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>", "")
    assert paths(dx.compare(desired, STORED)) == ["domain/memoryBacking"]


def test_memory_units_machine_alias_and_hex_forms_are_equivalent():
    desired = replace(DESIRED, "<memory unit='MiB'>512</memory>", "<memory unit='KiB'>524288</memory>")
    desired = replace(desired, "devno='0x1000'", "devno='0x1000'".upper().replace("DEVNO", "devno"))
    desired = replace(desired, "machine='s390-ccw-virtio'", "machine='s390-ccw-virtio-7.2'")
    assert not dx.compare(desired, STORED).changed
    other = replace(DESIRED, "machine='s390-ccw-virtio'", "machine='s390-ccw-virtio-7.1'")
    assert paths(dx.compare(other, STORED)) == ["domain/os/type/@machine"]
    bigger = replace(DESIRED, "<memory unit='MiB'>512</memory>", "<memory unit='GiB'>1</memory>")
    assert dx.compare(bigger, STORED).changes == [
        {"path": "domain/memory/text()", "before": "524288", "after": "1048576"}]


def test_devno_change_is_a_change_and_matched_by_identity():
    desired = replace(DESIRED, "devno='0x1000'", "devno='0x1001'")
    assert paths(dx.compare(desired, STORED)) == ["domain/devices/disk[vda]/address/@devno"]


def test_new_domain():
    result = dx.compare(DESIRED, None)
    assert result.changed and result.before == "" and "<name>allkinds</name>" in result.after


def test_carry_over_keeps_generated_mac_devno_and_uuid():
    desired = replace(LIVE_DESIRED, "<mac address='52:54:00:AA:00:01'/>", "")
    merged = dx.carry_over(desired, LIVE)
    assert merged.findtext("uuid") == "5a390b1e-0000-4000-8000-000000000001"
    iface = merged.find("./devices/interface")
    assert iface.find("mac").get("address") == "52:54:00:aa:00:01"
    assert dx.hex_devno(iface) == "0x0000"


def test_carry_over_does_not_reuse_a_devno_the_desired_xml_gives_away():
    desired = replace(LIVE_DESIRED, "devno='0x1'", "devno='0x0'")     # the disk now takes the NIC's devno
    merged = dx.carry_over(desired, LIVE)
    assert merged.find("./devices/interface/address") is None
    assert dx.hex_devno(merged.find("./devices/disk")) == "0x0000"


def test_device_keys():
    root = dx.parse(STORED)
    keys = [dx.device_key(d) for d in root.find("devices")]
    assert "disk[vda]" in keys and "filesystem[share]" in keys and "interface[52:54:00:00:00:02]" in keys
    assert "hostdev[mdev:90c6c135-ad44-41d0-b1b7-bae47de48627]" in keys
    assert "controller[scsi:0]" in keys


def test_bad_xml():
    with pytest.raises(dx.DomainXMLError, match="does not parse"):
        dx.compare("<domain>", None)
    with pytest.raises(dx.DomainXMLError, match="expected <domain>"):
        dx.parse("<network/>")
    with pytest.raises(dx.DomainXMLError, match="no <name>"):
        dx.domain_name("<domain/>")


def test_describe_devices_passthrough_and_blockers():
    info = ddesc.describe_domain(STORED, qemu_version=7002000)
    by_key = dict((d["key"], d) for d in info["devices"])
    assert by_key["disk[vda]"]["backing_kind"] == "image"
    assert by_key["disk[vda]"]["guest_bus_id"] == "0.0.1000"
    assert by_key["disk[sda]"]["device"] == "cdrom" and by_key["disk[sda]"]["readonly"]
    assert by_key["interface[52:54:00:00:00:02]"]["backing_kind"] == "macvtap"
    assert by_key["filesystem[share]"]["backing"] == "/tmp/gx/share"
    models = sorted(p["model"] for p in info["passthrough"])
    assert models == ["scsi", "vfio-ap", "vfio-ccw", "vfio-pci"]
    zpci = [p for p in info["passthrough"] if p["model"] == "vfio-pci"][0]
    assert zpci["zpci"] == {"uid": "0x0001", "fid": "0x00000010"}
    blocked = sorted(b["device"] for b in info["migration_blockers"])
    assert blocked == sorted([
        "filesystem[share]", "hostdev[mdev:90c6c135-ad44-41d0-b1b7-bae47de48627]",
        "hostdev[mdev:a0c6c135-ad44-41d0-b1b7-bae47de48627]", "hostdev[pci:0x0000:0x00:0x00.0x0]",
        "hostdev[scsi:scsi_host0:0:1:0]"])
    assert any("QEMU 7.2.0" in b["reason"] for b in info["migration_blockers"])


def test_emulated_zpci_nic_blocks_migration():
    xml = replace(LIVE_DESIRED, "</devices>", "<interface type='ethernet'><model type='virtio'/><rom enabled='no'/>"
                  "<address type='pci'><zpci uid='0x0005' fid='0x0000000a'/></address></interface></devices>")
    blockers = ddesc.describe_domain(xml)["migration_blockers"]
    assert [b["device"] for b in blockers] == ["interface[zpci:0x0005]"]
    assert "non-migratable device: zpci" in blockers[0]["reason"]


@pytest.mark.parametrize("value, unit, kib", [
    ("1", "GiB", 1048576), ("1", "G", 1048576), ("512", "MiB", 524288), ("1000", "KB", 977), ("1", "bytes", 1),
])
def test_to_kib(value, unit, kib):
    assert dx.to_kib(value, unit) == kib


# What libvirt 9.0 stored (virsh dumpxml --inactive) for user-written XML the role never renders.
# Every one ends with the devices libvirt adds on s390x (audio, a balloon at the next free devno, panic).
LIBVIRT_TAIL = """    <audio id='1' type='none'/>
    <memballoon model='virtio'><address type='ccw' cssid='0xfe' ssid='0x0' devno='%s'/></memballoon>
    <panic model='s390'/>
  </devices>
</domain>"""
TWO_NICS_STORED = """<domain type='qemu'>
  <name>nics</name>
  <uuid>67c9394e-1a9e-413e-97b7-ded5d98fe14d</uuid>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='s390x' machine='s390-ccw-virtio-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    <controller type='pci' index='0' model='pci-root'/>
    <interface type='bridge'>
      <mac address='52:54:00:72:94:d9'/><source bridge='br0'/><model type='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:58:3a:55'/><source bridge='br1'/><model type='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>
    </interface>
""" + LIBVIRT_TAIL % "0x0002"

NIC = "<interface type='bridge'><source bridge='%s'/><model type='virtio'/></interface>"
USER_XML = """<domain type='qemu'><name>%s</name>%s<memory unit='MiB'>256</memory>%s
<os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os><devices>%s</devices></domain>"""


def test_removing_a_nic_without_mac_keeps_the_other_nics_mac_and_devno():
    desired = USER_XML % ("nics", "", "", NIC % "br1")
    result = dx.compare(desired, TWO_NICS_STORED)
    # by position the br1 NIC would pair with br0's: a bridge change plus a removal, and br0's MAC
    assert result.changes == [{"path": "domain/devices/interface[52:54:00:72:94:d9]", "before": "present",
                               "after": "removed"}]
    merged = dx.carry_over(desired, TWO_NICS_STORED)
    assert merged.find("./devices/interface/mac").get("address") == "52:54:00:58:3a:55"
    assert dx.hex_devno(merged.find("./devices/interface")) == "0x0001"


def test_nics_without_mac_in_another_order_are_no_change():
    desired = USER_XML % ("nics", "", "", NIC % "br1" + NIC % "br0")
    assert not dx.compare(desired, TWO_NICS_STORED).changed
    changed = USER_XML % ("nics", "", "", NIC % "br0" + NIC % "br2")
    assert dx.compare(changed, TWO_NICS_STORED).changes == [
        {"path": "domain/devices/interface/source/@bridge", "before": "br1", "after": "br2"}]


@pytest.mark.parametrize("written", [
    "67C9394E-1A9E-413E-97B7-DED5D98FE14D", "67c9394e1a9e413e97b7ded5d98fe14d", " 67c9394e-1a9e-413e-97b7-ded5d98fe14d "])
def test_uuid_in_any_case_or_without_dashes_is_no_change(written):
    desired = USER_XML % ("nics", "<uuid>%s</uuid>" % written, "", NIC % "br0" + NIC % "br1")
    assert not dx.compare(desired, TWO_NICS_STORED).changed
    other = USER_XML % ("nics", "<uuid>67c9394e-1a9e-413e-97b7-ded5d98fe14e</uuid>", "", NIC % "br0" + NIC % "br1")
    assert [c["path"] for c in dx.compare(other, TWO_NICS_STORED).changes] == ["domain/uuid/text()"]


VIRTIO_CONSOLE_STORED = """<domain type='qemu'>
  <name>vcon</name>
  <uuid>4f97e7d5-3a2b-4a59-9f73-0b46beca528c</uuid>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='auto'>1</vcpu>
  <numatune>
    <memory mode='strict' placement='auto'/>
  </numatune>
  <os><type arch='s390x' machine='s390-ccw-virtio-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='virtio-serial' index='0'>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/>
    </controller>
    <console type='pty'><target type='virtio' port='0'/></console>
""" + LIBVIRT_TAIL % "0x0001"


def test_virtio_console_bus_and_numatune_implied_by_vcpu_placement_are_no_change():
    desired = USER_XML % ("vcon", "", "<vcpu placement='auto'>1</vcpu>",
                          "<console type='pty'><target type='virtio'/></console>")
    result = dx.compare(desired, VIRTIO_CONSOLE_STORED)
    assert not result.changed, result.unified_diff()
    # a numatune the user wrote and then dropped is still a removal
    static = replace(VIRTIO_CONSOLE_STORED, "placement='auto'>1", "placement='static'>1")
    desired = replace(desired, "placement='auto'", "placement='static'")
    assert [c["path"] for c in dx.compare(desired, static).changes] == ["domain/numatune"]


METADATA = """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>meta</name>
<metadata><app:foo xmlns:app='http://example.org/app'><app:bar a='%s'>x</app:bar></app:foo></metadata>
<memory unit='MiB'>256</memory><os><type arch='s390x'>hvm</type></os>
<qemu:commandline><qemu:arg value='-no-user-config'/></qemu:commandline></domain>"""


def test_foreign_namespaces_are_written_back_with_their_prefixes():
    text = dx.to_text(dx.parse(METADATA % "1"))
    # ElementTree alone writes {http://example.org/app}foo, which libvirt refuses to parse
    assert "<app:foo xmlns:app='http://example.org/app'>" in text and "<app:bar a='1'>x</app:bar>" in text
    assert "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>" in text
    assert dx.parse(text).find("metadata/{http://example.org/app}foo/{http://example.org/app}bar") is not None
    # libvirt 9.0 stores metadata with double quotes and the qemu namespace on <domain>
    stored = (METADATA % "1").replace("<app:foo xmlns:app='http://example.org/app'>",
                                      '<app:foo xmlns:app="http://example.org/app">')
    assert not dx.compare(METADATA % "1", stored).changed
    assert dx.compare(METADATA % "2", stored).changes == [
        {"path": "domain/metadata/app:foo/app:bar/@a", "before": "1", "after": "2"}]


def test_empty_xml_says_so():
    with pytest.raises(dx.DomainXMLError, match="empty"):
        dx.parse("  ")


TWO_CONSOLES_STORED = """<domain type='qemu'><name>cc</name><uuid>4f97e7d5-3a2b-4a59-9f73-0b46beca528c</uuid>
  <memory unit='KiB'>262144</memory><currentMemory unit='KiB'>262144</currentMemory>
  <memtune><hard_limit unit='KiB'>524288</hard_limit></memtune>
  <os><type arch='s390x' machine='s390-ccw-virtio-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    <controller type='pci' index='0' model='pci-root'/>
    <interface type='bridge'>
      <mac address='52:54:00:72:94:d9'/><source bridge='br0'/><model type='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>
    </interface>
    <serial type='pty'><target type='sclp-serial' port='0'><model name='sclpconsole'/></target></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <console type='pty'><target type='sclplm' port='1'/></console>
""" + LIBVIRT_TAIL % "0x0000"


def test_console_ports_libvirt_numbers_reserved_tap_names_and_memtune_units_are_no_change():
    desired = USER_XML % (
        "cc", "", "<memtune><hard_limit unit='MiB'>512</hard_limit></memtune>",
        "<interface type='bridge'><source bridge='br0'/><target dev='vnet7'/><model type='virtio'/></interface>"
        "<console type='pty'/><console type='pty'><target type='sclplm'/></console>")
    result = dx.compare(desired, TWO_CONSOLES_STORED)
    assert not result.changed, result.unified_diff()
    dropped = replace(desired, "<console type='pty'><target type='sclplm'/></console>", "")
    assert [c["path"] for c in dx.compare(dropped, TWO_CONSOLES_STORED).changes] == ["domain/devices/console[port:1]"]
    own_tap = replace(desired, "vnet7", "gx-tap0")
    assert [c["path"] for c in dx.compare(own_tap, TWO_CONSOLES_STORED).changes] == [
        "domain/devices/interface/target"]


BLOCKER_DEVICES = """
<disk type='file' device='disk'><driver name='qemu' type='qcow2' iothread='1'/><source file='/local/a.qcow2'/>
  <target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/><source file='/nfs/b.raw'/>
  <target dev='vdb' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/local/ro.raw'/><target dev='vdc' bus='virtio'/><readonly/></disk>
<disk type='file' device='disk'><source file='/local/shared.raw'/><target dev='vdd' bus='virtio'/><shareable/></disk>
<disk type='block' device='disk'><source dev='/dev/disk/by-path/ccw-0.0.e714'/><target dev='vde' bus='virtio'/></disk>
<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/></disk>
<filesystem type='mount' accessmode='mapped'><source dir='/srv'/><target dir='nine'/></filesystem>
<hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.5123456789abcde0'/></hostdev>
"""


def test_local_disk_images_vhost_scsi_and_9p_block_migration():
    xml = USER_XML % ("blk", "", "", BLOCKER_DEVICES)
    mounts = {"/local": "ext4", "/nfs": "nfs4"}

    def fs_type_of(path):
        return mounts["/" + path.split("/")[1]]

    info = ddesc.describe_domain(xml, fs_type_of=fs_type_of)
    reasons = dict((b["device"], b["reason"]) for b in info["migration_blockers"])
    assert sorted(reasons) == ["disk[vda]", "filesystem[nine]", "hostdev[vhost:naa.5123456789abcde0]"], reasons
    assert "local disk image /local/a.qcow2 on ext4" in reasons["disk[vda]"]
    assert "after removing its iothread" in reasons["disk[vda]"]
    assert "virtio-9p" in reasons["filesystem[nine]"]
    assert [p["model"] for p in info["passthrough"]] == ["vhost-scsi"]
    # without knowing the host's mounts (a remote libvirt) disk images are not judged
    assert "disk[vda]" not in [b["device"] for b in ddesc.describe_domain(xml)["migration_blockers"]]


@pytest.mark.parametrize("written, stored", [
    ("devno='0x1'", "devno='0x0001'"), ("devno='1'", "devno='0x0001'"), ("devno='0X000A'", "devno='0x000a'"),
    ("devno='0010'", "devno='0x0008'"),           # libvirt 9.0 stored 0x0008: strtoul base 0 reads octal
    ("ssid='00'", "ssid='0x0'"), ("cssid='254'", "cssid='0xfe'"),
])
def test_ccw_numbers_are_read_as_libvirt_reads_them(written, stored):
    attrs = {"cssid": "cssid='0xfe'", "ssid": "ssid='0x0'", "devno": "devno='0x0001'"}
    attrs[written.split("=")[0]] = written
    xml = ("<domain><name>n</name><devices><disk><target dev='vda'/><address type='ccw' %s/></disk></devices>"
           "</domain>" % " ".join(attrs[k] for k in ("cssid", "ssid", "devno")))
    assert stored in dx.to_text(dx.normalize(xml))


def test_drive_numbers_are_decimal():
    root = dx.normalize("<domain><name>n</name><devices><disk><target dev='sda'/>"
                        "<address type='drive' controller='0' bus='0' target='0' unit='010'/></disk></devices></domain>")
    assert root.find("./devices/disk/address").get("unit") == "10"      # what libvirt 9.0 stored


def test_dropping_a_whole_driver_or_a_cdrom_source_is_a_change():
    # libvirt 9.0 kept cache='writeback' io='threads' when <driver> was left out, and nothing was reported
    with_driver = replace(DESIRED, "cache='none' io='native' iothread='1'", "cache='writeback' io='threads'")
    stored = replace(STORED, "cache='none' io='native' iothread='1'", "cache='writeback' io='threads'")
    assert not dx.compare(with_driver, stored).changed
    start = with_driver.index("<driver name='qemu' type='raw' cache='writeback'")
    without = with_driver[:start] + with_driver[with_driver.index("/>", start) + 2:]
    result = dx.compare(without, stored)
    assert [c["path"] for c in result.changes] == ["domain/devices/disk[vda]/driver"]
    assert "-      <driver cache='writeback' io='threads'/>" in result.unified_diff()
    cdrom = dx.parse(STORED).find("./devices/disk[@device='cdrom']")
    assert cdrom.find("source") is not None
    ejected = re.sub(r"<source file='[^']*iso'[^>]*/>", "", DESIRED)
    assert "domain/devices/disk[sda]/source" in [c["path"] for c in dx.compare(ejected, STORED).changes]


@pytest.mark.parametrize("mode, check", [("host-model", "partial"), ("host-passthrough", "none")])
def test_cpu_model_fallback_without_a_name_is_no_change(mode, check):
    stored = replace(TWO_NICS_STORED, "<os>", "<cpu mode='%s' check='%s'/><os>" % (mode, check))
    desired = USER_XML % ("nics", "", "<cpu mode='%s'><model fallback='allow'/></cpu>" % mode, NIC % "br0" + NIC % "br1")
    assert not dx.compare(desired, stored).changed


HBA_STORED = """<domain type='qemu'><name>hba</name><uuid>4f97e7d5-3a2b-4a59-9f73-0b46beca528c</uuid>
  <memory unit='KiB'>262144</memory><os><type arch='s390x' machine='s390-ccw-virtio-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
    <disk type='file' device='disk'><source file='/b'/><target dev='vdb' bus='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0002'/></controller>
    <controller type='pci' index='0' model='pci-root'/>
""" + LIBVIRT_TAIL % "0x0003"
VDB = "<disk type='file'><source file='/b'/><target dev='vdb' bus='virtio'/></disk>"
CDROM = "<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/></disk>"


def test_devices_libvirt_adds_keep_their_devnos_when_a_device_before_them_goes():
    # libvirt 9.0 moved the SCSI HBA from 0x0002 to 0x0000 (and the balloon to 0x0002) when vda went
    merged = dx.carry_over(USER_XML % ("hba", "", "", VDB + CDROM), HBA_STORED)
    devnos = dict((dx.identity_key(d) or d.tag, dx.hex_devno(d)) for d in merged.find("devices"))
    assert devnos["scsi:0"] == "0x0002" and devnos["memballoon"] == "0x0003"
    assert devnos["vdb"] == "0x0001"
    # without a SCSI device libvirt adds no HBA, so none is carried over
    merged = dx.carry_over(USER_XML % ("hba", "", "", VDB), HBA_STORED)
    assert "controller[scsi:0]" not in [dx.device_key(d) for d in merged.find("devices")]


ZPCI_STORED = """<domain type='qemu'><name>zp</name><memory unit='KiB'>262144</memory>
  <os><type arch='s390x' machine='s390-ccw-virtio-7.2'>hvm</type></os>
  <devices>
    <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/><model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'><zpci uid='0x0001' fid='0x00000000'/>
      </address></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'><zpci uid='0x0002' fid='0x00000001'/>
      </address></interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0001' bus='0x00' slot='0x00' function='0x0'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'><zpci uid='0x0003' fid='0x00000002'/>
      </address></hostdev>
""" + LIBVIRT_TAIL % "0x0000"
ZPCI_NIC = ("<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/>"
            "<address type='pci'/></interface>")
ZPCI_HOSTDEV = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0001' bus='0x00' "
                "slot='0x00' function='0x0'/></source>%s</hostdev>")


@pytest.mark.parametrize("hostdev_address", ["<address type='pci'/>", ""])
def test_zpci_uid_fid_and_slot_libvirt_chose_are_kept(hostdev_address):
    # libvirt 9.0 gave the second NIC uid 0x0001 and the hostdev uid 0x0002 once the first NIC went
    merged = dx.carry_over(USER_XML % ("zp", "", "", ZPCI_NIC + ZPCI_HOSTDEV % hostdev_address), ZPCI_STORED)
    zpci = [(d.find("address").get("slot"), dict(d.find("address/zpci").attrib)) for d in merged.find("devices")
            if d.find("address") is not None and d.find("address").get("type") == "pci"]
    assert zpci == [("0x02", {"uid": "0x0002", "fid": "0x00000001"}), ("0x03", {"uid": "0x0003", "fid": "0x00000002"})]
    # a uid the desired XML gives to another device is not handed out twice
    taken = ZPCI_NIC + ZPCI_HOSTDEV % "<address type='pci'><zpci uid='0x0002'/></address>"
    merged = dx.carry_over(USER_XML % ("zp", "", "", taken), ZPCI_STORED)
    assert merged.find("./devices/interface/address/zpci").get("uid") is None
    assert merged.find("./devices/interface/address/zpci").get("fid") == "0x00000001"


def test_metadata_of_other_applications_survives_a_redefine():
    stored = replace(METADATA % "1", "</app:foo>", "</app:foo><nova:instance xmlns:nova='http://openstack.org/"
                                                   "xmlns/libvirt/nova/1.0'><nova:name>vm1</nova:name></nova:instance>")
    assert not dx.compare(METADATA % "1", stored).changed          # not ours to compare
    merged = dx.to_text(dx.carry_over(METADATA % "2", stored))
    assert "<app:bar a='2'>x</app:bar>" in merged and "<app:bar a='1'>" not in merged
    assert "<nova:name>vm1</nova:name>" in merged
    bare = re.sub(r"<metadata>.*</metadata>", "", METADATA % "1", flags=re.S)
    assert "<nova:name>vm1</nova:name>" in dx.to_text(dx.carry_over(bare, stored))


# --------------------------------------------------------------------------------------------
# What other distributions' libvirt stores (the stacks issue): machine versions, passt, port IDs,
# and whether a running domain runs its definition.
# --------------------------------------------------------------------------------------------

class Defaults(dx.HostDefaults):
    """A host's answers as ConnectionDefaults gives them, counted."""

    def __init__(self, machines=None, backends=None):
        self._machines, self._backends = machines, backends
        self.asked = []

    def machines(self, arch):
        self.asked.append(("machines", arch))
        return self._machines

    def user_net_backends(self, arch, machine, virt_type):
        self.asked.append(("backends", arch, machine, virt_type))
        return self._backends


# `virsh capabilities` on RHEL 9: the alias stands for the distribution's version
# (terraform-provider-libvirt, libvirt/domain_def.go getCanonicalMachineName: "<machine
# canonical='s390-ccw-virtio-rhel9.0.0' maxCpus='248'>s390-ccw-virtio</machine>").
RHEL_MACHINES = {"s390-ccw-virtio": "s390-ccw-virtio-rhel9.6.0", "s390-ccw-virtio-rhel9.6.0": None,
                 "s390-ccw-virtio-rhel9.4.0": None, "s390-ccw-virtio-rhel8.6.0": None}


@pytest.mark.parametrize("stored", ["s390-ccw-virtio-rhel9.6.0", "s390-ccw-virtio-rhel8.6.0", "s390-ccw-virtio-10.0",
                                    "s390-ccw-virtio-noble", "s390-ccw-virtio-7.2"])
def test_a_stored_version_of_the_desired_alias_is_no_change(stored):
    on_host = replace(STORED, "machine='s390-ccw-virtio-7.2'", "machine='%s'" % stored)
    assert not dx.compare(DESIRED, on_host).changed                      # by QEMU's names alone
    defaults = Defaults(RHEL_MACHINES)
    assert not dx.compare(DESIRED, on_host, defaults).changed
    assert defaults.asked == [("machines", "s390x")]


def test_an_alias_matches_its_canonical_machine_whatever_it_is_called():
    machines = {"q35": "pc-q35-9.2", "pc-q35-9.2": None}
    assert dx.machine_matches("q35", "pc-q35-9.2", machines)
    assert not dx.machine_matches("q35", "pc-q35-9.2")                  # names alone cannot know
    assert not dx.machine_matches("q35", "pc-i440fx-9.2", machines)


@pytest.mark.parametrize("desired, stored", [
    ("s390-ccw-virtio-rhel8.6.0", "s390-ccw-virtio-rhel9.6.0"),
    ("s390-ccw-virtio-rhel9.6.0", "s390-ccw-virtio-rhel8.6.0"),
    ("s390-ccw-virtio-7.2", "s390-ccw-virtio-8.2"),
])
def test_a_guest_pinned_to_a_machine_stays_pinned(desired, stored):
    for machines in (None, RHEL_MACHINES):
        assert not dx.machine_matches(desired, stored, machines)
    pinned = replace(DESIRED, "machine='s390-ccw-virtio'", "machine='%s'" % desired)
    on_host = replace(STORED, "machine='s390-ccw-virtio-7.2'", "machine='%s'" % stored)
    assert paths(dx.compare(pinned, on_host, Defaults(RHEL_MACHINES))) == ["domain/os/type/@machine"]


def test_the_same_machine_asks_the_host_nothing():
    defaults = Defaults(RHEL_MACHINES)
    same = replace(DESIRED, "machine='s390-ccw-virtio'", "machine='s390-ccw-virtio-7.2'")
    assert not dx.compare(same, STORED, defaults).changed and defaults.asked == []


USER_NIC = "<interface type='user'><model type='virtio'/></interface>"
PASST_NIC = ("<interface type='user'><mac address='52:54:00:0e:1f:01'/><model type='virtio'/><backend type='passt'/>"
             "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0007'/></interface>")
NIC_DOMAIN = """<domain type='kvm'><name>n</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>
<os><type arch='s390x' machine='%s'>hvm</type></os><devices>%s</devices></domain>"""


def test_passt_libvirt_gives_a_user_nic_without_slirp_is_no_change():
    desired = NIC_DOMAIN % ("s390-ccw-virtio", USER_NIC)
    stored = NIC_DOMAIN % ("s390-ccw-virtio-rhel9.6.0", PASST_NIC)
    no_slirp = Defaults(RHEL_MACHINES, backends={"passt"})
    assert not dx.compare(desired, stored, no_slirp).changed
    assert ("backends", "s390x", "s390-ccw-virtio-rhel9.6.0", "kvm") in no_slirp.asked
    # where QEMU has SLIRP (or the host cannot say), a stored passt backend was the user's: removing it is a change
    for host in (Defaults(RHEL_MACHINES, backends={"default", "passt"}), Defaults(RHEL_MACHINES), None):
        assert paths(dx.compare(desired, stored, host)) == ["domain/devices/interface/backend"]
    # a passt backend with options of its own is never libvirt's
    tuned = stored.replace("<backend type='passt'/>", "<backend type='passt' logFile='/tmp/p.log'/>")
    assert dx.compare(desired, tuned, no_slirp).changed


OVS_NIC = ("<interface type='bridge'><source bridge='ovsbr0'/><virtualport type='openvswitch'%s/>"
           "<model type='virtio'/></interface>")
OVS_STORED = ("<interface type='bridge'><mac address='52:54:00:0e:1f:02'/><source bridge='ovsbr0'/>"
              "<virtualport type='openvswitch'><parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>"
              "</virtualport><model type='virtio'/>"
              "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></interface>")


def test_the_interfaceid_libvirt_generated_is_kept_on_a_redefine():
    desired = NIC_DOMAIN % ("s390-ccw-virtio", OVS_NIC % "")
    stored = NIC_DOMAIN % ("s390-ccw-virtio-7.2", OVS_STORED)
    assert not dx.compare(desired, stored).changed
    bigger = desired.replace("524288", "1048576")
    port = dx.carry_over(bigger, stored).find("./devices/interface/virtualport")
    assert port.find("parameters").attrib == {"interfaceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}
    # the user's own parameters stay, and get the generated ID beside them
    with_profile = (NIC_DOMAIN % ("s390-ccw-virtio", OVS_NIC % "")).replace(
        "<virtualport type='openvswitch'/>",
        "<virtualport type='openvswitch'><parameters profileid='web'/></virtualport>")
    port = dx.carry_over(with_profile, stored).find("./devices/interface/virtualport/parameters")
    assert port.attrib == {"profileid": "web", "interfaceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"}
    # an ID the user gives wins, and a port of another type takes nothing
    own = desired.replace("<virtualport type='openvswitch'/>",
                          "<virtualport type='openvswitch'><parameters interfaceid='1-2'/></virtualport>")
    assert dx.carry_over(own, stored).find(".//parameters").get("interfaceid") == "1-2"
    other = desired.replace("type='openvswitch'", "type='802.1Qbh'")
    assert dx.carry_over(other, stored).find(".//parameters") is None


def test_a_running_guest_that_runs_its_definition_differs_in_nothing():
    defined = STORED
    assert dx.compare_running(defined, defined) == []
    assert dx.compare_running(fixture("s390tcg.libvirt-9.0-live.xml").replace(" id='1'", ""),
                              fixture("s390tcg.libvirt-9.0-live.xml")) == []


def test_a_running_guest_differs_from_a_definition_changed_since_it_started():
    live = fixture("s390tcg.libvirt-9.0-live.xml")
    defined = replace(live, "<memory unit='KiB'>786432</memory>", "<memory unit='KiB'>1048576</memory>")
    assert [c["path"] for c in dx.compare_running(defined, live)] == ["domain/memory/text()"]
    # what only a running domain has is not a difference: the balloon, a host-model CPU's expansion,
    # a graphics port chosen at start
    ballooned = replace(live, "<currentMemory unit='KiB'>786432</currentMemory>",
                        "<currentMemory unit='KiB'>524288</currentMemory>")
    assert dx.compare_running(live, ballooned) == []
    host_model = replace(live, """<cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu</model>
  </cpu>""", "<cpu mode='host-model' check='partial'/>")
    assert dx.compare_running(host_model, live) == []
    vnc = "<graphics type='vnc' port='%s' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>"
    with_vnc = live.replace("</devices>", vnc % "-1" + "</devices>")
    assert dx.compare_running(with_vnc, live.replace("</devices>", vnc % "5900" + "</devices>")) == []
