"""The <hostdev> of each pass-through kind (libvirt formatdomain; IBM KVM on Z addresses)."""

import xml.etree.ElementTree as ET

from ansible_collections.s390x.kvm.plugins.module_utils._vfio import hostdev

UUID = "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"


def test_vfio_ccw_with_the_guest_device_number():
    assert hostdev.vfio_ccw_hostdev(UUID, 1, 0x300) == (
        "<hostdev mode='subsystem' type='mdev' model='vfio-ccw'>\n"
        "  <source>\n"
        "    <address uuid='%s'/>\n"
        "  </source>\n"
        "  <address type='ccw' cssid='0xfe' ssid='0x1' devno='0x0300'/>\n"
        "</hostdev>" % UUID)


def test_vfio_ccw_boot_device_without_an_address():
    root = ET.fromstring(hostdev.vfio_ccw_hostdev(UUID, boot_order=1, loadparm="PROD"))
    assert root.find("boot").attrib == {"order": "1", "loadparm": "PROD"} and root.find("address") is None


def test_vfio_ap_has_no_guest_address():
    root = ET.fromstring(hostdev.vfio_ap_hostdev(UUID))
    assert root.get("model") == "vfio-ap" and root.find("source/address").get("uuid") == UUID
    assert root.find("address") is None


def test_vfio_pci_with_uid_and_fid():
    text = hostdev.vfio_pci_hostdev("0005:00:1f.3", 0x10, 0x20)
    assert "<zpci uid='0x0010' fid='0x00000020'/>" in text
    root = ET.fromstring(text)
    assert root.get("managed") == "no" and root.find("driver").get("name") == "vfio"
    assert root.find("source/address").attrib == {"domain": "0x0005", "bus": "0x00", "slot": "0x1f", "function": "0x3"}


def test_vfio_pci_without_uid_lets_libvirt_choose_it():
    text = hostdev.vfio_pci_hostdev("0000:00:00.0", None, 0x10, managed=True)
    assert "<zpci fid='0x00000010'/>" in text and "managed='yes'" in text


def test_vfio_pci_without_uid_and_fid():
    assert "<address type='pci'/>" in hostdev.vfio_pci_hostdev("0000:00:00.0")
