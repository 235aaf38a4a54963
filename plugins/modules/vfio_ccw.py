#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vfio_ccw
short_description: Prepare DASDs for pass-through with vfio_ccw mediated devices, persistently
version_added: 0.1.0
description:
  - With O(state=present), hands CCW devices (DASDs) to the C(vfio_ccw) driver so a guest can use
    them as pass-through devices. For each device it sets the device offline, sets
    C(driver_override=vfio_ccw) on its subchannel, unbinds the subchannel from C(io_subchannel),
    probes it (C(vfio_ccw) binds) and creates a C(vfio_ccw-io) mediated device (mdev) with a stable
    UUID. It returns the map bus ID -> subchannel -> mdev UUID and the libvirt C(<hostdev>) for each.
  - With O(state=absent), removes the mdev, restores C(io_subchannel) and sets the device online again
    (O(online)).
  - Persistence (O(persist=true)) writes the files the standard tools keep and apply at boot
    (a driverctl override C(/etc/driverctl.d/css-<subchannel>) and an mdevctl definition
    C(/etc/mdevctl.d/<subchannel>/<uuid>) with C(start=auto)); the C(kvm_host) role installs
    driverctl and mdevctl. These are written as files rather than through the tools so that
    check mode, diff mode and re-runs see exactly what is persisted.
  - Refuses, before changing anything, devices the host uses (mounted, swap, LVM physical volume,
    device-mapper, IPL device) or may use because its use cannot be determined (an online DASD while
    C(/sys/class/block), the mount table or C(/proc/swaps) cannot be read, or a mount or swap device
    resolves to no block device; the refusal names what could not be read), QDIO devices (OSA, HiperSockets, FCP) which vfio_ccw cannot drive,
    PAV alias DASDs, devices a running guest uses as a disk, mdevs a guest (running or defined) refers to that the run
    would remove or replace, mdev UUIDs another device already has, unknown bus IDs, and devices on the
    C(cio_ignore) list unless O(free_ignored=true). A defined guest that has the device as a disk gives a
    warning.
  - With O(free_ignored=true), the IDs on the C(cio_ignore) list are freed first; IDs of a range that hide
    no device go back on the list, and so do all freed IDs when the run fails. Check mode cannot look
    behind C(cio_ignore); it lists the IDs it would free (RV(freed_from_cio_ignore)), not their devices.
  - Each device's change is computed from its current state, so a run can start from any
    intermediate state. When a device of a batch fails, the devices already changed in this run are
    returned to the state they had before it. A lock per subchannel keeps concurrent runs apart.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
options:
  devices:
    description:
      - CCW devices to prepare or release; bus IDs (V(0.0.0104)), device numbers (V(0x104)) or ranges
        (V(0.0.0200-0.0.02ff)), as text. Numbers are refused (YAML reads an unquoted C(0x0104) as 260,
        which as text is another device), so quote them.
      - A single ID must name an existing device. A range selects the devices that exist in it and
        must select at least one.
    type: list
    elements: raw
    required: true
  state:
    description:
      - V(present) binds to vfio_ccw with an mdev; V(absent) restores io_subchannel.
    type: str
    choices: [present, absent]
    default: present
  uuids:
    description:
      - mdev UUIDs to use, by bus ID. Devices not listed get a UUID derived from the host's
        C(/etc/machine-id) and the bus ID, so re-runs and re-creations on the same host agree.
      - With O(state=present), an existing mdev with another UUID, or else the device's own mdevctl
        definition, is kept when no UUID is given for the device (guests refer to it), and replaced
        (if no guest, running or defined, uses it) when one is.
      - A UUID must be used by one device only; a UUID that another subchannel's (or the vfio_ap matrix's)
        mdev or mdevctl definition already has, or that two devices are given, is refused.
      - Every key must be one of the devices O(devices) selects.
    type: dict
    default: {}
  persist:
    description:
      - Make the binding and the mdev survive reboots (driverctl override + mdevctl definition);
        V(false) removes such files for the devices.
    type: bool
    default: true
  autostart:
    description:
      - Start the persistent mdev at boot (mdevctl C(start=auto)).
    type: bool
    default: true
  online:
    description:
      - With O(state=absent), set the devices online after io_subchannel has bound (V(true)), leave them
        offline (V(false)).
    type: bool
    default: true
  free_ignored:
    description:
      - Free devices on the C(cio_ignore) list (C(free <id>) to C(/proc/cio_ignore), then settle) before
        preparing them. Without it such devices are refused.
    type: bool
    default: false
  allow_non_dasd:
    description:
      - vfio_ccw is supported for ECKD DASD. Allow other non-QDIO I/O devices (for example the
        virtio-blk CCW devices of an emulated host). QDIO devices are always refused.
    type: bool
    default: false
  settle_timeout:
    description:
      - Seconds (above 0) to wait for each kernel reaction (driver bound, mdev created, CCW device registered again
        after io_subchannel binds, online possible).
    type: float
    default: 15
  lock_timeout:
    description:
      - Seconds (above 0) to wait for a device locked by another run.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    description: Reports the steps each device would take; changes nothing.
  diff_mode:
    support: full
    description: Before and after state (driver, driver_override, online, mdevs, persistence) per device.
  idempotent:
    support: full
    description: A second run with the same options reports C(changed=false).
requirements:
  - Linux on IBM Z with the C(vfio_ccw) module loaded (C(modprobe vfio_ccw)).
notes:
  - vfio_ccw gives a guest one subchannel per mdev; the guest sees the device under the devno of the
    C(<address>) in its C(<hostdev>) (RV(devices[].hostdev_xml) uses the host's subchannel set and devno).
  - Live migration needs the hostdev detached first; M(s390x.kvm.migrate) does that and plugs in the destination's mdev after.
seealso:
  - module: s390x.kvm.ccw_info
  - name: Linux kernel documentation, vfio-ccw
    description: The kernel interface this module drives.
    link: https://docs.kernel.org/arch/s390/vfio-ccw.html
  - name: IBM KVM on Z, setting up a DASD for pass-through
    description: The manual procedure (lscss, driverctl, mdev create) this module automates.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=vfio-ccw-devices
"""

EXAMPLES = r"""
- name: Hand three DASDs to vfio_ccw, persistently
  s390x.kvm.vfio_ccw:
    devices:
      - 0.0.0104-0.0.0106
  register: prepared

- name: The mdev UUID of each DASD
  ansible.builtin.debug:
    msg: "{{ prepared.map }}"

- name: With chosen UUIDs
  s390x.kvm.vfio_ccw:
    devices: [0.0.2b09]
    uuids:
      0.0.2b09: 7e270a25-e163-4922-af60-757fc8ed48c6

- name: Give the DASDs back to the host and set them online
  s390x.kvm.vfio_ccw:
    devices: [0.0.0104-0.0.0106]
    state: absent
"""

RETURN = r"""
map:
  description: Bus ID -> subchannel and mdev UUID of each device (after the run).
  returned: always
  type: dict
  sample: {"0.0.0104": {"subchannel": "0.0.0004", "uuid": "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"}}
devices:
  description: Per device, what was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  contains:
    bus_id: {description: "Device bus ID.", type: str}
    subchannel: {description: "Subchannel ID.", type: str}
    uuid: {description: "mdev UUID (present), or null.", type: str}
    changed: {description: "Whether anything changed for the device.", type: bool}
    steps: {description: "What was done, in order.", type: list, elements: str}
    hostdev_xml: {description: "libvirt <hostdev> for the mdev (present).", type: str}
    before: {description: "State before.", type: dict}
    after: {description: "State after.", type: dict}
freed_from_cio_ignore:
  description: IDs and ranges taken off the C(cio_ignore) list (in check mode, those that would be).
  returned: when IDs on the cio_ignore list were selected with O(free_ignored=true)
  type: list
  elements: str
rolled_back:
  description: On failure, the devices that were returned to their previous state.
  returned: on failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError, format_key, normalize, parse_range, require_text
from ansible_collections.s390x.kvm.plugins.module_utils.ccw import device_kind
from ansible_collections.s390x.kvm.plugins.module_utils.common import open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage, also_unknown_reason, unknown_reason
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import (
    DeviceLock, VfioError, derive_mdev_uuid, normalize_uuid)
from ansible_collections.s390x.kvm.plugins.module_utils.libvirt_config import device_users
from ansible_collections.s390x.kvm.plugins.module_utils.vfio_ccw import (
    IO_SUBCHANNEL, MDEV_TYPE, VFIO_CCW, VfioCcw, guest_users_of, hostdev_xml, id_ranges, mdev_owners)


def select_devices(vfio, specs, free_ignored):
    """Expand IDs and ranges to existing devices: [(bus_id, subchannel or None if cio_ignored,
    whether it came from a range)]."""
    selected, refusals = [], []
    for spec in specs:
        first, last = parse_range(spec)
        if first == last:
            bus_id = format_key(first)
            sch = vfio.subchannel_of(bus_id)
            if sch is None:
                if vfio.cio_ignored(bus_id):
                    if free_ignored:
                        selected.append((bus_id, None, False))
                    else:
                        refusals.append("%s: on the cio_ignore list; set free_ignored: true to free it first" % bus_id)
                else:
                    refusals.append("%s: no such CCW device on this host (no subchannel names it)" % bus_id)
            else:
                selected.append((bus_id, sch, False))
            continue
        found = []
        for key in range(first, last + 1):
            bus_id = format_key(key)
            sch = vfio.subchannel_of(bus_id)
            if sch is not None:
                found.append((bus_id, sch, True))
            elif free_ignored and vfio.cio_ignored(bus_id):
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


def _guests(users):
    return ", ".join("%s guest %s (%s)" % ("running" if u["running"] else "defined", u["guest"], u["via"]) for u in users)


def persisted_uuid(s):
    """The UUID of the device's own mdevctl definition (vfio_ccw-io), if it has one."""
    for mdev in s.persisted_mdevs:
        if (s.definitions.get(mdev) or {}).get("mdev_type", MDEV_TYPE) == MDEV_TYPE:
            return mdev
    return None


def preflight(module, fs, vfio, usage, selected, uuids, users, owners):
    """Refusals for the whole batch, before anything changes; returns (states, targets, refusals)."""
    params = module.params
    states, targets, refusals = {}, {}, []
    taken = {}
    for bus_id, sch, _from_range in selected:
        if sch is None:
            continue  # cio_ignored and to be freed: checked again after freeing
        s = vfio.state(bus_id, sch)
        states[bus_id] = s
        sch_type = fs.read("/sys/bus/css/devices/%s/type" % sch, default="0")
        if sch_type != "0":
            refusals.append("%s: subchannel %s is not an I/O subchannel (type %s)" % (bus_id, sch, sch_type))
            continue
        if s.cutype.startswith("1731/"):
            refusals.append("%s: a QDIO device (%s, control unit %s); vfio_ccw cannot drive QDIO subchannels"
                            % (bus_id, "FCP" if s.cutype.startswith("1731/03") else "OSA/HiperSockets", s.cutype))
            continue
        if s.registered and s.driver != VFIO_CCW:
            kind = device_kind(fs.link_name("/sys/bus/ccw/devices/%s/driver" % bus_id), s.cutype)
            if kind != "dasd" and not params["allow_non_dasd"]:
                refusals.append("%s: not a DASD (kind %s, control unit %s); vfio_ccw supports ECKD DASD "
                                "(set allow_non_dasd: true for other non-QDIO devices)" % (bus_id, kind, s.cutype))
                continue
        if s.registered and fs.read("/sys/bus/ccw/devices/%s/alias" % bus_id, default="0") == "1":
            # A PAV alias only carries I/O for its base device: useless to a guest, missed by the host.
            refusals.append("%s: a PAV alias DASD; pass its base device through instead" % bus_id)
            continue
        usage.probe_ccw_device(bus_id)
        use = usage.ccw_use(bus_id)
        if use["host_use"]:
            refusals.append("%s: used by the host: %s" % (bus_id, "; ".join(use["host_use"]))
                            + also_unknown_reason(use["host_use_unknown"]))
            continue
        if use["host_use_unknown"]:
            # Fail closed: a device the host may use is not taken on a guess (host_usage.py).
            refusals.append("%s: %s" % (bus_id, unknown_reason(use["host_use_unknown"])))
            continue
        guests = guest_users_of(fs, usage, bus_id, s.mdevs + [m for m in s.persisted_mdevs if m not in s.mdevs], users)
        if params["state"] == "present":
            target_uuid = uuids.get(bus_id) or (s.mdevs[0] if s.mdevs else persisted_uuid(s)) or derive_mdev_uuid(fs, bus_id)
            # A guest may keep using the mdev we keep; an mdev we remove must not be any guest's,
            # nor the disk of a running guest. A defined guest's disk: it loses it, so say so.
            blocking = [u for u in guests if u["via"].startswith("mdev ") and u["via"] != "mdev %s" % target_uuid
                        or u["via"].startswith("disk ") and u["running"]]
            for u in guests:
                if u["via"].startswith("disk ") and not u["running"]:
                    module.warn("%s: defined guest %s has it as a disk (%s); it cannot use it once it is passed through"
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
            targets[bus_id] = {"driver": VFIO_CCW, "mdev": target_uuid, "persist": params["persist"],
                               "autostart": params["autostart"]}
        else:
            blocking = [u for u in guests if u["via"].startswith("mdev ") or u["running"]]
            targets[bus_id] = {"driver": IO_SUBCHANNEL, "mdev": None, "online": params["online"], "persist": False}
        if blocking:
            refusals.append("%s: used by %s" % (bus_id, _guests(blocking)))
    return states, targets, refusals


def check_options(module, uuids, selected):
    params = module.params
    errors = []
    for name in ("settle_timeout", "lock_timeout"):
        if not params[name] > 0:
            errors.append("%s: %s is not allowed; give a number of seconds above 0" % (name, params[name]))
    chosen = set(b for b, _sch, _r in selected)
    for bus_id in sorted(uuids):
        if bus_id not in chosen:
            errors.append("uuids: %s is not one of the devices selected by devices" % bus_id)
    by_uuid = {}
    for bus_id, value in sorted(uuids.items()):
        by_uuid.setdefault(value, []).append(bus_id)
    for value, owners in sorted(by_uuid.items()):
        if len(owners) > 1:
            errors.append("uuids: %s is given to %s; one mdev UUID serves one device" % (value, " and ".join(owners)))
    if errors:
        module.fail_json(msg="; ".join(errors))


def run(module):
    params = module.params
    try:
        # YAML reads an unquoted 0x0104 as 260 and 0104 as 68: as text another device, so numbers are refused.
        require_text(params["devices"], "devices")
    except BusIdError as err:
        module.fail_json(msg=str(err))
    try:
        uuids = dict((normalize(k), normalize_uuid(v)) for k, v in (params["uuids"] or {}).items())
    except (BusIdError, VfioError) as err:
        module.fail_json(msg="uuids: %s" % err)
    fs = open_host(module)
    if not fs.isdir("/sys/bus/css"):
        module.fail_json(msg="not an IBM Z (s390x) host: %s/sys/bus/css does not exist" % params["host_root"].rstrip("/"))
    vfio = VfioCcw(fs, settle_timeout=params["settle_timeout"])
    try:
        selected, refusals = select_devices(vfio, params["devices"], params["free_ignored"])
    except BusIdError as err:
        module.fail_json(msg="devices: %s" % err)
    check_options(module, uuids, selected)
    usage = HostUsage(fs)
    users, owners = device_users(fs), mdev_owners(fs)
    states, targets, more = preflight(module, fs, vfio, usage, selected, uuids, users, owners)
    refusals.extend(more)
    if refusals:
        module.fail_json(msg="refusing to change anything: " + " | ".join(refusals), refusals=refusals)

    # Devices on cio_ignore: free them (real run) and re-check them like the others. IDs of a
    # range that hide no device go back on the list; a missing single ID fails the run.
    ignored = [(bus_id, from_range) for bus_id, sch, from_range in selected if sch is None]
    freed = []
    if ignored and not module.check_mode:
        vfio.free_from_cio_ignore([b for b, _r in ignored])
        freed = [b for b, _r in ignored]
        again = [(b, vfio.subchannel_of(b), r) for b, r in ignored]
        missing = [b for b, sch, r in again if sch is None and not r]
        if missing:
            vfio.add_to_cio_ignore(freed)
            module.fail_json(msg="freed from cio_ignore but no device appeared: %s; put back on the cio_ignore list"
                             % ", ".join(missing))
        empty = [b for b, sch, r in again if sch is None]
        if empty:
            vfio.add_to_cio_ignore(empty)
            freed = [b for b in freed if b not in empty]
        again = [item for item in again if item[1] is not None]
        s2, t2, refusals = preflight(module, fs, vfio, usage, again, uuids, device_users(fs), mdev_owners(fs))
        if refusals:
            vfio.add_to_cio_ignore(freed)
            module.fail_json(msg="refusing after freeing from cio_ignore (put back on the list): " + " | ".join(refusals),
                             refusals=refusals)
        states.update(s2)
        targets.update(t2)
        selected = [(b, states[b].subchannel if b in states else sch, r) for b, sch, r in selected]

    order = [bus_id for bus_id, _sch, _r in selected if bus_id in states]
    results, changed_any = [], bool(freed) or bool(ignored and module.check_mode)
    before = dict((b, states[b].as_dict()) for b in order)
    snapshots = dict((b, vfio.state(b, states[b].subchannel)) for b in order)
    locks = [DeviceLock(fs, "css-" + states[b].subchannel, params["lock_timeout"]) for b in sorted(order)]
    if module.check_mode:
        locks = []
    held = []
    try:
        for lock in locks:
            lock.__enter__()
            held.append(lock)
        touched = []
        for bus_id in order:
            s, target = states[bus_id], targets[bus_id]
            if not module.check_mode:
                s = states[bus_id] = vfio.state(bus_id, s.subchannel)  # re-read under the lock
            steps = [text for _key, text in vfio.plan(s, target)]
            if steps and not module.check_mode:
                touched.append(bus_id)
                try:
                    vfio.apply(s, target)
                except (VfioError, HostAccessError) as err:
                    rolled_back = roll_back(module, vfio, touched, states, snapshots)
                    outcome = "rolled back: %s" % ", ".join(rolled_back) if rolled_back else "nothing to roll back"
                    if freed:
                        vfio.add_to_cio_ignore(freed)
                        outcome += "; put back on the cio_ignore list: %s" % ", ".join(freed)
                    module.fail_json(msg="%s: %s; %s" % (bus_id, err, outcome), rolled_back=rolled_back, failed_device=bus_id)
            changed_any = changed_any or bool(steps)
            after = predicted_after(s, target, steps) if module.check_mode else vfio.state(bus_id, s.subchannel).as_dict()
            entry = {"bus_id": bus_id, "subchannel": s.subchannel, "changed": bool(steps), "steps": steps,
                     "uuid": target["mdev"], "before": before[bus_id], "after": after}
            if target["mdev"]:
                _cssid, ssid, devno = bus_id.split(".")
                entry["hostdev_xml"] = hostdev_xml(target["mdev"], int(devno, 16), int(ssid, 16))
            results.append(entry)
    finally:
        for lock in reversed(held):
            lock.__exit__(None, None, None)
    result = dict(changed=changed_any, devices=results,
                  map=dict((r["bus_id"], {"subchannel": r["subchannel"], "uuid": r["uuid"]}) for r in results))
    if freed or (ignored and module.check_mode):
        # Check mode cannot look behind cio_ignore: it lists what it would free, not those devices' steps.
        result["freed_from_cio_ignore"] = id_ranges(freed or [b for b, _r in ignored])
    if module._diff:
        result["diff"] = {
            "before": dict((r["bus_id"], r["before"]) for r in results if r["changed"]),
            "after": dict((r["bus_id"], r["after"]) for r in results if r["changed"]),
        }
    return result


def roll_back(module, vfio, touched, states, snapshots):
    """Return the devices changed in this run, newest first, to the state recorded before it."""
    rolled_back = []
    for bus_id in reversed(touched):
        try:
            current = vfio.state(bus_id, states[bus_id].subchannel)
            vfio.apply(current, vfio.rollback_target(snapshots[bus_id]))
            rolled_back.append(bus_id)
        except (VfioError, HostAccessError) as err:
            module.warn("roll-back of %s failed: %s" % (bus_id, err))
    return rolled_back


def predicted_after(s, target, steps):
    after = s.as_dict()
    if not steps:
        return after
    after["driver"] = target["driver"]
    if target["driver"] == VFIO_CCW:
        after.update(driver_override=VFIO_CCW, online=None, mdevs=[target["mdev"]])
        after["persistent_override"] = VFIO_CCW if target.get("persist") else None
        after["persistent_mdevs"] = [target["mdev"]] if target.get("persist") else []
    else:
        after.update(driver_override=None, mdevs=[], persistent_override=None, persistent_mdevs=[])
        after["online"] = target.get("online") if target.get("online") is not None else after["online"]
    return after


def main():
    argument_spec = dict(
        devices=dict(type="list", elements="raw", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        uuids=dict(type="dict", default={}),
        persist=dict(type="bool", default=True),
        autostart=dict(type="bool", default=True),
        online=dict(type="bool", default=True),
        free_ignored=dict(type="bool", default=False),
        allow_non_dasd=dict(type="bool", default=False),
        settle_timeout=dict(type="float", default=15.0),
        lock_timeout=dict(type="float", default=60.0),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
