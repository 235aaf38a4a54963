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
  persist:
    description: Keep the vfio-pci binding across reboots (driverctl override file); V(false) removes it.
    type: bool
    default: true
  settle_timeout:
    description: Seconds to wait for the kernel to bind the new driver.
    type: float
    default: 15
  lock_timeout:
    description: Seconds to wait for a function locked by another run.
    type: float
    default: 60
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

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError
from ansible_collections.s390x.kvm.plugins.module_utils.common import open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage, also_unknown_reason, unknown_reason
from ansible_collections.s390x.kvm.plugins.module_utils.libvirt_config import device_users
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import DeviceLock, VfioError
from ansible_collections.s390x.kvm.plugins.module_utils.vfio_pci import VFIO_PCI, VfioPci, hostdev_xml
from ansible_collections.s390x.kvm.plugins.module_utils.zpci import FunctionSelector, ZpciDiscovery


def select(module, fs):
    params = module.params
    refusals, chosen = [], []
    try:
        # FunctionSelector refuses numbers: YAML reads an unquoted 0x10 as 16, which as text is 0x16.
        wanted = [("fid", v, FunctionSelector(fids=[v])) for v in params["fids"]]
        for value in params["uids"]:
            selector = FunctionSelector(uids=[value])
            if 0 in selector.uids:   # zPCI UIDs are 0x0001-0xffff; 0 means "no UID" (not unique)
                raise BusIdError("invalid uid %r: out of range 0x0001-0xffff" % (value,))
            wanted.append(("uid", value, selector))
        wanted += [("address", v, FunctionSelector(addresses=[v])) for v in params["addresses"]]
        everything, _count = ZpciDiscovery(fs).scan()
    except BusIdError as err:
        module.fail_json(msg=str(err))
    for what, value, selector in wanted:
        found = [f for f in everything if selector.matches(f)]
        if not found:
            refusals.append("%s %s: no zPCI function on this host has it" % (what, value))
        for func in found:
            if func["address"] not in [c["address"] for c in chosen]:
                chosen.append(func)
    return chosen, refusals


def run(module):
    params = module.params
    if not (params["fids"] or params["uids"] or params["addresses"]):
        module.fail_json(msg="give the functions to change in fids, uids or addresses")
    fs = open_host(module)
    chosen, refusals = select(module, fs)
    usage = HostUsage(fs)
    ZpciDiscovery.annotate_usage(chosen, usage)
    users = device_users(fs)
    for func in chosen:
        if func["host_use"]:
            refusals.append("%s (fid %s): used by the host: %s" % (func["address"], func["fid_hex"], "; ".join(func["host_use"]))
                            + also_unknown_reason(func["host_use_unknown"]))
        elif func["host_use_unknown"]:
            # Fail closed: a function the host may use is not taken on a guess (host_usage.py).
            refusals.append("%s (fid %s): %s" % (func["address"], func["fid_hex"], unknown_reason(func["host_use_unknown"])))
        guests = users.get("pci:" + func["address"], [])
        running = [u["guest"] for u in guests if u["running"]]
        defined = [u["guest"] for u in guests if not u["running"]]
        if running and params["state"] == "absent":
            refusals.append("%s (fid %s): used by running guest %s" % (func["address"], func["fid_hex"], ", ".join(running)))
        elif defined and params["state"] == "absent" and func["driver"] == VFIO_PCI:
            refusals.append("%s (fid %s): defined guest %s has it as a pass-through device; it could not start without it"
                            % (func["address"], func["fid_hex"], ", ".join(defined)))
        if running and params["state"] == "present" and func["driver"] != VFIO_PCI:
            refusals.append("%s (fid %s): running guest %s is defined with it" % (func["address"], func["fid_hex"], ", ".join(running)))
        if func["uid_is_unique"] is False:
            module.warn("%s (fid %s): UIDs are not unique in this partition; its PCI address may change across reboots"
                        % (func["address"], func["fid_hex"]))
    if refusals:
        module.fail_json(msg="refusing to change anything: " + " | ".join(refusals), refusals=refusals)

    vfio = VfioPci(fs, settle_timeout=params["settle_timeout"])
    target = {"driver": VFIO_PCI if params["state"] == "present" else "original", "persist": params["persist"]}
    results, touched, snapshots = [], [], {}
    # Locks in address order, so two runs with the same functions in another order cannot deadlock.
    locks = [] if module.check_mode else [DeviceLock(fs, "pci-" + a, params["lock_timeout"])
                                          for a in sorted(f["address"] for f in chosen)]
    held = []
    try:
        for lock in locks:
            lock.__enter__()
            held.append(lock)
        for func in chosen:
            s = vfio.state(func["address"])
            snapshots[func["address"]] = vfio.state(func["address"])
            before = s.as_dict()
            steps = [text for _key, text in vfio.plan(s, target)]
            if steps and not module.check_mode:
                touched.append(func["address"])
                try:
                    vfio.apply(s, target)
                except (VfioError, HostAccessError) as err:
                    rolled = roll_back(module, vfio, touched, snapshots)
                    module.fail_json(msg="%s: %s; %s" % (func["address"], err, "rolled back: %s" % ", ".join(rolled) if rolled
                                                         else "nothing to roll back"), rolled_back=rolled)
            after = vfio.state(func["address"]).as_dict() if not module.check_mode else predicted(before, target, steps)
            uid = func["uid"] or None   # 0: no UID (UIDs not enforced); a guest needs 0x0001-0xffff or none
            entry = {"address": func["address"], "fid": func["fid"], "uid": uid, "changed": bool(steps),
                     "steps": steps, "before": before, "after": after}
            if params["state"] == "present":
                entry["hostdev_xml"] = hostdev_xml(func["address"], uid, func["fid"])
            results.append(entry)
    finally:
        for lock in reversed(held):
            lock.__exit__(None, None, None)
    result = dict(changed=any(r["changed"] for r in results), functions=results,
                  map=dict(("0x%08x" % r["fid"], {"address": r["address"], "uid": "0x%04x" % r["uid"] if r["uid"] else None})
                           for r in results))
    if module._diff:
        result["diff"] = {"before": dict((r["address"], r["before"]) for r in results if r["changed"]),
                          "after": dict((r["address"], r["after"]) for r in results if r["changed"])}
    return result


def roll_back(module, vfio, touched, snapshots):
    rolled = []
    for address in reversed(touched):
        try:
            vfio.apply(vfio.state(address), vfio.rollback_target(snapshots[address]))
            rolled.append(address)
        except (VfioError, HostAccessError) as err:
            module.warn("roll-back of %s failed: %s" % (address, err))
    return rolled


def predicted(before, target, steps):
    after = dict(before)
    if steps:
        if target["driver"] == VFIO_PCI:
            after.update(driver=VFIO_PCI, driver_override=VFIO_PCI, persistent_override=VFIO_PCI if target["persist"] else None)
        else:
            after.update(driver_override=None, persistent_override=None)
            if before["driver"] == VFIO_PCI:
                after["driver"] = "(its own driver)"
    return after


def main():
    argument_spec = dict(
        fids=dict(type="list", elements="raw", default=[]),
        uids=dict(type="list", elements="raw", default=[]),
        addresses=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        persist=dict(type="bool", default=True),
        settle_timeout=dict(type="float", default=15.0),
        lock_timeout=dict(type="float", default=60.0),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
