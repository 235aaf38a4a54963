#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain
short_description: Define, start, stop and remove libvirt domains (KVM guests on IBM Z)
version_added: 0.2.0
description:
  - Makes a libvirt domain match a desired definition (O(xml)) and run state (O(state)).
  - Idempotent by B(semantic) comparison with what libvirt stores, not by text. libvirt's
    defaults (clock, C(on_*), C(currentMemory), emulator, C(<panic model='s390'/>), C(<audio>),
    memballoon, pci-root controller), the machine alias expanded to a versioned machine
    (C(s390-ccw-virtio) -> C(s390-ccw-virtio-7.2)), memory converted to KiB, a pty console
    turned into an SCLP serial console, assigned MAC addresses and CCW device numbers, device
    reordering and live-only data (aliases, pty paths, tap names) are not changes. Everything
    the desired XML states is compared, and so is everything a user can remove (devices, and
    user-only elements such as C(<memoryBacking>), C(<iothreads>), C(<boot>), C(<readonly/>)).
  - The domain is re-defined only when the comparison finds a difference; C(--diff) shows it
    as a unified diff of the parts that differ, and RV(changes) lists each changed field.
  - MAC addresses, CCW device numbers and the UUID that libvirt generated are kept on a
    re-define when the desired XML leaves them open, so guests keep their device identities; so are
    the device numbers of devices libvirt adds by itself (balloon, SCSI HBA, virtio-serial bus).
  - Devices the desired XML leaves without an identity (an interface without MAC) are paired with the
    stored device of their kind they differ from least, so removing one keeps the others' MACs.
  - Check mode defines, starts and stops nothing and reports what a real run would change.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.libvirt
  - s390x.kvm.attributes.actiongroup_libvirt
options:
  name:
    description:
      - Name of the domain. Required unless O(xml) is given (then the XML's C(<name>) is used and
        must match O(name) when both are given).
    type: str
  xml:
    description:
      - The desired domain XML (for example from the P(s390x.kvm.guest#role) role's templates, or
        C(lookup('template', ...))).
      - Without it the module manages the run state of an existing domain only.
    type: str
  state:
    description:
      - V(present) defines (or updates) the domain and leaves its run state alone.
      - V(running) also starts it (or resumes it when paused).
      - V(paused) also starts it paused, or suspends it when it runs.
      - V(shut_off) shuts it down gracefully, waiting O(shutdown_timeout) seconds (see O(destroy_after_timeout)).
      - V(destroyed) stops it at once (the equivalent of pulling the plug).
      - V(absent) stops it at once and undefines it (see O(remove_storage) and O(nvram)); managed save
        images and snapshot/checkpoint metadata are removed with it.
    type: str
    choices: [present, absent, running, shut_off, destroyed, paused]
    default: present
  autostart:
    description:
      - Whether libvirtd starts the domain when it starts. Left alone when not given.
    type: bool
  shutdown_timeout:
    description:
      - Seconds to wait for a graceful shutdown (O(state=shut_off)).
    type: int
    default: 120
  destroy_after_timeout:
    description:
      - When the guest has not shut down after O(shutdown_timeout) seconds, destroy it instead of failing.
    type: bool
    default: false
  validate:
    description:
      - Ask libvirt to validate the XML against its schema when defining (C(VIR_DOMAIN_DEFINE_VALIDATE)).
    type: bool
    default: true
  remove_storage:
    description:
      - With O(state=absent), also delete the domain's writable disk images. Images in a libvirt storage
        pool are deleted through the pool; files outside any pool are removed only when the connection is
        local. Read-only and shareable disks, CD-ROMs and block devices are never removed.
    type: bool
    default: false
  nvram:
    description:
      - With O(state=absent), whether to remove or keep the domain's NVRAM file.
    type: str
    choices: [remove, keep]
    default: remove
attributes:
  check_mode:
    support: full
    description: Nothing is defined, started or stopped; the result (C(changed), diff, RV(changes)) is what a real run reports.
  diff_mode:
    support: full
    description: Unified diff of the semantic difference between libvirt's stored definition and the desired one, plus the run state.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
notes:
  - The comparison is against the persistent (inactive) definition. When a running domain's definition
    changes, the new definition takes effect at the next start; RV(restart_needed) says so, on this run and
    every later one until the domain is started anew (it compares the running domain with its definition,
    less what only a running domain has). Use M(s390x.kvm.domain_device) for live device changes.
  - A machine alias (V(s390-ccw-virtio)) matches the versioned machine libvirt stored for it, whatever the
    distribution calls it (V(s390-ccw-virtio-rhel9.6.0), V(s390-ccw-virtio-noble), V(s390-ccw-virtio-10.0));
    the host's capabilities say what the alias stands for. libvirt never moves a guest to a newer version by
    itself, and neither does this module; name the version to move it. A guest pinned to a versioned machine
    stays on it.
  - What libvirt fills in by itself is kept and is no change, for example the C(<backend type='passt'/>) it gives
    a C(type='user') interface when QEMU has no SLIRP, and the Open vSwitch C(interfaceid) (and 802.1Qbg
    C(instanceid)) it generates, which a re-define keeps.
  - Graphics passwords are not compared (libvirt hides them without C(VIR_DOMAIN_XML_SECURE)).
  - C(<metadata>) of namespaces the desired XML does not write (set by other applications with
    C(virDomainSetMetadata)) is neither compared nor removed by a re-define.
  - Elements and attributes that libvirt fills in by default and that the desired XML does not mention
    keep libvirt's value (state them to compare them).
seealso:
  - module: s390x.kvm.domain_info
  - name: IBM KVM on Z, domain configuration-XML
    description: The XML elements of a KVM virtual server on IBM Z.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=xml-domain-configuration
  - name: libvirt domain XML format
    description: Reference of every element compared here.
    link: https://libvirt.org/formatdomain.html
"""

EXAMPLES = r"""
- name: Define a guest from a template and start it
  s390x.kvm.domain:
    xml: "{{ lookup('ansible.builtin.template', 'guest.xml.j2') }}"
    state: running

- name: Shut a guest down, pulling the plug after 60 s
  s390x.kvm.domain:
    name: web1
    state: shut_off
    shutdown_timeout: 60
    destroy_after_timeout: true

- name: Remove a guest and its disk images
  s390x.kvm.domain:
    name: web1
    state: absent
    remove_storage: true

- name: Against another host's libvirtd
  s390x.kvm.domain:
    uri: qemu+ssh://root@kvmhost2/system
    name: web1
    state: running
"""

RETURN = r"""
name:
  description: Domain name.
  returned: always
  type: str
  sample: web1
uuid:
  description: Domain UUID (null when the domain does not exist, or would be new in check mode).
  returned: always
  type: str
  sample: 5a390b1e-0000-4000-8000-000000000001
state:
  description: Run state after the task (V(absent) when not defined; in check mode, the state a real run would reach).
  returned: always
  type: str
  sample: running
previous_state:
  description: Run state before the task (V(absent) when not defined).
  returned: always
  type: str
  sample: shut_off
defined:
  description: Whether the task defined or re-defined the domain (or would, in check mode).
  returned: always
  type: bool
changes:
  description: Each field of the definition that differs, as a path with the stored and desired values.
  returned: always
  type: list
  elements: dict
  sample:
    - path: "domain/devices/disk[vdb]/driver/@cache"
      before: none
      after: writeback
actions:
  description: What the task did (or would do, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [define, start]
restart_needed:
  description: Whether the domain runs with an older definition than the one now stored (changed by this run or
    an earlier one); false once it was started with the stored definition, and for a domain that does not run.
  returned: always
  type: bool
shutdown:
  description: How a shutdown ended (V(graceful), V(destroyed) after the timeout), when one was done.
  returned: when the task shut the domain down
  type: str
  sample: graceful
removed_storage:
  description: Disk images deleted with O(remove_storage=true).
  returned: when state is absent
  type: list
  elements: str
kept_storage:
  description: Writable disk images O(remove_storage=true) could not delete, with the reason.
  returned: when state is absent
  type: list
  elements: str
seconds:
  description: Time spent per action.
  returned: always
  type: dict
  sample: {define: 0.02, start: 0.35}
libvirt_error:
  description: The libvirt error behind a failure (code, code_name such as V(VIR_ERR_OPERATION_INVALID), domain, message).
  returned: on failure from libvirt
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.domain_lifecycle import DomainManager


def main():
    argument_spec = dict(
        name=dict(type="str"),
        xml=dict(type="str"),
        state=dict(type="str", default="present",
                   choices=["present", "absent", "running", "shut_off", "destroyed", "paused"]),
        autostart=dict(type="bool"),
        shutdown_timeout=dict(type="int", default=120),
        destroy_after_timeout=dict(type="bool", default=False),
        validate=dict(type="bool", default=True),
        remove_storage=dict(type="bool", default=False),
        nvram=dict(type="str", default="remove", choices=["remove", "keep"]),
    )
    client = lc.LibvirtModule(AnsibleModule, argument_spec, supports_check_mode=True,
                              required_one_of=[("name", "xml")])
    module = client.module
    if module.params["shutdown_timeout"] < 0:
        module.fail_json(msg="shutdown_timeout must be 0 or more, got %s" % module.params["shutdown_timeout"])
    manager = DomainManager(module)

    def partial():
        result = dict(manager.result)
        result.update(name=getattr(manager, "name", module.params["name"]), actions=manager.actions)
        return result

    client.run(manager.run, partial)


if __name__ == "__main__":
    main()
