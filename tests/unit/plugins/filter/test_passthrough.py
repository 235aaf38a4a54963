# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passthrough_guests, passthrough_plan and passthrough_result filters are plugin_utils/_passthrough's
from_definitions, plan and result
(its tests: tests/unit/plugins/plugin_utils/test__passthrough.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.filter.passthrough import FilterModule
from ansible_collections.s390x.kvm.plugins.plugin_utils import _passthrough


def test_the_filters_are_the_functions_of_plugin_utils():
    filters = FilterModule().filters()
    assert sorted(filters) == ["passthrough_guests", "passthrough_plan", "passthrough_result"]
    definitions = [{"name": "db1", "hostdevs": [{"kind": "vfio-ccw", "bus_id": "0.0.0104"}]}]
    assert filters["passthrough_guests"](definitions) == _passthrough.from_definitions(definitions)
    guests = {"db1": {"dasd": ["0.0.0104"], "zpci": ["0x10"]}}
    assert filters["passthrough_plan"](guests) == _passthrough.plan(guests)
    ccw = {"map": {"0.0.0104": {"uuid": "u"}}, "devices": [{"bus_id": "0.0.0104", "uuid": "u"}]}
    the_plan = _passthrough.plan(guests)
    assert filters["passthrough_result"](the_plan, ccw) == _passthrough.result(the_plan, ccw, None, None)
