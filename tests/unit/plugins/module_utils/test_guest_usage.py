"""module_utils/guest_usage.py: which guests use which devices, read from libvirt's definition
files (/etc/libvirt/qemu/<name>.xml, <domain>) and status files (/run/libvirt/qemu/<name>.xml,
<domstatus> around the live <domain>)."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.guest_usage import device_users, hostdev_owners
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS

from tests.unit.helpers import add_running_guest

MDEV = "3D2F4C8A-1B6E-4E0A-9F5D-0C7A2B3E4F51"
CCW_HOSTDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source>"
               "<address uuid='%s'/></source></hostdev>" % MDEV)
PCI_HOSTDEV = ("<hostdev mode='subsystem' type='pci' managed='yes'><source>"
               "<address domain='0x0010' bus='0x00' slot='0x00' function='0x0'/></source></hostdev>")
DISK = "<disk type='block' device='disk'><source dev='/dev/disk/by-path/ccw-0.0.0105'/><target dev='vda'/></disk>"


def define_guest(root, name, devices):
    path = root / "etc/libvirt/qemu"
    path.mkdir(parents=True, exist_ok=True)
    (path / (name + ".xml")).write_text("<domain type='kvm'><name>%s</name><devices>%s</devices></domain>" % (name, devices))


@pytest.fixture
def tree(tmp_path):
    define_guest(tmp_path, "db1", CCW_HOSTDEV + DISK)
    define_guest(tmp_path, "web1", PCI_HOSTDEV)
    add_running_guest(str(tmp_path), "web1", PCI_HOSTDEV + DISK)   # the live XML differs from the definition
    return tmp_path


def test_device_users_keys_and_running_flags(tree):
    users = device_users(HostFS(str(tree)))
    assert users == {
        "mdev:" + MDEV.lower(): [{"guest": "db1", "running": False}],
        "pci:0010:00:00.0": [{"guest": "web1", "running": True}],
        "block:/dev/disk/by-path/ccw-0.0.0105": [{"guest": "web1", "running": True}, {"guest": "db1", "running": False}],
    }


def test_a_running_guest_is_read_from_its_status_file_only(tree):
    # web1's definition alone would not list the disk; its live XML does, and it is listed once
    users = device_users(HostFS(str(tree)))
    assert [e["guest"] for e in users["pci:0010:00:00.0"]] == ["web1"]


def test_hostdev_owners_leaves_out_disks(tree):
    assert hostdev_owners(HostFS(str(tree))) == {"mdev:" + MDEV.lower(): ["db1"], "pci:0010:00:00.0": ["web1"]}


def test_broken_and_foreign_files_are_skipped(tmp_path):
    define_guest(tmp_path, "ok", PCI_HOSTDEV)
    (tmp_path / "etc/libvirt/qemu/broken.xml").write_text("<domain><name>broken")
    (tmp_path / "etc/libvirt/qemu/notes.txt").write_text("<domain/>")
    (tmp_path / "etc/libvirt/qemu/other.xml").write_text("<network><name>default</name></network>")
    define_guest(tmp_path, "bad-address", "<hostdev type='pci'><source><address domain='zz'/></source></hostdev>"
                                          "<hostdev type='mdev'><source/></hostdev>")
    assert device_users(HostFS(str(tmp_path))) == {"pci:0010:00:00.0": [{"guest": "ok", "running": False}]}


def test_a_domain_without_a_name_is_named_after_its_file(tmp_path):
    (tmp_path / "etc/libvirt/qemu").mkdir(parents=True)
    (tmp_path / "etc/libvirt/qemu/anon.xml").write_text("<domain><devices>%s</devices></domain>" % PCI_HOSTDEV)
    assert hostdev_owners(HostFS(str(tmp_path))) == {"pci:0010:00:00.0": ["anon"]}


def test_no_libvirt_files_no_users(tmp_path):
    assert device_users(HostFS(str(tmp_path))) == {}
