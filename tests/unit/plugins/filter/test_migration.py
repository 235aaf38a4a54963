"""filter/migration.py: migration_device_map and migration_devices map to plugin_utils/_migration_map,
pass their arguments through and turn MigrationMapError into AnsibleFilterError. (The mapping
itself: tests/unit/plugins/plugin_utils/test__migration_map.py.)"""

from unittest import mock

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.filter import migration
from ansible_collections.s390x.kvm.plugins.plugin_utils import _migration_map

FILTERS = migration.FilterModule().filters()


def test_filter_names():
    assert FILTERS == {"migration_device_map": migration.migration_device_map,
                       "migration_devices": migration.migration_devices}


@pytest.mark.parametrize("args, expected_call", [(("D",), ("D", None, None)), (("D", "C", "P"), ("D", "C", "P"))])
def test_device_map_passes_arguments_through(args, expected_call):
    with mock.patch.object(_migration_map, "device_map", return_value="map") as function:
        assert FILTERS["migration_device_map"](*args) == "map"
    function.assert_called_once_with(*expected_call)


@pytest.mark.parametrize("what, target", [("prepare", "to_prepare"), ("release", "to_release")])
def test_migration_devices_chooses_by_what(what, target):
    with mock.patch.object(_migration_map, target, return_value=["0.0.0105"]) as function:
        assert FILTERS["migration_devices"]("D", what) == ["0.0.0105"]
    function.assert_called_once_with("D")


def test_migration_devices_prepares_by_default():
    with mock.patch.object(_migration_map, "to_prepare", return_value=[]) as function:
        FILTERS["migration_devices"]("D")
    function.assert_called_once_with("D")


def test_migration_devices_refuses_another_what():
    with pytest.raises(AnsibleFilterError, match="^migration_devices: what must be prepare or release, got 'keep'$"):
        FILTERS["migration_devices"]([], "keep")


@pytest.mark.parametrize("name, target, args", [
    ("migration_device_map", "device_map", ([],)), ("migration_devices", "to_prepare", ([],)),
    ("migration_devices", "to_release", ([], "release"))])
def test_map_error_becomes_a_filter_error(name, target, args):
    with mock.patch.object(_migration_map, target, side_effect=_migration_map.MigrationMapError("0.0.0105: not mapped")):
        with pytest.raises(AnsibleFilterError, match="^0.0.0105: not mapped$"):
            FILTERS[name](*args)
