"""s390x.kvm.domain_device on a real libvirtd with a running s390x guest: a zPCI virtio-net and a
CCW disk detached and attached again, live and in the definition; the guest's acknowledgement is
what ends each detach, and the guest sees the devices go and come; check mode and a second run
change nothing; a paused guest that cannot acknowledge a zPCI removal fails the task by name."""

import os

import pytest

from tests.testbed.playbook import run_module
from tests.testbed.pytest_libvirt import create_disk, disk_xml, zpci_interface_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(600)]

MAC = "52:54:00:5a:39:77"


@pytest.fixture
def guest(basic_guest, testbed_workdir):
    host, dom, console, _ = basic_guest("tb-devices")
    console.wait("READY", timeout=240)
    return host, dom, console


def device(host, dom, state, xml, check=False, **args):
    return run_module("domain_device", check=check, uri=host.uri, name=dom.name(), state=state, xml=xml, **args)


def test_detach_and_attach_zpci_and_ccw_devices(guest, testbed_workdir, testbed_results):
    host, dom, console = guest
    nic = zpci_interface_xml(MAC, uid=7, fid=0x17)
    disk = disk_xml(create_disk(os.path.join(testbed_workdir, "tb-devices-vdb.qcow2"), size="16M"), "vdb", devno=0x0020)

    planned = device(host, dom, "present", [nic, disk], check=True)
    assert planned["changed"] and [d["live"] for d in planned["devices"]] == ["attached", "attached"]
    assert MAC not in dom.XMLDesc(0), "check mode attached something"

    since = console.mark()
    done = device(host, dom, "present", [nic, disk])
    assert done["changed"], done
    assert [(d["key"], d["live"], d["config"]) for d in done["devices"]] == [
        ("interface[%s]" % MAC, "attached", "attached"), ("disk[vdb]", "attached", "attached")]
    console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="pci", addr="0007:00:00.0")
    console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="block", bus="ccw:0.0.0020")
    assert "diff" in done and "interface[%s]" % MAC in done["diff"][0]["after"]

    again = device(host, dom, "present", [nic, disk])
    assert not again["changed"] and {d["live"] for d in again["devices"]} == {"present"}

    since = console.mark()
    gone = device(host, dom, "absent", [nic, disk])
    assert gone["changed"] and [d["live"] for d in gone["devices"]] == ["detached", "detached"]
    assert all(d["confirmed_at"] for d in gone["devices"])
    console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="pci", addr="0007:00:00.0")
    console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="ccw", busid="0.0.0020")
    assert MAC not in dom.XMLDesc(0) and MAC not in dom.XMLDesc(2)      # 2: VIR_DOMAIN_XML_INACTIVE
    assert not device(host, dom, "absent", [nic, disk])["changed"]
    testbed_results["domain_device"] = {"attach_s": done["seconds"], "detach_s": gone["seconds"]}


def test_paused_guest_cannot_acknowledge_a_zpci_removal(guest):
    host, dom, console = guest
    nic = zpci_interface_xml(MAC, uid=8, fid=0x18)
    since = console.mark()
    assert device(host, dom, "present", [nic], config=False)["changed"]
    console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="pci", addr="0008:00:00.0")
    since = console.mark()
    dom.suspend()
    try:
        failed = device(host, dom, "absent", [nic], config=False, wait_timeout=2)
        assert failed.get("failed"), failed
        assert "did not acknowledge the removal of interface[%s] within 2 s" % MAC in failed["msg"]
        assert failed["devices"][0]["live"] == "failed"
        assert MAC in dom.XMLDesc(0), "reported as not removed, so it must still be attached"
    finally:
        dom.resume()
    # the request stays pending in QEMU: the guest, running again, lets the device go
    console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="pci", addr="0008:00:00.0")
    bad = device(host, dom, "absent", ["<interface type='bridge'><model type='virtio'/></interface>"])
    assert bad.get("failed") and "has no identity" in bad["msg"] and "xml[0]" in bad["msg"]
