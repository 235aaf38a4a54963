# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery of AP (crypto) adapters, queues, masks and vfio_ap matrix devices.

Formats (drivers/s390/crypto): bus attributes in ap_bus.c (``apmask`` and
``aqmask`` print 256 bits as "0x%016lx%016lx%016lx%016lx", bit 0 = most
significant = adapter/domain 0); cards ``/sys/devices/ap/card%02x`` and queues
``card%02x/%02x.%04x`` (ap_card.c, ap_queue.c; zcrypt adds ``type`` and
``online``); the vfio_ap matrix device ``/sys/devices/vfio_ap/matrix`` and its
mdevs ``<uuid>/{matrix,guest_matrix,control_domains}`` (vfio_ap_ops.c:
"%02lx.%04lx" per APQN, "%04lx" per control domain). Persistent mdevs are
mdevctl JSON files ``/etc/mdevctl.d/matrix/<uuid>`` (mdevctl README).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import int_or_none, is_uuid
from ansible_collections.s390x.kvm.plugins.module_utils.guest_usage import hostdev_owners

MASK_BITS = 256
_CARD_RE = re.compile(r"^card([0-9a-f]{2})$")
_QUEUE_RE = re.compile(r"^([0-9a-f]{2})\.([0-9a-f]{4})$")
# A card's hwtype must be at least 10 (CEX4) for vfio_ap (vfio-ap.rst).
VFIO_AP_MIN_HWTYPE = 10


def parse_mask(text):
    """Set bit numbers of a 256-bit AP mask (bit 0 = MSB) -> sorted list of ids; [] when the text
    is not a mask (see is_mask)."""
    if not is_mask(text):
        return []
    text = text.strip()
    value = int(text, 16)
    width = (len(text) - 2) * 4
    return [i for i in range(width) if value & (1 << (width - 1 - i))]


def is_mask(text):
    """Whether an apmask/aqmask read is a mask ("0x" + hex digits), not a missing or broken file."""
    text = (text or "").strip()
    try:
        int(text[2:], 16)
    except ValueError:
        return False
    return text.startswith("0x")


def format_mask(ids, bits=MASK_BITS):
    value = 0
    for i in ids:
        value |= 1 << (bits - 1 - i)
    return "0x%0*x" % (bits // 4, value)


def parse_apqns(text):
    """``matrix``/``guest_matrix`` lines -> list of {adapter, domain} (partial lines keep None)."""
    result = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or "." not in line:
            continue
        card, _sep, dom = line.partition(".")
        result.append({"adapter": int_or_none(card, 16), "domain": int_or_none(dom, 16)})
    return result


def parse_ids(values, option):
    """Adapter or domain numbers of an option: integers, or text in decimal or 0x hex, 0-255."""
    ids = []
    for value in values or []:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            text = value.strip().lower()
            number = int_or_none(text[2:], 16) if text.startswith("0x") else int_or_none(text, 10)
        if number is None or not 0 <= number < MASK_BITS:
            raise DeviceIdError("%s: %r is not an AP number; allowed: 0-255 as a number, decimal text or 0x hex (0x00-0xff)"
                                % (option, value))
        ids.append(number)
    return ids


def _split(ids, in_mask, wanted):
    if in_mask is None:
        return None
    in_mask = set(in_mask)
    return [i for i in ids if (i in in_mask) == wanted]


def _bool(text):
    return {"1": True, "0": False}.get(text)


class ApDiscovery(object):
    def __init__(self, fs, adapters=None, domains=None):
        self.fs = fs
        self.adapters = set(adapters or [])
        self.domains = set(domains or [])

    def is_present(self):
        return self.fs.isdir("/sys/bus/ap")

    def bus(self):
        fs = self.fs
        base = "/sys/bus/ap/"
        apmask = fs.read(base + "apmask", default="")
        aqmask = fs.read(base + "aqmask", default="")
        max_adapter = int_or_none(fs.read(base + "ap_max_adapter_id", default=""))
        max_domain = int_or_none(fs.read(base + "ap_max_domain_id", default=""))
        adapters = range((max_adapter if max_adapter is not None else MASK_BITS - 1) + 1)
        domains = range((max_domain if max_domain is not None else MASK_BITS - 1) + 1)
        host_adapters = parse_mask(apmask) if is_mask(apmask) else None
        host_domains = parse_mask(aqmask) if is_mask(aqmask) else None
        return {
            "apmask": apmask or None,
            "aqmask": aqmask or None,
            # Masks have 256 bits; only ids up to the machine's maximum exist. A mask that cannot
            # be read says nothing: null, not "everything is free for vfio_ap".
            "host_adapters": _split(adapters, host_adapters, True),
            "host_domains": _split(domains, host_domains, True),
            "vfio_adapters": _split(adapters, host_adapters, False),
            "vfio_domains": _split(domains, host_domains, False),
            "ap_domain": int_or_none(fs.read(base + "ap_domain", default="")),
            "max_adapter_id": max_adapter,
            "max_domain_id": max_domain,
            "features": fs.read(base + "features", default="").split(),
            "bindings": fs.read(base + "bindings", default="") or None,
        }

    def cards_and_queues(self):
        fs = self.fs
        cards, queues = [], []
        for name in fs.listdir("/sys/bus/ap/devices"):
            match = _CARD_RE.match(name)
            if match:
                adapter = int(match.group(1), 16)
                if self.adapters and adapter not in self.adapters:
                    continue
                base = "/sys/bus/ap/devices/%s/" % name
                hwtype = int_or_none(fs.read(base + "hwtype", default=""))
                cards.append({
                    "id": adapter,
                    "name": name,
                    "type": fs.read(base + "type", default="") or None,
                    "hwtype": hwtype,
                    "raw_hwtype": int_or_none(fs.read(base + "raw_hwtype", default="")),
                    "online": _bool(fs.read(base + "online", default="")),
                    "config": _bool(fs.read(base + "config", default="")),
                    "depth": int_or_none(fs.read(base + "depth", default="")),
                    "functions": fs.read(base + "ap_functions", default="") or None,
                    "driver": fs.link_name(base + "driver"),
                    "vfio_ap_capable": hwtype is not None and hwtype >= VFIO_AP_MIN_HWTYPE,
                })
                continue
            match = _QUEUE_RE.match(name)
            if match:
                adapter, domain = int(match.group(1), 16), int(match.group(2), 16)
                if (self.adapters and adapter not in self.adapters) or (self.domains and domain not in self.domains):
                    continue
                base = "/sys/bus/ap/devices/%s/" % name
                driver = fs.link_name(base + "driver")
                queue = {
                    "apqn": name,
                    "adapter": adapter,
                    "domain": domain,
                    "driver": driver,
                    "online": _bool(fs.read(base + "online", default="")),
                    "config": _bool(fs.read(base + "config", default="")),
                }
                if driver == "vfio_ap":
                    queue["vfio_ap_status"] = fs.read(base + "status", default="") or None
                queues.append(queue)
        cards.sort(key=lambda c: c["id"])
        queues.sort(key=lambda q: (q["adapter"], q["domain"]))
        return cards, queues

    def matrix_mdevs(self):
        fs = self.fs
        parent = "/sys/devices/vfio_ap/matrix"
        owners = hostdev_owners(fs)
        found = {}
        for name in fs.listdir(parent):
            if not is_uuid(name):
                continue
            base = "%s/%s/" % (parent, name)
            found[name] = {
                "uuid": name,
                "active": True,
                "mdev_type": fs.link_name(base + "mdev_type"),
                "matrix": parse_apqns(fs.read(base + "matrix", default="")),
                "guest_matrix": parse_apqns(fs.read(base + "guest_matrix", default="")),
                "control_domains": [d for d in (int_or_none(x, 16) for x in fs.read(base + "control_domains", default="").split())
                                    if d is not None],
            }
        for name in fs.listdir("/etc/mdevctl.d/matrix"):
            if not is_uuid(name):
                continue
            try:
                config = json.loads(fs.read("/etc/mdevctl.d/matrix/" + name, default="{}"))
            except ValueError:
                config = {}
            if not isinstance(config, dict):
                config = {}  # mdevctl writes an object; anything else is a broken file
            entry = found.setdefault(name, {
                "uuid": name, "active": False, "mdev_type": config.get("mdev_type"),
                "matrix": [], "guest_matrix": [], "control_domains": [],
            })
            entry["persistent"] = True
            entry["autostart"] = config.get("start") == "auto"
            attrs = config.get("attrs")
            entry["defined_attrs"] = attrs if isinstance(attrs, list) else []
        for uuid, entry in found.items():
            entry.setdefault("persistent", False)
            entry.setdefault("autostart", False)
            entry["guests"] = owners.get("mdev:" + uuid, [])
        return [found[k] for k in sorted(found)]
