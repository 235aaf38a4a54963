# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The vfio_passthrough role's plan and result, controller side.

``plan(guests)`` checks the role's ``vfio_passthrough_guests`` (inventory mistakes named by
variable, then devices and APQNs listed for two guests) and batches what the guests want per kind:
one vfio_ccw call for every DASD, one vfio_pci call for every zPCI function, one vfio_ap call per
guest with crypto. ``result(plan, ccw, pci, ap)`` matches the modules' results back to the guests
and gives them the shapes the guest role reads. The filters s390x.kvm.passthrough_plan and
s390x.kvm.passthrough_result are thin shells over these two functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections.abc import Mapping

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError, BusIdSet, parse_range
from ansible_collections.s390x.kvm.plugins.plugin_utils import _bus_id

try:
    from ansible.module_utils.datatag import native_type_name
except ImportError:     # ansible-core before 2.19 has no tagged values
    def native_type_name(value):
        return type(value).__name__

VAR = "vfio_passthrough_guests"
KINDS = ("dasd", "zpci", "ap")
AP_KEYS = ("adapters", "domains", "control_domains", "uuid")
_FID = re.compile(r"^(0[xX])?[0-9a-fA-F]{1,8}$")
_AP_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]{1,2}|[0-9]{1,3})$")


def _is_list(value):
    return isinstance(value, (list, tuple))


def _ap_number(value):
    """An adapter or domain number as vfio_ap reads it (strings: 0x.. hex, else decimal), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 255 else None
    if isinstance(value, str) and _AP_NUMBER.match(value):
        number = int(value, 16) if value[:2] in ("0x", "0X") else int(value, 10)
        return number if number <= 255 else None
    return None


def _ap_list(value):
    if value is None:
        return []
    return list(value) if _is_list(value) else [value]


def _dasd_spec_ok(spec):
    """A bus ID, device number or range as vfio_ccw reads it (bus_id is the one parser)."""
    if not isinstance(spec, str):
        return False
    try:
        parse_range(spec)
    except DeviceIdError:
        return False
    return True


def _check_ap(var, ap, errors):
    if not isinstance(ap, Mapping):
        errors.append("%s.ap must be a mapping {adapters: [...], domains: [...], control_domains: [...]}" % var)
        return
    for key in ap:
        if key not in AP_KEYS:
            errors.append("%s.ap.%s is not known; allowed: adapters, domains, control_domains, uuid" % (var, key))
    for key in ("adapters", "domains"):
        if not _ap_list(ap.get(key)):
            errors.append("%s.ap.%s must list at least one number (0-255)" % (var, key))
    for key in ("adapters", "domains", "control_domains"):
        for number in _ap_list(ap.get(key)):
            if _ap_number(number) is None:
                errors.append('%s.ap.%s: %s is not a number 0-255 (decimal, or hex as "0x47")' % (var, key, number))


def _check_guest(var, wanted, errors):
    if not isinstance(wanted, Mapping):
        errors.append("%s must be a mapping with dasd, zpci and/or ap, not %s" % (var, native_type_name(wanted)))
        return
    for key in wanted:
        if key not in KINDS:
            errors.append("%s.%s is not known; allowed: dasd, zpci, ap" % (var, key))
    for key in ("dasd", "zpci"):
        if key in wanted and not _is_list(wanted[key]):
            errors.append("%s.%s must be a list" % (var, key))
    for fid in wanted.get("zpci") if _is_list(wanted.get("zpci")) else []:
        if not (isinstance(fid, str) and _FID.match(fid)):
            errors.append("%s.zpci: %s is not a function ID as hex text (0x00000000-0xffffffff, quoted, "
                          'e.g. "0x10"; YAML reads an unquoted 0x10 as 16)' % (var, fid))
    for spec in wanted.get("dasd") if _is_list(wanted.get("dasd")) else []:
        if not _dasd_spec_ok(spec):
            errors.append("%s.dasd: %s is not a bus ID, device number or range (0.0.0104, 0104, 0.0.0200-0.0.02ff; "
                          "quote it)" % (var, spec))
    if "ap" in wanted:
        _check_ap(var, wanted["ap"], errors)


def _apqn_clashes(guests):
    """["03.0006 (db1, web1)"]: adapter.domain pairs two guests ask for."""
    owners = {}
    for guest, wanted in guests.items():
        if "ap" not in wanted:
            continue
        for adapter in _ap_list(wanted["ap"].get("adapters")):
            for domain in _ap_list(wanted["ap"].get("domains")):
                key = "%02x.%04x" % (_ap_number(adapter), _ap_number(domain))
                owners.setdefault(key, []).append(str(guest))
    return ["%s (%s)" % (key, ", ".join(names)) for key, names in owners.items() if len(names) > 1]


def _conflicts(guests):
    """The refusal of devices listed for more than one guest, or "" when there is none."""
    refused = []
    dasd = _bus_id.conflicts(dict((guest, wanted.get("dasd") or []) for guest, wanted in guests.items()))
    fids = [int(fid, 16) for wanted in guests.values() for fid in wanted.get("zpci") or []]
    apqns = _apqn_clashes(guests)
    if dasd or len(fids) != len(set(fids)) or apqns:
        details = ["; ".join(dasd),
                   "(a zPCI fid twice)" if len(fids) != len(set(fids)) else "",
                   "(APQNs for two guests: %s)" % ", ".join(apqns) if apqns else ""]
        refused.append("vfio_passthrough_guests lists a device for more than one guest: %s"
                       % " ".join(part for part in details if part))
    return refused[0] if refused else ""


def plan(guests):
    """The role's plan: ``errors`` (inventory mistakes), ``conflict`` (devices for two guests) and, per
    kind, the batch its module gets (``dasd``, ``zpci``: flat lists; ``ap``: one entry per guest)."""
    errors = []
    out = {"errors": errors, "conflict": "", "dasd": [], "zpci": [], "ap": [], "guests": {}}
    if not isinstance(guests, Mapping):
        errors.append("%s must map guest names to {dasd: [...], zpci: [...], ap: {...}}, not %s"
                      % (VAR, native_type_name(guests)))
        return out
    for guest, wanted in guests.items():
        _check_guest("%s.%s" % (VAR, guest), wanted, errors)
    if errors:
        return out
    out["conflict"] = _conflicts(guests)
    for guest, wanted in guests.items():
        out["guests"][guest] = {"dasd": list(wanted.get("dasd") or []), "zpci": list(wanted.get("zpci") or []),
                                "ap": "ap" in wanted}
        out["dasd"].extend(wanted.get("dasd") or [])
        out["zpci"].extend(wanted.get("zpci") or [])
        if "ap" in wanted:
            ap = wanted["ap"]
            entry = {"guest": guest, "adapters": _ap_list(ap.get("adapters")), "domains": _ap_list(ap.get("domains")),
                     "control_domains": _ap_list(ap.get("control_domains"))}
            if ap.get("uuid"):
                entry["uuid"] = ap["uuid"]
            out["ap"].append(entry)
    return out


def _results(registered, key):
    """A registered module result's ``key`` list ([] when the task was skipped)."""
    if not isinstance(registered, Mapping) or registered.get("skipped"):
        return []
    return list(registered.get(key) or [])


def result(the_plan, ccw=None, pci=None, ap=None):
    """What the role exports: per guest (``devices``) its prepared devices matched back from the
    modules' results and the same devices as guest role ``guest_hostdevs`` entries (vfio-pci:
    managed false, the module bound it); ``ccw_map`` and ``zpci_functions`` in the shapes of the
    guest role's ``guest_vfio_ccw_map`` and ``guest_zpci_functions``."""
    ccw_devices = _results(ccw, "devices")
    functions = _results(pci, "functions")
    ap_results = [r for r in _results(ap, "results") if isinstance(r, Mapping) and not r.get("skipped")]
    devices = {}
    for guest, wanted in the_plan["guests"].items():
        entry = {"ccw": [], "pci": [], "ap": None, "hostdevs": []}
        for spec in wanted["dasd"]:
            chosen = BusIdSet([spec])
            for dev in ccw_devices:
                if dev["bus_id"] in chosen:
                    entry["ccw"].append(dict((k, dev.get(k)) for k in ("bus_id", "subchannel", "uuid", "hostdev_xml")))
                    entry["hostdevs"].append({"kind": "vfio-ccw", "uuid": dev.get("uuid")})
        for fid in wanted["zpci"]:
            for func in functions:
                if func.get("fid") == int(fid, 16):
                    entry["pci"].append(dict((k, func.get(k)) for k in ("fid", "uid", "address", "hostdev_xml")))
                    hostdev = {"kind": "vfio-pci", "address": func.get("address"), "managed": False,
                               "zpci_fid": func.get("fid")}
                    if func.get("uid"):
                        hostdev["zpci_uid"] = func["uid"]
                    entry["hostdevs"].append(hostdev)
        for found in ap_results:
            if (found.get("item") or {}).get("guest") == guest:
                entry["ap"] = dict((k, found.get(k)) for k in ("uuid", "matrix", "hostdev_xml"))
                entry["hostdevs"].append({"kind": "vfio-ap", "uuid": found.get("uuid")})
        devices[guest] = entry
    ccw_map = ccw.get("map") if isinstance(ccw, Mapping) and not ccw.get("skipped") else None
    return {"devices": devices, "ccw_map": dict(ccw_map or {}),
            "zpci_functions": [dict((k, f[k]) for k in ("fid", "uid", "address") if k in f) for f in functions]}


def from_definitions(definitions):
    """The role's ``vfio_passthrough_guests`` for guest role definitions (the deploy_guests playbook's
    ``kvm_guests``): per guest that is not absent, the bus IDs of its vfio-ccw hostdevs given by bus ID
    without a UUID, lower-cased, each once. Malformed entries are left to the guest role, which names
    them; a bus ID that is not text goes on, for the role's check to name."""
    out = {}
    for definition in definitions if _is_list(definitions) else []:
        if not isinstance(definition, Mapping) or definition.get("state") == "absent":
            continue
        hostdevs = definition.get("hostdevs")
        for dev in hostdevs if _is_list(hostdevs) else []:
            if isinstance(dev, Mapping) and dev.get("kind") == "vfio-ccw" and "bus_id" in dev and "uuid" not in dev:
                bus_id = dev["bus_id"].lower() if isinstance(dev["bus_id"], str) else dev["bus_id"]
                wanted = out.setdefault(str(definition.get("name")), {"dasd": []})["dasd"]
                if bus_id not in wanted:
                    wanted.append(bus_id)
    return out
