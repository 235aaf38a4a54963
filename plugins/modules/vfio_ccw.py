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
  - s390x.kvm.vfio
  - s390x.kvm.attributes.actiongroup_host
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

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import BatchFailed, batch_diff, run_batch
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.ccw import CcwBatch, VfioCcw, parse_uuids
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.hostdev import vfio_ccw_hostdev
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.options import vfio_spec
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import id_ranges
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import open_host, run_host_module


def run(module):
    params = module.params
    uuids = parse_uuids(params)
    vfio = VfioCcw(open_host(module), settle_timeout=params["settle_timeout"])
    batch = CcwBatch(vfio, params, uuids, module.check_mode, module.warn).prepare()
    try:
        entries = run_batch(vfio, batch.order, batch.targets, module.check_mode, params["lock_timeout"], module.warn)
    except BatchFailed as failure:
        raise batch.failed(failure)
    devices = []
    for entry in entries:
        device = {"bus_id": entry.item, "subchannel": vfio.subchannels[entry.item], "changed": entry.changed,
                  "steps": entry.step_texts, "uuid": entry.target.mdev, "before": entry.before, "after": entry.after}
        if entry.target.mdev:
            _cssid, ssid, devno = entry.item.split(".")
            device["hostdev_xml"] = vfio_ccw_hostdev(entry.target.mdev, int(ssid, 16), int(devno, 16))
        devices.append(device)
    # Check mode cannot look behind cio_ignore: it lists what it would free, not those devices' steps.
    freed = batch.freed or ([b for b, _r in batch.ignored] if module.check_mode else [])
    result = dict(changed=bool(freed) or any(d["changed"] for d in devices), devices=devices,
                  map=dict((d["bus_id"], {"subchannel": d["subchannel"], "uuid": d["uuid"]}) for d in devices))
    if freed:
        result["freed_from_cio_ignore"] = id_ranges(freed)
    if module._diff:
        result["diff"] = batch_diff(entries)
    return result


def main():
    argument_spec = vfio_spec(
        devices=dict(type="list", elements="raw", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        uuids=dict(type="dict", default={}),
        autostart=dict(type="bool", default=True),
        online=dict(type="bool", default=True),
        free_ignored=dict(type="bool", default=False),
        allow_non_dasd=dict(type="bool", default=False),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
