# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IBM's and QEMU's rules for migrating an s390x guest live, read from its domain XML: what blocks
a migration (:func:`migration_blockers`, reported by ``domain_info``) and what ``migrate`` does with
each device (:func:`classify`: unplug and replug, keep, or refuse with what to do).

Sources: IBM, "Live virtual server migration" and "Preservation of the virtual server resources"
(KVM Virtual Server Management, SC34-2752); QEMU ``hw/vfio/ccw.c`` (``vfio_ccw_vmstate``,
``.unmigratable = 1``) and ``hw/s390x/s390-pci-bus.c`` (``s390_pci_device_vmstate``, ``.unmigratable
= 1``: every zPCI device, emulated virtio-pci included). Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re

from ansible_collections.s390x.kvm.plugins.module_utils.domain_xml import device_key
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import version_text as _version_text

# Migration blockers follow IBM's "Live virtual server migration" preconditions (no vfio_ap
# device, CCW and PCI pass-through devices detached, tape drives detached, virtio-fs unmounted)
# and what QEMU 7.2 enforces on s390x (every zPCI device, emulated or passed through, is
# non-migratable: "cannot migrate domain: non-migratable device: zpci"; vfio-ccw is
# non-migratable; vhost-user-fs (virtio-fs) is non-migratable before QEMU 8.2).


# libvirt's virFileIsSharedFS: file systems the destination host can reach as well.
SHARED_FS_TYPES = ("nfs", "nfs4", "gfs2", "ocfs2", "afs", "smb3", "smb", "cifs", "ceph", "gpfs", "fuse.glusterfs",
                   "fuse.quobyte", "beegfs")


def fs_type_of(path, mounts="/proc/self/mounts"):
    """File system type of the mount holding ``path`` on this host, or None when unknown."""
    try:
        with open(mounts) as handle:
            entries = [line.split()[1:3] for line in handle if len(line.split()) > 2]
    except (IOError, OSError):
        return None
    path = os.path.realpath(path)
    best, best_type = "", None
    for mount_point, fs_type in entries:
        mount_point = mount_point.replace("\\040", " ")
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type


def _local_disk_reason(disk, fs_type_of):
    """Why a writable file-backed disk keeps the domain here, or None.

    libvirt's qemuMigrationSrcIsSafe refuses a writable file disk on a file system that is not
    shared ("Migration without shared storage is unsafe"); block devices (DASD, FCP multipath)
    and network disks count as reachable. IBM: local resources need copying to an equivalent
    resource, and a copied disk must have no iothread.
    """
    source = disk.find("source")
    if disk.get("type") != "file" or source is None or not source.get("file") or fs_type_of is None:
        return None
    if disk.find("readonly") is not None or disk.find("shareable") is not None:
        return None
    fs_type = fs_type_of(source.get("file"))
    if fs_type is None or fs_type in SHARED_FS_TYPES:
        return None
    driver = disk.find("driver")
    iothread = driver is not None and driver.get("iothread")
    return ("local disk image %s on %s, not shared storage: the destination cannot reach it; migrate with "
            "copy-storage to an equivalent resource%s" % (
                source.get("file"), fs_type, " after removing its iothread (IBM: no iothread on a copied disk)"
                if iothread else ""))


# What migrate does with a device that blocks a plain migration.
UNPLUG = "unplug"           # hot-unplug before, hot-plug the destination's mapped device after
REFUSE = "refuse"           # refused, with what to do
OPT_IN = "opt_in"           # refused unless the user opts in to unplugging it (vfio-ap)
STORAGE = "storage"         # local disk: fine with copy_storage (no iothread) or unsafe


def _rules(device, qemu, fs_type_of):
    """[(reason, kind, handling)] for one device of the domain XML (empty when it migrates as is)."""
    address = device.find("address")
    out = []
    kind = None
    if device.tag == "hostdev" and device.get("model") == "vfio-ap":
        kind = "vfio-ap"
        out.append(["vfio-ap crypto pass-through: IBM requires no vfio_ap device in the configuration "
                    "of a guest that migrates", kind, OPT_IN])
    elif device.tag == "hostdev" and device.get("model") == "vfio-ccw":
        kind = "vfio-ccw"
        out.append(["vfio-ccw pass-through is non-migratable (%s: non-migratable device vfio-ccw); "
                    "detach it before migrating" % qemu, kind, UNPLUG])
    elif device.tag == "hostdev" and device.get("type") == "scsi_host":
        kind = "vhost-scsi"
        out.append(["vhost-scsi pass-through is non-migratable (%s: vhost-scsi blocks migration); "
                    "detach it before migrating" % qemu, kind, REFUSE])
    elif device.tag == "hostdev" and device.get("type") == "scsi":
        kind = "scsi"
        out.append(["SCSI pass-through (tape or medium changer): IBM requires it detached, "
                    "the tape unloaded, before migrating", kind, UNPLUG])
    elif device.tag == "hostdev" and device.get("type") == "pci" or \
            device.tag == "interface" and device.get("type") == "hostdev":
        kind = "vfio-pci"
        out.append(["PCI pass-through: detach it before migrating", kind, UNPLUG])
    if address is not None and address.get("type") == "pci" and not out:
        out.append(["zPCI device: %s marks every zPCI device non-migratable (non-migratable device: zpci); "
                    "unplug it before migrating" % qemu, "zpci", UNPLUG])
    elif address is not None and address.get("type") == "pci":
        out[-1][0] += " (zPCI devices are non-migratable in %s)" % qemu
    if device.tag == "filesystem" and device.get("type", "mount") == "mount":
        driver = device.find("driver")
        if driver is not None and driver.get("type") == "virtiofs":
            out.append(["virtio-fs: IBM requires it unmounted in the guest; vhost-user-fs is non-migratable "
                        "before QEMU 8.2", "virtio-fs", REFUSE])
        else:
            out.append(["virtio-9p: %s refuses to migrate while the guest has the export mounted; "
                        "unmount it first" % qemu, "virtio-9p", REFUSE])
    if device.tag == "disk":
        reason = _local_disk_reason(device, fs_type_of)
        if reason:
            out.append([reason, "local-disk", STORAGE])
    return [tuple(rule) for rule in out]


def _qemu(qemu_version):
    return "QEMU %s" % _version_text(qemu_version) if qemu_version else "QEMU"


def migration_blockers(root, qemu_version=None, fs_type_of=None):
    """[{device, reason}] for everything that keeps the domain from migrating live as it is.

    ``fs_type_of(path)`` names the file system a disk image is on (None when unknown); without
    it local disk images are not judged.
    """
    qemu = _qemu(qemu_version)
    return [{"device": device_key(device), "reason": reason}
            for device in root.findall("./devices/*") for reason, _kind, _handling in _rules(device, qemu, fs_type_of)]


def classify(root, qemu_version=None, fs_type_of=None, copy_storage="none", unsafe=False, ap_policy="refuse"):
    """What ``migrate`` does with each device that blocks a plain migration.

    Returns [{key, kind, action, reason, element}], ``action`` being ``unplug`` (hot-unplug before,
    replug after), ``refuse`` (``reason`` says what to do), or ``warn`` (migrates, with a warning:
    a local disk under ``unsafe``). The elements are the domain XML's own (not copies).
    """
    qemu = _qemu(qemu_version)
    out = []
    for device in root.findall("./devices/*"):
        for reason, kind, handling in _rules(device, qemu, fs_type_of):
            action = REFUSE
            if handling == UNPLUG:
                action = UNPLUG
            elif handling == OPT_IN and ap_policy == "unplug":
                action, reason = UNPLUG, reason + "; unplugged because ap_policy=unplug (IBM advises against " \
                    "configuring vfio-ap resources as hotplug devices)"
            elif handling == OPT_IN:
                reason += "; set ap_policy=unplug to hot-unplug it before and replug it after the migration"
            elif handling == STORAGE:
                driver = device.find("driver")
                iothread = driver is not None and driver.get("iothread")
                if copy_storage != "none" and not iothread:
                    continue
                if copy_storage != "none":
                    reason = ("%s: IBM allows no iothread on a disk that is copied; remove the iothread from the "
                              "definition (takes effect at the next start) before migrating" % device_key(device))
                elif unsafe:
                    action = "warn"
                    reason += "; migrating anyway because unsafe=true (both hosts must really see the same file)"
                else:
                    reason += ", or set unsafe=true if both hosts see the same file"
            out.append({"key": device_key(device), "kind": kind, "action": action, "reason": reason,
                        "element": device})
    return out


# --------------------------------------------------------------------------------------------
# Mapping pass-through devices to the destination's
# --------------------------------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PCI = re.compile(r"^(?:(?P<domain>[0-9a-f]{1,4}):)?(?P<bus>[0-9a-f]{1,2}):(?P<slot>[0-9a-f]{1,2})\.(?P<function>[0-7])$")


class DeviceMapError(ValueError):
    """A device_map entry that names no device or maps to something of the wrong form."""


def parse_pci_address(text):
    """``0000:00:01.0`` (domain optional) -> (domain, bus, slot, function) ints, or None."""
    match = _PCI.match((text or "").strip().lower())
    if not match:
        return None
    return (int(match.group("domain") or "0", 16), int(match.group("bus"), 16), int(match.group("slot"), 16),
            int(match.group("function"), 16))


def pci_text(address):
    return "%04x:%02x:%02x.%x" % address


def host_source(element):
    """What a pass-through device takes from its host, as ``device_map`` names it: the mdev UUID
    (vfio-ccw, vfio-ap), the PCI address ``dddd:bb:ss.f`` (vfio-pci), the SCSI address
    ``adapter:bus:target:unit``; None for an emulated device (nothing of the host's)."""
    source = element.find("source")
    if element.tag not in ("hostdev", "interface") or source is None:
        return None
    address = source.find("address")
    if address is not None and address.get("uuid"):
        return address.get("uuid").lower()
    adapter = source.find("adapter")
    if address is not None and adapter is not None:
        return "%s:%s:%s:%s" % (adapter.get("name"), int(address.get("bus", "0"), 0),
                                int(address.get("target", "0"), 0), int(address.get("unit", "0"), 0))
    if address is not None and address.get("bus") is not None:
        return pci_text(tuple(int(address.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")))
    return None


def mapped_element(element, target):
    """A copy of a pass-through device with its host source replaced by ``target`` (same form as
    :func:`host_source`); the guest-side address (devno, zPCI uid/fid) stays. Raises DeviceMapError."""
    element = copy.deepcopy(element)
    source = element.find("source")
    current = host_source(element)
    if current is None or target is None or target == current:
        return element
    address = source.find("address")
    if _UUID.match(current):
        if not _UUID.match(target.lower()):
            raise DeviceMapError("%s is an mediated device: map it to the destination's mdev UUID, not %r"
                                 % (device_key(element), target))
        address.set("uuid", target.lower())
    elif source.find("adapter") is not None:
        parts = target.split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            raise DeviceMapError("%s is a SCSI host device: map it to ADAPTER:BUS:TARGET:UNIT (scsi_host0:0:0:0), "
                                 "not %r" % (device_key(element), target))
        source.find("adapter").set("name", parts[0])
        for name, value in zip(("bus", "target", "unit"), parts[1:]):
            address.set(name, value)
    else:
        pci = parse_pci_address(target)
        if pci is None:
            raise DeviceMapError("%s is a PCI function: map it to the destination's PCI address (0000:00:01.0), "
                                 "not %r" % (device_key(element), target))
        for name, value, form in zip(("domain", "bus", "slot", "function"), pci, ("0x%04x", "0x%02x", "0x%02x", "0x%x")):
            address.set(name, form % value)
    return element


def resolve_device_map(device_map, entries):
    """{device key: destination source} for the unplugged ``entries`` ({key, element}) from the
    user's ``device_map`` ({source: target}, a source named by its host source or its device key).
    Devices it does not name map to themselves. Raises DeviceMapError for a source that names no
    device being moved (a typo must not silently map nothing)."""
    by_source = {}
    for entry in entries:
        source = host_source(entry["element"])
        if source:
            by_source[source] = entry["key"]
        by_source[entry["key"]] = entry["key"]
    resolved = {}
    for source, target in (device_map or {}).items():
        name = str(source).strip()
        key = by_source.get(name.lower()) or by_source.get(name)
        if key is None and parse_pci_address(name):
            key = by_source.get(pci_text(parse_pci_address(name)))
        if key is None:
            raise DeviceMapError("device_map: %r names no pass-through device that this migration unplugs "
                                 "(those are: %s)" % (source, ", ".join(sorted(set(by_source))) or "none"))
        resolved[key] = str(target).strip()
    return resolved
