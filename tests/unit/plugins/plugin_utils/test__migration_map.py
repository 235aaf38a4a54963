# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_migration_map (and its filters): the live_migration role's devices to migrate's device_map."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.s390x.kvm.plugins.filter import migration as filters
from ansible_collections.s390x.kvm.plugins.plugin_utils import _migration_map as mm

UUID = "8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f"
DEVICES = [
    {"source": UUID, "bus_id": "0.0.E714", "source_bus_id": "0.0.e700"},
    {"source": "0000:00:02.0", "fid": "0x10", "source_fid": 17},
    {"source": "hostdev[mdev:11111111-2222-4333-8444-555555555555]", "target": "0c8a1d44-2b7e-4f10-a3d2-61e5f7a9b001"},
]


def test_prepare_release_and_map():
    assert mm.to_prepare(DEVICES) == {"bus_ids": ["0.0.e714"], "fids": ["0x00000010"]}
    assert mm.to_release(DEVICES) == {"bus_ids": ["0.0.e700"], "fids": ["0x00000011"]}
    mapped = mm.device_map(DEVICES, ccw_map={"0.0.e714": {"uuid": "0c8a1d44-0000-4f10-a3d2-61e5f7a9b002"}},
                           pci_map={"0x00000010": {"address": "0010:00:00.0"}})
    assert mapped == {UUID: "0c8a1d44-0000-4f10-a3d2-61e5f7a9b002", "0000:00:02.0": "0010:00:00.0",
                      "hostdev[mdev:11111111-2222-4333-8444-555555555555]": "0c8a1d44-2b7e-4f10-a3d2-61e5f7a9b001"}


@pytest.mark.parametrize("devices, message", [
    ("x", "live_migration_devices must be a list"),
    ([{"bus_id": "0.0.e714"}], r"live_migration_devices\[0\].source is required"),
    ([{"source": UUID}], r"live_migration_devices\[0\] needs exactly one of bus_id"),
    ([{"source": UUID, "bus_id": "0.0.1", "fid": "0x1"}], "got bus_id, fid"),
    ([{"source": UUID, "bus_id": 0xE714}], r"live_migration_devices\[0\].bus_id: 59156 is a number"),
    ([{"source": UUID, "fid": "zz"}], r"'zz' is not a function ID"),
    ([{"source": UUID, "target": "x", "when": 1}], "unknown key when"),
])
def test_bad_entries_are_named(devices, message):
    with pytest.raises(mm.MigrationMapError, match=message):
        mm.device_map(devices)


def test_unprepared_destination_device_is_an_error():
    with pytest.raises(mm.MigrationMapError, match="vfio_ccw on the destination returned no mdev for 0.0.e714"):
        mm.device_map(DEVICES[:1], ccw_map={})


def test_filters_raise_filter_errors():
    with pytest.raises(AnsibleFilterError, match="source is required"):
        filters.migration_device_map([{"target": "x"}])
    with pytest.raises(AnsibleFilterError, match="prepare or release"):
        filters.migration_devices([], "both")
    assert filters.migration_devices(DEVICES, "release")["fids"] == ["0x00000011"]
