# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_device_render: the guest role's entries become the device XML the role would write, with CCW
device numbers that avoid the guest's own and errors that name devices[N]."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx
from ansible_collections.s390x.kvm.plugins.plugin_utils._device_render import DeviceEntryError, render_devices

EXISTING = """<domain type='qemu'><name>web1</name><devices>
<disk type='file' device='disk'><source file='/img/a.qcow2'/><target dev='vda' bus='virtio'/>
<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/><model type='virtio'/>
<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></interface></devices></domain>"""
UUID = "8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f"


def test_entries_render_as_the_role_renders_them():
    xml = render_devices([
        {"type": "disk", "name": "vdb", "kind": "image", "path": "/img/b.qcow2"},
        {"type": "interface", "kind": "bridge", "source": "br0", "transport": "pci", "zpci_uid": 7, "zpci_fid": 23},
        {"type": "hostdev", "kind": "vfio-ccw", "uuid": UUID, "devno": "0x0100"},
    ], "web1", "qemu", EXISTING)
    disk, nic, hostdev = (dx.parse_device(text) for text in xml)
    assert dx.device_key(disk) == "disk[vdb]" and disk.find("source").get("file") == "/img/b.qcow2"
    assert disk.find("address").get("devno") not in ("0x0000", "0x0001")     # the guest's own are taken
    assert nic.find("./address/zpci").get("uid") == "0x0007" and nic.find("mac").get("address").startswith("52:54:00")
    assert dx.device_key(hostdev) == "hostdev[mdev:%s]" % UUID and hostdev.find("address").get("devno") == "0x0100"
    # the same entry gives the same device (MAC) again: a detach finds what an attach added
    again = render_devices([{"type": "interface", "kind": "bridge", "source": "br0", "transport": "pci",
                             "zpci_uid": 7, "zpci_fid": 23}], "web1", "qemu", EXISTING)
    assert dx.device_key(dx.parse_device(again[0])) == dx.device_key(nic)


@pytest.mark.parametrize("entries, message", [
    ([{"type": "nic"}], r"devices\[0\].type must be one of disk, filesystem, hostdev, interface, got 'nic'"),
    ([{"type": "disk", "name": "vdb", "kind": "image", "path": "/img/b.qcow2"},
      {"type": "disk", "name": "vdc", "kind": "image", "path": "/img/c.qcow2", "devno": "0x10000"}],
     r"devices\[1\].devno"),
    ("vdb", "devices must be a list"),
])
def test_errors_name_the_entry(entries, message):
    with pytest.raises(DeviceEntryError, match=message):
        render_devices(entries, "web1", "qemu", EXISTING)
