# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_evacuation: plans over fixture fleets - capacity, devices claimed once, anti-affinity, CPU
generations, maintenance, guests that cannot move and why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.plugin_utils import _evacuation as ev

GIB = 1024 * 1024


def guest(name, memory_gib=1, vcpus=1, devices="", cpu="gen15a"):
    return {"name": name, "state": "running", "xml": """<domain type='kvm'><name>%s</name>
<memory unit='GiB'>%d</memory><vcpu>%d</vcpu><cpu mode='custom' match='exact'><model>%s</model></cpu>
<os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os><devices>%s</devices></domain>"""
            % (name, memory_gib, vcpus, cpu, devices)}


def mdev(uuid, devno):
    return ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='%s'/></source>"
            "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x%04x'/></hostdev>" % (uuid, devno))


def host(free_gib, cpus=8, model="gen16a", pools=None, maintenance=False, running=()):
    return {"memory": {"available_kib": free_gib * GIB}, "cpus": {"online": cpus}, "maintenance": maintenance,
            "device_pools": pools or {},
            "libvirt": {"host_cpu_model": model, "running_vcpus": 0,
                        "guests": [{"name": g, "state": "running"} for g in running]}}


UUIDS = ["aaaaaaaa-0000-4000-8000-00000000000%d" % i for i in range(4)]


def with_pool(entry, uuid, pool="dasd:IBM.750000000FG861.7b00"):
    entry["pools"] = {uuid: pool}
    return entry


def test_devices_are_claimed_once_across_the_plan():
    guests = [with_pool(guest("g%d" % i, devices=mdev(UUIDS[i], 0x100)), UUIDS[i]) for i in range(3)]
    hosts = {"h1": host(64, pools={"dasd:IBM.750000000FG861.7b00": ["0.0.7b00", "0.0.7b01"]}),
             "h2": host(64)}
    plan = ev.plan("h0", guests, hosts)
    targets = [d["target"] for m in plan["moves"] for d in m["devices"]]
    assert sorted(targets) == ["0.0.7b00", "0.0.7b01"], "each free device given once"
    assert all(m["destination"] == "h1" for m in plan["moves"])
    (stuck,) = plan["unmovable"]
    assert stuck["guest"] == "g2" and "no free device of pool dasd:IBM.750000000FG861.7b00 left" in stuck["reason"]
    assert "h2: no free device" in stuck["reason"]


def test_no_host_without_the_memory():
    plan = ev.plan("h0", [guest("big", memory_gib=12), guest("small", memory_gib=2)],
                   {"h1": host(10), "h2": host(14)})
    assert dict((m["guest"], m["destination"]) for m in plan["moves"]) == {"big": "h2", "small": "h1"}
    plan = ev.plan("h0", [guest("huge", memory_gib=40)], {"h1": host(10), "h2": host(14)})
    assert plan["moves"] == [] and "h1: 9216 MiB free after its reserve, the guest needs 40960 MiB" in \
        plan["unmovable"][0]["reason"]


def test_memory_is_counted_down_as_guests_are_placed():
    plan = ev.plan("h0", [guest(n, 6) for n in "abcd"], {"h1": host(14), "h2": host(8)})
    placed = [(m["guest"], m["destination"]) for m in plan["moves"]]
    assert placed == [("a", "h1"), ("b", "h2"), ("c", "h1")]     # ties on memory go to the host with more vCPUs left
    assert [u["guest"] for u in plan["unmovable"]] == ["d"]
    for name, free in (("h1", 14), ("h2", 8)):
        assert sum(m["memory_kib"] for m in plan["moves"] if m["destination"] == name) <= (free - 1) * GIB


def test_anti_affinity_generations_maintenance_and_vcpus():
    hosts = {"h1": host(64, model="gen14a"), "h2": host(64, running=["db1"]), "h3": host(64, maintenance=True)}
    plan = ev.plan("h0", [guest("db2", cpu="gen15a"), guest("web", vcpus=3)], hosts, anti_affinity=[["db1", "db2"]])
    stuck = dict((u["guest"], u["reason"]) for u in plan["unmovable"])
    assert "h1: its CPU (generation 14) is older than the guest's model gen15a" in stuck["db2"]
    assert "h2: anti-affinity with db1 there" in stuck["db2"] and "h3: in maintenance" in stuck["db2"]
    assert dict((m["guest"], m["destination"]) for m in plan["moves"]) == {"web": "h2"}
    plan = ev.plan("h0", [guest("wide", vcpus=5)], {"h4": host(64, cpus=1)})
    assert "h4: 4 vCPUs left, the guest needs 5" in plan["unmovable"][0]["reason"]


def test_guests_that_cannot_move_say_why():
    fs = ("<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/srv'/>"
          "<target dir='share'/></filesystem>")
    ap = ("<hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address "
          "uuid='cccccccc-0000-4000-8000-00000000000c'/></source></hostdev>")
    zpci = ("<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/>"
            "<address type='pci'><zpci uid='0x0005' fid='0x0000000a'/></address></interface>")
    guests = [guest("fs", devices=fs), guest("crypto", devices=ap), guest("nic", devices=zpci),
              guest("dasd", devices=mdev(UUIDS[0], 0x100))]
    plan = ev.plan("h0", guests, {"h1": host(64)})
    stuck = dict((u["guest"], u["reason"]) for u in plan["unmovable"])
    assert "virtio-fs: IBM requires it unmounted" in stuck["fs"]
    assert "set ap_policy=unplug" in stuck["crypto"]
    assert "no device pool is known for its host device %s" % UUIDS[0] in stuck["dasd"]
    assert [m["guest"] for m in plan["moves"]] == ["nic"]      # emulated zPCI: unplugged and plugged in again
    assert all(u["cold_destination"] is None for u in plan["unmovable"])
    cold = ev.plan("h0", guests, {"h1": host(64)}, options={"unmovable_policy": "shutdown"})
    assert dict((u["guest"], u["cold_destination"]) for u in cold["unmovable"]) == {
        "fs": "h1", "crypto": "h1", "dasd": "h1"}


def test_generation_names_and_bad_input():
    names = ("gen16a", "gen15b-base", "z14", "z13s", "qemu", None)
    assert [ev.generation(m) for m in names] == [16, 15, 14, 13, None, None]
    with pytest.raises(ev.PlanError, match="hosts.h1: no memory facts"):
        ev.plan("h0", [guest("a")], {"h1": {"cpus": {"online": 2}}})


def test_waves_keep_the_limits():
    moves = [{"guest": g, "destination": d} for g, d in (("a", "h1"), ("b", "h1"), ("c", "h2"), ("d", "h2"),
                                                         ("e", "h3"))]
    assert [[m["guest"] for m in w] for w in ev.waves(moves)] == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert [[m["guest"] for m in w] for w in ev.waves(moves, max_per_source=3)] == [["a", "c", "e"], ["b", "d"]]
    assert [[m["guest"] for m in w] for w in ev.waves(moves, max_per_source=4, max_per_destination=2, max_total=3)] \
        == [["a", "b", "c"], ["d", "e"]]
    with pytest.raises(ev.PlanError, match="max_per_destination must be a whole number of at least 1, got 0"):
        ev.waves(moves, max_per_destination=0)


def test_hosts_summary_and_record_from_loop_results():
    facts = [{"item": "h1", "memory": {"available_kib": GIB}, "cpus": {"online": 2}, "libvirt": {}}]
    marks = [{"item": "h1", "stat": {"exists": True}}]
    hosts = ev.hosts_from_results(facts, marks, {"h1": {"p": ["x"]}})
    assert hosts["h1"]["maintenance"] is True and hosts["h1"]["device_pools"] == {"p": ["x"]}
    with pytest.raises(ev.PlanError, match="host_info failed on h2: boom"):
        ev.hosts_from_results([{"item": "h2", "failed": True, "msg": "boom"}])
    results = [
        {"finished": 1, "outcome": "migrated", "job": {"downtime": 30},
         "devices": [{"target": "interface[m]", "status": "replugged"}],
         "evacuate__job": {"evacuate__move": {"guest": "a", "destination": "h1"}}},
        {"finished": 1, "failed": True, "outcome": "rolled_back", "msg": "link down",
         "evacuate__job": {"evacuate__move": {"guest": "b", "destination": "h1"}}},
        {"skipped": True, "evacuate__job": {"skipped": True, "evacuate__move": {"guest": "c", "destination": "h2"}}},
    ]
    summary = ev.summary(results)
    assert [(s["guest"], s["outcome"], s["error"]) for s in summary] == [
        ("a", "migrated", None), ("b", "rolled_back", "link down"), ("c", "not started", None)]
    assert summary[0]["devices"] == ["interface[m]"] and summary[0]["downtime_ms"] == 30
    assert ev.record({"old": {"destination": "h9", "how": "cold"}}, summary) == {
        "old": {"destination": "h9", "how": "cold"}, "a": {"destination": "h1", "how": "live"}}
