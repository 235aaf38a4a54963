#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vfio_pci
short_description: Prepare zPCI functions for pass-through with vfio-pci, persistently
version_added: 0.1.0
description:
  - With O(state=present), binds zPCI functions (selected by function ID, UID or PCI address) to
    C(vfio-pci) (C(driver_override), unbind from the current driver, C(drivers_probe)) and returns the
    libvirt C(<hostdev>) with the C(<zpci uid fid>) a guest needs.
  - With O(state=absent), clears the override and probes again, which binds the function's own
    driver (the one its IDs match, such as mlx5_core or nvme).
  - Persistence (O(persist=true)) writes the driverctl override file C(/etc/driverctl.d/pci-<address>)
    that driverctl's udev rule applies at boot.
  - Refuses, before changing anything, functions the host uses (network interfaces carrying the
    host's addresses, mounted NVMe namespaces or LVM physical volumes on them, the NVMe IPL device) or
    may use because its use cannot be determined (a mass storage function on a host driver while
    C(/sys/class/block), the mount table or C(/proc/swaps) cannot be read, or a mount or swap device
    resolves to no block device; the refusal names what could not be read), functions a running guest
    uses, functions a defined guest has as pass-through devices (O(state=absent)), and selectors that
    match no function.
  - When a function of a batch fails, the functions already changed in this run are returned to
    their previous driver. A lock per function keeps concurrent runs apart.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.vfio
  - s390x.kvm.attributes.actiongroup_host
options:
  fids:
    description:
      - Function IDs (0x00000000-0xffffffff) of the functions, as hex text (V(0x10) or V(10)). Numbers are
        refused - YAML reads an unquoted C(0x10) as 16, which as text would be another function - so quote them.
    type: list
    elements: raw
    default: []
  uids:
    description:
      - User-defined IDs (0x0001-0xffff) of the functions, as hex text like O(fids).
    type: list
    elements: raw
    default: []
  addresses:
    description: PCI addresses (V(0010:00:00.0)) of the functions.
    type: list
    elements: str
    default: []
  state:
    description: V(present) binds vfio-pci; V(absent) restores the function's own driver.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports the steps each function would take; changes nothing.
  diff_mode:
    support: full
    description: Before and after driver, override and persistence per function.
  idempotent:
    support: full
    description: A second run with the same options reports C(changed=false).
requirements:
  - Linux on IBM Z with the C(vfio-pci) module loaded.
notes:
  - At least one of O(fids), O(uids) or O(addresses) is required; every item must match a function.
  - RV(functions[].hostdev_xml) says C(managed='no') where IBM's example has C(managed='yes') - this module
    binds vfio-pci itself and persists that, while a managed hostdev makes libvirt hand the function back
    to its host driver whenever the guest stops.
  - When the partition does not enforce unique UIDs (RV(s390x.kvm.zpci_info#module:functions) shows
    C(uid_is_unique=false)) PCI addresses can change across reboots; the module warns.
seealso:
  - module: s390x.kvm.zpci_info
  - module: s390x.kvm.vfio_ccw
"""

EXAMPLES = r"""
- name: Give two zPCI functions to vfio-pci
  s390x.kvm.vfio_pci:
    fids: ["0x10", "0x11"]
  register: pci

- name: Their hostdev XML for the guest
  ansible.builtin.debug:
    msg: "{{ pci.functions | map(attribute='hostdev_xml') | list }}"

- name: Back to their own drivers
  s390x.kvm.vfio_pci:
    fids: ["0x10", "0x11"]
    state: absent
"""

RETURN = r"""
functions:
  description: Per function, what was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  contains:
    address: {description: "PCI address.", type: str, sample: "0010:00:00.0"}
    fid: {description: "Function ID.", type: int}
    uid: {description: "UID, or null when the function has none (UIDs not enforced).", type: int}
    changed: {description: "Whether anything changed for the function.", type: bool}
    steps: {description: "What was done, in order.", type: list, elements: str}
    hostdev_xml: {description: "libvirt <hostdev> with <zpci uid fid> (present; without uid when the function has none).", type: str}
    before: {description: "State before.", type: dict}
    after: {description: "State after.", type: dict}
map:
  description: fid (8 hex digits) -> address and uid.
  returned: always
  type: dict
  sample: {"0x00000010": {"address": "0010:00:00.0", "uid": "0x0010"}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import batch_diff, run_batch
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.hostdev import vfio_pci_hostdev
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.options import check_timeouts, vfio_spec
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.pci import PciTarget, VfioPci, function_refusals, select_functions
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import open_host, run_host_module


def run(module):
    params = module.params
    if not (params["fids"] or params["uids"] or params["addresses"]):
        raise VfioError("give the functions to change in fids, uids or addresses")
    check_timeouts(params)
    fs = open_host(module)
    chosen, refusals = select_functions(fs, params)
    refusals += function_refusals(fs, chosen, params["state"], module.warn)
    if refusals:
        raise VfioError("refusing to change anything: " + " | ".join(refusals), refusals=refusals)
    target = PciTarget.passed_through(params["persist"]) if params["state"] == "present" else PciTarget.with_host()
    vfio = VfioPci(fs, settle_timeout=params["settle_timeout"])
    entries = run_batch(vfio, [f["address"] for f in chosen], dict((f["address"], target) for f in chosen),
                        module.check_mode, params["lock_timeout"], module.warn)
    functions = []
    for func, entry in zip(chosen, entries):
        uid = func["uid"] or None   # 0: no UID (UIDs not enforced); a guest needs 0x0001-0xffff or none
        function = {"address": entry.item, "fid": func["fid"], "uid": uid, "changed": entry.changed,
                    "steps": entry.step_texts, "before": entry.before, "after": entry.after}
        if params["state"] == "present":
            function["hostdev_xml"] = vfio_pci_hostdev(entry.item, uid, func["fid"])
        functions.append(function)
    result = dict(changed=any(f["changed"] for f in functions), functions=functions,
                  map=dict(("0x%08x" % f["fid"], {"address": f["address"], "uid": "0x%04x" % f["uid"] if f["uid"] else None})
                           for f in functions))
    if module._diff:
        result["diff"] = batch_diff(entries)
    return result


def main():
    argument_spec = vfio_spec(
        fids=dict(type="list", elements="raw", default=[]),
        uids=dict(type="list", elements="raw", default=[]),
        addresses=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
