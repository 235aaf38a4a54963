"""module_utils/ccw.py: kinds by driver and control-unit type, path masks, and CcwDiscovery on the
small KVM host (tests/fixtures/hosts/small_kvm_host.yml), with the formats of drivers/s390/cio."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.ccw import (
    CcwDiscovery, device_kind, paths_all_usable, subchannels_beside)
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS

MDEV = "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"


@pytest.fixture(scope="module")
def small(host_tree):
    return HostFS(host_tree("small_kvm_host"))


@pytest.fixture(scope="module")
def scanned(small):
    return CcwDiscovery(small).scan()


@pytest.mark.parametrize("driver, cutype, kind", [
    ("dasd-eckd", "3990/e9", "dasd"), ("dasd-fba", "6310/80", "dasd"), ("qeth", "1731/01", "qeth"),
    (None, "1731/01", "qeth"), (None, "1731/05", "qeth"), (None, "1731/03", "zfcp"), (None, "3990/e9", "dasd"),
    (None, "3832/01", "virtio"), ("vmur", "2540/00", "unit_record"), (None, "9999/01", "other"), (None, "", "other"),
    (None, None, "other")])
def test_device_kind(driver, cutype, kind):
    assert device_kind(driver, cutype) == kind


@pytest.mark.parametrize("pim, pam, pom, usable", [
    ("c0", "c0", "ff", True), ("c0", "80", "ff", False), ("c0", "c0", "80", False), ("80", "80", "80", True),
    ("zz", "zz", "ff", False), (None, None, None, False)])
def test_paths_all_usable(pim, pam, pom, usable):
    # pimpampom "%02x %02x %02x" (device.c): every installed path available and operational
    assert paths_all_usable({"pim": pim, "pam": pam, "pom": pom}) is usable


def test_paths_all_usable_without_the_keys():
    assert paths_all_usable({}) is False


def test_scan_subchannels(scanned):
    subchannels = scanned[0]
    first = subchannels[0]
    assert first == {"bus_id": "0.0.0000", "type": 0, "type_name": "io", "driver": "io_subchannel", "driver_override": None,
                     "chpids": ["40", "41"], "pim": "c0", "pam": "c0", "pom": "ff", "dev_busid": "0.0.0100"}
    vfio = [s for s in subchannels if s["driver"] == "vfio_ccw"]
    assert [(s["bus_id"], s["driver_override"], s["dev_busid"], s["mdevs"]) for s in vfio] == [
        ("0.0.0010", "vfio_ccw", "0.0.0106", [MDEV])]


def test_scan_devices(scanned):
    devices = scanned[1]
    by_id = {d["bus_id"]: d for d in devices}
    dasd = by_id["0.0.0100"]
    assert (dasd["subchannel"], dasd["cutype"], dasd["devtype"], dasd["online"], dasd["availability"], dasd["kind"]) == (
        "0.0.0000", "3990/e9", "3390/0c", True, "good", "dasd")
    assert dasd["dasd"]["type"] == "ECKD" and dasd["dasd"]["block_device"] == "dasda"
    assert dasd["dasd"]["partitions"] == ["dasda1"] and dasd["dasd"]["alias"] is False
    assert by_id["0.0.01ff"]["dasd"]["alias"] is True and by_id["0.0.01ff"]["dasd"]["block_device"] is None
    assert by_id["0.0.0200"]["dasd"]["type"] == "FBA"
    assert (by_id["0.0.1900"]["kind"], by_id["0.0.f500"]["kind"]) == ("zfcp", "qeth")
    assert by_id["0.0.0104"]["online"] is False
    assert "0.0.0106" not in by_id  # its subchannel is bound to vfio_ccw: no CCW device on the host
    assert [d["bus_id"] for d in devices] == sorted(by_id, key=lambda b: int(b.replace(".", ""), 16))


def test_scan_filtered_by_bus_id_and_kind(small):
    devices = CcwDiscovery(small, bus_ids=["0.0.0100-0.0.0103", "0.0.f500"], kinds=["dasd"]).scan()[1]
    assert [d["bus_id"] for d in devices] == ["0.0.0100", "0.0.0101", "0.0.0102", "0.0.0103"]


def test_subchannels_beside_keeps_what_the_device_records_do_not_tell(scanned):
    subchannels, devices = scanned
    beside = subchannels_beside(subchannels, devices)
    assert [s["bus_id"] for s in beside] == ["0.0.0010"]  # only the vfio_ccw subchannel


def test_qeth_groups(small):
    groups = {g["bus_id"]: g for g in CcwDiscovery(small).qeth_groups()}
    assert sorted(groups) == ["0.0.7000", "0.0.f500", "0.0.f600"]
    osa = groups["0.0.f500"]
    assert osa["devices"] == ["0.0.f500", "0.0.f501", "0.0.f502"]
    assert (osa["online"], osa["card_type"], osa["chpid"], osa["layer2"], osa["if_name"]) == (
        True, "OSD_10GIG", "10", True, "encf500")
    assert groups["0.0.7000"]["layer2"] is False and groups["0.0.7000"]["card_type"] == "HiperSockets"
    # never online: no interface name
    assert groups["0.0.f600"]["online"] is False and groups["0.0.f600"]["if_name"] is None


def test_ccw_groups_filtered_by_member(small):
    groups = CcwDiscovery(small, bus_ids=["0.0.f601"]).ccw_groups()
    assert [g["bus_id"] for g in groups] == ["0.0.f600"]
    assert "host_use" not in groups[0]  # no HostUsage given


def test_zfcp_adapters(small, scanned):
    adapters = CcwDiscovery(small).zfcp_adapters(scanned[1])
    assert [a["bus_id"] for a in adapters] == ["0.0.1900"]
    assert adapters[0]["ports"] == [{"wwpn": "0x500507630300c562", "luns": ["0x4010400000000000"]}]
    assert adapters[0]["in_use_by_host"] is False


def test_channel_paths(small):
    paths = {p["id"]: p for p in CcwDiscovery(small).channel_paths()}
    assert sorted(paths) == ["0.10", "0.11", "0.40", "0.41", "0.50", "0.f0"]
    assert paths["0.40"] == {"id": "0.40", "type": "1a", "status": "online", "shared": 1, "cmg": 3, "chid": "0140"}
    assert paths["0.f0"]["chid"] is None


def test_cio_ignore_and_host_detection(small, host_tree, tmp_path):
    assert CcwDiscovery(small).cio_ignore() == [] and CcwDiscovery(small).is_s390x_host() is True
    assert CcwDiscovery(HostFS(str(tmp_path))).is_s390x_host() is False
    ignoring = CcwDiscovery(HostFS(host_tree("cio_ignore_host"))).cio_ignore()
    # /proc/cio_ignore lists ranges "0.<ssid>.<devno>-0.<ssid>.<devno>" (blacklist.c cio_ignore_proc_seq_show)
    assert ignoring[:2] == [{"start": "0.0.0000", "end": "0.0.0008", "count": 9},
                            {"start": "0.0.000a", "end": "0.0.00ff", "count": 246}]
    assert ignoring[-1] == {"start": "0.3.0000", "end": "0.3.ffff", "count": 65536}
