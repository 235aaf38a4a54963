"""(b) Hotplug on CCW with the collection's event-driven waits (module_utils/_libvirt: attach_live
waits for DEVICE_ADDED, detach_live for DEVICE_REMOVED), and the guest reports the device coming
and going on its console."""

import os
import time

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops as ops
from tests.testbed.pytest_libvirt import bus_id, create_disk, disk_xml, interface_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(600)]


def test_hotplug_virtio_blk_and_net_on_ccw(basic_guest, testbed_workdir, testbed_results):
    host, dom, console, _ = basic_guest("tb-hotplug")
    console.wait("READY", timeout=240)
    conn = client.connect(host.uri, events=True)
    dom = conn.lookupByName(dom.name())
    timings = {}
    try:
        # ---- virtio-blk at devno 0x0010
        devno = 0x0010
        disk = create_disk(os.path.join(testbed_workdir, "tb-hotplug-vdb.qcow2"), size="32M")
        since = console.mark()
        t0 = time.monotonic()
        xml = disk_xml(disk, "vdb", devno=devno)
        key = dx.device_key(dx.parse_device(xml))
        alias, _at = ops.attach_live(conn, dom, xml, key, timeout=30)
        t_event = time.monotonic()
        assert alias and key == "disk[vdb]"
        ccw = console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="ccw", busid=bus_id(devno))
        blk = console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="block", bus="ccw:" + bus_id(devno))
        t_guest = time.monotonic()
        assert ccw["cutype"] == "3832/02"
        assert blk["size"] == str(32 * 1024 * 1024 // 512)
        timings["blk_attach_event_s"] = round(t_event - t0, 3)
        timings["blk_attach_guest_s"] = round(t_guest - t0, 3)

        since = console.mark()
        t0 = time.monotonic()
        ops.detach_live(conn, dom, ops.find_device(ops.xml_of(dom), key), timeout=30)
        t_event = time.monotonic()
        console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="block", name=blk["name"])
        console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="ccw", busid=bus_id(devno))
        timings["blk_detach_event_s"] = round(t_event - t0, 3)
        timings["blk_detach_guest_s"] = round(time.monotonic() - t0, 3)
        assert "vdb" not in dom.XMLDesc(0)

        # ---- virtio-net at devno 0x0011
        devno = 0x0011
        mac = "52:54:00:5a:39:11"
        since = console.mark()
        t0 = time.monotonic()
        ops.attach_live(conn, dom, interface_xml(mac, devno=devno), "interface[%s]" % mac, timeout=30)
        t_event = time.monotonic()
        net = console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="net", mac=mac)
        assert net["bus"] == "ccw:" + bus_id(devno)
        timings["net_attach_event_s"] = round(t_event - t0, 3)
        timings["net_attach_guest_s"] = round(time.monotonic() - t0, 3)

        since = console.mark()
        t0 = time.monotonic()
        ops.detach_live(conn, dom, ops.find_device(ops.xml_of(dom), "interface[%s]" % mac), timeout=30)
        t_event = time.monotonic()
        console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="net", name=net["name"])
        console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="ccw", busid=bus_id(devno))
        timings["net_detach_event_s"] = round(t_event - t0, 3)
        timings["net_detach_guest_s"] = round(time.monotonic() - t0, 3)
        # nothing but the hot-plugged devices came or went
        moved = {r.get("busid") or r.get("bus") or r.get("name") for r in console.records(kind="HOTPLUG")}
        assert moved <= {"0.0.0010", "ccw:0.0.0010", "0.0.0011", "ccw:0.0.0011", blk["name"], net["name"]}, moved
    finally:
        conn.close()
    testbed_results["hotplug"] = timings
    print("\nhotplug timings (s): %s" % timings)
