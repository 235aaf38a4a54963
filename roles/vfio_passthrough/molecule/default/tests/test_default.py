# -*- coding: utf-8 -*-
"""What the vfio_passthrough role leaves on the fixture host at /hostroot (simulated kernel)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

import pytest

HOST_ROOT = "/hostroot"
# content_string keeps the trailing newline: compare stripped text.
WANTED = {"guest1": {"ccw": ["0.0.0104", "0.0.0105"], "pci": [0x10]}, "guest2": {"ccw": ["0.0.0200"], "pci": []}}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def devices(host):
    return json.loads(host.file("/root/vfio_passthrough_devices.json").content_string)


def ccw_entries(devices):
    return [entry for guest in sorted(devices) for entry in devices[guest]["ccw"]]


def test_fact_lists_each_guests_devices(devices):
    assert sorted(devices) == sorted(WANTED)
    for guest, wanted in WANTED.items():
        assert [e["bus_id"] for e in devices[guest]["ccw"]] == wanted["ccw"]
        assert [e["fid"] for e in devices[guest]["pci"]] == wanted["pci"]
    for entry in ccw_entries(devices):
        assert UUID_RE.match(entry["uuid"])
        assert "<address uuid='%s'/>" % entry["uuid"] in entry["hostdev_xml"]
        assert "devno='0x%s'" % entry["bus_id"][-4:] in entry["hostdev_xml"]
    assert len(set(e["uuid"] for e in ccw_entries(devices))) == 3


def test_subchannels_bound_to_vfio_ccw_with_mdev(host, devices):
    for entry in ccw_entries(devices):
        sch = HOST_ROOT + "/sys/bus/css/devices/" + entry["subchannel"]
        assert host.file(sch + "/driver").linked_to.endswith("/bus/css/drivers/vfio_ccw")
        assert host.file(sch + "/driver_override").content_string.strip() == "vfio_ccw"
        assert host.file(sch + "/" + entry["uuid"]).is_directory
        assert host.file(HOST_ROOT + "/sys/bus/mdev/devices/" + entry["uuid"]).exists
        # Bound to vfio_ccw, the subchannel has no CCW device (and the DASD no block device).
        assert not host.file(sch + "/" + entry["bus_id"]).exists
        assert not host.file(HOST_ROOT + "/sys/bus/ccw/devices/" + entry["bus_id"]).exists


def test_driverctl_overrides(host, devices):
    for entry in ccw_entries(devices):
        assert host.file(HOST_ROOT + "/etc/driverctl.d/css-" + entry["subchannel"]).content_string.strip() == "vfio_ccw"
    address = devices["guest1"]["pci"][0]["address"]
    assert host.file(HOST_ROOT + "/etc/driverctl.d/pci-" + address).content_string.strip() == "vfio-pci"


def test_mdevctl_definitions(host, devices):
    for entry in ccw_entries(devices):
        definition = host.file("%s/etc/mdevctl.d/%s/%s" % (HOST_ROOT, entry["subchannel"], entry["uuid"]))
        config = json.loads(definition.content_string)
        assert config["mdev_type"] == "vfio_ccw-io"
        assert config["start"] == "auto"


def test_zpci_function_bound_to_vfio_pci(host, devices):
    function = devices["guest1"]["pci"][0]
    assert function["address"] == "0010:00:00.0"
    base = HOST_ROOT + "/sys/bus/pci/devices/" + function["address"]
    assert host.file(base + "/driver").linked_to.endswith("/bus/pci/drivers/vfio-pci")
    assert host.file(base + "/driver_override").content_string.strip() == "vfio-pci"
    assert "<zpci uid='0x0010' fid='0x00000010'/>" in function["hostdev_xml"]


def test_other_devices_untouched(host):
    # The host's own DASD and the guest DASD bound before the run keep their drivers.
    assert host.file(HOST_ROOT + "/sys/bus/ccw/devices/0.0.0100/online").content_string.strip() == "1"
    assert host.file(HOST_ROOT + "/sys/bus/css/devices/0.0.0010/driver").linked_to.endswith("/vfio_ccw")
    assert host.file(HOST_ROOT + "/sys/bus/pci/devices/0020:00:00.0/driver").linked_to.endswith("/nvme")
