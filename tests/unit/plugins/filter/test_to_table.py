import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.filter.to_table import to_table


def test_table_columns_nested_keys_and_titles():
    rows = to_table(
        [{"bus_id": "0.0.0100", "online": True, "dasd": {"block_device": "dasda"}, "host_use": ["a", "b"]},
         {"bus_id": "0.0.f500", "online": False, "host_use": []}],
        ["bus_id", "online", "dasd.block_device=block", "host_use=why"])
    assert rows[0].split() == ["bus_id", "online", "block", "why"]
    assert set(rows[1]) <= {"-", " "}
    assert rows[2].split() == ["0.0.0100", "yes", "dasda", "a,", "b"]
    assert rows[3].split() == ["0.0.f500", "no", "-", "-"]


def test_table_rejects_non_lists():
    with pytest.raises(AnsibleFilterError, match="list of dictionaries"):
        to_table("nope", ["a"])


def test_long_cells_are_cut():
    rows = to_table([{"a": "x" * 100}], ["a"], max_width=10)
    assert rows[2] == "xxxxxxx..."
    assert to_table([{"a": "x" * 100}], ["a"], max_width=0)[2] == "x" * 100
