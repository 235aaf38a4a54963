"""filter/evacuation.py: each filter name maps to its plugin_utils/_evacuation function, passes
the arguments through in that function's order and turns PlanError into AnsibleFilterError.
(The planning itself: tests/unit/plugins/plugin_utils/test__evacuation.py.)"""

from unittest import mock

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.filter import evacuation
from ansible_collections.s390x.kvm.plugins.plugin_utils import _evacuation

FILTERS = evacuation.FilterModule().filters()


@pytest.mark.parametrize("name, target, args, expected_call", [
    ("evacuation_plan", "plan", ("G", "S", "H", "A", "O", "P"), ("S", "G", "H", "A", "O", "P")),
    ("evacuation_plan", "plan", ("G", "S", "H"), ("S", "G", "H", None, None, None)),
    ("evacuation_waves", "waves", ("M",), ("M", 1, 1, None)),
    ("evacuation_waves", "waves", ("M", 2, 3, 4), ("M", 2, 3, 4)),
    ("evacuation_hosts", "hosts_from_results", ("F",), ("F", None, None)),
    ("evacuation_hosts", "hosts_from_results", ("F", "K", "P"), ("F", "K", "P")),
    ("evacuation_summary", "summary", ("R",), ("R", False)),
    ("evacuation_summary", "summary", ("R", True), ("R", True)),
    ("evacuation_record", "record", ("M", "E"), ("M", "E", "live")),
    ("evacuation_record", "record", ("M", "E", "cold"), ("M", "E", "cold")),
])
def test_filter_passes_arguments_through(name, target, args, expected_call):
    with mock.patch.object(_evacuation, target, return_value="result") as function:
        assert FILTERS[name](*args) == "result"
    function.assert_called_once_with(*expected_call)


def test_filter_names():
    assert sorted(FILTERS) == ["evacuation_hosts", "evacuation_plan", "evacuation_record", "evacuation_summary",
                               "evacuation_waves"]


@pytest.mark.parametrize("name, target, args", [
    ("evacuation_plan", "plan", ([], "s", [])), ("evacuation_waves", "waves", ([],)),
    ("evacuation_hosts", "hosts_from_results", ([],))])
def test_plan_error_becomes_a_filter_error(name, target, args):
    with mock.patch.object(_evacuation, target, side_effect=_evacuation.PlanError("no destination for web1")):
        with pytest.raises(AnsibleFilterError, match="^no destination for web1$"):
            FILTERS[name](*args)
