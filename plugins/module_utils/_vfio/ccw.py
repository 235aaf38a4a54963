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
from collections import namedtuple

from ansible_collections.s390x.kvm.plugins.module_utils._cio_ignore import CioIgnore
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import Driver, Step, override_step, reprobe_step
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import (
    VfioError, derive_mdev_uuid, mdev_config, mdev_owners, normalize_uuid, reprobe, set_driver_override, wait_for, write_attr)
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.options import check_timeouts
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError, format_key, normalize, parse_range, require_text
from ansible_collections.s390x.kvm.plugins.module_utils.ccw import device_kind
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, is_uuid, override_or_none
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage, host_use_refusal
from ansible_collections.s390x.kvm.plugins.module_utils.guest_usage import device_users

VFIO_CCW = "vfio_ccw"
IO_SUBCHANNEL = "io_subchannel"
MDEV_TYPE = "vfio_ccw-io"


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


class CcwTarget(namedtuple("CcwTarget", "driver mdev online override_file mdev_files")):
    """Where a device goes: its subchannel's ``driver``, its one ``mdev`` (vfio_ccw), ``online``
    (io_subchannel; None leaves it), the driverctl override file's driver (None: no file) and the
    mdevctl definitions of its subchannel ({uuid: config})."""

    __slots__ = ()

    @classmethod
    def passed_through(cls, mdev, persist, autostart):
        files = {mdev: mdev_definition(autostart)} if persist else {}
        return cls(VFIO_CCW, mdev, None, VFIO_CCW if persist else None, files)

    @classmethod
    def with_host(cls, online):
        return cls(IO_SUBCHANNEL, None, online, None, {})

    @classmethod
    def as_before(cls, s):
        """Back to a state recorded before a run, persistence files as they were."""
        return cls(s.driver if s.driver in (VFIO_CCW, IO_SUBCHANNEL) else IO_SUBCHANNEL,
                   s.mdevs[0] if s.mdevs else None, s.online if s.driver == IO_SUBCHANNEL else None,
                   s.persisted_override, dict(s.definitions))


def mdev_definition(autostart=True):
    """The mdevctl definition of a device's vfio_ccw-io mdev."""
    return mdev_config(MDEV_TYPE, autostart)


def _same_definition(have, want):
    return (have.get("mdev_type", MDEV_TYPE) == want.get("mdev_type", MDEV_TYPE) and have.get("start") == want.get("start")
            and (have.get("attrs") or []) == (want.get("attrs") or []))


class VfioCcw(Driver):
    """The vfio_ccw driver: reads and changes the subchannels of CCW devices of one host.
    Devices are named by bus ID; :attr:`subchannels` says whose subchannel is which."""

    Target = CcwTarget

    def __init__(self, fs, settle_timeout=15.0):
        super(VfioCcw, self).__init__(fs, settle_timeout)
        self.cio_ignore = CioIgnore(fs)
        self.subchannels = {}
        self._sch_by_busid = None

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

    def forget_subchannels(self):
        """Subchannels appeared (devices freed from cio_ignore): look again."""
        self._sch_by_busid = None

    # -- the driver interface --------------------------------------------------
    def lock_name(self, device):
        return "css-" + self.subchannels[device]

    def read(self, device):
        fs = self.fs
        s = CcwState()
        s.bus_id, s.subchannel = device, self.subchannels[device]
        base = "/sys/bus/css/devices/%s/" % s.subchannel
        dev = base + device + "/"
        s.registered = fs.isdir(dev)
        s.online = (fs.read(dev + "online", default="0") == "1") if s.registered else None
        s.cutype = fs.read(dev + "cutype", default="") if s.registered else ""
        s.driver = fs.link_name(base + "driver")
        s.override = override_or_none(fs.read(base + "driver_override", default=""))
        s.mdevs = sorted(e for e in fs.listdir(base) if is_uuid(e))
        s.persisted_override = self.persistence.override("css", s.subchannel)
        s.definitions = self.persistence.mdev_definitions(s.subchannel)
        s.persisted_mdevs = sorted(s.definitions)
        return s

    def plan(self, state, target):
        """Steps that take ``state`` to ``target``, from any state a run can leave behind (override
        set but still bound, bound without mdev, ...); each step's action is the kernel or file
        change itself."""
        steps = []
        sch = state.subchannel
        if target.driver == VFIO_CCW:
            current_mdevs = list(state.mdevs)
            if state.driver != VFIO_CCW:
                if state.registered and state.online:
                    steps.append(Step(lambda: self.set_online(state, False), "set CCW device %s offline" % state.bus_id))
                current_mdevs = []   # binding vfio_ccw starts with none
            if state.override != VFIO_CCW:
                steps.append(override_step(self, state, VFIO_CCW, "subchannel " + sch))
            if state.driver != VFIO_CCW:
                steps.append(reprobe_step(lambda: self.rebind(state, VFIO_CCW), state, "subchannel " + sch, VFIO_CCW))
            steps += [self._remove_step(state, other) for other in current_mdevs if other != target.mdev]
            if target.mdev not in current_mdevs:
                steps.append(Step(lambda: self.create_mdev(state, target.mdev),
                                  "create mdev %s (vfio_ccw-io) on subchannel %s" % (target.mdev, sch), target.mdev))
        else:
            steps += [self._remove_step(state, mdev) for mdev in state.mdevs]
            if state.override is not None:
                steps.append(override_step(self, state, None, "subchannel " + sch))
            if state.driver != IO_SUBCHANNEL:
                steps.append(reprobe_step(lambda: self.give_back(state, target), state, "subchannel " + sch, IO_SUBCHANNEL))
            online_now = bool(state.online) if state.driver == IO_SUBCHANNEL else False
            if target.online is not None and target.online != online_now:
                steps.append(Step(lambda: self.bring_online(state) if target.online else self.set_online(state, False),
                                  "set CCW device %s %s" % (state.bus_id, "online" if target.online else "offline")))
        if state.persisted_override != target.override_file:
            steps.append(Step(lambda: self.keep_override(state, target.override_file), "%s /etc/driverctl.d/css-%s"
                              % ("write" if target.override_file else "remove", sch), target.override_file))
        have, want = state.definitions, target.mdev_files
        if sorted(have) != sorted(want) or any(not _same_definition(have[m], want[m]) for m in want):
            steps.append(Step(lambda: self.define_mdevs(state, want), "define %s / remove other mdevctl definitions of parent %s"
                              % (", ".join(sorted(want)) or "no mdev", sch), want))
        return steps

    def _remove_step(self, state, mdev):
        return Step(lambda: self.remove_mdev(state, mdev), "remove mdev %s from subchannel %s" % (mdev, state.subchannel), mdev)

    def predict(self, before, target, steps):
        after = dict(before)
        if not steps:
            return after
        after.update(driver=target.driver, driver_override=target.driver if target.driver == VFIO_CCW else None,
                     mdevs=[target.mdev] if target.mdev else [], persistent_override=target.override_file,
                     persistent_mdevs=sorted(target.mdev_files))
        if target.driver == VFIO_CCW:
            after["online"] = None
        elif target.online is not None:
            after["online"] = target.online
        return after

    # -- kernel steps --------------------------------------------------------
    def set_online(self, s, online):
        path = "/sys/bus/ccw/devices/%s/online" % s.bus_id
        want, what = ("1", "online") if online else ("0", "offline")
        refused = []

        def attempt():
            try:
                self.fs.write(path, want)
                return True
            except HostAccessError as err:
                if err.errno == errno.EAGAIN:  # on/offline still in progress (device.c online_store)
                    return False
                if err.errno != errno.EINVAL:
                    raise VfioError("set %s %s: %s" % (s.bus_id, what, err))
                # ccw_device_set_online/offline: -EINVAL while the device is not offline (online)
                # yet. virtio_ccw and DASD auto-online set it online on their own, racing us: the
                # state is already ONLINE while the driver's set_online runs (slow under load), and
                # "online" reads 0 until it returns. Also while no driver is bound yet (probing).
                # Done once it reads as wanted; else try again until the settle timeout.
                if self.fs.read(path, default="") == want:
                    return True
                refused[:] = [err]
                return False
        if not wait_for(attempt, self.settle_timeout, 0.2):
            if refused and self.fs.read(path, default="") != want:
                raise VfioError("set %s %s: %s (for %.0f s)" % (s.bus_id, what, refused[0], self.settle_timeout))
            if not refused:
                raise VfioError("set %s %s: the device stayed in transition (EAGAIN) for %.0f s"
                                % (s.bus_id, what, self.settle_timeout))
        s.online = online

    def set_override(self, s, driver):
        set_driver_override(self.fs, "css", s.subchannel, driver, "subchannel " + s.subchannel)
        s.override = driver

    def rebind(self, s, expected):
        base = "/sys/bus/css/devices/%s/" % s.subchannel
        reprobe(self.fs, "css", s.subchannel, s.driver, "subchannel " + s.subchannel)
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

    def give_back(self, s, target):
        """Bind io_subchannel again; when the target says online or offline, wait for the CCW device."""
        self.rebind(s, IO_SUBCHANNEL)
        if target.online is not None:
            self.wait_registered(s)

    def bring_online(self, s):
        self.wait_registered(s)
        if not s.online:
            self.set_online(s, True)

    def keep_override(self, s, driver):
        """The driverctl override file of the subchannel says ``driver`` (None: no file)."""
        self.persistence.put_override("css", s.subchannel, driver)
        s.persisted_override = driver

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
        write_attr(self.fs, "/sys/bus/css/devices/%s/%s/remove" % (s.subchannel, mdev_uuid), "1",
                   "remove mdev %s of subchannel %s" % (mdev_uuid, s.subchannel))
        wait_for(lambda: not self.fs.isdir("/sys/bus/css/devices/%s/%s" % (s.subchannel, mdev_uuid)), self.settle_timeout)
        s.mdevs = [m for m in s.mdevs if m != mdev_uuid]

    def define_mdevs(self, s, wanted):
        """Make the subchannel's mdevctl definitions exactly ``wanted`` ({uuid: config})."""
        for mdev in list(self.persistence.mdev_definitions(s.subchannel)):
            if mdev not in wanted:
                self.persistence.undefine_mdev(s.subchannel, mdev)
        for mdev, config in sorted(wanted.items()):
            self.persistence.define_mdev(s.subchannel, mdev, config.get("mdev_type", MDEV_TYPE),
                                         config.get("start") == "auto", config.get("attrs"))
        s.definitions = dict(wanted)
        s.persisted_mdevs = sorted(wanted)


def persisted_uuid(s):
    """The UUID of the device's own mdevctl definition (vfio_ccw-io), if it has one."""
    for mdev in s.persisted_mdevs:
        if (s.definitions.get(mdev) or {}).get("mdev_type", MDEV_TYPE) == MDEV_TYPE:
            return mdev
    return None


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


def _guests(users):
    return ", ".join("%s guest %s (%s)" % ("running" if u["running"] else "defined", u["guest"], u["via"]) for u in users)


def parse_uuids(params):
    """The ``uuids`` option as {bus ID: UUID}; a bad key or value fails naming it."""
    try:
        # YAML reads an unquoted 0x0104 as 260 and 0104 as 68: as text another device, so numbers are refused.
        require_text(params["devices"], "devices")
    except DeviceIdError as err:
        raise VfioError(str(err))
    try:
        return dict((normalize(k), normalize_uuid(v)) for k, v in (params["uuids"] or {}).items())
    except (DeviceIdError, VfioError) as err:
        raise VfioError("uuids: %s" % err)


class CcwBatch(object):
    """The devices one vfio_ccw task changes and their targets: selection, option checks and
    refusals for the whole batch before anything changes, and what was freed from cio_ignore."""

    def __init__(self, vfio, params, uuids, check_mode, warn):
        self.vfio, self.fs, self.params, self.uuids = vfio, vfio.fs, params, uuids
        self.check_mode, self.warn = check_mode, warn
        self.targets, self.order, self.ignored, self.freed = {}, [], [], []
        self.usage = None

    def prepare(self):
        """Select and check everything; free cio_ignored devices (not in check mode) and check them too."""
        if not self.fs.isdir("/sys/bus/css"):
            raise VfioError("not an IBM Z (s390x) host: %s/sys/bus/css does not exist" % self.params["host_root"].rstrip("/"))
        try:
            selected, refusals = self.select(self.params["devices"])
        except DeviceIdError as err:
            raise VfioError("devices: %s" % err)
        self.check_options(selected)
        self.usage = HostUsage(self.fs)
        refusals += self.preflight(selected)
        if refusals:
            raise VfioError("refusing to change anything: " + " | ".join(refusals), refusals=refusals)
        self.ignored = [(bus_id, from_range) for bus_id, sch, from_range in selected if sch is None]
        if self.ignored and not self.check_mode:
            self.free_ignored()
        self.order = [bus_id for bus_id, _sch, _r in selected if bus_id in self.targets]
        return self

    def select(self, specs):
        """Expand IDs and ranges to existing devices: [(bus_id, subchannel or None if cio_ignored,
        whether it came from a range)], and refusals."""
        selected, refusals = [], []
        free_ignored, vfio = self.params["free_ignored"], self.vfio
        for spec in specs:
            first, last = parse_range(spec)
            if first == last:
                bus_id = format_key(first)
                sch = vfio.subchannel_of(bus_id)
                if sch is not None:
                    selected.append((bus_id, sch, False))
                elif bus_id not in vfio.cio_ignore:
                    refusals.append("%s: no such CCW device on this host (no subchannel names it)" % bus_id)
                elif free_ignored:
                    selected.append((bus_id, None, False))
                else:
                    refusals.append("%s: on the cio_ignore list; set free_ignored: true to free it first" % bus_id)
                continue
            found = []
            for key in range(first, last + 1):
                bus_id = format_key(key)
                sch = vfio.subchannel_of(bus_id)
                if sch is not None:
                    found.append((bus_id, sch, True))
                elif free_ignored and bus_id in vfio.cio_ignore:
                    found.append((bus_id, None, True))
            if not found:
                refusals.append("%s: the range selects no existing CCW device" % spec)
            selected.extend(found)
        seen, unique = set(), []
        for item in selected:
            if item[0] not in seen:
                seen.add(item[0])
                unique.append(item)
            elif not item[2]:   # named on its own as well: a missing one is an error, not skipped
                unique = [(b, sch, False) if b == item[0] else (b, sch, r) for b, sch, r in unique]
        return unique, refusals

    def check_options(self, selected):
        errors = []
        try:
            check_timeouts(self.params)
        except VfioError as err:
            errors.append(str(err))
        chosen = set(b for b, _sch, _r in selected)
        errors += ["uuids: %s is not one of the devices selected by devices" % bus_id
                   for bus_id in sorted(self.uuids) if bus_id not in chosen]
        by_uuid = {}
        for bus_id, value in sorted(self.uuids.items()):
            by_uuid.setdefault(value, []).append(bus_id)
        errors += ["uuids: %s is given to %s; one mdev UUID serves one device" % (value, " and ".join(owners))
                   for value, owners in sorted(by_uuid.items()) if len(owners) > 1]
        if errors:
            raise VfioError("; ".join(errors))

    def preflight(self, selected):
        """Refusals of the selected devices the host can see; sets their targets."""
        fs, params, usage = self.fs, self.params, self.usage
        users, owners = device_users(fs), mdev_owners(fs)
        refusals, taken = [], {}
        for bus_id, sch, _from_range in selected:
            if sch is None:
                continue  # cio_ignored and to be freed: checked again after freeing
            self.vfio.subchannels[bus_id] = sch
            s = self.vfio.read(bus_id)
            refusal = self.refusal_reason(s)
            if refusal:
                refusals.append(refusal)
                continue
            guests = guest_users_of(fs, usage, bus_id, s.mdevs + [m for m in s.persisted_mdevs if m not in s.mdevs], users)
            if params["state"] == "present":
                target_uuid = self.uuids.get(bus_id) or (s.mdevs[0] if s.mdevs else persisted_uuid(s)) or derive_mdev_uuid(fs, bus_id)
                # A guest may keep using the mdev we keep; an mdev we remove must not be any guest's,
                # nor the disk of a running guest. A defined guest's disk: it loses it, so say so.
                blocking = [u for u in guests if u["via"].startswith("mdev ") and u["via"] != "mdev %s" % target_uuid
                            or u["via"].startswith("disk ") and u["running"]]
                for u in guests:
                    if u["via"].startswith("disk ") and not u["running"]:
                        self.warn("%s: defined guest %s has it as a disk (%s); it cannot use it once it is passed through"
                                  % (bus_id, u["guest"], u["via"][5:]))
                elsewhere = [p for p in owners.get(target_uuid, []) if p != sch]
                if elsewhere:
                    refusals.append("%s: mdev UUID %s is already used by %s; one mdev UUID serves one device"
                                    % (bus_id, target_uuid, ", ".join("the vfio_ap matrix" if p == "matrix" else "subchannel " + p
                                                                      for p in elsewhere)))
                elif target_uuid in taken:
                    refusals.append("%s: mdev UUID %s is also given to %s; one mdev UUID serves one device"
                                    % (bus_id, target_uuid, taken[target_uuid]))
                taken.setdefault(target_uuid, bus_id)
                self.targets[bus_id] = CcwTarget.passed_through(target_uuid, params["persist"], params["autostart"])
            else:
                blocking = [u for u in guests if u["via"].startswith("mdev ") or u["running"]]
                self.targets[bus_id] = CcwTarget.with_host(params["online"])
            if blocking:
                refusals.append("%s: used by %s" % (bus_id, _guests(blocking)))
        return refusals

    def refusal_reason(self, s):
        """Why vfio_ccw must not take this device at all, or None."""
        bus_id, sch, fs = s.bus_id, s.subchannel, self.fs
        sch_type = fs.read("/sys/bus/css/devices/%s/type" % sch, default="0")
        if sch_type != "0":
            return "%s: subchannel %s is not an I/O subchannel (type %s)" % (bus_id, sch, sch_type)
        if s.cutype.startswith("1731/"):
            return ("%s: a QDIO device (%s, control unit %s); vfio_ccw cannot drive QDIO subchannels"
                    % (bus_id, "FCP" if s.cutype.startswith("1731/03") else "OSA/HiperSockets", s.cutype))
        if s.registered and s.driver != VFIO_CCW:
            kind = device_kind(fs.link_name("/sys/bus/ccw/devices/%s/driver" % bus_id), s.cutype)
            if kind != "dasd" and not self.params["allow_non_dasd"]:
                return ("%s: not a DASD (kind %s, control unit %s); vfio_ccw supports ECKD DASD "
                        "(set allow_non_dasd: true for other non-QDIO devices)" % (bus_id, kind, s.cutype))
        if s.registered and fs.read("/sys/bus/ccw/devices/%s/alias" % bus_id, default="0") == "1":
            # A PAV alias only carries I/O for its base device: useless to a guest, missed by the host.
            return "%s: a PAV alias DASD; pass its base device through instead" % bus_id
        self.usage.probe_ccw_device(bus_id)
        use = self.usage.ccw_use(bus_id)
        # Fail closed: a device the host may use is not taken on a guess (host_usage.py).
        return host_use_refusal(bus_id, use["host_use"], use["host_use_unknown"])

    def free_ignored(self):
        """Free the cio_ignored devices and check them like the others. IDs of a range that hide no
        device go back on the list; a missing single ID fails the run."""
        vfio, cio_ignore = self.vfio, self.vfio.cio_ignore
        cio_ignore.free([b for b, _r in self.ignored])
        vfio.forget_subchannels()
        self.freed = [b for b, _r in self.ignored]
        again = [(b, vfio.subchannel_of(b), r) for b, r in self.ignored]
        missing = [b for b, sch, r in again if sch is None and not r]
        if missing:
            cio_ignore.add(self.freed)
            raise VfioError("freed from cio_ignore but no device appeared: %s; put back on the cio_ignore list"
                            % ", ".join(missing))
        empty = [b for b, sch, r in again if sch is None]
        if empty:
            cio_ignore.add(empty)
            self.freed = [b for b in self.freed if b not in empty]
        refusals = self.preflight([item for item in again if item[1] is not None])
        if refusals:
            cio_ignore.add(self.freed)
            raise VfioError("refusing after freeing from cio_ignore (put back on the list): " + " | ".join(refusals),
                            refusals=refusals)

    def failed(self, failure):
        """The task's error for a failed batch: the freed devices go back on cio_ignore."""
        message = str(failure)
        if self.freed:
            self.vfio.cio_ignore.add(self.freed)
            message += "; put back on the cio_ignore list: %s" % ", ".join(self.freed)
        return VfioError(message, rolled_back=failure.rolled_back, failed_device=failure.item)
