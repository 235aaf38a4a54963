# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand CCW devices (DASD) to the vfio_ccw driver with a mediated device, and back.

The kernel sequence (QEMU docs/system/s390x/vfio-ccw.rst; Linux
Documentation/arch/s390/vfio-ccw.rst; seen on Debian's 6.12 s390x kernel):
set the CCW device offline, ``driver_override`` = ``vfio_ccw`` on its
subchannel, unbind the subchannel from ``io_subchannel``, ``drivers_probe``
(vfio_ccw binds and registers the mdev parent), then write a UUID to
``mdev_supported_types/vfio_ccw-io/create``. The way back: ``remove`` the
mdev, clear ``driver_override`` (write a newline; it then reads ``(null)``),
unbind from vfio_ccw, ``drivers_probe`` (io_subchannel binds and the CCW device
is registered again about a second later), set the device online.

Every change is computed as the difference between the device's current state
and a target state, so a run can start from any intermediate state (override
set but still bound, bound without mdev, ...) and a failed batch is rolled back
by converging each device to the state recorded before the run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdSet, format_key, parse_cio_ignore
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import parse as parse_key
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.libvirt_config import device_users
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import MDEVCTL_DIR, Persistence, VfioError, wait_for

VFIO_CCW = "vfio_ccw"
IO_SUBCHANNEL = "io_subchannel"
MDEV_TYPE = "vfio_ccw-io"
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CcwState(object):
    """What the kernel and the persistence files say about one device's subchannel."""

    __slots__ = ("bus_id", "subchannel", "registered", "online", "driver", "override", "mdevs",
                 "cutype", "persisted_override", "persisted_mdevs", "definitions")

    def as_dict(self):
        return {
            "bus_id": self.bus_id,
            "subchannel": self.subchannel,
            "driver": self.driver,
            "driver_override": self.override,
            "online": self.online,
            "mdevs": list(self.mdevs),
            "persistent_override": self.persisted_override,
            "persistent_mdevs": sorted(self.persisted_mdevs),
        }


class VfioCcw(object):
    """Reads and changes vfio_ccw state for CCW devices of one host."""

    def __init__(self, fs, settle_timeout=15.0):
        self.fs = fs
        self.persistence = Persistence(fs)
        self.settle_timeout = settle_timeout
        self._sch_by_busid = None
        self._ignored = None

    # -- locating ----------------------------------------------------------
    def subchannel_of(self, bus_id):
        """Subchannel ID of a device: from its registered CCW device, else from dev_busid."""
        link = self.fs.readlink("/sys/bus/ccw/devices/" + bus_id)
        if link:
            parent = link.rstrip("/").split("/")[-2]
            if parent.count(".") == 2:
                return parent
        if self._sch_by_busid is None:
            # A device bound to vfio_ccw has no CCW device; its subchannel still names it in dev_busid.
            self._sch_by_busid = {}
            for css in self.fs.listdir("/sys/devices"):
                if not css.startswith("css"):
                    continue
                base = self.fs.path("/sys/devices/%s/" % css)
                for entry in self.fs.scandir("/sys/devices/" + css):
                    if len(entry.name) == 8 and entry.name[1] == ".":
                        busid = self.fs.read_abs(base + entry.name + "/dev_busid", "")
                        if busid and busid != "none":
                            self._sch_by_busid[busid] = entry.name
        return self._sch_by_busid.get(bus_id)

    def state(self, bus_id, sch):
        fs = self.fs
        s = CcwState()
        s.bus_id, s.subchannel = bus_id, sch
        base = "/sys/bus/css/devices/%s/" % sch
        dev = base + bus_id + "/"
        s.registered = fs.isdir(dev)
        s.online = (fs.read(dev + "online", default="0") == "1") if s.registered else None
        s.cutype = fs.read(dev + "cutype", default="") if s.registered else ""
        s.driver = fs.link_name(base + "driver")
        override = fs.read(base + "driver_override", default="")
        s.override = None if override in ("", "(null)") else override
        s.mdevs = sorted(e for e in fs.listdir(base) if _UUID_RE.match(e))
        s.persisted_override = self.persistence.override("css", sch)
        s.definitions = self.persistence.mdev_definitions(sch)
        s.persisted_mdevs = sorted(s.definitions)
        return s

    def cio_ignored(self, bus_id):
        if self._ignored is None:   # read once per run (a range asks for every ID in it)
            ranges = ["%s-%s" % (r["start"], r["end"]) for r in parse_cio_ignore(self.fs.lines("/proc/cio_ignore"))]
            self._ignored = BusIdSet(ranges) if ranges else None
            if self._ignored is None:
                return False
        return bus_id in self._ignored

    # -- kernel steps --------------------------------------------------------
    def _write(self, path, value, what):
        try:
            self.fs.write(path, value)
        except HostAccessError as err:
            raise VfioError("%s: %s" % (what, err))

    def set_online(self, s, online):
        path = "/sys/bus/ccw/devices/%s/online" % s.bus_id
        want = "1" if online else "0"

        def attempt():
            try:
                self.fs.write(path, want)
                return True
            except HostAccessError as err:
                if err.errno == errno.EAGAIN:  # on/offline still in progress (device.c online_store)
                    return False
                if err.errno == errno.EINVAL:
                    # ccw_device_set_online/offline: -EINVAL when the device already is in that
                    # state (virtio_ccw and DASD auto-online set it online on their own, racing
                    # us) or has no driver bound yet (it is being probed): done, or try again.
                    if self.fs.read(path, default="") == want:
                        return True
                    if not self.fs.link_name("/sys/bus/ccw/devices/%s/driver" % s.bus_id):
                        return False
                raise VfioError("set %s %s: %s" % (s.bus_id, "online" if online else "offline", err))
        if not wait_for(attempt, self.settle_timeout, 0.2):
            raise VfioError("set %s %s: the device stayed in transition (EAGAIN) for %.0f s"
                            % (s.bus_id, "online" if online else "offline", self.settle_timeout))
        s.online = online

    def set_override(self, s, driver):
        self._write("/sys/bus/css/devices/%s/driver_override" % s.subchannel, (driver or "") + "\n",
                    "set driver_override of subchannel %s" % s.subchannel)
        s.override = driver

    def rebind(self, s, expected):
        base = "/sys/bus/css/devices/%s/" % s.subchannel
        if s.driver:
            self._write(base + "driver/unbind", s.subchannel, "unbind subchannel %s from %s" % (s.subchannel, s.driver))
        self._write("/sys/bus/css/drivers_probe", s.subchannel, "probe subchannel %s" % s.subchannel)
        bound = wait_for(lambda: self.fs.link_name(base + "driver") == expected, self.settle_timeout)
        s.driver = self.fs.link_name(base + "driver")
        if not bound:
            hint = ""
            if expected == VFIO_CCW and not self.fs.isdir("/sys/bus/css/drivers/vfio_ccw"):
                hint = " (the vfio_ccw module is not loaded: modprobe vfio_ccw)"
            elif expected == VFIO_CCW:
                hint = " (vfio_ccw refused it: it drives only non-QDIO I/O subchannels; the kernel log says why)"
            raise VfioError("subchannel %s did not bind to %s, it is bound to %s%s"
                            % (s.subchannel, expected, s.driver or "no driver", hint))
        if expected == VFIO_CCW:
            s.registered, s.online = False, None
            s.mdevs = []  # unbinding vfio_ccw removes unused mdevs; binding starts with none

    def wait_registered(self, s):
        if not wait_for(lambda: self.fs.isdir("/sys/bus/css/devices/%s/%s" % (s.subchannel, s.bus_id)), self.settle_timeout, 0.1):
            raise VfioError("CCW device %s did not come back on subchannel %s within %.0f s"
                            % (s.bus_id, s.subchannel, self.settle_timeout))
        s.registered = True
        s.online = self.fs.read("/sys/bus/ccw/devices/%s/online" % s.bus_id, default="0") == "1"

    def create_mdev(self, s, mdev_uuid):
        path = "/sys/bus/css/devices/%s/mdev_supported_types/%s/create" % (s.subchannel, MDEV_TYPE)
        try:
            self.fs.write(path, mdev_uuid)
        except HostAccessError as err:
            reason = {errno.EEXIST: "an mdev with this UUID already exists on the host",
                      errno.EUSERS: "the subchannel already has its one mdev",
                      errno.EINVAL: "the kernel rejected the UUID"}.get(err.errno, str(err))
            raise VfioError("create mdev %s on subchannel %s: %s" % (mdev_uuid, s.subchannel, reason))
        if not wait_for(lambda: self.fs.isdir("/sys/bus/css/devices/%s/%s" % (s.subchannel, mdev_uuid)), self.settle_timeout):
            raise VfioError("mdev %s did not appear on subchannel %s" % (mdev_uuid, s.subchannel))
        s.mdevs = sorted(set(s.mdevs) | set([mdev_uuid]))

    def remove_mdev(self, s, mdev_uuid):
        self._write("/sys/bus/css/devices/%s/%s/remove" % (s.subchannel, mdev_uuid), "1",
                    "remove mdev %s of subchannel %s" % (mdev_uuid, s.subchannel))
        wait_for(lambda: not self.fs.isdir("/sys/bus/css/devices/%s/%s" % (s.subchannel, mdev_uuid)), self.settle_timeout)
        s.mdevs = [m for m in s.mdevs if m != mdev_uuid]

    def free_from_cio_ignore(self, bus_ids):
        """Take IDs off the cio_ignore list (one write per run of consecutive IDs) and wait until
        the channel subsystem has registered what they hide."""
        for spec in id_ranges(bus_ids):
            self._write("/proc/cio_ignore", "free %s" % spec, "free %s from cio_ignore" % spec)
        # cio_ignore(8) waits for the freed devices to be registered by writing 1 to cio_settle.
        if self.fs.exists("/proc/cio_settle"):
            self._write("/proc/cio_settle", "1", "wait for the channel subsystem to settle")
        self._sch_by_busid = None
        self._ignored = None

    def add_to_cio_ignore(self, bus_ids):
        """Put IDs back on the cio_ignore list (devices already registered stay until a purge)."""
        for spec in id_ranges(bus_ids):
            self._write("/proc/cio_ignore", "add %s" % spec, "add %s to cio_ignore" % spec)
        self._ignored = None

    # -- convergence -----------------------------------------------------------
    def plan(self, s, target):
        """Steps (text) that take state ``s`` to ``target``; target keys: driver, mdev, online,
        persist, autostart. The same function drives check mode and the real run."""
        steps = []
        if target["driver"] == VFIO_CCW:
            if s.driver != VFIO_CCW:
                if s.registered and s.online:
                    steps.append(("offline", "set CCW device %s offline" % s.bus_id))
                if s.override != VFIO_CCW:
                    steps.append(("override", "set driver_override of subchannel %s to vfio_ccw" % s.subchannel))
                steps.append(("bind", "unbind subchannel %s from %s and probe vfio_ccw" % (s.subchannel, s.driver or "no driver")))
                current_mdevs = []
            else:
                if s.override != VFIO_CCW:
                    steps.append(("override", "set driver_override of subchannel %s to vfio_ccw" % s.subchannel))
                current_mdevs = list(s.mdevs)
            for other in current_mdevs:
                if other != target["mdev"]:
                    steps.append(("remove_mdev:" + other, "remove mdev %s from subchannel %s" % (other, s.subchannel)))
            if target["mdev"] not in current_mdevs:
                steps.append(("create_mdev", "create mdev %s (vfio_ccw-io) on subchannel %s" % (target["mdev"], s.subchannel)))
        else:
            for mdev in s.mdevs:
                steps.append(("remove_mdev:" + mdev, "remove mdev %s from subchannel %s" % (mdev, s.subchannel)))
            if s.override is not None:
                steps.append(("override", "clear driver_override of subchannel %s" % s.subchannel))
            if s.driver != IO_SUBCHANNEL:
                steps.append(("bind", "unbind subchannel %s from %s and probe io_subchannel" % (s.subchannel, s.driver or "no driver")))
            online_now = bool(s.online) if s.driver == IO_SUBCHANNEL else False
            if target.get("online") is not None and target["online"] != online_now:
                steps.append(("online" if target["online"] else "offline",
                              "set CCW device %s %s" % (s.bus_id, "online" if target["online"] else "offline")))
        steps.extend(self._persistence_steps(s, target))
        return steps

    def _persistence_steps(self, s, target):
        steps = []
        want_override = VFIO_CCW if (target["driver"] == VFIO_CCW and target.get("persist")) else None
        if target.get("persist_override", "unset") != "unset":
            want_override = target["persist_override"]
        if s.persisted_override != want_override:
            steps.append(("persist_override", "%s /etc/driverctl.d/css-%s" % ("write" if want_override else "remove", s.subchannel)))
        want_mdevs = target.get("persist_mdevs")
        if want_mdevs is None:
            want_mdevs = [target["mdev"]] if (target["driver"] == VFIO_CCW and target.get("persist")) else []
        if sorted(s.persisted_mdevs) != sorted(want_mdevs) or (want_mdevs and self._definition_differs(s, target)):
            steps.append(("persist_mdev", "define %s / remove other mdevctl definitions of parent %s"
                          % (", ".join(want_mdevs) or "no mdev", s.subchannel)))
        return steps

    def _definition_differs(self, s, target):
        if target.get("persist_mdevs") is not None:
            return False
        config = self.persistence.mdev_definitions(s.subchannel).get(target["mdev"], {})
        want_start = "auto" if target.get("autostart", True) else "manual"
        return config.get("mdev_type") != MDEV_TYPE or config.get("start") != want_start

    def apply(self, s, target):
        """Run the plan step by step, re-reading nothing the steps already track."""
        done = []
        for key, text in self.plan(s, target):
            if key == "offline":
                self.set_online(s, False)
            elif key == "online":
                self.wait_registered(s)
                if not s.online:
                    self.set_online(s, True)
            elif key == "override":
                self.set_override(s, VFIO_CCW if target["driver"] == VFIO_CCW else None)
            elif key == "bind":
                self.rebind(s, target["driver"])
                if target["driver"] == IO_SUBCHANNEL and target.get("online") is not None:
                    self.wait_registered(s)
            elif key.startswith("remove_mdev:"):
                self.remove_mdev(s, key.split(":", 1)[1])
            elif key == "create_mdev":
                self.create_mdev(s, target["mdev"])
            elif key == "persist_override":
                self._apply_persist_override(s, target)
            elif key == "persist_mdev":
                self._apply_persist_mdevs(s, target)
            done.append(text)
        return done

    def _apply_persist_override(self, s, target):
        want = VFIO_CCW if (target["driver"] == VFIO_CCW and target.get("persist")) else None
        if target.get("persist_override", "unset") != "unset":
            want = target["persist_override"]
        if want:
            self.persistence.set_override("css", s.subchannel, want)
        else:
            self.persistence.unset_override("css", s.subchannel)
        s.persisted_override = want

    def _apply_persist_mdevs(self, s, target):
        if target.get("persist_mdevs") is not None:
            # Roll-back: restore the definitions exactly as they were.
            saved = target["saved_definitions"]
            for mdev in list(self.persistence.mdev_definitions(s.subchannel)):
                if mdev not in saved:
                    self.persistence.undefine_mdev(s.subchannel, mdev)
            for mdev, config in saved.items():
                self.persistence.define_mdev(s.subchannel, mdev, config.get("mdev_type", MDEV_TYPE),
                                             config.get("start") == "auto", config.get("attrs"))
            s.persisted_mdevs = sorted(saved)
            return
        want = [target["mdev"]] if (target["driver"] == VFIO_CCW and target.get("persist")) else []
        for mdev in list(self.persistence.mdev_definitions(s.subchannel)):
            if mdev not in want:
                self.persistence.undefine_mdev(s.subchannel, mdev)
        for mdev in want:
            self.persistence.define_mdev(s.subchannel, mdev, MDEV_TYPE, target.get("autostart", True))
        s.persisted_mdevs = want

    def rollback_target(self, s):
        """The target that restores a state recorded before a run."""
        return {
            "driver": s.driver if s.driver in (VFIO_CCW, IO_SUBCHANNEL) else IO_SUBCHANNEL,
            "mdev": s.mdevs[0] if s.mdevs else None,
            "online": s.online if s.driver == IO_SUBCHANNEL else None,
            "persist_override": s.persisted_override,
            "persist_mdevs": list(s.persisted_mdevs),
            # As recorded with the state, before the run wrote anything.
            "saved_definitions": dict(s.definitions),
        }


def id_ranges(bus_ids):
    """Sorted bus IDs as cio_ignore items: single IDs and ranges of consecutive IDs."""
    keys = sorted(set(parse_key(b) for b in bus_ids))
    out, start = [], None
    for i, k in enumerate(keys):
        if start is None:
            start = k
        if i + 1 == len(keys) or keys[i + 1] != k + 1 or k & 0xFFFF == 0xFFFF:   # one range per subchannel set
            out.append(format_key(start) if start == k else "%s-%s" % (format_key(start), format_key(k)))
            start = None
    return out


def mdev_owners(fs):
    """{uuid: [parent, ...]} of every mediated device on the host, active (/sys/bus/mdev/devices,
    whose links end in <parent>/<uuid>) or defined for mdevctl (/etc/mdevctl.d/<parent>/<uuid>)."""
    owners = {}
    for name in fs.listdir("/sys/bus/mdev/devices"):
        target = fs.readlink("/sys/bus/mdev/devices/" + name) or ""
        parts = target.rstrip("/").split("/")
        owners.setdefault(name.lower(), set()).add(parts[-2] if len(parts) > 1 else "?")
    for parent in fs.listdir(MDEVCTL_DIR):
        for name in fs.listdir("%s/%s" % (MDEVCTL_DIR, parent)):
            if _UUID_RE.match(name):
                owners.setdefault(name, set()).add(parent)
    return dict((k, sorted(v)) for k, v in owners.items())


def hostdev_xml(mdev_uuid, devno=None, ssid=0):
    """The libvirt <hostdev> for a vfio-ccw mdev (libvirt formatdomain "mdev" hostdevs,
    IBM KVM on Z: model='vfio-ccw'); with a guest devno when given."""
    address = ""
    if devno is not None:
        address = "\n  <address type='ccw' cssid='0xfe' ssid='0x%x' devno='0x%04x'/>" % (ssid, devno)
    return ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'>\n"
            "  <source>\n    <address uuid='%s'/>\n  </source>%s\n</hostdev>" % (mdev_uuid, address))


def guest_users_of(fs, usage, bus_id, mdevs, users=None):
    """Guests (running or defined) that use this device: as a disk, or through its mdevs
    (``via`` says which: "mdev <uuid>" or "disk <path>")."""
    users = device_users(fs) if users is None else users
    found = []
    for mdev in mdevs:
        for entry in users.get("mdev:" + mdev, []):
            found.append(dict(entry, via="mdev %s" % mdev))
    for key, entries in users.items():
        if not key.startswith("block:"):
            continue
        path = key[len("block:"):]
        if not path.startswith("/dev/"):
            continue
        name = fs.resolve(path).rsplit("/", 1)[-1]
        kind, owner = usage.block_owner(name) if fs.exists("/sys/class/block/" + name) else (None, None)
        if kind == "ccw" and owner == bus_id:
            for entry in entries:
                found.append(dict(entry, via="disk %s" % path))
    return found
