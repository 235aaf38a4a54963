"""ansible-playbook s390x.kvm.migrate on the two real libvirt hosts: a running s390x guest with
virtio-blk and virtio-net on CCW plus a virtio-net-pci on zPCI (which QEMU refuses to migrate)
goes there and back. The guest sees the zPCI function removed before and added after each
migration, its heartbeat goes on, it is not rebooted, and every device is there at the end."""

import os

import libvirt
import pytest

from tests.testbed.playbook import LIBVIRT_INVENTORY, run_playbook

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(900)]

PCI_MAC = "52:54:00:5a:39:55"
PCI_KEY = "interface[%s]" % PCI_MAC


@pytest.fixture
def zpci_guest(s390x_domains):
    return s390x_domains.start_migratable("tb-mig", "52:54:00:5a:39:51", PCI_MAC)


def migrate(name, to, workdir, tag):
    return run_playbook("s390x.kvm.migrate", LIBVIRT_INVENTORY, os.path.join(workdir, "migrate-%s.jsonl" % tag),
                        extra_vars={"migrate_guest": name, "migrate_to": to})


def test_playbook_migrates_there_and_back_with_the_zpci_device(zpci_guest, libvirt_hosts, testbed_workdir,
                                                                testbed_results):
    name, console = zpci_guest
    hosts = {"kvmhost1": libvirt_hosts["kvmhost1"], "kvmhost2": libvirt_hosts["kvmhost2"]}
    timings = {}
    for label, src, dst in (("there", "kvmhost1", "kvmhost2"), ("back", "kvmhost2", "kvmhost1")):
        last = console.records(kind="HEARTBEAT")[-1]
        since = console.mark()
        run = migrate(name, dst, testbed_workdir, label)
        assert run.rc == 0, run.failures()
        result = run.result("Migrate (unplug, migrate, replug)", host=src)
        assert result["outcome"] == "migrated" and result["changed"] is True
        assert result["host"] == hosts[dst].uri
        preflight = run.result("Preflight", host=src)
        assert preflight["preflight"]["passed"] and preflight["outcome"] == "planned"
        assert [d["key"] for d in preflight["preflight"]["devices"]] == [PCI_KEY]
        (device,) = result["devices"]
        assert device["key"] == device["target"] == PCI_KEY and device["status"] == "replugged"
        assert 0 < device["outage_s"] < 60
        assert result["job"]["time_elapsed"] > 0 and "downtime" in result["job"]
        assert set(result["phases"]) >= {"preflight", "unplug", "migrate", "replug"}
        # what the guest saw: the zPCI function went away, then came back, in that order
        removed = console.wait("HOTPLUG", timeout=60, since=since, action="remove", dev="pci", addr="0005:00:00.0")
        added = console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="pci", addr="0005:00:00.0")
        records = console.records(since=since, kind="HOTPLUG")
        assert records.index(removed) < records.index(added)
        assert added["fid"] == "0x0000000a" and added["driver"] == "virtio-pci"
        console.wait("HOTPLUG", timeout=60, since=since, action="add", dev="net", mac=PCI_MAC)
        # the heartbeat goes on counting: the same guest, never restarted
        beat = console.wait("HEARTBEAT", timeout=60, since=console.mark())
        assert int(beat["seq"]) > int(last["seq"]) and float(beat["uptime"]) > float(last["uptime"])
        # it runs on the destination only, defined there only, with every device (live and persistent)
        dest, source = hosts[dst].conn(), hosts[src].conn()
        dom = dest.lookupByName(name)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and dom.isPersistent()
        with pytest.raises(libvirt.libvirtError):
            source.lookupByName(name)
        for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
            text = dom.XMLDesc(flags)
            assert PCI_MAC in text and "52:54:00:5a:39:51" in text and "tb-mig-vda.qcow2" in text
            assert "s390x-kvm.github.io/xmlns/migration" not in text       # the journal is gone
        timings[label] = {"playbook_s": round(run.seconds, 2), "phases": result["phases"],
                          "outage_s": device["outage_s"], "downtime_ms": result["job"].get("downtime"),
                          "elapsed_ms": result["job"].get("time_elapsed")}
        # again: already there, nothing changes
        again = migrate(name, dst, testbed_workdir, label + "-again")
        assert again.rc == 0, again.failures()
        assert again.changed == 0 and "already runs on %s" % dst in again.text
    assert len(console.records(kind="BOOT")) == 1, "the guest booted again"
    testbed_results["migrate_playbook"] = timings
    print("\nmigrate playbook: %s" % timings)
