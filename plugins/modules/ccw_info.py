#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ccw_info
short_description: Discover the channel subsystem of an IBM Z KVM host
version_added: 0.1.0
description:
  - Reads the Linux channel subsystem of an IBM Z (s390x) host from sysfs and procfs and reports
    subchannels, CCW devices, DASDs, qeth (OSA, HiperSockets) groups, zfcp (FCP) adapters, channel
    paths and the C(cio_ignore) list.
  - Marks the devices the host itself uses (mounted, swap, LVM physical volume, device-mapper, IPL
    device, network interfaces carrying the host's addresses) with the reason, so that later tasks
    do not hand them to guests.
  - Fails closed. When the host's use of its block devices cannot be determined (no C(/sys/class/block),
    neither C(/proc/self/mountinfo) nor C(/proc/mounts), no C(/proc/swaps), a mount or swap device that
    resolves to no block device, the root file system's device unknown), each device that may hold a
    block device is reported as not free (RV(devices[].host_use_state=unknown), with the causes in
    RV(devices[].host_use_unknown)), and the module warns naming what could not be read.
  - Reads files only; never changes the host. Scales to 65,536 subchannels.
  - On a machine that is not an s390x host (no C(/sys/bus/css)) the module returns
    RV(s390x_host=false) with empty lists and a message, or fails if O(require_s390x=true).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.attributes.info_module
  - s390x.kvm.attributes.require_s390x
  - s390x.kvm.attributes.actiongroup_host
options:
  bus_ids:
    description:
      - Report only these CCW devices (and subchannels without a device whose own ID matches).
      - Each item is a bus ID (V(0.0.1234)), a device number (V(1234) or V(0x1234), subchannel set 0)
        or a range of either (V(0.0.1234-0.0.12ff)).
      - Write each item as a string (quoted in YAML). An unquoted V(0x2b09) is the number 11017 to YAML
        and V(0100) is 64, so the module refuses numbers instead of reading another device.
      - Linux has channel subsystem 0 only; other C(cssid) values are refused.
      - Empty means all devices.
    type: list
    elements: raw
    default: []
  kinds:
    description:
      - Report only devices of these kinds (by driver, or by control-unit type when no driver is bound).
      - Empty means all kinds.
    type: list
    elements: str
    choices: [dasd, qeth, zfcp, virtio, tape, ctc, lcs, '3270', unit_record, other]
    default: []
  gather:
    description:
      - Sections to gather. Leave out what you do not need on large hosts; RV(devices) and
        RV(subchannels) dominate the result size.
    type: list
    elements: str
    choices: [subchannels, devices, qeth, zfcp, channel_paths, cio_ignore]
    default: [subchannels, devices, qeth, zfcp, channel_paths, cio_ignore]
  subchannels:
    description:
      - Which subchannels RV(subchannels) lists when it is gathered.
      - V(compact) leaves out each subchannel that only repeats a record of RV(devices), which names it
        in RV(devices[].subchannel) - bound to C(io_subchannel), no C(driver_override), every installed
        path available and operational (PAM equal to PIM, the PIM's bits set in the POM). Listed are the
        rest - subchannels bound to C(vfio_ccw) (a guest holds their device, which is then not in
        RV(devices)), to no or another driver, with a C(driver_override) (a rebind under way), with a path
        not available or not operational, non-I/O subchannels and subchannels without a device.
        C(summary.subchannels) counts them all.
      - V(all) lists every subchannel, with the CHPIDs and path masks of each. On a host with tens of
        thousands of devices this about doubles the result.
      - Without V(devices) in O(gather) every subchannel is listed either way.
    type: str
    choices: [compact, all]
    default: compact
    version_added: 0.3.0
  host_usage:
    description:
      - Determine which devices the host uses (mounts, swap, LVM, device-mapper, IPL device, interfaces
        with IP addresses) and report it per device.
      - This reads the first 2 KiB of each online DASD partition reported to find LVM labels of
        inactive volume groups. That needs root; a device that cannot be read is reported as used by
        the host (the reason says why) with a warning, never as free on a guess.
      - A device that may hold a block device (online, not a PAV alias or a member of a network group)
        is not reported as free while something the host's use of block devices is read from cannot be
        read or resolved; see RV(host_usage_unknown).
    type: bool
    default: true
notes:
  - Device numbers in the result are the host's (the guest sees virtio devices under its own devnos).
  - Devices hidden by C(cio_ignore) do not appear as devices; the ignored ranges are in RV(cio_ignore).
seealso:
  - module: s390x.kvm.zpci_info
  - module: s390x.kvm.ap_info
  - name: Linux kernel documentation, s390 common I/O layer
    description: css/ccw sysfs attributes and cio_ignore.
    link: https://docs.kernel.org/arch/s390/cds.html
"""

EXAMPLES = r"""
- name: Discover everything on the KVM host
  s390x.kvm.ccw_info:
  register: ccw

- name: DASDs in a range, without channel paths or the subchannel list
  s390x.kvm.ccw_info:
    bus_ids:
      - 0.0.0100-0.0.01ff
      - "0x2b09"
    kinds: [dasd]
    gather: [devices]
  register: dasds

- name: Every subchannel with its CHPIDs and path masks
  s390x.kvm.ccw_info:
    gather: [subchannels]
  register: paths

- name: Free DASDs the host does not use
  ansible.builtin.debug:
    msg: "{{ dasds.devices | rejectattr('in_use_by_host') | map(attribute='bus_id') | list }}"

- name: Inspect a fixture or a mounted host tree
  s390x.kvm.ccw_info:
    host_root: /srv/zhost-snapshot
"""

RETURN = r"""
s390x_host:
  description: Whether the host has a channel subsystem (is an s390x host).
  returned: always
  type: bool
  sample: true
msg:
  description: Why the result is empty, when the host is not an s390x host.
  returned: when s390x_host is false
  type: str
subchannels:
  description:
    - Subchannels, sorted by ID. By default only those that tell more than RV(devices) does; see O(subchannels).
  returned: when subchannels is gathered
  type: list
  elements: dict
  contains:
    bus_id: {description: "Subchannel ID (0.<ssid>.<schno>).", type: str, sample: 0.0.0313}
    type: {description: "Subchannel type number (0 = I/O).", type: int, sample: 0}
    type_name: {description: "io, chsc, message, adm or unknown.", type: str, sample: io}
    driver: {description: "Bound css driver (io_subchannel, vfio_ccw, ...) or null.", type: str, sample: io_subchannel}
    driver_override: {description: "The driver_override, or null when unset.", type: str, sample: null}
    dev_busid: {description: "Bus ID of the CCW device on this subchannel, or null.", type: str, sample: 0.0.2b09,
                returned: for I/O subchannels (type 0)}
    chpids: {description: "CHPIDs of the installed paths (per PIM), two hex digits each.", type: list, elements: str, sample: ["1a", "2a"],
             returned: for I/O subchannels (type 0)}
    pim: {description: "Path installed mask (hex).", type: str, sample: f0, returned: for I/O subchannels (type 0)}
    pam: {description: "Path available mask (hex).", type: str, sample: f0, returned: for I/O subchannels (type 0)}
    pom: {description: "Path operational mask (hex).", type: str, sample: ff, returned: for I/O subchannels (type 0)}
    mdevs: {description: "Mediated device UUIDs on a vfio_ccw-bound subchannel.", type: list, elements: str, returned: when driver is vfio_ccw}
devices:
  description: CCW devices, sorted by bus ID.
  returned: when devices is gathered
  type: list
  elements: dict
  contains:
    bus_id: {description: "Device bus ID.", type: str, sample: 0.0.2b09}
    subchannel: {description: "Subchannel ID, or null for an orphaned device (moved below the css's C(defunct)
                               pseudo subchannel because its subchannel now answers for another device or none;
                               availability V(no device)).", type: str, sample: 0.0.0313}
    cutype: {description: "Control-unit type/model.", type: str, sample: 3990/e9}
    devtype: {description: "Device type/model, or null (n/a).", type: str, sample: 3390/0c}
    online: {description: "Whether the device is online.", type: bool}
    availability: {description: "good, boxed, no path or no device.", type: str, sample: good}
    driver: {description: "Bound CCW driver or null.", type: str, sample: dasd-eckd}
    kind: {description: "Device kind.", type: str, sample: dasd}
    dasd:
      description: DASD detail.
      returned: for DASDs
      type: dict
      sample: {type: ECKD, status: online, uid: IBM.750000000ABC12.1234.00, readonly: false, alias: false,
               use_diag: false, block_device: dasda, partitions: [dasda1]}
    in_use_by_host: {description: "Whether the host uses the device or may use it: true unless it is proven free
                                    (RV(devices[].host_use_state) is V(used) or V(unknown)).", type: bool,
                     returned: when host_usage is true}
    host_use: {description: "Why the host uses it.", type: list, elements: str, returned: when host_usage is true,
               sample: ["/dev/dasda1: mounted at /", "IPL device (ccw)"]}
    host_use_unknown: {description: "What could not be read or resolved that could hide a use of this device
                                     (one text per cause, as in RV(host_usage_unknown)); empty when nothing was.",
                       type: list, elements: str, returned: when host_usage is true, version_added: 0.4.0,
                       sample: ["/sys/class/block is missing (so mounts, swap and device-mapper stacks cannot be traced
                                 to their devices)"]}
    host_use_state: {description: "V(used) when a use is proven (RV(devices[].host_use)), V(unknown) when none is
                                   but one cannot be ruled out (RV(devices[].host_use_unknown), or a device that
                                   could not be read), V(free) otherwise.", type: str,
                     choices: [used, unknown, free], returned: when host_usage is true, version_added: 0.4.0}
qeth:
  description:
    - qeth group devices (OSA, HiperSockets). Other ccwgroup devices (CTC, LCS) are not listed here;
      their members are in RV(devices), marked as used when the group's interface carries the host's addresses.
  returned: when qeth is gathered
  type: list
  elements: dict
  sample:
    - {bus_id: 0.0.f500, devices: [0.0.f500, 0.0.f501, 0.0.f502], driver: qeth, card_type: OSD_10GIG, layer2: true, if_name: encf500,
       online: true, state: UP (LAN ONLINE), chpid: "a0", portno: 0, carries_host_ip: true, in_use_by_host: true,
       host_use: ["carries the host's IPv4 routes (interface encf500)"]}
zfcp:
  description: zfcp (FCP) adapters with remote ports and LUNs.
  returned: when zfcp is gathered
  type: list
  elements: dict
  sample: [{bus_id: 0.0.1900, online: true, status: "0x5400050b", card_version: "0x0007", peer_wwpn: "0x0000000000000000",
            ports: [{wwpn: "0x500507630300c562", luns: ["0x4010400000000000"]}], in_use_by_host: false, host_use: [],
            host_use_unknown: [], host_use_state: free}]
channel_paths:
  description: Channel paths.
  returned: when channel_paths is gathered
  type: list
  elements: dict
  sample: [{id: 0.1a, type: "1a", status: online, shared: 1, cmg: 2, chid: "0160"}]
cio_ignore:
  description: Ranges on the cio_ignore list.
  returned: when cio_ignore is gathered
  type: list
  elements: dict
  sample: [{start: 0.0.0000, end: 0.0.00ff, count: 256}]
ipl:
  description: The IPL device as the firmware reports it.
  returned: when host_usage is true
  type: dict
  sample: {type: ccw, device: 0.0.0100}
host_usage_unknown:
  description:
    - What the host's use of block devices is read from but could not be read or resolved, one item per
      cause; empty when everything could. Each cause applies to every device that may hold a block device.
  returned: when host_usage is true
  type: list
  elements: dict
  version_added: 0.4.0
  contains:
    source: {description: "The file, directory, mount source or swap device concerned.", type: str, sample: /sys/class/block}
    reason: {description: "What could not be read or resolved, and what that hides.", type: str}
summary:
  description: Counts of what was found.
  returned: always
  type: dict
  sample: {subchannels: 12, devices: 10, dasds: 5, online: 8, qeth_groups: 2, zfcp_adapters: 1, channel_paths: 6, in_use_by_host: 4,
           host_use_unknown: 0}
"""

import gc

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError, BusIdSet, require_text
from ansible_collections.s390x.kvm.plugins.module_utils.ccw import CcwDiscovery, DEVICE_KINDS, subchannels_beside
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import not_s390x, open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage

SECTIONS = ["subchannels", "devices", "qeth", "zfcp", "channel_paths", "cio_ignore"]


def run(module):
    params = module.params
    try:
        bus_ids = BusIdSet(require_text(params["bus_ids"], "bus_ids"))
    except DeviceIdError as err:
        message = str(err)
        module.fail_json(msg=message if message.startswith("bus_ids:") else "bus_ids: %s" % message)
    fs = open_host(module)
    discovery = CcwDiscovery(fs, bus_ids=bus_ids, kinds=params["kinds"])
    if not discovery.is_s390x_host():
        not_s390x(module, fs, "/sys/bus/css", summary={}, **dict((s, []) for s in params["gather"]))
    gather = set(params["gather"])
    result = dict(changed=False, s390x_host=True)
    if params["host_usage"]:
        discovery.usage = HostUsage(fs)
        result["ipl"] = discovery.usage.ipl
        result["host_usage_unknown"] = discovery.usage.unknown

    subchannels, devices = discovery.scan()
    qeth_groups = None
    if discovery.usage is not None:
        qeth_groups = discovery.annotate_usage(devices)

    summary = {
        "subchannels": len(subchannels),
        "devices": len(devices),
        "dasds": sum(1 for d in devices if d["kind"] == "dasd"),
        "online": sum(1 for d in devices if d["online"]),
    }
    if "subchannels" in gather:
        # A device's own subchannel is named in its record; shipping both doubles a large host's result.
        compact = params["subchannels"] == "compact" and "devices" in gather
        result["subchannels"] = subchannels_beside(subchannels, devices) if compact else subchannels
    if "devices" in gather:
        result["devices"] = devices
    if "qeth" in gather and (not params["kinds"] or "qeth" in params["kinds"]):
        result["qeth"] = qeth_groups if discovery.usage is not None else discovery.qeth_groups()
        summary["qeth_groups"] = len(result["qeth"])
    elif "qeth" in gather:
        result["qeth"] = []
    if "zfcp" in gather:
        result["zfcp"] = discovery.zfcp_adapters(devices)
        summary["zfcp_adapters"] = len(result["zfcp"])
    if "channel_paths" in gather:
        result["channel_paths"] = discovery.channel_paths()
        summary["channel_paths"] = len(result["channel_paths"])
    if "cio_ignore" in gather:
        result["cio_ignore"] = discovery.cio_ignore()
    if discovery.usage is not None:
        summary["in_use_by_host"] = sum(1 for d in devices if d["in_use_by_host"])
        summary["host_use_unknown"] = sum(1 for d in devices if d["host_use_state"] == "unknown")
        for warning in discovery.usage.warnings:
            module.warn(warning)
    result["summary"] = summary
    return result


def main():
    # A large host's result is hundreds of thousands of small dicts and lists, built once and
    # copied once more by exit_json; none forms a cycle, and the process ends right after.
    # Without this the cyclic collector re-scans the growing heap hundreds of times.
    gc.disable()
    argument_spec = dict(
        bus_ids=dict(type="list", elements="raw", default=[]),
        kinds=dict(type="list", elements="str", choices=list(DEVICE_KINDS), default=[]),
        gather=dict(type="list", elements="str", choices=SECTIONS, default=list(SECTIONS)),
        subchannels=dict(type="str", choices=["compact", "all"], default="compact"),
        host_usage=dict(type="bool", default=True),
        require_s390x=dict(type="bool", default=False),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(DeviceIdError,))


if __name__ == "__main__":
    main()
