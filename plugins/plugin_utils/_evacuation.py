# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning the evacuation of a KVM host on IBM Z: for each guest it runs, a destination that can
take it - free memory and vCPUs, a CPU model at least as new as the guest's, a free device of the
right pool for each pass-through device (claimed once across the whole plan, so two guests never
get the same one), anti-affinity groups kept apart - or the reason it cannot move.

Pure data in, data out (the evacuate role gathers the facts with domain_info and host_info), so the
planner is tested over fleets of any size without a host. Guests are placed largest first (memory,
then vCPUs), each on the candidate with the most memory left after it (spreading the load, as an
evacuation wants), ties broken by name, so a plan is deterministic.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils import _migration_rules as migration_rules

DEFAULTS = {"memory_reserve_mib": 1024, "vcpu_overcommit": 4.0, "ap_policy": "refuse", "copy_storage": "none",
            "unsafe": False, "unmovable_policy": "fail"}

_GENERATION = re.compile(r"^(?:gen(\d+)[a-z]?|z(\d+)(?:\.\d+)?)(?:-base)?$", re.IGNORECASE)
# IBM Z CPU model names QEMU/libvirt use for the machine generations (z13 = gen13a, ... z17 = gen17a).
_NAMED = {"z900": 5, "z990": 6, "z9ec": 7, "z9bc": 7, "z10ec": 8, "z10bc": 8, "z196": 9, "z114": 9, "zec12": 10,
          "zbc12": 10, "z13": 13, "z13s": 13, "z14": 14, "z14zr1": 14, "z15": 15, "z16": 16, "z17": 17}


class PlanError(ValueError):
    """Input the planner cannot use; the message names it."""


def generation(model):
    """The IBM Z generation of a CPU model name (``gen16a`` -> 16, ``z15`` -> 15), or None."""
    if not model:
        return None
    name = str(model).lower().replace(" ", "").replace("-base", "")
    if name in _NAMED:
        return _NAMED[name]
    match = _GENERATION.match(name)
    if match:
        return int(match.group(1) or match.group(2))
    return None


def guest_needs(guest, options):
    """What moving ``guest`` (a domain_info entry with ``xml``) takes: (memory KiB, vCPUs, CPU model,
    [device pool keys], [reasons it cannot move])."""
    root = domain_xml.parse(guest["xml"])
    items = migration_rules.classify(root, None, None, options["copy_storage"], options["unsafe"],
                                     options["ap_policy"])
    refused = ["%s: %s" % (i["key"], i["reason"]) for i in items if i["action"] == migration_rules.REFUSE]
    pools = []
    for item in items:
        if item["action"] != migration_rules.UNPLUG:
            continue
        source = migration_rules.host_source(item["element"])
        if source is None:
            continue        # emulated (zPCI virtio): plugged in again as it is, nothing of the host's
        pool = guest.get("pools", {}).get(source)
        if pool is None:
            refused.append("%s: no device pool is known for its host device %s (give it in evacuate_device_pools)"
                           % (item["key"], source))
        else:
            pools.append({"key": item["key"], "source": source, "pool": pool})
    cpu = root.find("cpu")
    model = cpu.findtext("model") if cpu is not None and cpu.get("mode") == "custom" else None
    if cpu is not None and cpu.get("mode") in ("host-model", "host-passthrough"):
        model = guest.get("source_cpu_model")
    current = root.find("currentMemory")
    memory = root.find("memory") if current is None else current
    memory_kib = domain_xml.to_kib(memory.text, memory.get("unit", "KiB")) if memory is not None else 0
    vcpus = int((root.findtext("vcpu") or "1").strip() or 1)
    return memory_kib, vcpus, model, pools, refused


class Candidate(object):
    def __init__(self, name, facts, options):
        self.name = name
        libvirt = facts.get("libvirt") or {}
        memory = facts.get("memory") or {}
        free = memory.get("available_kib")
        if free is None:
            free = memory.get("free_kib")
        if free is None:
            raise PlanError("hosts.%s: no memory facts (memory.available_kib from s390x.kvm.host_info)" % name)
        self.memory_left = free - options["memory_reserve_mib"] * 1024
        cpus = (facts.get("cpus") or {}).get("online") or 0
        self.vcpus_left = cpus * float(options["vcpu_overcommit"]) - (libvirt.get("running_vcpus") or 0)
        self.generation = generation(libvirt.get("host_cpu_model"))
        self.maintenance = bool(facts.get("maintenance"))
        self.pools = dict((pool, list(devices)) for pool, devices in (facts.get("device_pools") or {}).items())
        self.guests = set(g["name"] for g in libvirt.get("guests") or [] if g.get("state") in ("running", "paused"))


def hosts_from_results(facts_results, mark_results=(), pools=None):
    """The planner's ``hosts`` from the evacuate role's loop results: host_info per candidate (``item`` is
    the host), stat of its maintenance mark, and the operator's device pools per host."""
    marked = set(r["item"] for r in mark_results or [] if (r.get("stat") or {}).get("exists"))
    hosts = {}
    for result in facts_results or []:
        name = result.get("item")
        if result.get("failed") or not name:
            raise PlanError("host_info failed on %s: %s" % (name, result.get("msg")))
        hosts[name] = {"memory": result.get("memory"), "cpus": result.get("cpus"), "libvirt": result.get("libvirt"),
                       "maintenance": name in marked, "device_pools": (pools or {}).get(name, {})}
    return hosts


def plan(source, guests, hosts, anti_affinity=None, options=None, guest_pools=None):
    """The evacuation plan of host ``source``.

    ``guests``: domain_info entries of the guests running on it (with ``xml``; optional ``pools``,
    source host device -> pool key, and ``source_cpu_model`` for host-model guests).
    ``hosts``: candidate name -> host_info result (``memory``, ``cpus``, ``libvirt``) plus
    ``maintenance`` (bool) and ``device_pools`` (pool key -> [free destination devices]).
    ``anti_affinity``: lists of guest names that must not share a destination.
    Returns {"moves": [...], "unmovable": [...]} (see the evacuate role).
    """
    options = dict(DEFAULTS, **(options or {}))
    candidates = [Candidate(name, facts, options) for name, facts in sorted((hosts or {}).items()) if name != source]
    groups = [set(group) for group in (anti_affinity or [])]
    for index, group in enumerate(anti_affinity or []):
        if not isinstance(group, list):
            raise PlanError("anti_affinity[%d] must be a list of guest names" % index)
    needs = []
    for guest in guests:
        if guest.get("state") not in ("running", "paused"):
            continue
        if (guest_pools or {}).get(guest["name"]):
            guest = dict(guest, pools=dict(guest.get("pools") or {}, **guest_pools[guest["name"]]))
        needs.append((guest["name"],) + guest_needs(guest, options))
    needs.sort(key=lambda n: (-n[1], -n[2], n[0]))
    moves, unmovable = [], []
    for name, memory_kib, vcpus, model, pools, refused in needs:
        if refused:
            # It cannot move live. With the "shutdown" policy it is shut down and started from its
            # definition where capacity and CPU allow (its devices are not moved): reserve that host.
            cold = [h for h in candidates if options["unmovable_policy"] == "shutdown" and not _why_not(
                h, name, memory_kib, vcpus, model, generation(model), [], groups)]
            entry = {"guest": name, "reason": "; ".join(refused), "cold_destination": None}
            if cold:
                host = max(cold, key=lambda h: (h.memory_left - memory_kib, h.vcpus_left - vcpus,
                                                [-ord(c) for c in h.name]))
                host.memory_left -= memory_kib
                host.vcpus_left -= vcpus
                host.guests.add(name)
                entry.update(cold_destination=host.name, destination=host.name, memory_kib=memory_kib, vcpus=vcpus)
            unmovable.append(entry)
            continue
        wanted_generation = generation(model)
        tried = []
        fits = []
        for host in candidates:
            why = _why_not(host, name, memory_kib, vcpus, model, wanted_generation, pools, groups)
            if why:
                tried.append("%s: %s" % (host.name, why))
            else:
                fits.append(host)
        if not fits:
            unmovable.append({"guest": name, "reason": "no host can take it (%s)" % (
                "; ".join(tried) if tried else "no candidate hosts"), "cold_destination": None})
            continue
        host = max(fits, key=lambda h: (h.memory_left - memory_kib, h.vcpus_left - vcpus, [-ord(c) for c in h.name]))
        host.memory_left -= memory_kib
        host.vcpus_left -= vcpus
        host.guests.add(name)
        devices = []
        for need in pools:
            devices.append({"key": need["key"], "source": need["source"], "pool": need["pool"],
                            "target": host.pools[need["pool"]].pop(0)})
        moves.append({"guest": name, "destination": host.name, "memory_kib": memory_kib, "vcpus": vcpus,
                      "cpu_model": model, "devices": devices,
                      "reason": "%d MiB and %d vCPUs left there after it" % (
                          host.memory_left // 1024, int(host.vcpus_left))})
    order = dict((n[0], i) for i, n in enumerate(needs))
    moves.sort(key=lambda m: order[m["guest"]])
    return {"source": source, "moves": moves, "unmovable": unmovable}


def _why_not(host, name, memory_kib, vcpus, model, wanted_generation, pools, groups):
    if host.maintenance:
        return "in maintenance"
    if host.memory_left < memory_kib:
        return "%d MiB free after its reserve, the guest needs %d MiB" % (host.memory_left // 1024, memory_kib // 1024)
    if host.vcpus_left < vcpus:
        return "%d vCPUs left, the guest needs %d" % (int(host.vcpus_left), vcpus)
    if wanted_generation and host.generation and host.generation < wanted_generation:
        return "its CPU (generation %d) is older than the guest's model %s" % (host.generation, model)
    for group in groups:
        if name in group and host.guests & (group - {name}):
            return "anti-affinity with %s there" % ", ".join(sorted(host.guests & (group - {name})))
    wanted = {}
    for need in pools:
        wanted[need["pool"]] = wanted.get(need["pool"], 0) + 1
    for pool, count in sorted(wanted.items()):
        if len(host.pools.get(pool, [])) < count:
            return "no free device of pool %s left (%d needed)" % (pool, count)
    return None


def waves(moves, max_per_source=1, max_per_destination=1, max_total=None):
    """The moves in waves that run at once: at most ``max_per_source`` migrations leave the source
    together, at most ``max_per_destination`` arrive at one destination, at most ``max_total`` in all
    (nova's default, and the advice of every evacuation tool measured in ../shared/docs/migration.md:
    concurrent migrations stretch each other's downtime). Order is kept."""
    for name, value in (("max_per_source", max_per_source), ("max_per_destination", max_per_destination),
                        ("max_total", max_total)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise PlanError("%s must be a whole number of at least 1, got %r" % (name, value))
    limit = min(v for v in (max_per_source, max_total) if v is not None)
    pending = list(moves)
    out = []
    while pending:
        wave, per_destination = [], {}
        for move in list(pending):
            if len(wave) >= limit:
                break
            if per_destination.get(move["destination"], 0) >= max_per_destination:
                continue
            per_destination[move["destination"]] = per_destination.get(move["destination"], 0) + 1
            wave.append(move)
            pending.remove(move)
        out.append(wave)
    return out


def summary(results, restore=False):
    """Per guest, from the results of migrate's async jobs (or of the restore loop): guest, destination,
    outcome (V(migrated) ..., V(failed), V(not started)), downtime_ms, devices (keys replugged), error."""
    out = []
    for result in results or []:
        job = result.get("evacuate__job") or {}
        if restore:
            back = result.get("evacuate__back") or {}
            guest, destination = back.get("key"), "(its home)"
        else:
            move = job.get("evacuate__move") or result.get("evacuate__move") or {}
            guest, destination = move.get("guest"), move.get("destination")
        if result.get("skipped") or job.get("skipped"):
            outcome = "not started"
        elif result.get("failed") or not result.get("finished", True) or result.get("outcome") is None:
            outcome = result.get("outcome") or ("timed out" if result.get("finished") == 0 else "failed")
        else:
            outcome = result["outcome"]
        error = result.get("msg") if outcome not in ("migrated", "already_there", "not started") else None
        out.append({"guest": guest, "destination": destination, "outcome": outcome,
                    "downtime_ms": (result.get("job") or {}).get("downtime"),
                    "devices": [d["target"] for d in result.get("devices") or [] if d.get("status") == "replugged"],
                    "error": error})
    return out


def record(moved, entries, how="live"):
    """``moved`` (guest -> {destination, how}) with the guests of ``entries`` that left added."""
    out = dict(moved or {})
    for entry in entries or []:
        if entry.get("outcome") in ("migrated", "already_there", "restarted"):
            out[entry["guest"]] = {"destination": entry["destination"], "how": how}
    return out
