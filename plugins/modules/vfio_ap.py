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
  - With O(state=present), takes the guest's adapters and domains out of the host's C(apmask) and
    C(aqmask) (the host keeps everything else), creates the guest's C(vfio_ap-passthrough) matrix
    mediated device and assigns the adapters, usage domains and control domains to it. Re-runs
    assign and unassign only the differences.
  - With O(state=absent), removes the matrix device and its persistent definition and gives its
    adapters and domains back to the host, except those another matrix device still uses.
  - Persistence (O(persist=true)) writes the mdevctl definition C(/etc/mdevctl.d/matrix/<uuid>) (attributes
    in the order adapters, domains, control domains) and the masks as the udev rule
    C(/etc/udev/rules.d/41-ap.rules) in the form chzdev writes.
  - Refuses, before changing anything, APQNs that another matrix device holds, the host's default
    domain (C(ap_domain)), adapters or domains beyond the machine's maximum, and adapters older than CEX4.
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
    description: Adapter (card) numbers, 0-255.
    type: list
    elements: int
    default: []
  domains:
    description: Usage domain numbers, 0-255.
    type: list
    elements: int
    default: []
  control_domains:
    description: Control domain numbers, 0-255.
    type: list
    elements: int
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

from ansible_collections.s390x.kvm.plugins.module_utils.ap import parse_mask
from ansible_collections.s390x.kvm.plugins.module_utils.common import open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import DeviceLock, VfioError, derive_mdev_uuid, normalize_uuid
from ansible_collections.s390x.kvm.plugins.module_utils.vfio_ap import MATRIX, Matrix

HOSTDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-ap'>\n"
           "  <source>\n    <address uuid='%s'/>\n  </source>\n</hostdev>")


def refusals_for(module, fs, matrix, mdev_uuid, target):
    refusals = []
    max_adapter = int(fs.read("/sys/bus/ap/ap_max_adapter_id", default="255") or 255)
    max_domain = int(fs.read("/sys/bus/ap/ap_max_domain_id", default="255") or 255)
    for name, values, maximum in (("adapters", target["adapters"], max_adapter), ("domains", target["domains"], max_domain),
                                  ("control_domains", target["control_domains"], max_domain)):
        bad = [v for v in values if not 0 <= v <= maximum]
        if bad:
            refusals.append("%s: %s out of range; this machine allows 0-%d" % (name, ", ".join(str(b) for b in bad), maximum))
    host_domain = fs.read("/sys/bus/ap/ap_domain", default="")
    if host_domain and int(host_domain) in target["domains"]:
        refusals.append("domains: %s is the host's default AP domain (ap_domain); the host's crypto needs it" % host_domain)
    for adapter in target["adapters"]:
        hwtype = fs.read("/sys/bus/ap/devices/card%02x/hwtype" % adapter, default="")
        if not hwtype:
            refusals.append("adapters: card%02x does not exist on this host" % adapter)
        elif int(hwtype) < 10:
            refusals.append("adapters: card%02x has hwtype %s; vfio_ap needs CEX4 (10) or later" % (adapter, hwtype))
    for other, (adapters, domains) in matrix.other_mdevs(mdev_uuid).items():
        clash = ["%02x.%04x" % (a, d) for a in target["adapters"] for d in target["domains"] if a in adapters and d in domains]
        if clash:
            refusals.append("APQNs %s are held by matrix device %s" % (", ".join(clash), other))
    return refusals


def run(module):
    params = module.params
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
    target = None
    if params["state"] == "present":
        target = {"adapters": sorted(set(params["adapters"])), "domains": sorted(set(params["domains"])),
                  "control_domains": sorted(set(params["control_domains"])), "persist": params["persist"],
                  "autostart": params["autostart"]}
        if not target["adapters"] or not target["domains"]:
            module.fail_json(msg="adapters and domains: give at least one of each for state=present")
        refusals = refusals_for(module, fs, matrix, mdev_uuid, target)
        if refusals:
            module.fail_json(msg="refusing to change anything: " + " | ".join(refusals), refusals=refusals)
    before = {"masks": list(matrix.masks()), "matrix": matrix.mdev(mdev_uuid)}
    extra = []
    if target is not None:
        # The masks work on whole adapters and whole domains (a queue stays with the host only while
        # its adapter is in apmask AND its domain in aqmask): say which other queues leave the host.
        new_apmask, new_aqmask = matrix.masks_for(before["masks"][0], before["masks"][1], target)
        host_before = set((a, d) for a in parse_mask(before["masks"][0]) for d in parse_mask(before["masks"][1]))
        host_after = set((a, d) for a in parse_mask(new_apmask) for d in parse_mask(new_aqmask))
        queues = set(tuple(int(x, 16) for x in q.split(".")) for q in fs.listdir("/sys/bus/ap/devices") if "." in q)
        wanted = set((a, d) for a in target["adapters"] for d in target["domains"])
        extra = sorted("%02x.%04x" % q for q in (queues & host_before) - host_after - wanted)
        if extra:
            module.warn("these queues also leave the host's default drivers (masks are per adapter and per domain): %s"
                        % ", ".join(extra))
    steps = [text for _key, text in matrix.plan(mdev_uuid, target)]
    if steps and not module.check_mode:
        with DeviceLock(fs, "vfio_ap-matrix"):
            try:
                matrix.apply(mdev_uuid, target)
            except (VfioError, HostAccessError) as err:
                # Undo as far as possible: return to the matrix and masks of before.
                undo = "not undone"
                try:
                    if before["matrix"] is None:
                        matrix.apply(mdev_uuid, None)
                    else:
                        matrix.apply(mdev_uuid, dict(before["matrix"], persist=False))
                    undo = "rolled back"
                except (VfioError, HostAccessError) as undo_err:
                    module.warn("roll-back failed: %s" % undo_err)
                module.fail_json(msg="%s (%s)" % (err, undo), uuid=mdev_uuid)
    after = {"masks": list(matrix.masks()), "matrix": matrix.mdev(mdev_uuid)}
    result = dict(changed=bool(steps), uuid=mdev_uuid, steps=steps, also_leaving_host=extra)
    if target is not None:
        result["matrix"] = after["matrix"] if not module.check_mode else dict((k, target[k]) for k in ("adapters", "domains", "control_domains"))
        result["hostdev_xml"] = HOSTDEV % mdev_uuid
    if module._diff:
        result["diff"] = {"before": before, "after": after if not module.check_mode else {"steps": steps}}
    return result


def main():
    argument_spec = dict(
        guest=dict(type="str", required=True),
        uuid=dict(type="str"),
        adapters=dict(type="list", elements="int", default=[]),
        domains=dict(type="list", elements="int", default=[]),
        control_domains=dict(type="list", elements="int", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        persist=dict(type="bool", default=True),
        autostart=dict(type="bool", default=True),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
