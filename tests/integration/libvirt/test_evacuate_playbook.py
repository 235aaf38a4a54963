"""ansible-playbook s390x.kvm.evacuate on the two real libvirt hosts: kvmhost1 runs three s390x
guests - one plain (CCW only), one with a zPCI virtio-net (unplugged and plugged in again), one with
virtio-fs (cannot move live: reported and, with the skip policy, left where it is). The plan (check
mode) changes nothing; the run moves two guests to kvmhost2 with their devices and marks kvmhost1
as in maintenance (deploy_guests then places nothing there); restore brings them back. No guest
restarts."""

import json
import os

import pytest

from tests.testbed.playbook import LIBVIRT_INVENTORY, run_playbook
from tests.testbed.pytest_libvirt import create_disk, disk_xml, interface_xml, virtiofs_xml, \
    zpci_interface_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(900)]

PCI_MAC = "52:54:00:5a:3e:02"


@pytest.fixture
def three_guests(s390x_domains, testbed_workdir):
    host = s390x_domains.hosts["kvmhost1"]
    share = os.path.join(testbed_workdir, "ev-share")
    os.makedirs(share, exist_ok=True)
    guests = {}
    for name, extra in (("ev-plain", {}),
                        ("ev-zpci", {"interfaces": [interface_xml("52:54:00:5a:3e:01", devno=2),
                                                    zpci_interface_xml(PCI_MAC, uid=5, fid=10)]}),
                        ("ev-fs", {"extra_devices": [virtiofs_xml(share, "evshare", devno=4)], "shared_memory": True})):
        disk = create_disk(os.path.join(testbed_workdir, "%s.qcow2" % name))
        dom, console, _ = s390x_domains.start(host, name, disks=[disk_xml(disk, "vda", devno=1)], memory_mib=256,
                                              **extra)
        guests[name] = (dom.name(), console)
    for _name, console in guests.values():
        console.wait("READY", timeout=300)
    state = os.path.join(host.dir, "state")
    for leftover in ("maintenance", "evacuated.json"):
        if os.path.exists(os.path.join(state, leftover)):
            os.unlink(os.path.join(state, leftover))
    yield guests
    for leftover in ("maintenance", "evacuated.json"):
        if os.path.exists(os.path.join(state, leftover)):
            os.unlink(os.path.join(state, leftover))


def evacuate(workdir, tag, *options, **extra_vars):
    extra = dict({"evacuate_host": "kvmhost1"}, **extra_vars)
    return run_playbook("s390x.kvm.evacuate", LIBVIRT_INVENTORY, os.path.join(workdir, "evacuate-%s.jsonl" % tag),
                        extra_vars=extra, options=options)


def test_evacuate_plan_run_and_restore(three_guests, libvirt_hosts, testbed_workdir, testbed_results):
    names = dict((short, full) for short, (full, _console) in three_guests.items())
    host1, host2 = libvirt_hosts["kvmhost1"], libvirt_hosts["kvmhost2"]
    state = os.path.join(host1.dir, "state")

    plan_run = evacuate(testbed_workdir, "plan", "--check")
    assert plan_run.rc == 0, plan_run.failures()
    plan = plan_run.result("Plan")["ansible_facts"]["evacuate_plan"]
    assert sorted((m["guest"], m["destination"]) for m in plan["moves"]) == sorted(
        [(names["ev-plain"], "kvmhost2"), (names["ev-zpci"], "kvmhost2")])
    (stuck,) = plan["unmovable"]
    assert stuck["guest"] == names["ev-fs"] and "virtio-fs" in stuck["reason"]
    assert sorted(host1.domain_names(active_only=True)) == sorted(names.values()), "check mode moved something"
    assert not os.path.exists(os.path.join(state, "maintenance"))

    refused = evacuate(testbed_workdir, "refused")
    assert refused.rc != 0 and "cannot move" in " ".join(refused.failures())
    assert sorted(host1.domain_names(active_only=True)) == sorted(names.values()), "the fail policy changed something"

    done = evacuate(testbed_workdir, "run", evacuate_unmovable_policy="skip")
    assert done.rc == 0, done.failures()
    assert sorted(host2.domain_names(active_only=True)) == sorted([names["ev-plain"], names["ev-zpci"]])
    assert host1.domain_names(active_only=True) == [names["ev-fs"]]
    assert PCI_MAC in host2.conn().lookupByName(names["ev-zpci"]).XMLDesc(0), "the zPCI NIC is back on kvmhost2"
    assert os.path.exists(os.path.join(state, "maintenance"))
    with open(os.path.join(state, "evacuated.json")) as handle:
        assert json.load(handle) == {names["ev-plain"]: {"destination": "kvmhost2", "how": "live"},
                                     names["ev-zpci"]: {"destination": "kvmhost2", "how": "live"}}
    summary = done.result("Summary")["msg"]
    assert any(names["ev-zpci"] in line and "migrated" in line for line in summary)
    assert any(names["ev-fs"] in line and "stayed" in line for line in summary)

    # the host in maintenance gets no new guest
    placed = run_playbook("s390x.kvm.deploy_guests", LIBVIRT_INVENTORY, os.path.join(testbed_workdir, "deploy.jsonl"),
                          extra_vars={"deploy_guests_hosts": "kvmhost1", "kvm_guests": [{"name": "ev-new"}]})
    assert placed.rc != 0 and "kvmhost1 is in maintenance" in " ".join(placed.failures())

    back = evacuate(testbed_workdir, "restore", evacuate_mode="restore")
    assert back.rc == 0, back.failures()
    assert sorted(host1.domain_names(active_only=True)) == sorted(names.values())
    assert host2.domain_names() == [] or not set(host2.domain_names()) & set(names.values())
    assert PCI_MAC in host1.conn().lookupByName(names["ev-zpci"]).XMLDesc(0)
    assert not os.path.exists(os.path.join(state, "maintenance"))
    with open(os.path.join(state, "evacuated.json")) as handle:
        assert json.load(handle) == {}
    for short, (_full, console) in three_guests.items():
        assert len(console.records(kind="BOOT")) == 1, "%s restarted" % short
    testbed_results["evacuate"] = {"plan_s": round(plan_run.seconds, 1), "run_s": round(done.seconds, 1),
                                   "restore_s": round(back.seconds, 1)}
