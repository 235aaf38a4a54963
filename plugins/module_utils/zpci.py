# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery of zPCI functions.

zPCI attributes come from arch/s390/pci/pci_sysfs.c: ``function_id`` and
``function_handle`` ("0x%08x"), ``pchid`` ("0x%04x"), ``pfgid``/``pft``
("0x%02x"), ``vfn`` ("0x%04x"), ``uid`` ("0x%x"), ``uid_is_unique`` and
``port`` ("%d"); older kernels lack port, fidparm, mio_enabled and
uid_is_unique. Generic PCI attributes (vendor, device, class, ...) come from
drivers/pci/pci-sysfs.c ("0x%04x", "0x%06x"). A function is a zPCI function
when it has ``function_id``; with unique UIDs the PCI domain is the UID (the
real 6.12 kernel under QEMU shows uid 0x5 as domain 0005).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError, parse_pci_address

# PCI function type 0x05 is ISM (arch/s390/include/asm/pci.h PCI_FUNC_TYPE_ISM); other values are
# reported as numbers rather than guessed names.
PFT_NAMES = {0x05: "ISM"}


def _int(text, base=16):
    try:
        return int(text, base)
    except (TypeError, ValueError):
        return None


class FunctionSelector(object):
    """Selects functions by fid, uid or PCI address; empty selects everything."""

    def __init__(self, fids=None, uids=None, addresses=None):
        self.fids = set(_parse_number(v, "fid", 0xFFFFFFFF) for v in (fids or []))
        self.uids = set(_parse_number(v, "uid", 0xFFFF) for v in (uids or []))
        self.addresses = set(parse_pci_address(a) for a in (addresses or []))
        self.everything = not (self.fids or self.uids or self.addresses)

    def matches(self, function):
        if self.everything:
            return True
        return (function["fid"] in self.fids or function["uid"] in self.uids
                or function["address"] in self.addresses)


def _parse_number(value, what, maximum):
    try:
        number = value if isinstance(value, int) else int(str(value), 0 if str(value).lower().startswith("0x") else 16)
    except ValueError:
        raise BusIdError("invalid %s %r: expected a number (0x1234 hex, or plain hex digits) from 0 to 0x%x"
                         % (what, value, maximum))
    if not 0 <= number <= maximum:
        raise BusIdError("invalid %s %r: out of range 0x0-0x%x" % (what, value, maximum))
    return number


class ZpciDiscovery(object):
    def __init__(self, fs, selector=None):
        self.fs = fs
        self.selector = selector or FunctionSelector()

    def pci_present(self):
        return self.fs.isdir("/sys/bus/pci/devices")

    def scan(self):
        fs = self.fs
        functions = []
        non_zpci = 0
        for address in fs.listdir("/sys/bus/pci/devices"):
            base = fs.path("/sys/bus/pci/devices/%s/" % address)
            read = fs.read_abs
            fid_text = read(base + "function_id", "")
            if not fid_text:
                non_zpci += 1
                continue
            uid = _int(read(base + "uid", ""))
            func = {
                "address": address,
                "fid": _int(fid_text),
                "fid_hex": "0x%08x" % _int(fid_text),
                "uid": uid,
                "uid_hex": "0x%04x" % uid if uid is not None else None,
                "uid_is_unique": {"1": True, "0": False}.get(read(base + "uid_is_unique", "")),
                "function_handle": read(base + "function_handle", "") or None,
                "pchid": read(base + "pchid", "") or None,
                "pfgid": read(base + "pfgid", "") or None,
                "pft": _int(read(base + "pft", "")),
                "port": _int(read(base + "port", ""), 10),
                "vfn": _int(read(base + "vfn", "")),
                "vendor": _int(read(base + "vendor", "")),
                "device": _int(read(base + "device", "")),
                "class": read(base + "class", "") or None,
                "driver": _link_name(base + "driver"),
                "driver_override": _override(read(base + "driver_override", "")),
                "iommu_group": _link_name(base + "iommu_group"),
                "mio_enabled": {"1": True, "0": False}.get(read(base + "mio_enabled", "")),
            }
            func["pci_id"] = "%04x:%04x" % (func["vendor"] or 0, func["device"] or 0)
            func["pft_name"] = PFT_NAMES.get(func["pft"]) if func["pft"] is not None else None
            func["netdevs"] = _listdir(base + "net")
            func["block_devices"] = self._nvme_namespaces(base)
            if not self.selector.matches(func):
                continue
            functions.append(func)
        functions.sort(key=lambda f: (f["fid"], f["address"]))
        return functions, non_zpci

    @staticmethod
    def annotate_usage(functions, usage):
        """Add in_use_by_host/host_use/carries_host_ip to each function."""
        usage.mark_labelled_pvs([b for f in functions for b in f["block_devices"]])
        for func in functions:
            reasons = usage.for_pci(func["address"])
            for netdev in func["netdevs"]:
                reasons.extend(r for r in usage.for_netdev(netdev) if r not in reasons)
            func["carries_host_ip"] = any("carries the host" in r for r in reasons)
            func["in_use_by_host"] = bool(reasons)
            func["host_use"] = reasons

    @staticmethod
    def _nvme_namespaces(base):
        names = []
        for ctrl in _listdir(base + "nvme"):
            names.extend(n for n in _listdir(base + "nvme/" + ctrl) if n.startswith("nvme") and "n" in n[4:])
        return sorted(names)


def _link_name(local_path):
    try:
        return os.path.basename(os.readlink(local_path))
    except OSError:
        return None


def _listdir(local_path):
    try:
        return sorted(os.listdir(local_path))
    except OSError:
        return []


def _override(text):
    return None if text in ("", "(null)") else text
