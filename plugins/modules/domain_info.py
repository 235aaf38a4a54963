#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain_info
short_description: Report libvirt domains with their devices, pass-through devices and migration blockers
version_added: 0.2.0
description:
  - Reports each libvirt domain (or the named ones) with its run state, devices and what backs them
    (image file, DASD, SCSI multipath or NVMe block device, macvtap/bridge/Open vSwitch, virtio-fs
    directory), the guest-visible CCW bus ID of each virtio CCW device, pass-through devices
    (vfio-ccw, vfio-ap, vfio-pci with zPCI uid/fid, SCSI tape), and the migration blockers.
  - Migration blockers follow IBM's live-migration preconditions (no vfio_ap device; CCW and PCI
    pass-through devices, tapes detached; virtio-fs unmounted; storage reachable from the destination)
    and QEMU's and libvirt's behaviour on s390x (every zPCI device, emulated or passed through, is
    non-migratable in QEMU 7.2; vhost-scsi is non-migratable; a mounted virtio-9p export blocks
    migration; libvirt refuses a writable disk image on a file system that is not shared).
  - Disk images are judged only when O(uri) is local (the module reads this host's mounts). An image
    on NFS, GFS2, OCFS2, CephFS, GPFS, CIFS or GlusterFS is shared, anything else is a local disk.
    DASD, FCP multipath and other block devices count as reachable from the destination.
  - Optionally reports the host's capabilities for s390x guests (whether KVM is available).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.libvirt
  - s390x.kvm.attributes.info_module
  - s390x.kvm.attributes.actiongroup_libvirt
options:
  names:
    description:
      - Report only these domains. A name that is not defined is reported in RV(missing), not as an error.
    type: list
    elements: str
    default: []
    aliases: [name]
  live:
    description:
      - Describe running domains from their live XML (with aliases, tap interfaces, pty paths); when false,
        from the persistent definition.
    type: bool
    default: true
  xml:
    description:
      - Include the XML each domain was described from.
    type: bool
    default: false
  capabilities:
    description:
      - Also report what the host offers s390x guests (RV(host)).
    type: bool
    default: false
seealso:
  - module: s390x.kvm.domain
  - name: IBM KVM on Z, live virtual server migration
    description: The preconditions the migration blockers come from.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=ibmz-live-guest-migration
"""

EXAMPLES = r"""
- name: One guest
  s390x.kvm.domain_info:
    names: [web1]
  register: info

- name: Guests that cannot migrate, and why
  ansible.builtin.debug:
    msg: "{{ info.domains | selectattr('migration_blockers') | map(attribute='name') | list }}"

- name: Is KVM available for s390x guests?
  s390x.kvm.domain_info:
    capabilities: true
    names: []
  register: host
"""

RETURN = r"""
domains:
  description: The domains, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: "Domain name.", type: str, sample: web1}
    uuid: {description: "Domain UUID.", type: str}
    state: {description: "Run state (running, paused, shut_off, crashed, ...).", type: str, sample: running}
    state_reason: {description: "libvirt's reason number for the state.", type: int}
    persistent: {description: "Whether the domain has a persistent definition.", type: bool}
    autostart: {description: "Whether libvirtd starts it.", type: bool}
    type: {description: "Domain type (kvm or qemu).", type: str, sample: kvm}
    arch: {description: "Guest architecture.", type: str, sample: s390x}
    machine: {description: "Machine type as libvirt stores it.", type: str, sample: s390-ccw-virtio-7.2}
    memory_kib: {description: "Memory in KiB.", type: int}
    vcpus: {description: "Virtual CPUs.", type: int}
    cpu: {description: "CPU mode and model.", type: dict}
    devices:
      description: >-
        Devices with kind, key (stable identity such as disk[vda] or interface[52:54:00:..]), type,
        backing and backing_kind (image, dasd, scsi, nvme, block, macvtap, bridge, openvswitch, ...),
        target, bus, driver, mac, model, tag, boot_order, address_type, devno and guest_bus_id for CCW
        devices, zpci (uid, fid) for zPCI devices, alias when live.
      type: list
      elements: dict
    passthrough:
      description: Pass-through devices (type mdev/pci/scsi, model vfio-ccw/vfio-ap/vfio-pci/scsi, source, devno, zpci).
      type: list
      elements: dict
    migration_blockers:
      description: What keeps the domain from migrating live (device key and reason). Empty when none.
      type: list
      elements: dict
    migratable: {description: "Whether RV(domains[].migration_blockers) is empty.", type: bool}
    xml: {description: "The XML described (with O(xml=true)).", type: str}
missing:
  description: Names asked for that are not defined.
  returned: always
  type: list
  elements: str
host:
  description: Host facts for s390x guests (with O(capabilities=true)).
  returned: when capabilities is true
  type: dict
  contains:
    arch: {description: "Host architecture.", type: str, sample: s390x}
    libvirt_version: {description: "libvirt version.", type: str, sample: 9.0.0}
    hypervisor_version: {description: "QEMU version (null when libvirt cannot tell).", type: str, sample: 7.2.0}
    s390x_domain_types: {description: "Domain types offered for s390x guests.", type: list, elements: str, sample: [qemu, kvm]}
    s390x_machines: {description: "s390x machine types (with canonical names).", type: list, elements: str}
    kvm_available: {description: "Whether s390x guests can use KVM here.", type: bool}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops as ops


def gather(client):
    params = client.params
    conn = client.connect(readonly=True)
    try:
        qemu_version = conn.getVersion()
    except lc.libvirt.libvirtError:
        qemu_version = None
    result = {"changed": False, "missing": []}
    if params["names"]:
        doms = []
        for name in params["names"]:
            dom = lc.lookup_domain(conn, name)
            if dom is None:
                result["missing"].append(name)
            else:
                doms.append(dom)
    else:
        doms = conn.listAllDomains(0)
    domains = []
    for dom in doms:
        try:
            domains.append(ops.describe(dom, params["live"], params["xml"], qemu_version,
                                        judge_local_disks=lc.is_local_uri(params["uri"])))
        except lc.libvirt.libvirtError as exc:
            if lc.is_error(exc, "VIR_ERR_NO_DOMAIN"):
                continue        # undefined while we looked
            raise lc.failure("cannot describe domain %s" % dom.name(), exc)
    result["domains"] = sorted(domains, key=lambda d: d["name"])
    if params["capabilities"]:
        result["host"] = ops.host_capabilities(conn)
    return result


def main():
    argument_spec = dict(
        names=dict(type="list", elements="str", default=[], aliases=["name"]),
        live=dict(type="bool", default=True),
        xml=dict(type="bool", default=False),
        capabilities=dict(type="bool", default=False),
    )
    client = lc.LibvirtModule(AnsibleModule, argument_spec, supports_check_mode=True)
    client.run(lambda: gather(client))


if __name__ == "__main__":
    main()
