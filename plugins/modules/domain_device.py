#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain_device
short_description: Attach devices to, or detach them from, a KVM guest on IBM Z (hotplug with the guest's acknowledgement)
version_added: 0.3.0
description:
  - Attaches (O(state=present)) or detaches (O(state=absent)) one or more devices, given as libvirt device XML or as the
    P(s390x.kvm.guest#role) role's entries, to or
    from the running guest (O(live)) and its persistent definition (O(config)).
  - A live detach ends only when the guest has acknowledged it - libvirt's C(DEVICE_REMOVED) event. The guest
    refusing (C(DEVICE_REMOVAL_FAILED)) or not answering within O(wait_timeout) fails the task, naming the device and
    what the guest did; the device is then still attached. A live attach waits for C(DEVICE_ADDED).
  - Idempotent by device identity - the disk's target, the interface's MAC, the host device's source (mdev UUID, PCI
    or SCSI address), the filesystem's tag, else the device's guest address (CCW devno, zPCI uid). A device that is
    already attached (or already gone) is left alone. A device without any identity is refused, since attaching it
    again would add a second one.
  - Devices are handled in the order given when attaching and in reverse order when detaching; a failure stops the
    task and reports what was done before it.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.libvirt
  - s390x.kvm.libvirt_wait
  - s390x.kvm.attributes.actiongroup_libvirt
options:
  name:
    description: Name of the guest (libvirt domain).
    type: str
    required: true
  xml:
    description:
      - The devices, one libvirt device XML document each (C(<disk>), C(<interface>), C(<hostdev>), C(<filesystem>),
        C(<controller>), ...), for example the C(hostdev_xml) that M(s390x.kvm.vfio_ccw) returns.
    type: list
    elements: str
    default: []
  devices:
    description:
      - The devices as entries of the P(s390x.kvm.guest#role) role, each with C(type) V(disk) (a C(guest_disks) entry),
        V(interface) (C(guest_interfaces)), V(filesystem) (C(guest_filesystems)) or V(hostdev) (C(guest_hostdevs)).
      - They are validated and rendered on the controller with the role's own model and templates, against the guest's
        current XML, so they get the MAC address and CCW device number the role would give them and never a device
        number the guest already uses. Errors name the entry (C(devices[1].devno)).
      - Handled after O(xml) when both are given.
    type: list
    elements: dict
    default: []
  state:
    description: V(present) attaches what is missing; V(absent) detaches what is there.
    type: str
    choices: [present, absent]
    default: present
  live:
    description: Change the running guest (hotplug). Skipped, with a note in RV(devices), when the guest does not run.
    type: bool
    default: true
  config:
    description: Change the persistent definition too (takes effect at the next start). Skipped for a transient guest.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Nothing is attached or detached; RV(devices) and the diff say what a real run would do.
  diff_mode:
    support: full
    description: The device keys of the running guest and of the definition, before and after.
  idempotent:
    support: full
    description: A device already attached (or already gone) is left alone; a second run reports C(changed=false).
notes:
  - A removal that the guest has not acknowledged within O(wait_timeout) stays pending in QEMU; the device leaves the
    guest when the guest answers. zPCI devices need the guest's kernel to let them go (a paused guest never does); CCW
    devices are removed by the host at once.
  - Detaching from the definition alone (O(live=false)) is immediate.
seealso:
  - module: s390x.kvm.migrate
  - module: s390x.kvm.vfio_ccw
  - name: libvirt, virDomainDetachDeviceFlags
    description: Why a live detach is a request the guest completes.
    link: https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainDetachDeviceFlags
"""

EXAMPLES = r"""
- name: Hand a prepared DASD to web1 (running and persistent)
  s390x.kvm.domain_device:
    name: web1
    xml:
      - "{{ dasd.devices[0].hostdev_xml }}"

- name: Give web1 a second DASD and a virtio-fs share, described as the guest role describes them
  s390x.kvm.domain_device:
    name: web1
    devices:
      - {type: disk, name: vdb, kind: dasd, bus_id: 0.0.7b01}
      - {type: filesystem, tag: data, source: /srv/data}

- name: Take a tape drive away before a migration, waiting up to 30 s for the guest
  s390x.kvm.domain_device:
    name: web1
    state: absent
    live: true
    config: false
    wait_timeout: 30
    xml:
      - |
        <hostdev mode='subsystem' type='scsi'>
          <source><adapter name='scsi_host0'/><address bus='0' target='0' unit='1'/></source>
        </hostdev>
"""

RETURN = r"""
devices:
  description:
    - Per device, its key and what happened to the running guest (C(live)) and the definition (C(config)) -
      V(attached), V(detached), V(present) (already there), V(absent) (already gone), V(skipped) (the guest does not
      run, or is transient), V(failed) - plus the wall time of libvirt's confirmation (C(confirmed_at), UTC).
  returned: always
  type: list
  elements: dict
  sample: [{key: "hostdev[mdev:8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f]", live: detached, config: detached,
            confirmed_at: "2026-12-07T10:01:02.345Z"}]
seconds:
  description: Time spent per action.
  returned: always
  type: dict
libvirt_error:
  description: The libvirt error behind a failure (code, code_name, domain, message).
  returned: on failure from libvirt
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import device_ops


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        xml=dict(type="list", elements="str", default=[]),
        devices=dict(type="list", elements="dict", default=[]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        live=dict(type="bool", default=True),
        config=dict(type="bool", default=True),
    )
    client = lc.LibvirtModule(AnsibleModule, argument_spec, wait=True, supports_check_mode=True)
    module = client.module
    if module.params["devices"]:
        module.fail_json(msg="devices are rendered on the controller by the s390x.kvm.domain_device action plugin; "
                             "call the module by its full name (s390x.kvm.domain_device) so it runs")
    if not module.params["xml"]:
        module.fail_json(msg="give the devices in xml or devices")
    try:
        wanted = device_ops.wanted_devices(module.params["xml"])
    except (domain_xml.DomainXMLError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    job = device_ops.DeviceChange(client, wanted, module.check_mode, module._diff)
    client.run(job.run, job.result)


if __name__ == "__main__":
    main()
