#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vfio_ap
short_description: Give crypto adapters and domains (APQNs) to a guest through a vfio_ap matrix device
version_added: 0.1.0
description:
  - With O(state=present), takes the guest's APQNs (every adapter x every domain) from the host's
    default drivers, creates the guest's C(vfio_ap-passthrough) matrix mediated device and assigns the
    adapters, usage domains and control domains to it. Re-runs assign and unassign only the differences
    and give APQNs the matrix no longer has back to the host.
  - A queue stays with the host while its adapter is set in C(apmask) and its domain in C(aqmask). To free
    the guest's APQNs the module clears either the guest's adapters in C(apmask) or its domains in
    C(aqmask), whichever takes fewer other queues from the host, and never a choice that takes a queue
    of the host's default domain (C(ap_domain)). RV(also_leaving_host) lists the other queues that leave.
  - With O(state=absent), removes the matrix device and its persistent definition and gives its
    APQNs back to the host, except those another matrix device (active or defined) holds.
  - Persistence (O(persist=true)) writes the mdevctl definition C(/etc/mdevctl.d/matrix/<uuid>) (attributes
    in the order adapters, domains, control domains) and the masks as the udev rule
    C(/etc/udev/rules.d/41-ap.rules) in the form chzdev writes.
  - Refuses, before changing anything, APQNs that another matrix device holds (active, or defined with
    mdevctl), the host's default domain (C(ap_domain)), adapters or domains beyond the machine's maximum,
    adapters that do not exist and adapters older than CEX4; any change to a matrix device a running
    guest uses; and O(state=absent) for a matrix device a defined guest has as a hostdev.
  - When a step fails, the masks, the matrix device and the persistence files are returned to what they
    were before the run.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
options:
  guest:
    description:
      - The guest the matrix device is for. With no O(uuid), the matrix device's UUID is derived from the
        host and this name, so re-runs find the same device.
    type: str
    required: true
  uuid:
    description: The matrix device's UUID, instead of the derived one.
    type: str
  adapters:
    description:
      - Adapter (card) numbers, 0-255 and at most the machine's C(ap_max_adapter_id); integers, or strings
        in decimal or hex with C(0x) (V(0x0b)).
    type: list
    elements: raw
    default: []
  domains:
    description:
      - Usage domain numbers, 0-255 and at most the machine's C(ap_max_domain_id); integers, or strings in
        decimal or hex with C(0x) (V(0x47)).
    type: list
    elements: raw
    default: []
  control_domains:
    description: Control domain numbers, as O(domains). Control domains may be shared by several guests.
    type: list
    elements: raw
    default: []
  state:
    description: V(present) creates or updates the guest's matrix device; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description: Persist the matrix device (mdevctl) and the masks (udev rule).
    type: bool
    default: true
  autostart:
    description: Start the matrix device at boot (mdevctl C(start=auto)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports the steps it would take; changes nothing.
  diff_mode:
    support: full
    description: Masks and matrix before and after.
  idempotent:
    support: full
    description: A second run with the same options reports C(changed=false).
requirements:
  - Linux on IBM Z with the C(vfio_ap) module loaded and Crypto Express (CEX4 or later) adapters.
notes:
  - IBM advises against hot-plugging vfio-ap devices; define them in the guest and start it.
  - Guests with vfio-ap devices cannot be live-migrated.
seealso:
  - module: s390x.kvm.ap_info
  - name: Linux kernel documentation, vfio-ap
    description: Masks, matrix devices and their attributes.
    link: https://docs.kernel.org/arch/s390/vfio-ap.html
"""

EXAMPLES = r"""
- name: Give adapter 4, domain 7 to guest db1
  s390x.kvm.vfio_ap:
    guest: db1
    adapters: [4]
    domains: [7]
    control_domains: [7]
  register: crypto

- name: Remove it again
  s390x.kvm.vfio_ap:
    guest: db1
    state: absent
"""

RETURN = r"""
uuid:
  description: The matrix device's UUID.
  returned: always
  type: str
steps:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: str
matrix:
  description: The matrix device's adapters, domains and control domains after the run.
  returned: when state is present
  type: dict
also_leaving_host:
  description:
    - Queues (APQNs) not asked for that leave the host's default drivers too, because the masks
      work per adapter and per domain.
  returned: always
  type: list
  elements: str
  sample: ["03.0005"]
hostdev_xml:
  description: libvirt <hostdev> for the matrix device.
  returned: when state is present
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils.ap import parse_ids, parse_mask
from ansible_collections.s390x.kvm.plugins.module_utils.common import open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.libvirt_config import device_users
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import DeviceLock, VfioError, derive_mdev_uuid, normalize_uuid
from ansible_collections.s390x.kvm.plugins.module_utils.vfio_ap import MATRIX, Matrix, apqns

HOSTDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-ap'>\n"
           "  <source>\n    <address uuid='%s'/>\n  </source>\n</hostdev>")


def _host_int(fs, path):
    try:
        return int(fs.read(path, default=""), 0)
    except ValueError:
        return None


def refusals_for(fs, matrix, mdev_uuid, target):
    refusals = []
    max_adapter = _host_int(fs, "/sys/bus/ap/ap_max_adapter_id")
    max_domain = _host_int(fs, "/sys/bus/ap/ap_max_domain_id")
    for name, values, maximum in (("adapters", target["adapters"], max_adapter), ("domains", target["domains"], max_domain),
                                  ("control_domains", target["control_domains"], max_domain)):
        maximum = 255 if maximum is None else maximum   # AP ids are 8 bits (ap_bus.h AP_DEVICES/AP_DOMAINS)
        bad = [v for v in values if v > maximum]
        if bad:
            refusals.append("%s: %s out of range; this machine allows 0-%d" % (name, ", ".join(str(b) for b in bad), maximum))
    host_domain = matrix.host_domain()
    if host_domain is not None and host_domain in target["domains"]:
        refusals.append("domains: %d is the host's default AP domain (ap_domain); the host's crypto needs it" % host_domain)
    for adapter in target["adapters"]:
        hwtype = _host_int(fs, "/sys/bus/ap/devices/card%02x/hwtype" % adapter)
        if hwtype is None:
            refusals.append("adapters: card%02x does not exist on this host" % adapter)
        elif hwtype < 10:
            refusals.append("adapters: card%02x has hwtype %d; vfio_ap needs CEX4 (10) or later" % (adapter, hwtype))
    wanted = apqns(target["adapters"], target["domains"])
    for other, held in sorted(matrix.held_by_others(mdev_uuid).items()):
        clash = sorted(wanted & held)
        if clash:
            refusals.append("APQNs %s are held by matrix device %s" % (", ".join("%02x.%04x" % q for q in clash), other))
    return refusals


def predicted(before, steps, target):
    """The state after ``steps`` (check mode)."""
    masks = list(before["masks"])
    for key, _text, value in steps:
        if key in ("apmask", "aqmask"):
            masks[0 if key == "apmask" else 1] = value
    matrix = None if target is None else dict((k, target[k]) for k in ("adapters", "domains", "control_domains"))
    return {"masks": masks, "matrix": matrix}


def run(module):
    params = module.params
    if not params["guest"].strip():
        module.fail_json(msg="guest: give the name of the guest the matrix device is for")
    try:
        target = None
        if params["state"] == "present":
            target = dict((name, sorted(set(parse_ids(params[name], name))))
                          for name in ("adapters", "domains", "control_domains"))
            target.update(persist=params["persist"], autostart=params["autostart"])
    except ValueError as err:
        module.fail_json(msg=str(err))
    if target is not None and (not target["adapters"] or not target["domains"]):
        module.fail_json(msg="adapters and domains: give at least one of each for state=present")
    fs = open_host(module)
    if not fs.isdir("/sys/bus/ap"):
        module.fail_json(msg="no AP bus (%s/sys/bus/ap): not an IBM Z host, or the ap module is not loaded" % params["host_root"].rstrip("/"))
    if not fs.isdir(MATRIX):
        module.fail_json(msg="no vfio_ap matrix device (%s): load the vfio_ap module (modprobe vfio_ap)" % MATRIX)
    try:
        mdev_uuid = normalize_uuid(params["uuid"]) if params["uuid"] else derive_mdev_uuid(fs, "vfio_ap/" + params["guest"])
    except VfioError as err:
        module.fail_json(msg="uuid: %s" % err)
    matrix = Matrix(fs)
    refusals = refusals_for(fs, matrix, mdev_uuid, target) if target is not None else []
    # Removing an mdev a guest holds open blocks in the kernel until the guest lets go
    # (vfio_unregister_group_dev), and IBM advises against changing crypto under a running guest.
    guests = device_users(fs).get("mdev:" + mdev_uuid, [])
    running = [u["guest"] for u in guests if u["running"]]
    defined = [u["guest"] for u in guests if not u["running"]]
    if running and matrix.plan(mdev_uuid, target):
        refusals.append("matrix device %s is used by running guest %s; shut it down before changing its crypto"
                        % (mdev_uuid, ", ".join(running)))
    elif defined and target is None and (matrix.mdev(mdev_uuid) is not None or mdev_uuid in matrix.definitions()):
        refusals.append("matrix device %s is a hostdev of defined guest %s; it could not start without it"
                        % (mdev_uuid, ", ".join(defined)))
    if refusals:
        module.fail_json(msg="refusing to change anything: " + " | ".join(refusals), refusals=refusals)
    lock = DeviceLock(fs, "vfio_ap-matrix") if not module.check_mode else None
    if lock:
        lock.__enter__()
    try:
        before = {"masks": list(matrix.masks()), "matrix": matrix.mdev(mdev_uuid)}
        saved = matrix.snapshot(mdev_uuid)
        plan = matrix.plan(mdev_uuid, target)
        steps = [text for _key, text, _value in plan]
        if plan and not module.check_mode:
            try:
                matrix.apply(mdev_uuid, plan)
            except (VfioError, HostAccessError) as err:
                undo = "rolled back"
                try:
                    matrix.restore(mdev_uuid, saved)
                except (VfioError, HostAccessError) as undo_err:
                    undo = "not rolled back"
                    module.warn("roll-back failed: %s" % undo_err)
                module.fail_json(msg="%s (%s)" % (err, undo), uuid=mdev_uuid, steps=steps)
        after = predicted(before, plan, target) if module.check_mode else {"masks": list(matrix.masks()), "matrix": matrix.mdev(mdev_uuid)}
    finally:
        if lock:
            lock.__exit__(None, None, None)
    # The masks work on whole adapters and whole domains (a queue stays with the host only while
    # its adapter is in apmask AND its domain in aqmask): say which other queues leave the host.
    host_before = apqns(parse_mask(before["masks"][0]), parse_mask(before["masks"][1]))
    host_after = apqns(parse_mask(after["masks"][0]), parse_mask(after["masks"][1]))
    wanted = apqns(target["adapters"], target["domains"]) if target else set()
    extra = sorted("%02x.%04x" % q for q in (matrix.queues() & host_before) - host_after - wanted)
    if extra:
        module.warn("these queues also leave the host's default drivers (masks are per adapter and per domain): %s"
                    % ", ".join(extra))
    result = dict(changed=bool(plan), uuid=mdev_uuid, steps=steps, also_leaving_host=extra)
    if target is not None:
        result["matrix"] = after["matrix"]
        result["hostdev_xml"] = HOSTDEV % mdev_uuid
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main():
    argument_spec = dict(
        guest=dict(type="str", required=True),
        uuid=dict(type="str"),
        adapters=dict(type="list", elements="raw", default=[]),
        domains=dict(type="list", elements="raw", default=[]),
        control_domains=dict(type="list", elements="raw", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        persist=dict(type="bool", default=True),
        autostart=dict(type="bool", default=True),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
