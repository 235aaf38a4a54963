"""module_utils/zpci.py: FunctionSelector's option parsing and ZpciDiscovery on the small KVM host
(tests/fixtures/hosts/small_kvm_host.yml: fid 0x10 a Mellanox NIC, fid 0x20 an NVMe SSD; the
attribute formats are arch/s390/pci/pci_sysfs.c's)."""

import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS
from ansible_collections.s390x.kvm.plugins.module_utils.zpci import FunctionSelector, ZpciDiscovery

NIC = {"fid": 0x10, "uid": 0x10, "address": "0010:00:00.0"}
NVME = {"fid": 0x20, "uid": 0x20, "address": "0020:00:00.0"}


@pytest.fixture(scope="module")
def small(host_tree):
    return host_tree("small_kvm_host")


def test_empty_selector_selects_everything():
    selector = FunctionSelector()
    assert selector.everything and selector.matches(NIC) and selector.matches(NVME)


@pytest.mark.parametrize("kwargs", [{"fids": ["0x10"]}, {"fids": ["10"]}, {"fids": ["0x00000010"]}, {"uids": ["0x10"]},
                                    {"addresses": ["0010:00:00.0"]}])
def test_selector_matches_one_function(kwargs):
    selector = FunctionSelector(**kwargs)
    assert not selector.everything
    assert selector.matches(NIC) and not selector.matches(NVME)


def test_plain_digits_are_hex():
    # "16" is 0x16, not sixteen: the kernel prints fid and uid in hex
    assert FunctionSelector(fids=["16"]).fids == {0x16}


@pytest.mark.parametrize("kwargs, message", [
    ({"fids": [16]}, "fids: 16 is a number, not text: YAML reads an unquoted 0x10 as 16; quote it, e.g. '0x10'"),
    ({"fids": [True]}, "fids: True is not text"),
    ({"fids": ["0xzz"]}, "invalid fid '0xzz': expected a number"),
    ({"fids": ["0x100000000"]}, "invalid fid '0x100000000': out of range 0x0-0xffffffff"),
    ({"uids": ["0x10000"]}, "invalid uid '0x10000': out of range 0x0-0xffff"),
    ({"addresses": ["0010:00:00"]}, "0010:00:00"),
])
def test_selector_refusals(kwargs, message):
    with pytest.raises(DeviceIdError) as err:
        FunctionSelector(**kwargs)
    assert message in str(err.value)


def test_scan_reads_the_zpci_attributes(small):
    functions, non_zpci = ZpciDiscovery(HostFS(small)).scan()
    assert non_zpci == 0
    assert [f["address"] for f in functions] == ["0010:00:00.0", "0020:00:00.0"]
    nic, nvme = functions
    assert (nic["fid"], nic["fid_hex"], nic["uid"], nic["uid_hex"]) == (0x10, "0x00000010", 0x10, "0x0010")
    assert nic["uid_is_unique"] is True and nic["pchid"] == "0x0114" and nic["pfgid"] == "0x0a"
    assert (nic["pft"], nic["port"], nic["vfn"]) == (0x0b, 1, 1)
    assert nic["pci_id"] == "15b3:101e" and nic["class"] == "0x020000"
    assert nic["driver"] == "mlx5_core" and nic["driver_override"] is None
    assert nic["netdevs"] == ["eno16"] and nic["block_devices"] == []
    assert nvme["pci_id"] == "144d:a824" and nvme["driver"] == "nvme"
    assert nvme["netdevs"] == [] and nvme["block_devices"] == ["nvme0n1"]
    assert nvme["pft_name"] is None


def test_scan_with_a_selector_and_a_non_zpci_function(small, tmp_path):
    functions = ZpciDiscovery(HostFS(small), FunctionSelector(uids=["0x20"])).scan()[0]
    assert [f["address"] for f in functions] == ["0020:00:00.0"]
    # a PCI device without function_id (not a zPCI function) is counted, not listed
    devices = tmp_path / "sys/bus/pci/devices/0000:00:01.0"
    devices.mkdir(parents=True)
    (devices / "vendor").write_text("0x1af4\n")
    functions, non_zpci = ZpciDiscovery(HostFS(str(tmp_path))).scan()
    assert functions == [] and non_zpci == 1


def test_ism_and_multipath_namespaces_and_virtio_children(tmp_path):
    base = tmp_path / "sys/bus/pci/devices/0005:00:00.0"
    for sub in ("nvme/nvme0/nvme0c0n1", "nvme/nvme0/nvme0n2", "nvme/nvme0/ng0n1", "virtio0/net/eth0", "virtio0/block/vda"):
        (base / sub).mkdir(parents=True)
    for name, value in (("function_id", "0x00000005"), ("uid", "0x5"), ("pft", "0x05"), ("vendor", "0x1014"),
                        ("device", "0x04ed"), ("driver_override", "(null)")):
        (base / name).write_text(value + "\n")
    os.symlink("../../../../bus/pci/drivers/ism", str(base / "driver"))
    (func,), non_zpci = ZpciDiscovery(HostFS(str(tmp_path))).scan()
    assert non_zpci == 0
    assert func["pft"] == 5 and func["pft_name"] == "ISM" and func["driver"] == "ism"
    assert func["driver_override"] is None and func["pci_id"] == "1014:04ed"
    # nvme0c0n1 is the hidden path device of the head nvme0n1 (multipath.c nvme_set_disk_name)
    assert func["block_devices"] == ["nvme0n1", "nvme0n2", "vda"]
    assert func["netdevs"] == ["eth0"]
