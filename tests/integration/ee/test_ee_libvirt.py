"""Jobs in the execution environment against the two real libvirt hosts of the test bed, run by
ansible-runner as AWX runs them: s390x.kvm.domain_info on a running s390x guest, then the
s390x.kvm.migrate playbook moving it live to the other host with its zPCI device (which QEMU refuses
to migrate) unplugged before and plugged back after. The hosts are reached through libvirtd's unix
sockets, so their directory is mounted into the job's container at the path the inventory names;
the libvirt binding is the image's (Debian 13's python3-libvirt), the daemons are the stack's."""

import os

import libvirt
import pytest

from tests.testbed import ee
from tests.testbed.playbook import LIBVIRT_INVENTORY
from tests.testbed.pytest_libvirt import LIBVIRT_DIR

# The Debian 12 stack: libvirt 9.0 daemons, reached from the image's libvirt 11.3 client.
pytestmark = [pytest.mark.libvirt, pytest.mark.stacks("debian12"), pytest.mark.timeout(900)]

PCI_MAC = "52:54:00:5a:39:65"
PCI_KEY = "interface[%s]" % PCI_MAC

DOMAIN_INFO = [{
    "name": "Read the guest on its host",
    "hosts": "kvmhost1",
    "gather_facts": False,
    "tasks": [{"name": "Read the guest",
               "s390x.kvm.domain_info": {"uri": "{{ libvirt_uri }}", "names": ["{{ guest }}"]}}],
}]


@pytest.fixture
def ee_guest(s390x_domains):
    """A running guest on kvmhost1: virtio-blk and virtio-net on CCW, virtio-net-pci on zPCI."""
    return s390x_domains.start_migratable("tb-ee", "52:54:00:5a:39:61", PCI_MAC)


def libvirt_job(data_dir, playbook, project, image, stack, extravars):
    """A job with the test bed's libvirt inventory; its hosts' directory mounted where it names it."""
    return ee.run_job(data_dir, playbook, project, LIBVIRT_INVENTORY, image=image, extravars=extravars,
                      envvars={"S390X_KVM_CACHE": ee.CACHE, "S390X_KVM_TESTBED_STACK": stack},
                      mounts=["%s:%s" % (LIBVIRT_DIR, LIBVIRT_DIR)])


def test_domain_info_and_migrate_in_the_execution_environment(ee_image, libvirt_hosts, ee_guest, ee_jobs,
                                                              testbed_results):
    name, console = ee_guest
    source, dest = libvirt_hosts["kvmhost1"], libvirt_hosts["kvmhost2"]

    info_job = libvirt_job(os.path.join(ee_jobs, "domain-info"), "domain_info.yml", {"domain_info.yml": DOMAIN_INFO},
                           ee_image, libvirt_hosts.stack, {"guest": name})
    assert info_job.ok, "%r: %s" % (info_job, info_job.failures())
    (domain,) = info_job.result("Read the guest", host="kvmhost1")["domains"]
    assert domain["name"] == name and domain["state"] == "running" and domain["arch"] == "s390x"
    assert PCI_KEY in [d["key"] for d in domain["devices"]]
    # QEMU refuses to migrate any zPCI device; migrate unplugs it (and the disk's image is local)
    assert PCI_KEY in [b["device"] for b in domain["migration_blockers"]] and domain["migratable"] is False

    last = console.records(kind="HEARTBEAT")[-1]
    since = console.mark()
    job = libvirt_job(os.path.join(ee_jobs, "migrate"), "migrate.yml",
                      {"migrate.yml": ee.import_playbook("s390x.kvm.migrate")}, ee_image, libvirt_hosts.stack,
                      {"migrate_guest": name, "migrate_to": "kvmhost2"})
    assert job.ok, "%r: %s" % (job, job.failures())
    result = job.result("Migrate (unplug, migrate, replug)", host="kvmhost1")
    assert result["outcome"] == "migrated" and result["changed"] is True and result["host"] == dest.uri
    (device,) = result["devices"]
    assert device["key"] == PCI_KEY and device["status"] == "replugged"
    # what the guest saw: the zPCI function went away and came back; its heartbeat went on
    removed = console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="pci", addr="0005:00:00.0")
    added = console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="pci", addr="0005:00:00.0")
    records = console.records(since=since, kind="HOTPLUG")
    assert records.index(removed) < records.index(added)
    beat = console.wait("HEARTBEAT", timeout=60, since=console.mark())
    assert int(beat["seq"]) > int(last["seq"])
    assert len(console.records(kind="BOOT")) == 1, "the guest booted again"
    # it runs on the destination only, with every device
    dom = dest.conn().lookupByName(name)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and dom.isPersistent() and PCI_MAC in dom.XMLDesc(0)
    with pytest.raises(libvirt.libvirtError):
        source.conn().lookupByName(name)
    testbed_results["ee_jobs"] = {"domain_info_s": round(info_job.seconds, 2), "migrate_s": round(job.seconds, 2),
                                  "phases": result["phases"], "outage_s": device["outage_s"]}
    print("\nee jobs: domain_info %.1f s, migrate %.1f s (phases %s)" % (
        info_job.seconds, job.seconds, result["phases"]))
