# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host itself uses: devices later modules must refuse to take.

Sources, all read under ``host_root``:

* mounted file systems: ``/proc/self/mountinfo`` (major:minor, field 3, see
  proc(5)) and ``/proc/mounts`` (source device path, resolved through
  ``/dev`` symlinks such as ``/dev/disk/by-path`` and ``/dev/mapper``);
* swap: ``/proc/swaps`` (first column, mm/swapfile.c swap_show);
* device-mapper stacks: ``/sys/class/block/<dm>/slaves`` and ``dm/uuid``
  (``LVM-`` prefix = an LVM logical volume, ``mpath-`` = multipath;
  drivers/md/dm-sysfs.c); md RAID members (``mdN/slaves``) and the devices of
  a mounted multi-device btrfs (``/sys/fs/btrfs/<fsid>/devices``);
* LVM physical volumes that are not active: the LVM2 label ("LABELONE" in one
  of the first four 512-byte sectors, type "LVM2 001" at offset 24; lvm2
  lib/label/label.h) and ``/etc/lvm/devices/system.devices`` (DEVNAME=);
* the IPL device: ``/sys/firmware/ipl/ipl_type`` and ``device``/``fid``
  (arch/s390/kernel/ipl.c: ccw, eckd, fcp, nvme and their _dump types);
* network interfaces that carry the host's addresses: ``/proc/net/route``
  (IPv4 routes per interface, net/ipv4/fib_trie.c fib_route_seq_show) and
  ``/proc/net/if_inet6`` (addresses with scope, net/ipv6/addrconf.c), pushed
  down through ``lower_*`` links and ``master`` links (bonds, VLANs, bridges).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, int_or_none

_BUS_ID = re.compile(r"^[0-9a-f]{1,2}\.[0-9a-f]\.[0-9a-f]{4}$")
_PCI_ADDR = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_NVME_CTRL = re.compile(r"^nvme[0-9]+$")
_NVME_SUBSYS = re.compile(r"^nvme-subsys[0-9]+$")
_LVM_LABEL = b"LABELONE"
_LVM_TYPE = b"LVM2 001"
# if_inet6 scope values (include/net/ipv6.h IPV6_ADDR_*): 0x20 link-local, 0x10 loopback (host).
_LOCAL_SCOPES = ("10", "20")


class HostUsage(object):
    """Collects, once, which block devices, CCW devices, PCI functions and network
    interfaces the host uses, with a human-readable reason for each."""

    def __init__(self, fs, probe_labels=True):
        self.fs = fs
        self.probe_labels = probe_labels
        self.block_reasons = {}      # block device name -> [reason]
        self.ccw_reasons = {}        # bus ID -> [reason]
        self.pci_reasons = {}        # PCI address -> [reason]
        self.netdev_reasons = {}     # interface name -> [reason]
        self.ipl = {}
        self.warnings = []           # what could not be checked, for module.warn()
        self._collect()

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _add(table, name, reason):
        reasons = table.setdefault(name, [])
        if reason not in reasons:
            reasons.append(reason)

    def _block_name_of_path(self, dev_path):
        """Kernel block device name for a /dev path (following symlinks), or None."""
        if not dev_path.startswith("/dev/"):
            return None
        real = self.fs.resolve(dev_path)
        name = real.rsplit("/", 1)[-1]
        if self.fs.exists("/sys/class/block/" + name):
            return name
        return None

    def _block_name_of_devnum(self, devnum):
        link = self.fs.readlink("/sys/dev/block/" + devnum)
        return link.rsplit("/", 1)[-1] if link else None

    def _mark_block(self, name, reason, seen=None):
        """Mark a block device and the devices below it (device-mapper slaves, recursively).

        A partition's hardware (its DASD or NVMe function) is found by block_owner, so the whole
        disk is not marked separately."""
        seen = seen if seen is not None else set()
        if not name or name in seen:
            return
        seen.add(name)
        self._add(self.block_reasons, name, reason)
        for slave in self.fs.listdir("/sys/class/block/%s/slaves" % name):
            self._mark_block(slave, reason if " (through " in reason else "%s (through %s)" % (reason, name), seen)

    def block_owner(self, name):
        """('ccw', bus ID) or ('pci', address) of the hardware behind a block device."""
        owners = self.block_owners(name)
        return owners[0] if owners else (None, None)

    def block_owners(self, name):
        """Every ('ccw', bus ID) / ('pci', address) behind a block device. A native NVMe multipath
        namespace (/dev/nvme0n1 with CONFIG_NVME_MULTIPATH, Debian's default) lives below
        /sys/devices/virtual/nvme-subsystem/nvme-subsysN/, not below its PCI function: the
        subsystem links each of its controllers by name (drivers/nvme/host/core.c
        nvme_init_subsystem: sysfs_create_link(subsys, ctrl, dev_name(ctrl))), and those sit
        below the PCI functions."""
        kind, owner = self.owner_of("/sys/class/block/" + name)
        if kind:
            return [(kind, owner)]
        real = self.fs.resolve("/sys/class/block/" + name)
        parts = real.split("/")
        subsys = [i for i, part in enumerate(parts) if _NVME_SUBSYS.match(part)]
        if not subsys:
            return []
        base = "/".join(parts[:subsys[0] + 1])
        owners = []
        for entry in self.fs.listdir(base):
            if _NVME_CTRL.match(entry):
                kind, owner = self.owner_of(base + "/" + entry)
                if kind and (kind, owner) not in owners:
                    owners.append((kind, owner))
        return owners

    def owner_of(self, class_path):
        """('ccw', bus ID) or ('pci', address) of the hardware behind a class device
        (``/sys/class/block/dasda1``, ``/sys/class/net/encf500``), from its sysfs path: the
        nearest ancestor named like a CCW bus ID or a PCI address (a qeth group device is named
        after its first CCW device)."""
        real = self.fs.resolve(class_path)
        parts = real.split("/")
        for part in reversed(parts):
            if _BUS_ID.match(part):
                return "ccw", part
            if _PCI_ADDR.match(part):
                return "pci", part
        return None, None

    # -- collection ------------------------------------------------------
    def _collect(self):
        self._collect_mounts()
        self._collect_swaps()
        self._collect_device_mapper()
        self._collect_md_and_btrfs()
        self._collect_lvm_devices_file()
        self._collect_ipl()
        self._collect_network()
        self._project_blocks_to_hardware()
        self._project_netdevs_to_hardware()

    def _collect_mounts(self):
        seen = set()
        for line in self.fs.lines("/proc/self/mountinfo"):
            fields = line.split()
            if len(fields) < 5 or fields[2].startswith("0:"):
                continue
            name = self._block_name_of_devnum(fields[2])
            if name:
                seen.add((name, fields[4]))
                self._mark_block(name, "mounted at %s" % _unescape(fields[4]))
        for line in self.fs.lines("/proc/mounts"):
            fields = line.split()
            if len(fields) < 2:
                continue
            name = self._block_name_of_path(_unescape(fields[0]))
            if name and (name, fields[1]) not in seen:
                self._mark_block(name, "mounted at %s" % _unescape(fields[1]))

    def _collect_swaps(self):
        for line in self.fs.lines("/proc/swaps")[1:]:
            fields = line.split()
            if fields:
                name = self._block_name_of_path(_unescape(fields[0]))
                if name:
                    self._mark_block(name, "active swap")

    def _collect_device_mapper(self):
        for name in self.fs.listdir("/sys/class/block"):
            if not name.startswith("dm-"):
                continue
            uuid = self.fs.read("/sys/class/block/%s/dm/uuid" % name, default="")
            dm_name = self.fs.read("/sys/class/block/%s/dm/name" % name, default=name)
            if uuid.startswith("LVM-"):
                reason = "LVM physical volume of active logical volume %s" % dm_name
            elif uuid.startswith("mpath-"):
                reason = "path of multipath device %s" % dm_name
            elif uuid.startswith("CRYPT-"):
                reason = "backs dm-crypt device %s" % dm_name
            else:
                reason = "backs device-mapper device %s" % dm_name
            for slave in self.fs.listdir("/sys/class/block/%s/slaves" % name):
                self._mark_block(slave, reason)

    def _collect_md_and_btrfs(self):
        """Devices held by a running md RAID array (drivers/md/md.c bind_rdev_to_array links them
        as ``slaves/`` of mdN, mounted or not) and every device of a mounted multi-device btrfs
        (mountinfo names one device; fs/btrfs/sysfs.c btrfs_sysfs_add_device links all of them
        as ``/sys/fs/btrfs/<fsid>/devices/<name>``, and only mounted file systems are there)."""
        for name in self.fs.listdir("/sys/class/block"):
            if name.startswith("md") and self.fs.isdir("/sys/class/block/%s/md" % name):
                for member in self.fs.listdir("/sys/class/block/%s/slaves" % name):
                    self._mark_block(member, "member of RAID array %s" % name)
        for fsid in self.fs.listdir("/sys/fs/btrfs"):
            for member in self.fs.listdir("/sys/fs/btrfs/%s/devices" % fsid):
                self._mark_block(member, "device of mounted btrfs file system %s" % fsid)

    def _collect_lvm_devices_file(self):
        # LVM's devices file (lvmdevices(8)): one "key=value ..." line per PV.
        for line in self.fs.lines("/etc/lvm/devices/system.devices"):
            for field in line.split():
                if field.startswith("DEVNAME="):
                    name = self._block_name_of_path(field[len("DEVNAME="):])
                    if name:
                        self._mark_block(name, "LVM physical volume (listed in /etc/lvm/devices/system.devices)")

    def probe_lvm_label(self, name):
        """True when the block device carries an LVM2 physical volume label; HostAccessError
        when it cannot be read (without root, /dev/dasd* is not readable)."""
        data = self.fs.read_bytes("/dev/" + name, 2048, strict=True)
        for sector in range(0, min(len(data), 2048), 512):
            if data[sector:sector + 8] == _LVM_LABEL and data[sector + 24:sector + 32] == _LVM_TYPE:
                return True
        return False

    def mark_labelled_pvs(self, block_names):
        """Probe the given (DASD/NVMe) block devices and partitions for LVM labels.

        A device that cannot be read may hold the PV of an inactive volume group: it is marked
        as used (with the reason), never reported free on a guess. A missing /dev node (no
        udev, a partial tree) is only warned about."""
        if not self.probe_labels:
            return
        for name in block_names:
            try:
                labelled = self.probe_lvm_label(name)
            except HostAccessError as err:
                if err.errno == errno.ENOENT:
                    self.warnings.append("%s: LVM labels on it were not checked" % err)
                    continue
                reason = "unknown: %s, so an LVM label of an inactive volume group cannot be ruled out" % err
                self.warnings.append("%s; counted as used by the host (run as root: become: true)" % err)
                self._mark_hardware(name, reason)
                continue
            if labelled:
                self._mark_hardware(name, "LVM physical volume (LVM2 label on /dev/%s)" % name)

    def _mark_hardware(self, name, reason):
        self._mark_block(name, reason)
        for kind, owner in self.block_owners(name):
            self._add(self.ccw_reasons if kind == "ccw" else self.pci_reasons, owner, reason)

    def probe_ccw_device(self, bus_id):
        """Probe a DASD's disk and partitions for LVM labels (inactive volume groups)."""
        base = "/sys/bus/ccw/devices/%s/block" % bus_id
        names = []
        for disk in self.fs.listdir(base):
            names.append(disk)
            names.extend(p for p in self.fs.listdir("%s/%s" % (base, disk)) if p.startswith(disk))
        self.mark_labelled_pvs(names)

    def _collect_ipl(self):
        base = "/sys/firmware/ipl/"
        ipl_type = self.fs.read(base + "ipl_type", default="")
        if not ipl_type:
            return
        self.ipl = {"type": ipl_type}
        kind = ipl_type.replace("_dump", "")
        if kind in ("ccw", "eckd", "fcp"):
            device = self.fs.read(base + "device", default="")
            if device:
                self.ipl["device"] = device
                self._add(self.ccw_reasons, device, "IPL device (%s)" % ipl_type)
            if kind == "fcp":
                self.ipl["wwpn"] = self.fs.read(base + "wwpn", default="")
                self.ipl["lun"] = self.fs.read(base + "lun", default="")
        elif kind == "nvme":
            fid = self.fs.read(base + "fid", default="")
            if fid:
                self.ipl["fid"] = fid
                self.ipl["nsid"] = self.fs.read(base + "nsid", default="")

    def _collect_network(self):
        carrying = {}
        for line in self.fs.lines("/proc/net/route")[1:]:
            fields = line.split()
            if fields:
                carrying.setdefault(fields[0], "IPv4 routes")
        for line in self.fs.lines("/proc/net/if_inet6"):
            fields = line.split()
            if len(fields) >= 6 and fields[3] not in _LOCAL_SCOPES:
                carrying.setdefault(fields[5], "IPv6 addresses")
        for ifname, what in carrying.items():
            if ifname == "lo":
                continue
            self._mark_net(ifname, "carries the host's %s (interface %s)" % (what, ifname), set())

    def _mark_net(self, ifname, reason, seen):
        if ifname in seen:
            return
        seen.add(ifname)
        self._add(self.netdev_reasons, ifname, reason)
        base = "/sys/class/net/" + ifname
        for entry in self.fs.listdir(base):
            if entry.startswith("lower_"):
                self._mark_net(entry[len("lower_"):], reason, seen)
        # Bridge/bond ports: a port whose master carries IP carries it too (handled from the master's
        # lower_* links); slaves listed by bonding are also covered by bonding/slaves.
        for slave in self.fs.read(base + "/bonding/slaves", default="").split():
            self._mark_net(slave, reason, seen)
        for port in self.fs.listdir(base + "/brif"):
            self._mark_net(port, reason, seen)

    def _project_netdevs_to_hardware(self):
        """Interfaces with the host's addresses mark their hardware. The interface of a ccwgroup
        device (qeth, ctcm, lcs: ``<group>/net/<if>``) marks every member (``cdev0``, ``cdev1``,
        ... links, ccwgroup.c): each is a subchannel a later task could otherwise take. Others
        mark the CCW device (virtio-net) or PCI function they sit on."""
        for ifname, reasons in list(self.netdev_reasons.items()):
            real = self.fs.resolve("/sys/class/net/" + ifname)
            parent = real.rsplit("/net/", 1)[0] if "/net/" in real else None
            members = self.group_members(parent) if parent else []
            if members:
                label = "%s group %s" % (self.fs.link_name(parent + "/driver") or "ccw", parent.rsplit("/", 1)[-1])
                for member in members:
                    for reason in reasons:
                        self._add(self.ccw_reasons, member, "%s: %s" % (label, reason))
                continue
            kind, owner = self.owner_of("/sys/class/net/" + ifname)
            table = self.ccw_reasons if kind == "ccw" else self.pci_reasons if kind == "pci" else None
            if table is not None:
                for reason in reasons:
                    self._add(table, owner, reason)

    def group_members(self, group_path):
        """Bus IDs of a ccwgroup device's members (links cdev0..cdevN), or [] for another device."""
        members = []
        for i in range(8):
            link = self.fs.readlink("%s/cdev%d" % (group_path, i))
            if link is None:
                break
            members.append(link.rstrip("/").rsplit("/", 1)[-1])
        return members

    def _project_blocks_to_hardware(self):
        for name, reasons in list(self.block_reasons.items()):
            for kind, owner in self.block_owners(name):
                table = self.ccw_reasons if kind == "ccw" else self.pci_reasons
                for reason in reasons:
                    self._add(table, owner, "/dev/%s: %s" % (name, reason) if not reason.startswith("/dev/") else reason)
        fid = int_or_none(self.ipl.get("fid", ""), 16)
        if fid is not None:
            for address in self.fs.listdir("/sys/bus/pci/devices"):
                if int_or_none(self.fs.read("/sys/bus/pci/devices/%s/function_id" % address, default=""), 16) == fid:
                    self._add(self.pci_reasons, address, "IPL device (%s, fid %s)" % (self.ipl["type"], self.ipl["fid"]))

    # -- queries ---------------------------------------------------------
    def add_ccw_reason(self, bus_id, reason):
        self._add(self.ccw_reasons, bus_id, reason)

    def for_ccw(self, bus_id):
        return list(self.ccw_reasons.get(bus_id, []))

    def for_pci(self, address):
        return list(self.pci_reasons.get(address, []))

    def for_netdev(self, ifname):
        return list(self.netdev_reasons.get(ifname, []))


def _unescape(text):
    """Undo the octal escapes (\\040 for space) of /proc/mounts and mountinfo."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
