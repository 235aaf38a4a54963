# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bus_id_in and ccw_conflicts filters: plugin_utils/_bus_id with module_utils/bus_id's refusals
as filter errors (the parser's own tests: tests/unit/plugins/module_utils/test_bus_id.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.filter.bus_id import FilterModule, bus_id_in, ccw_conflicts


def test_the_filter_names():
    assert FilterModule().filters() == {"bus_id_in": bus_id_in, "ccw_conflicts": ccw_conflicts}


@pytest.mark.parametrize("bus_id, spec, inside", [
    ("0.0.0104", "0.0.0104", True),
    ("0.0.0104", "0104", True),
    ("0.0.0104", "0x104", True),
    ("0.0.0150", "0.0.0100-0.0.01ff", True),
    ("0.0.0200", "0.0.0100-0.0.01ff", False),
    ("0.1.0150", "0.0.0100-0.0.01ff", False),
    ("0.1.0150", "0.1.0100-0.1.01ff", True),
    ("0.0.0104", "0.0.0105", False),
])
def test_bus_id_in(bus_id, spec, inside):
    assert bus_id_in(bus_id, spec) is inside


@pytest.mark.parametrize("bus_id, spec, message", [
    ("0.0.zz04", "0.0.0104", "invalid bus ID '0.0.zz04'"),
    ("0.0.0104", "0.0.0200-0.0.0100", "0.0.0200 comes after 0.0.0100; write the lower bus ID first"),
    ("0.4.0104", "0.0.0104", "subchannel set 4 is out of range 0-3"),
])
def test_bus_id_in_refuses_what_is_no_bus_id(bus_id, spec, message):
    with pytest.raises(AnsibleFilterError, match=message.replace(".", r"\.")):
        bus_id_in(bus_id, spec)


def test_ccw_conflicts_lists_each_device_claimed_twice():
    assert ccw_conflicts({"db1": ["0.0.0104", "0200"], "web1": ["0.0.0100-0.0.0105"], "app": ["0.0.0200", "0.0.0300"],
                          "idle": None}) == ["0.0.0104: db1, web1", "0.0.0200: db1, app"]
    assert ccw_conflicts({"db1": ["0.0.0104"], "web1": ["0.1.0104"]}) == []
    assert ccw_conflicts({}) == []


@pytest.mark.parametrize("assignments, message", [
    (["0.0.0104"], "ccw_conflicts expects a mapping of owner -> list of bus IDs or ranges"),
    ({"db1": ["0.0.zz04"]}, "invalid bus ID '0.0.zz04'"),
])
def test_ccw_conflicts_refusals(assignments, message):
    with pytest.raises(AnsibleFilterError, match=message.replace(".", r"\.")):
        ccw_conflicts(assignments)
