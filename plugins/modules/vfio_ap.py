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
  - s390x.kvm.vfio
  - s390x.kvm.attributes.actiongroup_host
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

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.ap import MATRIX, Matrix, matrix_refusals, matrix_target, queues_leaving
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import BatchFailed, run_batch
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError, derive_mdev_uuid, normalize_uuid
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.hostdev import vfio_ap_hostdev
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.options import check_timeouts, vfio_spec
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import open_host, run_host_module


def run(module):
    params = module.params
    if not params["guest"].strip():
        raise VfioError("guest: give the name of the guest the matrix device is for")
    target = matrix_target(params)
    check_timeouts(params)
    fs = open_host(module)
    if not fs.isdir("/sys/bus/ap"):
        raise VfioError("no AP bus (%s/sys/bus/ap): not an IBM Z host, or the ap module is not loaded" % params["host_root"].rstrip("/"))
    if not fs.isdir(MATRIX):
        raise VfioError("no vfio_ap matrix device (%s): load the vfio_ap module (modprobe vfio_ap)" % MATRIX)
    try:
        mdev_uuid = normalize_uuid(params["uuid"]) if params["uuid"] else derive_mdev_uuid(fs, "vfio_ap/" + params["guest"])
    except VfioError as err:
        raise VfioError("uuid: %s" % err)
    matrix = Matrix(fs, settle_timeout=params["settle_timeout"])
    refusals = matrix_refusals(matrix, mdev_uuid, target)
    if refusals:
        raise VfioError("refusing to change anything: " + " | ".join(refusals), refusals=refusals)
    try:
        entry, = run_batch(matrix, [mdev_uuid], {mdev_uuid: target}, module.check_mode, params["lock_timeout"], module.warn)
    except BatchFailed as failure:
        raise VfioError("%s (%s)" % (failure.error, "rolled back" if failure.rolled_back else "not rolled back"),
                        uuid=mdev_uuid, steps=failure.steps)
    extra = queues_leaving(matrix, entry.before, entry.after, target)
    if extra:
        module.warn("these queues also leave the host's default drivers (masks are per adapter and per domain): %s"
                    % ", ".join(extra))
    result = dict(changed=entry.changed, uuid=mdev_uuid, steps=entry.step_texts, also_leaving_host=extra)
    if target is not None:
        result["matrix"] = entry.after["matrix"]
        result["hostdev_xml"] = vfio_ap_hostdev(mdev_uuid)
    if module._diff:
        result["diff"] = {"before": entry.before, "after": entry.after}
    return result


def main():
    argument_spec = vfio_spec(
        guest=dict(type="str", required=True),
        uuid=dict(type="str"),
        adapters=dict(type="list", elements="raw", default=[]),
        domains=dict(type="list", elements="raw", default=[]),
        control_domains=dict(type="list", elements="raw", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        autostart=dict(type="bool", default=True),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(VfioError,))


if __name__ == "__main__":
    main()
