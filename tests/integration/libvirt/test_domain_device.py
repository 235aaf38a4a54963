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


def test_structured_entries_through_ansible(guest, testbed_workdir):
    """devices given as the guest role's entries: the action plugin renders them with the role's model
    and templates against the guest's XML, the module hotplugs them; a second run changes nothing."""
    import subprocess

    import yaml

    from tests.testbed.playbook import LIBVIRT_INVENTORY, run_playbook
    host, dom, console = guest
    subprocess.run(["ip", "-n", "s390xkvm-h1", "link", "add", "ddbr0", "up", "type", "bridge"], capture_output=True)
    image = create_disk(os.path.join(testbed_workdir, "tb-devices-vdc.qcow2"), size="16M")
    devices = [{"type": "disk", "name": "vdc", "kind": "image", "path": image},
               {"type": "interface", "kind": "bridge", "source": "ddbr0", "transport": "pci", "zpci_uid": 9,
                "zpci_fid": 25}]
    book = os.path.join(testbed_workdir, "domain-device.yml")
    with open(book, "w") as handle:
        yaml.safe_dump([{"name": "domain_device with the guest role's entries", "hosts": "kvmhost1",
                         "gather_facts": False, "tasks": [
                             {"name": "first attach", "s390x.kvm.domain_device": {
                                 "uri": "{{ libvirt_uri }}", "name": dom.name(), "devices": devices}},
                             {"name": "second attach", "s390x.kvm.domain_device": {
                                 "uri": "{{ libvirt_uri }}", "name": dom.name(), "devices": devices}},
                             {"name": "detach", "s390x.kvm.domain_device": {
                                 "uri": "{{ libvirt_uri }}", "name": dom.name(), "devices": devices,
                                 "state": "absent"}},
                             {"name": "a bad entry", "s390x.kvm.domain_device": {
                                 "uri": "{{ libvirt_uri }}", "name": dom.name(),
                                 "devices": [{"type": "disk", "name": "vdd", "kind": "image", "path": "relative.img"}]},
                              "ignore_errors": True}]}], handle)
    try:
        since = console.mark()
        run = run_playbook(book, LIBVIRT_INVENTORY, os.path.join(testbed_workdir, "domain-device.jsonl"))
        attached, again, detached, bad = (run.result(name) for name in ("first attach", "second attach", "detach",
                                                                         "a bad entry"))
        assert attached["changed"] and [d["live"] for d in attached["devices"]] == ["attached", "attached"], attached
        assert attached["devices"][0]["key"] == "disk[vdc]"
        assert not again["changed"] and {d["live"] for d in again["devices"]} == {"present"}
        assert detached["changed"] and [d["live"] for d in detached["devices"]] == ["detached", "detached"]
        assert [r["status"] for r in run.records if r["task"] == "a bad entry"] == ["failed"]
        assert "devices[0].path" in bad["msg"]
        console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="pci", addr="0009:00:00.0")
        console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="pci", addr="0009:00:00.0")
    finally:
        subprocess.run(["ip", "-n", "s390xkvm-h1", "link", "del", "ddbr0"], capture_output=True)
