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
import re

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError, parse_pci_address
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import int_or_none, override_or_none

# PCI function type 0x05 is ISM (arch/s390/include/asm/pci.h PCI_FUNC_TYPE_ISM); other values are
# reported as numbers rather than guessed names.
PFT_NAMES = {0x05: "ISM"}
# Namespaces below a controller: "nvme<subsys>n<ns>" or, with native NVMe multipath (Debian's
# default), the hidden path device "nvme<subsys>c<ctrl>n<ns>" whose block device is the head
# "nvme<subsys>n<ns>" (drivers/nvme/host/multipath.c nvme_set_disk_name).
_NAMESPACE_RE = re.compile(r"^nvme([0-9]+)(?:c[0-9]+)?n([0-9]+)$")


class FunctionSelector(object):
    """Selects functions by fid, uid or PCI address; empty selects everything."""

    def __init__(self, fids=None, uids=None, addresses=None):
        self.fids = set(_parse_number(v, "fid", 0xFFFFFFFF) for v in (fids or []))
        self.uids = set(_parse_number(v, "uid", 0xFFFF) for v in (uids or []))
        self.addresses = set(parse_pci_address(_text(a, "addresses")) for a in (addresses or []))
        self.everything = not (self.fids or self.uids or self.addresses)

    def matches(self, function):
        if self.everything:
            return True
        return (function["fid"] in self.fids or function["uid"] in self.uids
                or function["address"] in self.addresses)


def _text(value, option):
    """Options are hex text: YAML reads an unquoted 0x10 as 16 and Ansible would make that "16",
    which reads as 0x16, another function. Numbers are refused rather than guessed."""
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            raise DeviceIdError("%s: %d is a number, not text: YAML reads an unquoted 0x%x as %d; quote it, e.g. '0x%x'"
                                % (option, value, value, value, value))
        raise DeviceIdError("%s: %r is not text" % (option, value))
    return value


def _parse_number(value, what, maximum):
    value = _text(value, what + "s")
    try:
        number = int(value, 0 if value.lower().startswith("0x") else 16)
    except ValueError:
        raise DeviceIdError("invalid %s %r: expected a number (0x1234 hex, or plain hex digits) from 0 to 0x%x"
                            % (what, value, maximum))
    if not 0 <= number <= maximum:
        raise DeviceIdError("invalid %s %r: out of range 0x0-0x%x" % (what, value, maximum))
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
            fid = int_or_none(read(base + "function_id", ""), 16)
            if fid is None:
                non_zpci += 1
                continue
            uid = int_or_none(read(base + "uid", ""), 16)
            func = {
                "address": address,
                "fid": fid,
                "fid_hex": "0x%08x" % fid,
                "uid": uid,
                "uid_hex": "0x%04x" % uid if uid is not None else None,
                "uid_is_unique": {"1": True, "0": False}.get(read(base + "uid_is_unique", "")),
                "function_handle": read(base + "function_handle", "") or None,
                "pchid": read(base + "pchid", "") or None,
                "pfgid": read(base + "pfgid", "") or None,
                "pft": int_or_none(read(base + "pft", ""), 16),
                "port": int_or_none(read(base + "port", ""), 10),
                "vfn": int_or_none(read(base + "vfn", ""), 16),
                "vendor": int_or_none(read(base + "vendor", ""), 16),
                "device": int_or_none(read(base + "device", ""), 16),
                "class": read(base + "class", "") or None,
                "driver": _link_name(base + "driver"),
                "driver_override": override_or_none(read(base + "driver_override", "")),
                "iommu_group": _link_name(base + "iommu_group"),
                "mio_enabled": {"1": True, "0": False}.get(read(base + "mio_enabled", "")),
            }
            func["pci_id"] = "%04x:%04x" % (func["vendor"] or 0, func["device"] or 0)
            func["pft_name"] = PFT_NAMES.get(func["pft"]) if func["pft"] is not None else None
            func["netdevs"], func["block_devices"] = self._children(base)
            if not self.selector.matches(func):
                continue
            functions.append(func)
        functions.sort(key=lambda f: (f["fid"], f["address"]))
        return functions, non_zpci

    @staticmethod
    def annotate_usage(functions, usage):
        """Add in_use_by_host/host_use/host_use_unknown/host_use_state/carries_host_ip to each function."""
        names = []
        for func in functions:
            for disk in func["block_devices"]:
                # the namespace and its partitions ("nvme0n1p1", block/partitions/core.c)
                names.append(disk)
                names.extend(p for p in usage.fs.listdir("/sys/class/block/" + disk) if p.startswith(disk + "p"))
        usage.mark_labelled_pvs(names)
        for func in functions:
            use = usage.pci_use(func["address"], func["netdevs"])
            func["carries_host_ip"] = usage.carries_host_ip(use["host_use"])
            func.update(use)

    @classmethod
    def _children(cls, base):
        """(netdevs, block devices) of a function: a NIC driver's net/ (mlx5, ...), NVMe namespaces,
        and what a virtio-pci function has one level down, below its virtio device
        (drivers/virtio/virtio.c "virtio%u"; 6.12 dump: /sys/class/net/eth0 ->
        /sys/devices/pci0005:00/0005:00:00.0/virtio0)."""
        netdevs = _listdir(base + "net")
        disks = cls._nvme_namespaces(base)
        for entry in _listdir(base):
            if entry.startswith("virtio") and entry[6:].isdigit():
                netdevs.extend(_listdir(base + entry + "/net"))
                disks.extend(_listdir(base + entry + "/block"))
        return sorted(netdevs), sorted(disks)

    @staticmethod
    def _nvme_namespaces(base):
        names = set()
        for ctrl in _listdir(base + "nvme"):
            for entry in _listdir(base + "nvme/" + ctrl):
                match = _NAMESPACE_RE.match(entry)
                if match:
                    names.add("nvme%sn%s" % match.groups())
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
