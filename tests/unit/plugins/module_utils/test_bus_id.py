import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import bus_id
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError, BusIdSet


@pytest.mark.parametrize("text, expected", [
    ("0.0.1234", "0.0.1234"),
    ("0.0.ABCD", "0.0.abcd"),
    ("0.3.0001", "0.3.0001"),
    ("1234", "0.0.1234"),
    ("0x2b09", "0.0.2b09"),
    ("0X2B09", "0.0.2b09"),
    ("f", "0.0.000f"),
    (" 0.0.0100 ", "0.0.0100"),
])
def test_normalize_accepts_kernel_ids_and_devnos(text, expected):
    assert bus_id.normalize(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("0.0.zzzz", "'0.0.zzzz'"),
    ("0.0.10000", "out of range"),
    ("0.4.0001", "subchannel set 4 is out of range 0-3"),
    ("0x10000", "out of range 0x0000-0xffff"),
    ("", "invalid bus ID ''"),
    ("0.0", "invalid bus ID '0.0'"),
    ("0.0.12g4", "'0.0.12g4'"),
])
def test_bad_bus_ids_name_the_value_and_what_is_allowed(text, fragment):
    with pytest.raises(BusIdError) as err:
        bus_id.parse(text)
    assert fragment in str(err.value)
    assert "allowed: 0.<ssid>.<devno>" in str(err.value)


def test_ranges_merge_and_membership():
    ids = BusIdSet(["0.0.0100-0.0.01ff", "0.0.0200", "0x300", "0.1.0000-0.1.000f"])
    assert ids.as_strings() == ["0.0.0100-0.0.0200", "0.0.0300", "0.1.0000-0.1.000f"]
    assert "0.0.0100" in ids and "0.0.01ff" in ids and "0.0.0200" in ids
    assert "0.0.00ff" not in ids and "0.0.0201" not in ids
    assert "0.1.0005" in ids and "0.0.0005" not in ids
    assert "garbage" not in ids
    assert len(ids) == 0x101 + 1 + 16


def test_empty_set_means_everything():
    ids = BusIdSet([])
    assert ids.everything and "0.3.ffff" in ids


def test_reversed_and_cross_set_ranges_are_refused():
    with pytest.raises(BusIdError, match="comes after"):
        BusIdSet(["0.0.0200-0.0.0100"])
    with pytest.raises(BusIdError, match="same subchannel set"):
        BusIdSet(["0.0.0000-0.1.0000"])
    with pytest.raises(BusIdError, match="range end"):
        BusIdSet(["0.0.0100-0.0.zzzz"])


def test_cio_ignore_lines_as_blacklist_c_prints_them():
    # blacklist.c cio_ignore_proc_seq_show: "0.%x.%04x" or "0.%x.%04x-0.%x.%04x"
    ranges = bus_id.parse_cio_ignore(["0.0.0000-0.0.00ff", "0.0.0200", "", "0.1.0000-0.1.ffff"])
    assert ranges == [
        {"start": "0.0.0000", "end": "0.0.00ff", "count": 256},
        {"start": "0.0.0200", "end": "0.0.0200", "count": 1},
        {"start": "0.1.0000", "end": "0.1.ffff", "count": 65536},
    ]


@pytest.mark.parametrize("text", ["0005:00:00.0", "0001:00:00.7", "ABCD:01:1f.3"])
def test_pci_addresses(text):
    assert bus_id.parse_pci_address(text) == text.lower()


@pytest.mark.parametrize("text", ["5:00:00.0", "0005:00:00.8", "0005:00:00", "zzzz:00:00.0"])
def test_bad_pci_addresses(text):
    with pytest.raises(BusIdError, match="DDDD:BB:SS.F"):
        bus_id.parse_pci_address(text)


@pytest.mark.parametrize("text", ["1.0.0100", "fe.0.0100", "1.0.0100-1.0.0200"])
def test_only_channel_subsystem_0(text):
    # asm/cio.h __MAX_CSSID 0; blacklist.c refuses other cssids with EINVAL
    with pytest.raises(BusIdError, match="channel subsystem [1f]e? does not exist for Linux"):
        bus_id.parse_range(text)


@pytest.mark.parametrize("value, fragment", [
    (0x2b09, "bus_ids: 11017 is a number, not text: YAML reads an unquoted 0x2b09 as 11017"),
    (64, "quote it, e.g. '0x0040' or '0.0.0040'"),
    (True, "bus_ids: True is not a bus ID"),
    (None, "bus_ids: None is not a bus ID"),
    (["0.0.0100"], "bus_ids: ['0.0.0100'] is not a bus ID"),
])
def test_numbers_and_other_types_are_refused(value, fragment):
    with pytest.raises(BusIdError) as err:
        bus_id.require_text(["0.0.0100", value], "bus_ids")
    assert fragment in str(err.value)


def test_text_passes():
    assert bus_id.require_text(["0.0.0100", "0x2b09"], "bus_ids") == ["0.0.0100", "0x2b09"]
    assert bus_id.require_text(None, "bus_ids") == []


def test_key_ranges_join_consecutive_ids_within_one_subchannel_set():
    keys = [bus_id.parse(b) for b in ("0.0.0101", "0.0.0100", "0.0.ffff", "0.1.0000", "0.0.0100")]
    assert bus_id.key_ranges(keys) == [(0x100, 0x101), (0xffff, 0xffff), (0x10000, 0x10000)]
    assert bus_id.id_ranges(["0.0.0100", "0.0.0101", "0.0.0103"]) == ["0.0.0100-0.0.0101", "0.0.0103"]


def test_range_arithmetic():
    ranges = [(0x100, 0x1ff), (0x300, 0x300)]
    assert bus_id.subtract(ranges, 0x180, 0x300) == [(0x100, 0x17f)]
    assert bus_id.overlap(ranges, 0x1f0, 0x400) == [(0x1f0, 0x1ff), (0x300, 0x300)]
    assert bus_id.gaps(ranges, 0x0f0, 0x301) == [(0x0f0, 0x0ff), (0x200, 0x2ff), (0x301, 0x301)]
    assert bus_id.ranges_to_text([(0x100, 0x100), (0x10000, 0x100ff)]) == ["0.0.0100", "0.1.0000-0.1.00ff"]
