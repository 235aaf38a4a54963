# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery of the channel subsystem: subchannels, CCW devices, DASDs, qeth
groups, zfcp adapters, channel paths and ``cio_ignore``.

Layout and formats (Linux drivers/s390/cio, see docs/sysfs-sources.md):

* ``/sys/devices/css0/0.<ssid>.<schno>/`` subchannels (css.c
  css_sch_device_register); attributes ``type`` ("%01x"), for I/O subchannels
  ``chpids`` (8 x "%02x "), ``pimpampom`` ("%02x %02x %02x"), ``dev_busid``
  ("0.%x.%04x" or "none"), ``driver_override`` ("(null)" when unset);
* the CCW device is the child directory named ``dev_busid``
  (device.c ccwdev_attrs: ``devtype`` "%04x/%02x" or "n/a", ``cutype``,
  ``online`` 0/1, ``availability`` good|boxed|no path|no device);
* channel paths ``/sys/devices/css0/chp0.<xx>/`` (chp.c chp_attrs);
* orphaned CCW devices: a device whose subchannel now answers for another device
  (or for none) is moved below the pseudo subchannel ``/sys/devices/css0/defunct/``
  (device.c ccw_device_move_to_orph; css.c names it "defunct") and reads
  availability "no device" (device.c available_show). It stays on the ccw bus,
  online DASDs keep their block device.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import os

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdSet, parse_cio_ignore
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import int_or_none, is_uuid, override_or_none

SUBCHANNEL_TYPES = {0: "io", 1: "chsc", 2: "message", 3: "adm"}
DEVICE_KINDS = ("dasd", "qeth", "zfcp", "virtio", "tape", "ctc", "lcs", "3270", "unit_record", "other")

# Driver name -> kind (drivers' struct ccw_driver .name).
_KIND_BY_DRIVER = {
    "dasd-eckd": "dasd", "dasd-fba": "dasd", "qeth": "qeth", "zfcp": "zfcp",
    "virtio_ccw": "virtio", "tape_34xx": "tape", "tape_3590": "tape",
    "ctcm": "ctc", "lcs": "lcs", "3270": "3270", "vmur": "unit_record",
}
# Control-unit type -> kind, for devices without a driver (the drivers' ccw_device_id tables:
# dasd_eckd.c, dasd_fba.c, qeth_core_main.c qeth_ids, zfcp_ccw.c, virtio_ccw.c, tape_*.c, ctcm/lcs).
_KIND_BY_CUTYPE = {
    "3990": "dasd", "2105": "dasd", "2107": "dasd", "1750": "dasd", "3880": "dasd", "9343": "dasd",
    "6310": "dasd", "3832": "virtio", "3480": "tape", "3490": "tape", "3590": "tape",
    "3088": "ctc", "3274": "3270", "2540": "unit_record", "3505": "unit_record", "3525": "unit_record",
}
# 1731/xx is shared by qeth models and FCP: model 03 is FCP (zfcp_ccw.c), the rest qeth.
_QETH_CU_MODELS = {"01": "OSA (OSD)", "02": "OSA (OSM/OSX)", "05": "HiperSockets (IQD)", "06": "OSA (OSN)"}
_DASD_DISCIPLINE_BY_DRIVER = {"dasd-eckd": "ECKD", "dasd-fba": "FBA"}
_FBA_CUTYPES = ("6310",)
# Path positions installed per PIM value (bit 0x80 = path 0): precomputed, read 65,536 times.
_PIM_PATHS = [tuple(i for i in range(8) if mask & (0x80 >> i)) for mask in range(256)]


def device_kind(driver, cutype):
    if driver in _KIND_BY_DRIVER:
        return _KIND_BY_DRIVER[driver]
    cu = cutype[:4] if cutype else ""
    if cu == "1731":
        return "zfcp" if cutype[5:7] == "03" else "qeth"
    return _KIND_BY_CUTYPE.get(cu, "other")


def _hexbyte(text):
    try:
        return int(text, 16)
    except ValueError:
        return 0


class CcwDiscovery(object):
    """Reads the channel subsystem of one host. ``fs`` is a HostFS."""

    def __init__(self, fs, bus_ids=None, kinds=None, usage=None):
        self.fs = fs
        self.filter = bus_ids if isinstance(bus_ids, BusIdSet) else BusIdSet(bus_ids)
        self.kinds = set(kinds or [])
        self.usage = usage

    def is_s390x_host(self):
        return self.fs.isdir("/sys/bus/css") or self.fs.isdir("/sys/devices/css0")

    # -- subchannels and devices ------------------------------------------
    def scan(self):
        """Return ``(subchannels, devices)`` as lists of dicts sorted by bus ID."""
        # Building ~130,000 dicts (65,536 subchannels) triggers the cyclic garbage collector
        # hundreds of times over an ever larger heap; these records form no cycles.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._scan()
        finally:
            if enabled:
                gc.enable()

    def _scan(self):
        fs = self.fs
        read = fs.read_abs
        readlink = os.readlink
        subchannels = []
        devices = []
        want_all = self.filter.everything
        kinds = self.kinds
        for css in fs.listdir("/sys/devices"):
            if not css.startswith("css"):
                continue
            css_local = fs.path("/sys/devices/" + css) + "/"
            for entry in fs.scandir("/sys/devices/" + css):
                name = entry.name
                if len(name) != 8 or name[1] != "." or name[3] != ".":
                    continue  # chpN.xx, defunct, attributes
                base = css_local + name + "/"
                sch_type = _hexbyte(read(base + "type", "0"))
                try:
                    driver = os.path.basename(readlink(base + "driver"))
                except OSError:
                    driver = None
                override = read(base + "driver_override", "")
                sch = {
                    "bus_id": name,
                    "type": sch_type,
                    "driver": driver,
                    "driver_override": override_or_none(override),
                }
                sch["type_name"] = SUBCHANNEL_TYPES.get(sch["type"], "unknown")
                dev_busid = None
                if sch["type"] == 0:
                    dev_busid = read(base + "dev_busid", "none")
                    if dev_busid == "none":
                        dev_busid = None
                # Filters name devices; a subchannel without a device is matched by its own ID.
                if not want_all and (dev_busid or name) not in self.filter:
                    continue
                if sch["type"] == 0:
                    pim, pam, pom = (read(base + "pimpampom", "00 00 00").split() + ["00", "00", "00"])[:3]
                    raw_chpids = read(base + "chpids", "").split()
                    # A path is installed when its bit in the PIM is set (0x80 = path 0); "00" is a valid CHPID.
                    sch["chpids"] = [raw_chpids[i] for i in _PIM_PATHS[_hexbyte(pim) & 0xFF] if i < len(raw_chpids)]
                    sch["pim"], sch["pam"], sch["pom"] = pim, pam, pom
                    sch["dev_busid"] = dev_busid
                    if driver == "vfio_ccw":
                        sch["mdevs"] = [e for e in os.listdir(base) if is_uuid(e)] if os.path.isdir(base) else []
                if dev_busid:
                    dev = self._device(base + dev_busid + "/", dev_busid, name, read)
                    if dev is not None and (not kinds or dev["kind"] in kinds):
                        devices.append(dev)
                    elif kinds:
                        continue
                elif kinds:
                    continue
                subchannels.append(sch)
            devices.extend(self._orphans(css, read))
        subchannels.sort(key=lambda s: s["bus_id"])
        devices.sort(key=lambda d: d["bus_id"])
        return subchannels, devices

    def _orphans(self, css, read):
        found = []
        for name in self.fs.listdir("/sys/devices/%s/defunct" % css):
            if len(name) != 8 or name[1] != "." or name[3] != "." or name not in self.filter:
                continue
            dev = self._device(self.fs.path("/sys/devices/%s/defunct/%s/" % (css, name)), name, None, read)
            if dev is not None and (not self.kinds or dev["kind"] in self.kinds):
                found.append(dev)
        return found

    def _device(self, base, bus_id, sch_id, read):
        cutype = read(base + "cutype", "")
        if not cutype and not os.path.isdir(base):
            return None  # dev_busid names a device that is not registered (e.g. vfio_ccw-bound, or going away)
        devtype = read(base + "devtype", "n/a")
        try:
            driver = os.path.basename(os.readlink(base + "driver"))
        except OSError:
            driver = None
        dev = {
            "bus_id": bus_id,
            "subchannel": sch_id,
            "cutype": cutype or None,
            "devtype": None if devtype == "n/a" else devtype,
            "online": read(base + "online", "0") == "1",
            "availability": read(base + "availability", "") or None,
            "driver": driver,
        }
        dev["kind"] = device_kind(driver, cutype)
        if dev["kind"] == "dasd":
            dev["dasd"] = self._dasd(base, driver, cutype, read)
        if self.usage is not None:
            dev.update(self.usage.ccw_use(bus_id))
        return dev

    def _dasd(self, base, driver, cutype, read):
        discipline = _DASD_DISCIPLINE_BY_DRIVER.get(driver) or ("FBA" if cutype[:4] in _FBA_CUTYPES else "ECKD")
        info = {
            "type": discipline,
            "status": read(base + "status", "") or None,
            "uid": read(base + "uid", "") or None,
            "readonly": read(base + "readonly", "0") == "1",
            "alias": read(base + "alias", "0") == "1",
            "use_diag": read(base + "use_diag", "0") == "1",
            "block_device": None,
            "partitions": [],
        }
        try:
            names = os.listdir(base + "block")
        except OSError:
            names = []
        if names:
            disk = names[0]
            info["block_device"] = disk
            info["partitions"] = sorted(p for p in os.listdir(base + "block/" + disk) if p.startswith(disk))
        return info

    def annotate_usage(self, devices):
        """Complete the host-usage marks of scanned devices with LVM labels of inactive volume
        groups (probed only on the DASDs being reported). Returns the qeth groups."""
        blocks = []
        for dev in devices:
            dasd = dev.get("dasd")
            if dasd and dasd["block_device"]:
                blocks.append(dasd["block_device"])
                blocks.extend(dasd["partitions"])
        self.usage.mark_labelled_pvs(blocks)
        for dev in devices:
            dev.update(self.usage.ccw_use(dev["bus_id"]))
        return self.qeth_groups()

    # -- ccwgroup: qeth, ctcm, lcs ----------------------------------------------
    def ccw_groups(self):
        """Every ccwgroup device (``/sys/bus/ccwgroup/devices``, ccwgroup.c: named after its first
        member, links ``cdev0``...): qeth (OSA, HiperSockets), but also ctcm and lcs, whose
        interfaces carry the host's addresses just the same. ``interfaces`` are the children of
        the group's ``net/`` directory (the netdev's parent is the group device)."""
        fs = self.fs
        groups = []
        for name in fs.listdir("/sys/bus/ccwgroup/devices"):
            base = "/sys/bus/ccwgroup/devices/" + name + "/"
            members = []
            for i in range(8):
                link = fs.readlink(base + "cdev%d" % i)
                if link is None:
                    break
                members.append(os.path.basename(link))
            if not self.filter.everything and not any(m in self.filter for m in members or [name]):
                continue
            group = {"bus_id": name, "devices": members, "driver": fs.link_name(base + "driver"),
                     "base": base, "interfaces": fs.listdir(base + "net")}
            if self.usage is not None:
                # the interfaces' reasons, and the members' own (an IPL device, ...); HostUsage
                # copied the interfaces' reasons to every member as "<driver> group <id>: ..."
                own = "%s group %s: " % (group["driver"] or "ccw", name)
                reasons = []
                for ifname in group["interfaces"]:
                    reasons.extend(r for r in self.usage.for_netdev(ifname) if r not in reasons)
                for member in members:
                    reasons.extend(r for r in self.usage.for_ccw(member) if r not in reasons and not r.startswith(own))
                group["host_use"] = reasons
            groups.append(group)
        return groups

    def qeth_groups(self, groups=None):
        """qeth group devices (qeth_core_sys.c attributes); other ccwgroup drivers are left out."""
        fs = self.fs
        result = []
        for raw in self.ccw_groups() if groups is None else groups:
            if raw["driver"] not in ("qeth", None):
                continue
            base = raw["base"]
            layer2 = fs.read(base + "layer2", default="")
            if_name = fs.read(base + "if_name", default="") or None
            if if_name == "(unnamed net_device)":
                if_name = None  # netdev_name() before the interface is registered (card never set online)
            group = {
                "bus_id": raw["bus_id"],
                "devices": raw["devices"],
                "driver": raw["driver"],
                "online": fs.read(base + "online", default="0") == "1",
                "state": fs.read(base + "state", default="") or None,
                "card_type": fs.read(base + "card_type", default="") or None,
                "chpid": (fs.read(base + "chpid", default="") or "").lower() or None,
                "layer2": {"1": True, "0": False}.get(layer2),
                "portno": int_or_none(fs.read(base + "portno", default="")),
                "if_name": if_name,
            }
            if self.usage is not None:
                reasons = list(raw["host_use"])
                if if_name:
                    reasons.extend(r for r in self.usage.for_netdev(if_name) if r not in reasons)
                group["carries_host_ip"] = self.usage.carries_host_ip(reasons)
                group["in_use_by_host"] = bool(reasons)
                group["host_use"] = reasons
            result.append(group)
        return result

    # -- zfcp ----------------------------------------------------------------
    def zfcp_adapters(self, devices):
        """zfcp adapters with their remote ports and LUNs (zfcp_sysfs.c: port dirs and unit
        dirs are named "0x%016llx")."""
        fs = self.fs
        adapters = []
        for dev in devices:
            if dev["kind"] != "zfcp":
                continue
            base = "/sys/bus/ccw/devices/%s/" % dev["bus_id"]
            ports = []
            for port in fs.listdir(base):
                if not port.startswith("0x"):
                    continue
                luns = [u for u in fs.listdir(base + port) if u.startswith("0x")]
                ports.append({"wwpn": port, "luns": luns})
            adapters.append({
                "bus_id": dev["bus_id"],
                "online": dev["online"],
                "status": fs.read(base + "status", default="") or None,
                "card_version": fs.read(base + "card_version", default="") or None,
                "peer_wwpn": fs.read(base + "peer_wwpn", default="") or None,
                "ports": ports,
                "in_use_by_host": dev.get("in_use_by_host", False),
                "host_use": dev.get("host_use", []),
            })
            if "host_use_state" in dev:
                adapters[-1].update(host_use_unknown=dev["host_use_unknown"], host_use_state=dev["host_use_state"])
        return adapters

    # -- channel paths and cio_ignore ----------------------------------------
    def channel_paths(self):
        fs = self.fs
        paths = []
        for css in fs.listdir("/sys/devices"):
            if not css.startswith("css"):
                continue
            for name in fs.listdir("/sys/devices/" + css):
                if not name.startswith("chp"):
                    continue
                base = "/sys/devices/%s/%s/" % (css, name)
                paths.append({
                    "id": name[3:],
                    "type": fs.read(base + "type", default="") or None,
                    "status": fs.read(base + "status", default="") or None,
                    "shared": int_or_none(fs.read(base + "shared", default="")),
                    "cmg": int_or_none(fs.read(base + "cmg", default="")),
                    "chid": fs.read(base + "chid", default="") or None,
                })
        return paths

    def cio_ignore(self):
        return parse_cio_ignore(self.fs.lines("/proc/cio_ignore"))


def paths_all_usable(sch):
    """Every installed path of an I/O subchannel available (PAM = PIM) and operational (its POM
    bits set): pimpampom is the PMCW's pim, pam and pom (drivers/s390/cio/device.c)."""
    try:
        pim, pom = int(sch["pim"], 16), int(sch["pom"], 16)
    except (KeyError, TypeError, ValueError):
        return False
    return sch["pam"] == sch["pim"] and pom & pim == pim


def subchannels_beside(subchannels, devices):
    """The subchannels that tell more than the device records do: a subchannel whose device is
    in ``devices``, bound to io_subchannel with no driver_override and every installed path
    usable, is that device's ``subchannel`` and nothing else worth shipping again. Listed stay
    those bound to vfio_ccw (their device is gone from the host while a guest holds it) or to
    no or another driver, those with a driver_override (a rebind under way), non-I/O
    subchannels, subchannels without a device, and those with a path not available or not
    operational."""
    listed_devices = set(d["subchannel"] for d in devices if d["subchannel"])
    return [s for s in subchannels
            if not (s["bus_id"] in listed_devices and s["driver"] == "io_subchannel" and s["driver_override"] is None
                    and paths_all_usable(s))]
