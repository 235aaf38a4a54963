"""module_utils/ap.py: the AP mask and matrix formats of drivers/s390/crypto, and ApDiscovery on
the small KVM host (tests/fixtures/hosts/small_kvm_host.yml: cards 03 (CEX8C, domains 5, 6) and
04 (CEX8A, domains 5-7); adapter 4 and domain 7 out of apmask/aqmask; one matrix mdev on 04.0007)."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.ap import (
    ApDiscovery, format_mask, is_mask, parse_apqns, parse_ids, parse_mask)
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS

MATRIX_UUID = "62177883-f1bb-47f0-914d-32a22e3a8804"


@pytest.fixture(scope="module")
def small(host_tree):
    return HostFS(host_tree("small_kvm_host"))


def test_parse_mask_bit_zero_is_the_most_significant():
    # ap_bus.c prints 256 bits as "0x%016lx%016lx%016lx%016lx", adapter/domain 0 = MSB
    assert parse_mask("0x8" + "0" * 63) == [0]
    assert parse_mask("0x" + "0" * 63 + "1") == [255]
    assert parse_mask("0xf7" + "f" * 62) == [i for i in range(256) if i != 4]
    assert parse_mask("0x" + "0" * 64) == []


@pytest.mark.parametrize("text, expected", [
    ("0x" + "f" * 64 + "\n", True), ("0x00", True), ("", False), (None, False), ("ffff", False), ("0xzz", False)])
def test_is_mask(text, expected):
    assert is_mask(text) is expected


def test_parse_mask_of_no_mask_is_empty():
    assert parse_mask("") == [] and parse_mask("not a mask") == []


def test_format_mask_round_trips():
    text = format_mask([0, 4, 255])
    assert text == "0x88" + "0" * 61 + "1"
    assert len(text) == 2 + 64
    assert parse_mask(text) == [0, 4, 255]
    assert format_mask([]) == "0x" + "0" * 64


def test_parse_apqns_reads_matrix_lines():
    # vfio_ap_ops.c matrix_show: "%02lx.%04lx" per APQN, "%02lx." or ".%04lx" when half assigned
    assert parse_apqns("04.0007\n0a.0054\n") == [{"adapter": 4, "domain": 7}, {"adapter": 10, "domain": 84}]
    assert parse_apqns("05.\n.0006\n\njunk\n") == [{"adapter": 5, "domain": None}, {"adapter": None, "domain": 6}]
    assert parse_apqns(None) == []


def test_parse_ids_accepts_numbers_decimal_and_hex_text():
    assert parse_ids([4, "10", "0x0a", " 0xFF "], "adapters") == [4, 10, 10, 255]
    assert parse_ids(None, "adapters") == []


@pytest.mark.parametrize("value", [256, -1, True, "0x100", "ten", 1.5, "0x"])
def test_parse_ids_refuses_what_is_no_ap_number(value):
    with pytest.raises(DeviceIdError, match=r"^domains: .* is not an AP number; allowed: 0-255"):
        parse_ids([value], "domains")


def test_bus_splits_ids_up_to_the_machine_maximum(small):
    bus = ApDiscovery(small).bus()
    assert bus["max_adapter_id"] == 63 and bus["max_domain_id"] == 84
    assert bus["apmask"] == "0xf7" + "f" * 62
    assert bus["aqmask"] == "0xfe" + "f" * 62
    assert bus["vfio_adapters"] == [4] and bus["vfio_domains"] == [7]
    assert bus["host_adapters"] == [i for i in range(64) if i != 4]
    assert bus["host_domains"] == [i for i in range(85) if i != 7]


def test_bus_without_a_readable_mask_says_nothing(tmp_path):
    (tmp_path / "sys/bus/ap").mkdir(parents=True)
    (tmp_path / "sys/bus/ap/apmask").write_text("garbage\n")
    bus = ApDiscovery(HostFS(str(tmp_path))).bus()
    assert bus["host_adapters"] is None and bus["vfio_adapters"] is None
    assert bus["host_domains"] is None and bus["vfio_domains"] is None
    assert bus["max_adapter_id"] is None and bus["features"] == [] and bus["bindings"] is None


def test_cards_and_queues(small):
    cards, queues = ApDiscovery(small).cards_and_queues()
    assert [(c["name"], c["type"], c["hwtype"], c["driver"], c["vfio_ap_capable"]) for c in cards] == [
        ("card03", "CEX8C", 14, "cex4card", True), ("card04", "CEX8A", 14, "cex4card", True)]
    assert [(q["apqn"], q["driver"]) for q in queues] == [
        ("03.0005", "cex4queue"), ("03.0006", "cex4queue"),
        ("04.0005", "vfio_ap"), ("04.0006", "vfio_ap"), ("04.0007", "vfio_ap")]
    # only vfio_ap queues have a status (vfio_ap_drv.c status_show)
    assert {q["apqn"]: q.get("vfio_ap_status") for q in queues if q["driver"] == "vfio_ap"} == {
        "04.0005": "unassigned", "04.0006": "unassigned", "04.0007": "assigned"}
    assert "vfio_ap_status" not in queues[0]


def test_cards_and_queues_filtered_by_adapter_and_domain(small):
    cards, queues = ApDiscovery(small, adapters=[4], domains=[6]).cards_and_queues()
    assert [c["id"] for c in cards] == [4]
    assert [q["apqn"] for q in queues] == ["04.0006"]


def test_matrix_mdevs_merge_sysfs_and_mdevctl(small):
    mdevs = ApDiscovery(small).matrix_mdevs()
    assert [m["uuid"] for m in mdevs] == [MATRIX_UUID]
    mdev = mdevs[0]
    assert mdev["active"] is True and mdev["persistent"] is True and mdev["autostart"] is True
    assert mdev["mdev_type"] == "vfio_ap-passthrough"
    assert mdev["matrix"] == [{"adapter": 4, "domain": 7}]
    assert mdev["control_domains"] == [7]
    assert {"assign_adapter": "4"} in mdev["defined_attrs"]
    assert mdev["guests"] == []


def test_matrix_mdev_defined_only_and_broken_config(tmp_path):
    uuid_ok, uuid_bad = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
    (tmp_path / "etc/mdevctl.d/matrix").mkdir(parents=True)
    (tmp_path / "etc/mdevctl.d/matrix" / uuid_ok).write_text(
        '{"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": [{"assign_adapter": "5"}]}')
    (tmp_path / "etc/mdevctl.d/matrix" / uuid_bad).write_text("[1, 2]")
    (tmp_path / "etc/mdevctl.d/matrix/not-a-uuid").write_text("{}")
    mdevs = ApDiscovery(HostFS(str(tmp_path))).matrix_mdevs()
    assert [(m["uuid"], m["active"], m["persistent"], m["autostart"]) for m in mdevs] == [
        (uuid_ok, False, True, False), (uuid_bad, False, True, False)]
    assert mdevs[0]["defined_attrs"] == [{"assign_adapter": "5"}] and mdevs[1]["defined_attrs"] == []
    assert mdevs[1]["mdev_type"] is None
