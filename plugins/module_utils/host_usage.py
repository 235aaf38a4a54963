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

Fail closed: what cannot be read or resolved is recorded in ``unknown`` (one
``{"source", "reason"}`` per cause: ``/sys/class/block`` or the mount table or
``/proc/swaps`` missing or unreadable, a block mount or swap device that resolves
to no block device, the root file system's device not found). Such a cause could
hide a use of any block device, so it applies to every device that may hold one
(``ccw_use``/``pci_use``: state ``unknown``); devices that cannot hold one (offline
DASDs, PAV aliases, network devices, functions without a host driver) stay free.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
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
# PCI base class 01h: mass storage controller (PCI Code and ID Assignment Specification; Linux
# include/linux/pci_ids.h PCI_BASE_CLASS_STORAGE). NVMe (0x010802) and virtio-blk (0x0100xx) are.
_PCI_BASE_CLASS_STORAGE = 0x01
# Drivers that leave a PCI function to no host block layer: vfio-pci hands it to a guest.
_NO_HOST_DRIVERS = (None, "vfio-pci", "pci-stub")
# The consequence named with each cause in the module warnings.
_UNKNOWN_CONSEQUENCE = "devices that may hold a block device are reported as not free (host_use_state unknown)"


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
        # Causes that could hide a use of any block device: [{"source": path, "reason": text}].
        self.unknown = []
        # Reasons in ccw_reasons/pci_reasons that say "could not be read", not "is used".
        self._unproven = set()
        self._ip_reasons = set()   # the reasons that say an interface carries the host's addresses
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
        # Without /sys/class/block no mount, swap or device-mapper stack leads to its device: the
        # one cause says it all, the mount table's entries would each "resolve to nothing".
        self._block_tree = self._check_block_tree()
        self._collect_mounts()
        self._collect_swaps()
        self._collect_device_mapper()
        self._collect_md_and_btrfs()
        self._collect_lvm_devices_file()
        self._collect_ipl()
        self._collect_network()
        self._project_blocks_to_hardware()
        self._project_netdevs_to_hardware()

    # -- what could not be read or resolved --------------------------------
    def _unknown(self, source, reason):
        """Record a cause that could hide a use of any block device, and warn about it once."""
        if any(u["reason"] == reason for u in self.unknown):
            return
        self.unknown.append({"source": source, "reason": reason})
        self.warnings.append("cannot tell the host's use of its block devices: %s; %s" % (reason, _UNKNOWN_CONSEQUENCE))

    def _read_lines(self, path):
        """(lines, None), or ([], why) when the file is missing or unreadable (not when empty)."""
        try:
            return self.fs.read(path).splitlines(), None
        except HostAccessError as err:
            return [], _cannot(path, err)

    def _check_block_tree(self):
        try:
            os.listdir(self.fs.path("/sys/class/block"))
        except OSError as err:
            reason = "%s (so mounts, swap and device-mapper stacks cannot be traced to their devices)" % _cannot(
                "/sys/class/block", HostAccessError("/sys/class/block", err))
            self._unknown("/sys/class/block", reason)
            return False
        return True

    def _collect_mounts(self):
        """Mark the devices of mounted file systems. mountinfo gives each mount's device number
        (fs/proc_namespace.c show_mountinfo: MAJOR:MINOR of sb->s_dev), its type and source;
        /proc/mounts (show_vfsmnt) only the source and type. Both list the same mount table;
        /proc/mounts is also read for what mountinfo does not name (trees with only one)."""
        info_lines, info_err = self._read_lines("/proc/self/mountinfo")
        mounts_lines, mounts_err = self._read_lines("/proc/mounts")
        if info_err and mounts_err:
            reason = "%s and %s, so mounted file systems cannot be traced to their devices" % (info_err, mounts_err)
            self._unknown("/proc/self/mountinfo", reason)
            return
        table = []      # (mount point, source, fs type, device number or None), in mount order
        for line in info_lines:
            # "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" (proc(5)):
            # optional fields end at the "-" separator, then type, source and super options.
            fields = line.split()
            if len(fields) < 7 or "-" not in fields[6:]:
                continue
            sep = fields.index("-", 6)
            if len(fields) < sep + 3:
                continue
            table.append((_unescape(fields[4]), _unescape(fields[sep + 2]), fields[sep + 1], fields[2]))
        named = set((point, source) for point, source, _type, _devnum in table)
        for line in mounts_lines:
            fields = line.split()
            if len(fields) < 3:
                continue
            point, source = _unescape(fields[1]), _unescape(fields[0])
            if (point, source) not in named:
                table.append((point, source, fields[2], None))
        root = None
        for point, source, fstype, devnum in table:
            name = None
            if devnum and devnum.startswith("0:"):
                devnum = None   # anonymous: no block device behind the number
            if devnum:
                name = self._block_name_of_devnum(devnum)
            if not name:
                name = self._block_name_of_path(source)
            if name:
                self._mark_block(name, "mounted at %s" % point)
            resolved = bool(name) or not _is_block_mount(source, fstype, devnum)
            if point == "/":
                root = (source, devnum, resolved)     # the last mount on / is the one the host sees
            elif not resolved and self._block_tree:
                reason = "%s mounted at %s resolves to no block device%s" % (
                    source, point, " (nor does its device number %s)" % devnum if devnum else "")
                self._unknown(source, reason)
        if not self._block_tree:
            return
        if root is None:
            reason = "the mount table has no entry for /, so the root file system's device is unknown"
            self._unknown("/proc/self/mountinfo" if not info_err else "/proc/mounts", reason)
        elif not root[2]:
            reason = "the root file system's device is unknown: %s mounted at / resolves to no block device%s" % (
                root[0], " (nor does its device number %s)" % root[1] if root[1] else "")
            self._unknown(root[0], reason)

    def _collect_swaps(self):
        lines, err = self._read_lines("/proc/swaps")
        if err:
            reason = "%s, so active swap cannot be ruled out" % err
            self._unknown("/proc/swaps", reason)
            return
        for line in lines[1:]:
            fields = line.split()
            if not fields:
                continue
            # mm/swapfile.c swap_show: the path of the opened swap area (octal escapes, d_path's
            # " (deleted)" when its node is gone) and "partition" for a block device, else "file".
            path = _unescape(fields[0])
            if path.endswith(" (deleted)"):
                path = path[:-len(" (deleted)")]
            name = self._block_name_of_path(path)
            if name:
                self._mark_block(name, "active swap")
            elif len(fields) > 1 and fields[1] == "file":
                continue   # a swap file lives in a file system the mount table already traced
            elif self._block_tree:
                reason = "swap device %s resolves to no block device" % path
                self._unknown(path, reason)

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
                self._unproven.add(reason)
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
            reason = "carries the host's %s (interface %s)" % (what, ifname)
            self._ip_reasons.add(reason)
            self._mark_net(ifname, reason, set())

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

    def carries_host_ip(self, reasons):
        """Whether one of a device's ``host_use`` reasons is an interface with the host's addresses."""
        return any(r in self._ip_reasons for r in reasons)

    def ccw_use(self, bus_id):
        """The host's use of a CCW device: see ``device_use``."""
        return self.device_use(self.for_ccw(bus_id), lambda: self.ccw_may_hold_blocks(bus_id))

    def pci_use(self, address, netdevs=()):
        """The host's use of a PCI function and of its network interfaces: see ``device_use``."""
        reasons = self.for_pci(address)
        for netdev in netdevs:
            reasons.extend(r for r in self.for_netdev(netdev) if r not in reasons)
        return self.device_use(reasons, lambda: self.pci_may_hold_blocks(address))

    def device_use(self, reasons, may_hold_blocks):
        """``host_use_state``: ``used`` (a use is proven), ``unknown`` (none is proven, but a cause in
        ``unknown`` could hide one, or a reason says the device could not be read) or ``free``;
        ``in_use_by_host`` is true unless it is free, so a filter on it never takes a device that
        is not proven free. ``host_use`` are the reasons, ``host_use_unknown`` the causes."""
        unknown = [u["reason"] for u in self.unknown] if self.unknown and may_hold_blocks() else []
        if any(r not in self._unproven for r in reasons):
            state = "used"
        else:
            state = "unknown" if reasons or unknown else "free"
        return {"in_use_by_host": state != "free", "host_use": reasons, "host_use_unknown": unknown,
                "host_use_state": state}

    def ccw_may_hold_blocks(self, bus_id):
        """Whether a CCW device may hold a block device: registered (a vfio_ccw-bound or ignored
        device is not on the ccw bus) and online, neither a ccwgroup member (qeth, ctcm, lcs: a
        ``group_device`` link, ccwgroup.c) nor a PAV alias DASD (dasd_eckd.c dasd_eckd_alloc_block
        allocates a block device for base devices only). An offline DASD holds none, and one in use
        cannot be set offline (dasd.c dasd_generic_set_offline: -EBUSY while opened). What cannot
        be read counts as may."""
        if not self.fs.isdir("/sys/bus/ccw/devices"):
            return True
        base = "/sys/bus/ccw/devices/" + bus_id
        if not self.fs.exists(base):
            return False
        if self.fs.readlink(base + "/group_device"):
            return False
        if self.fs.read(base + "/online", default="") == "0":
            return False
        return self.fs.read(base + "/alias", default="0") != "1"

    def pci_may_hold_blocks(self, address):
        """Whether a PCI function may hold a block device: bound to a host driver (not vfio-pci)
        and of the mass storage class (NVMe, virtio-blk); an unreadable class counts as may."""
        base = "/sys/bus/pci/devices/" + address
        if self.fs.link_name(base + "/driver") in _NO_HOST_DRIVERS:
            return False
        pci_class = int_or_none(self.fs.read(base + "/class", default=""), 16)
        return pci_class is None or pci_class >> 16 == _PCI_BASE_CLASS_STORAGE


def host_use_refusal(name, used, unknown):
    """Why a device cannot be taken from the host, or None: it is ``used`` (reasons), or its use
    cannot be told (``unknown`` causes) and so is not proven free (fail closed)."""
    if used:
        return "%s: used by the host: %s%s" % (name, "; ".join(used), also_unknown_reason(unknown))
    if unknown:
        return "%s: %s" % (name, unknown_reason(unknown))
    return None


def unknown_reason(unknown):
    """A refusal's text for a device whose use cannot be told (``host_use_unknown``)."""
    return "cannot prove the host does not use it: %s" % "; ".join(unknown)


def also_unknown_reason(unknown):
    """What a refusal of a used device adds when other uses cannot be told either."""
    return " (and cannot prove there is no other use: %s)" % "; ".join(unknown) if unknown else ""


def _cannot(path, err):
    """"<path> is missing" or "cannot read <path>: <why>" for a HostAccessError."""
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return "%s is missing" % path
    return str(err)


def _is_block_mount(source, fstype, devnum):
    """Whether a mount sits on a block device, so it must resolve to one. A real device number
    (``devnum``, major not 0) says so; an anonymous one (major 0, fs/super.c get_anon_bdev: tmpfs, proc, nfs,
    overlay, ...) does not, but btrfs has one too (super.c btrfs_get_tree_super: set_anon_super_fc)
    with its /dev source: a /dev source counts, except for FUSE, whose source is free text given by
    the mounter (fuseblk has a real device). Without mountinfo only the source tells."""
    if devnum:
        return True
    if fstype == "fuse" or fstype.startswith("fuse."):
        return False
    return source.startswith("/dev/")


def _unescape(text):
    """Undo the octal escapes (\\040 for space) of /proc/mounts and mountinfo."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
