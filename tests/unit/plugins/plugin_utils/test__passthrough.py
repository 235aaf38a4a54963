# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_passthrough: the vfio_passthrough role's plan (inventory mistakes named by variable, devices for
two guests, one batch per kind) and its result (the modules' results matched back to the guests).
The role itself runs in tests/unit/plugins/modules/test_vfio_roles.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.plugin_utils._passthrough import from_definitions, plan, result

UUID = "8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f"
AP_UUID = "6c5b1a3e-0000-4000-8000-000000000001"


@pytest.mark.parametrize("guests, message", [
    (["db1"], "vfio_passthrough_guests must map guest names to {dasd: [...], zpci: [...], ap: {...}}, not list"),
    ({"db1": ["0.0.0104"]}, "vfio_passthrough_guests.db1 must be a mapping with dasd, zpci and/or ap, not list"),
    ({"db1": None}, "vfio_passthrough_guests.db1 must be a mapping with dasd, zpci and/or ap, not NoneType"),
    ({"db1": {"disk": []}}, "vfio_passthrough_guests.db1.disk is not known; allowed: dasd, zpci, ap"),
    ({"db1": {"dasd": "0.0.0104"}}, "vfio_passthrough_guests.db1.dasd must be a list"),
    ({"db1": {"zpci": {"fid": "0x10"}}}, "vfio_passthrough_guests.db1.zpci must be a list"),
    ({"db1": {"dasd": ["0.0.zz04"]}}, "vfio_passthrough_guests.db1.dasd: 0.0.zz04 is not a bus ID, device number or "
                                      "range (0.0.0104, 0104, 0.0.0200-0.0.02ff; quote it)"),
    ({"db1": {"dasd": [260]}}, "vfio_passthrough_guests.db1.dasd: 260 is not a bus ID"),
    ({"db1": {"zpci": [16]}}, 'vfio_passthrough_guests.db1.zpci: 16 is not a function ID as hex text (0x00000000-'
                              '0xffffffff, quoted, e.g. "0x10"; YAML reads an unquoted 0x10 as 16)'),
    ({"db1": {"zpci": ["0x123456789"]}}, "vfio_passthrough_guests.db1.zpci: 0x123456789 is not a function ID"),
    ({"db1": {"ap": [3]}}, "vfio_passthrough_guests.db1.ap must be a mapping {adapters: [...], domains: [...], "
                           "control_domains: [...]}"),
    ({"db1": {"ap": {"adapters": [3], "domains": [6], "usage": [1]}}},
     "vfio_passthrough_guests.db1.ap.usage is not known; allowed: adapters, domains, control_domains, uuid"),
    ({"db1": {"ap": {"adapters": [3]}}}, "vfio_passthrough_guests.db1.ap.domains must list at least one number (0-255)"),
    ({"db1": {"ap": {"adapters": [], "domains": [6]}}}, "vfio_passthrough_guests.db1.ap.adapters must list at least one"),
    ({"db1": {"ap": {"adapters": [3], "domains": ["0x100"]}}},
     'vfio_passthrough_guests.db1.ap.domains: 0x100 is not a number 0-255 (decimal, or hex as "0x47")'),
    ({"db1": {"ap": {"adapters": [256], "domains": [1]}}}, "vfio_passthrough_guests.db1.ap.adapters: 256 is not a number"),
    ({"db1": {"ap": {"adapters": [True], "domains": [1]}}}, "vfio_passthrough_guests.db1.ap.adapters: True is not a number"),
    ({"db1": {"ap": {"adapters": [1], "domains": [1], "control_domains": ["x"]}}},
     "vfio_passthrough_guests.db1.ap.control_domains: x is not a number"),
    # read by bus_id as vfio_ccw reads them: a range must go upwards, a devno has 4 hex digits
    ({"db1": {"dasd": ["0.0.0200-0.0.0100"]}}, "vfio_passthrough_guests.db1.dasd: 0.0.0200-0.0.0100 is not a bus ID"),
    ({"db1": {"dasd": ["0.0.10000"]}}, "vfio_passthrough_guests.db1.dasd: 0.0.10000 is not a bus ID"),
])
def test_inventory_mistakes_name_the_variable(guests, message):
    out = plan(guests)
    assert any(message in error for error in out["errors"]), out["errors"]
    assert out["dasd"] == out["zpci"] == out["ap"] == [] and out["conflict"] == ""


def test_every_mistake_is_reported_at_once():
    out = plan({"db1": {"disk": [], "zpci": [16]}, "web1": 3})
    assert out["errors"] == [
        "vfio_passthrough_guests.db1.disk is not known; allowed: dasd, zpci, ap",
        'vfio_passthrough_guests.db1.zpci: 16 is not a function ID as hex text (0x00000000-0xffffffff, quoted, '
        'e.g. "0x10"; YAML reads an unquoted 0x10 as 16)',
        "vfio_passthrough_guests.web1 must be a mapping with dasd, zpci and/or ap, not int"]


@pytest.mark.parametrize("guests, conflict", [
    ({"db1": {"dasd": ["0.0.0104"]}, "web1": {"dasd": ["0.0.0100-0.0.0105"]}},
     "vfio_passthrough_guests lists a device for more than one guest: 0.0.0104: db1, web1"),
    ({"db1": {"zpci": ["10"]}, "web1": {"zpci": ["0x10"]}},
     "vfio_passthrough_guests lists a device for more than one guest: (a zPCI fid twice)"),
    ({"db1": {"ap": {"adapters": [3], "domains": [6]}}, "web1": {"ap": {"adapters": ["0x3"], "domains": ["6"]}}},
     "vfio_passthrough_guests lists a device for more than one guest: (APQNs for two guests: 03.0006 (db1, web1))"),
    ({"a": {"dasd": ["0104"], "zpci": ["0x1"]}, "b": {"dasd": ["0.0.0104"], "zpci": ["1"]}},
     "vfio_passthrough_guests lists a device for more than one guest: 0.0.0104: a, b (a zPCI fid twice)"),
])
def test_a_device_for_two_guests_is_one_refusal(guests, conflict):
    out = plan(guests)
    assert out["errors"] == [] and out["conflict"] == conflict


def test_one_batch_per_kind_in_the_order_given():
    guests = {"db1": {"dasd": ["0.0.0104", "0.0.0200-0.0.0201"], "zpci": ["0x10"],
                      "ap": {"adapters": [3], "domains": ["0x6"], "uuid": AP_UUID}},
              "web1": {"dasd": ["0105"], "zpci": ["0x11"], "ap": {"adapters": ["4"], "domains": [7],
                                                                  "control_domains": [7]}},
              "idle": {}}
    out = plan(guests)
    assert out["errors"] == [] and out["conflict"] == ""
    assert out["dasd"] == ["0.0.0104", "0.0.0200-0.0.0201", "0105"]
    assert out["zpci"] == ["0x10", "0x11"]
    assert out["ap"] == [
        {"guest": "db1", "adapters": [3], "domains": ["0x6"], "control_domains": [], "uuid": AP_UUID},
        {"guest": "web1", "adapters": ["4"], "domains": [7], "control_domains": [7]}]
    assert out["guests"]["idle"] == {"dasd": [], "zpci": [], "ap": False}


def test_nothing_wanted_plans_nothing():
    assert plan({}) == {"errors": [], "conflict": "", "dasd": [], "zpci": [], "ap": [], "guests": {}}


CCW = {"changed": True, "map": {"0.0.0104": {"subchannel": "0.0.0004", "uuid": UUID}},
       "devices": [{"bus_id": "0.0.0104", "subchannel": "0.0.0004", "uuid": UUID, "hostdev_xml": "<hostdev/>",
                    "before": {}}]}
PCI = {"changed": True, "functions": [{"fid": 16, "uid": 16, "address": "0010:00:00.0", "hostdev_xml": "<h/>",
                                       "driver": "vfio-pci"},
                                      {"fid": 17, "uid": 0, "address": "0011:00:00.0", "hostdev_xml": "<i/>"}]}
AP_MATRIX = {"adapters": [3], "domains": [6], "control_domains": []}
AP = {"results": [{"item": {"guest": "db1"}, "uuid": AP_UUID, "matrix": AP_MATRIX, "hostdev_xml": "<ap/>"}]}


def test_the_modules_results_go_back_to_their_guests():
    the_plan = plan({"db1": {"dasd": ["0.0.0100-0.0.01ff"], "zpci": ["0x10"], "ap": {"adapters": [3], "domains": [6]}},
                     "web1": {"zpci": ["11"]}})
    out = result(the_plan, CCW, PCI, AP)
    db1, web1 = out["devices"]["db1"], out["devices"]["web1"]
    assert db1["ccw"] == [{"bus_id": "0.0.0104", "subchannel": "0.0.0004", "uuid": UUID, "hostdev_xml": "<hostdev/>"}]
    assert db1["pci"] == [{"fid": 16, "uid": 16, "address": "0010:00:00.0", "hostdev_xml": "<h/>"}]
    assert db1["ap"] == {"uuid": AP_UUID, "matrix": AP_MATRIX, "hostdev_xml": "<ap/>"}
    assert db1["hostdevs"] == [
        {"kind": "vfio-ccw", "uuid": UUID},
        {"kind": "vfio-pci", "address": "0010:00:00.0", "managed": False, "zpci_fid": 16, "zpci_uid": 16},
        {"kind": "vfio-ap", "uuid": AP_UUID}]
    # uid 0: the host gives none, the guest role picks one
    assert web1["hostdevs"] == [{"kind": "vfio-pci", "address": "0011:00:00.0", "managed": False, "zpci_fid": 17}]
    assert web1["ap"] is None and web1["ccw"] == []
    assert out["ccw_map"] == CCW["map"]
    assert out["zpci_functions"] == [{"fid": 16, "uid": 16, "address": "0010:00:00.0"},
                                     {"fid": 17, "uid": 0, "address": "0011:00:00.0"}]


def test_skipped_module_tasks_give_nothing():
    the_plan = plan({"db1": {"ap": {"adapters": [3], "domains": [6]}}})
    skipped = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
    ap = {"results": [dict(AP["results"][0]), {"item": {"guest": "web1"}, "skipped": True}]}
    out = result(the_plan, skipped, skipped, ap)
    assert out["ccw_map"] == {} and out["zpci_functions"] == []
    assert [h["kind"] for h in out["devices"]["db1"]["hostdevs"]] == ["vfio-ap"]
    assert result(plan({}), None, None, None) == {"devices": {}, "ccw_map": {}, "zpci_functions": []}


def test_the_dasds_of_guest_definitions_are_the_roles_input():
    definitions = [
        {"name": "web1", "hostdevs": [{"kind": "vfio-ccw", "bus_id": "0.0.E714"}, {"kind": "vfio-ccw", "bus_id": "0.0.e714"},
                                      {"kind": "vfio-ccw", "bus_id": "0.0.e715", "uuid": UUID},
                                      {"kind": "vfio-pci", "fid": "0x10"}, {"kind": "vfio-ccw", "bus_id": 260}]},
        {"name": "gone", "state": "absent", "hostdevs": [{"kind": "vfio-ccw", "bus_id": "0.0.0001"}]},
        {"name": "db1", "state": "running", "hostdevs": [{"kind": "vfio-ccw", "bus_id": "0.0.0104"}]},
        {"name": "plain"}, {"name": "odd", "hostdevs": "vfio-ccw"}, "not a guest"]
    guests = from_definitions(definitions)
    assert guests == {"web1": {"dasd": ["0.0.e714", 260]}, "db1": {"dasd": ["0.0.0104"]}}
    # the role's check names what is no bus ID
    assert plan(guests)["errors"] == ["vfio_passthrough_guests.web1.dasd: 260 is not a bus ID, device number or range "
                                      "(0.0.0104, 0104, 0.0.0200-0.0.02ff; quote it)"]
    assert from_definitions(None) == {} and from_definitions([]) == {}
