"""s390x.kvm.migrate between the two libvirt stacks of the test bed: a guest started on libvirt 9.0 /
QEMU 7.2 (Debian 12, machine s390-ccw-virtio-7.2) moves to libvirt 11 / QEMU 10 (Debian 13) and back,
running all along; a guest started on QEMU 10 (s390-ccw-virtio-10.0) is refused by the preflight on
its way to QEMU 7.2, which has no such machine, and nothing changes."""

import os

import pytest

from tests.testbed.playbook import run_module
from tests.testbed.pytest_libvirt import LibvirtHosts, TestDomains, create_disk, disk_xml, interface_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(900)]


def migrate(name, src, dst):
    return run_module("migrate", name=name, uri=src.uri, dest_uri=dst.uri, migrate_uri=dst.migration_uri,
                      listen_address=dst.migration_address, unsafe=True)


def machine(host, name):
    import xml.etree.ElementTree as ET
    return ET.fromstring(host.conn().lookupByName(name).XMLDesc(0)).find("./os/type").get("machine")


@pytest.fixture
def domains(stack_pair, s390x_guest_image, testbed_workdir):
    started = TestDomains(LibvirtHosts(stack_pair), s390x_guest_image, testbed_workdir)
    yield started
    started.cleanup()


def start(domains, host, name, workdir):
    disk = create_disk(os.path.join(workdir, "%s-vda.qcow2" % name))
    return domains.start(host, name, disks=[disk_xml(disk, "vda", devno=0x0001)],
                         interfaces=[interface_xml("52:54:00:5a:3a:01", devno=0x0002)], cmdline_extra="tb.heartbeat=1")


def test_a_guest_of_qemu_7_2_moves_to_qemu_10_and_back(stack_pair, domains, testbed_workdir, testbed_results):
    old, new = stack_pair
    dom, console, _ = start(domains, old, "tb-stacks", testbed_workdir)
    name = dom.name()
    console.wait("READY", timeout=240)
    assert machine(old, name) == "s390-ccw-virtio-7.2"
    timings = {}
    for label, src, dst in (("9.0->11", old, new), ("11->9.0", new, old)):
        since = console.mark()
        result = migrate(name, src, dst)
        assert not result.get("failed") and result["outcome"] == "migrated", result
        assert machine(dst, name) == "s390-ccw-virtio-7.2"       # the machine it started on, on both QEMUs
        console.wait("HEARTBEAT", timeout=60, since=since)
        timings[label] = result["job"].get("time_elapsed") if result.get("job") else None
    assert len(console.records(kind="BOOT")) == 1, "the guest booted again"
    testbed_results["migration_between_stacks_ms"] = timings


def test_a_guest_of_qemu_10_is_refused_by_qemu_7_2_and_nothing_changes(stack_pair, domains, testbed_workdir):
    old, new = stack_pair
    dom, console, _ = start(domains, new, "tb-stacks-new", testbed_workdir)
    name = dom.name()
    console.wait("READY", timeout=240)
    runs_on = machine(new, name)
    assert runs_on.startswith("s390-ccw-virtio-") and runs_on != "s390-ccw-virtio-7.2"
    result = migrate(name, new, old)
    assert result.get("failed") and "preflight refused" in result["msg"], result
    assert "the destination's QEMU has no machine %s (its newest: s390-ccw-virtio-7.2)" % runs_on in result["msg"]
    assert not result["changed"]
    assert name in new.domain_names(active_only=True) and name not in old.domain_names()
