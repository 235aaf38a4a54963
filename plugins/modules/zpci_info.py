#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: zpci_info
short_description: Discover the zPCI functions of an IBM Z KVM host
version_added: 0.1.0
description:
  - Reads the PCI functions of an IBM Z (s390x) host from sysfs with their zPCI identity (function ID
    C(fid), user-defined ID C(uid), PCHID, function type, port, virtual function number), PCI vendor
    and device IDs, bound driver, network interfaces and NVMe namespaces.
  - Marks functions the host uses (mounted NVMe namespaces, network interfaces carrying the host's
    addresses, the NVMe IPL device) so that later tasks do not pass them through.
  - Fails closed. When the host's use of its block devices cannot be determined (no C(/sys/class/block),
    neither C(/proc/self/mountinfo) nor C(/proc/mounts), no C(/proc/swaps), a mount or swap device that
    resolves to no block device, the root file system's device unknown), each mass storage function
    bound to a host driver (NVMe, virtio-blk) is reported as not free
    (RV(functions[].host_use_state=unknown), with the causes in RV(functions[].host_use_unknown)), and
    the module warns naming what could not be read.
  - Reads files only; never changes the host.
  - On a host without zPCI functions (no C(function_id) attribute on any PCI function, as on x86)
    the module returns RV(s390x_host=false) with an empty list and a message, or fails if
    O(require_s390x=true).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.attributes.info_module
  - s390x.kvm.attributes.require_s390x
  - s390x.kvm.attributes.actiongroup_host
options:
  fids:
    description:
      - Report only functions with these function IDs (hex, V(0x10) or V(10)).
      - Quote them in YAML. An unquoted V(0x10) is the number 16 to YAML, so numbers are refused.
    type: list
    elements: raw
    default: []
  uids:
    description:
      - Report only functions with these user-defined IDs (hex, V(0x1) or V(1)).
      - Quote them in YAML. An unquoted V(0x10) is the number 16 to YAML, so numbers are refused.
    type: list
    elements: raw
    default: []
  addresses:
    description:
      - Report only functions with these PCI addresses (V(0001:00:00.0)).
    type: list
    elements: raw
    default: []
  host_usage:
    description:
      - Determine which functions the host uses and report it per function.
      - This reads the first 2 KiB of each NVMe namespace reported to find LVM labels of inactive
        volume groups. That needs root; a namespace that cannot be read is reported as used by the
        host (the reason says why) with a warning, never as free on a guess.
    type: bool
    default: true
notes:
  - Several selectors (O(fids), O(uids), O(addresses)) select the union of what each selects.
  - C(uid) is only meaningful as a stable identity when the C(uid_is_unique) key of RV(functions) is true
    (UID checking enabled in the partition's I/O configuration).
seealso:
  - module: s390x.kvm.ccw_info
  - name: IBM KVM on Z, PCIe pass-through with zPCI uid and fid
    description: The domain XML that uses the uid and fid reported here.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=xml-address-as-child-hostdev-disk
"""

EXAMPLES = r"""
- name: All zPCI functions
  s390x.kvm.zpci_info:
  register: zpci

- name: The functions a guest should get, by fid
  s390x.kvm.zpci_info:
    fids: ["0x10", "0x11"]
  register: wanted

- name: NVMe functions the host does not use
  ansible.builtin.debug:
    msg: "{{ zpci.functions | selectattr('block_devices') | rejectattr('in_use_by_host') | map(attribute='fid_hex') | list }}"
"""

RETURN = r"""
s390x_host:
  description: Whether the host is an s390x host (has zPCI functions or a channel subsystem).
  returned: always
  type: bool
msg:
  description: Why the result is empty, when the host is not an s390x host.
  returned: when s390x_host is false
  type: str
functions:
  description: zPCI functions, sorted by fid.
  returned: always
  type: list
  elements: dict
  contains:
    address: {description: "PCI address.", type: str, sample: "0001:00:00.0"}
    fid: {description: "Function ID.", type: int, sample: 16}
    fid_hex: {description: "Function ID as 8 hex digits, as in domain XML.", type: str, sample: "0x00000010"}
    uid: {description: "User-defined ID.", type: int, sample: 1}
    uid_hex: {description: "UID as 4 hex digits, as in domain XML.", type: str, sample: "0x0001"}
    uid_is_unique: {description: "Whether UID checking is enabled (null on older kernels).", type: bool}
    function_handle: {description: "Function handle.", type: str, sample: "0x80020000"}
    pchid: {description: "Physical channel ID.", type: str, sample: "0x01c4"}
    pfgid: {description: "PCI function group ID.", type: str, sample: "0xff"}
    pft: {description: "PCI function type number.", type: int, sample: 10}
    pft_name: {description: "Name of the function type where known (ISM), else null.", type: str}
    port: {description: "Port number (null on older kernels).", type: int, sample: 1}
    vfn: {description: "Virtual function number (0 for a physical function).", type: int, sample: 1}
    vendor: {description: "PCI vendor ID.", type: int, sample: 5555}
    device: {description: "PCI device ID.", type: int, sample: 4124}
    pci_id: {description: "Vendor and device ID as lspci shows them.", type: str, sample: "15b3:101e"}
    class: {description: "PCI class code.", type: str, sample: "0x020000"}
    driver: {description: "Bound driver (mlx5_core, nvme, vfio-pci, ...) or null.", type: str, sample: mlx5_core}
    driver_override: {description: "driver_override, or null when unset.", type: str}
    iommu_group: {description: "IOMMU group number.", type: str, sample: "0"}
    mio_enabled: {description: "Whether MIO instructions are used.", type: bool}
    netdevs: {description: "Network interfaces of the function.", type: list, elements: str, sample: [eno1]}
    block_devices: {description: "NVMe namespaces of the function.", type: list, elements: str, sample: [nvme0n1]}
    carries_host_ip: {description: "Whether one of its interfaces carries the host's addresses.", type: bool, returned: when host_usage is true}
    in_use_by_host: {description: "Whether the host uses the function or may use it: true unless it is proven free
                                    (RV(functions[].host_use_state) is V(used) or V(unknown)).", type: bool,
                     returned: when host_usage is true}
    host_use: {description: "Why the host uses it.", type: list, elements: str, returned: when host_usage is true}
    host_use_unknown: {description: "What could not be read or resolved that could hide a use of this function
                                     (one text per cause, as in RV(host_usage_unknown)); empty when nothing was.",
                       type: list, elements: str, returned: when host_usage is true, version_added: 0.4.0}
    host_use_state: {description: "V(used) when a use is proven (RV(functions[].host_use)), V(unknown) when none is
                                   but one cannot be ruled out, V(free) otherwise.", type: str,
                     choices: [used, unknown, free], returned: when host_usage is true, version_added: 0.4.0}
host_usage_unknown:
  description:
    - What the host's use of block devices is read from but could not be read or resolved, one item per
      cause; empty when everything could. Each cause applies to every function that may hold a block device.
  returned: when host_usage is true
  type: list
  elements: dict
  version_added: 0.4.0
  contains:
    source: {description: "The file, directory, mount source or swap device concerned.", type: str, sample: /sys/class/block}
    reason: {description: "What could not be read or resolved, and what that hides.", type: str}
summary:
  description: Counts.
  returned: always
  type: dict
  sample: {functions: 2, in_use_by_host: 1, host_use_unknown: 0, non_zpci_functions: 0}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import not_s390x, open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage
from ansible_collections.s390x.kvm.plugins.module_utils.zpci import FunctionSelector, ZpciDiscovery


def run(module):
    params = module.params
    try:
        selector = FunctionSelector(params["fids"], params["uids"], params["addresses"])
    except DeviceIdError as err:
        module.fail_json(msg=str(err))
    fs = open_host(module)
    discovery = ZpciDiscovery(fs, selector)
    functions, non_zpci = discovery.scan()
    has_zpci = bool(functions) or any(fs.exists("/sys/bus/pci/devices/%s/function_id" % a)
                                      for a in fs.listdir("/sys/bus/pci/devices"))
    if not has_zpci and not fs.isdir("/sys/bus/css"):
        not_s390x(module, fs, "/sys/bus/css", functions=[], summary={"functions": 0, "non_zpci_functions": non_zpci})
    usage = HostUsage(fs) if params["host_usage"] else None
    if usage is not None:
        discovery.annotate_usage(functions, usage)
    summary = {"functions": len(functions), "non_zpci_functions": non_zpci}
    if usage is not None:
        summary["in_use_by_host"] = sum(1 for f in functions if f["in_use_by_host"])
        summary["host_use_unknown"] = sum(1 for f in functions if f["host_use_state"] == "unknown")
        for warning in usage.warnings:
            module.warn(warning)
    ambiguous = [f["address"] for f in functions if f["uid"] in selector.uids and f["uid_is_unique"] is not True]
    if ambiguous:
        # without UID checking in the I/O configuration a UID names no function (often all are 0)
        module.warn("uids: selected %s by a UID that is not unique (uid_is_unique is not 1); select by fid or address instead"
                    % ", ".join(ambiguous))
    result = dict(changed=False, s390x_host=True, functions=functions, summary=summary)
    if usage is not None:
        result["host_usage_unknown"] = usage.unknown
    return result


def main():
    argument_spec = dict(
        fids=dict(type="list", elements="raw", default=[]),
        uids=dict(type="list", elements="raw", default=[]),
        addresses=dict(type="list", elements="raw", default=[]),
        host_usage=dict(type="bool", default=True),
        require_s390x=dict(type="bool", default=False),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=())


if __name__ == "__main__":
    main()
