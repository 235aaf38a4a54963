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


def migration_blockers(root, qemu_version=None, fs_type_of=None):
    """[{device, reason}] for everything that keeps the domain from migrating live.

    ``fs_type_of(path)`` names the file system a disk image is on (None when unknown); without
    it local disk images are not judged.
    """
    blockers = []
    qemu = "QEMU %s" % _version_text(qemu_version) if qemu_version else "QEMU"
    for device in root.findall("./devices/*"):
        key = device_key(device)
        address = device.find("address")
        reasons = []
        if device.tag == "hostdev" and device.get("model") == "vfio-ap":
            reasons.append("vfio-ap crypto pass-through: IBM requires no vfio_ap device in the configuration "
                           "of a guest that migrates")
        elif device.tag == "hostdev" and device.get("model") == "vfio-ccw":
            reasons.append("vfio-ccw pass-through is non-migratable (%s: non-migratable device vfio-ccw); "
                           "detach it before migrating" % qemu)
        elif device.tag == "hostdev" and device.get("type") == "scsi_host":
            reasons.append("vhost-scsi pass-through is non-migratable (%s: vhost-scsi blocks migration); "
                           "detach it before migrating" % qemu)
        elif device.tag == "hostdev" and device.get("type") == "scsi":
            reasons.append("SCSI pass-through (tape or medium changer): IBM requires it detached, "
                           "the tape unloaded, before migrating")
        elif device.tag == "hostdev" and device.get("type") == "pci" or \
                device.tag == "interface" and device.get("type") == "hostdev":
            reasons.append("PCI pass-through: detach it before migrating")
        if address is not None and address.get("type") == "pci" and not reasons:
            reasons.append("zPCI device: %s marks every zPCI device non-migratable (non-migratable device: zpci); "
                           "unplug it before migrating" % qemu)
        elif address is not None and address.get("type") == "pci":
            reasons[-1] += " (zPCI devices are non-migratable in %s)" % qemu
        if device.tag == "filesystem" and device.get("type", "mount") == "mount":
            driver = device.find("driver")
            if driver is not None and driver.get("type") == "virtiofs":
                reasons.append("virtio-fs: IBM requires it unmounted in the guest; vhost-user-fs is non-migratable "
                               "before QEMU 8.2")
            else:
                reasons.append("virtio-9p: %s refuses to migrate while the guest has the export mounted; "
                               "unmount it first" % qemu)
        if device.tag == "disk":
            reason = _local_disk_reason(device, fs_type_of)
            if reason:
                reasons.append(reason)
        for reason in reasons:
            blockers.append({"device": key, "reason": reason})
    return blockers


