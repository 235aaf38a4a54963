# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_bus_id: bus IDs on the controller, parsed by module_utils/bus_id (whose BusIdError passes through;
the filters turn it into a filter error, tests/unit/plugins/filter/test_bus_id.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError
from ansible_collections.s390x.kvm.plugins.plugin_utils._bus_id import conflicts, contains


def test_contains_reads_every_form_the_modules_read():
    assert contains("0.0.0104", "104") and contains("0.2.01ff", "0.2.0100-0.2.01ff")
    assert not contains("0.0.0100", "0.0.0101-0.0.0200")
    with pytest.raises(BusIdError):
        contains("0.0.0104", "zz")


def test_conflicts_of_ranges_name_every_device_and_owner_in_order():
    assert conflicts({"a": ["0.0.0100-0.0.0102"], "b": ["0.0.0102-0.0.0103"], "c": ["0101"]}) == [
        "0.0.0101: a, c", "0.0.0102: a, b"]
    with pytest.raises(BusIdError, match="write the lower bus ID first"):
        conflicts({"a": ["0.0.0102-0.0.0100"]})
