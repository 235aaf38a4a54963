#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_info
short_description: What a KVM host on IBM Z is and holds - machine, LPAR, CPUs, memory, KVM, libvirt and its guests
version_added: 0.3.0
description:
  - Reads what an operator and a placement decision need to know of a KVM host on IBM Z, and changes nothing.
  - The machine (manufacturer, type with its name - V(3931) is an IBM z16, V(9175) an IBM z17 -, model, model capacity,
    sequence code, plant) and the levels it runs in (LPAR number, name and CPUs; for a guest, each level of
    virtualization with its control program) from C(/proc/sysinfo), as the kernel writes it
    (C(arch/s390/kernel/sysinfo.c)).
  - CPUs (online, possible, configured and standby, SMT), memory and hugepages (C(/proc/meminfo)), the kernel release,
    whether KVM guests can run (C(/dev/kvm) and the C(sie) CPU feature), and the virtiofsd libvirt would start.
  - With O(uri), libvirt's facts too - its version and QEMU's, the s390x machine types, the host CPU model libvirt
    offers guests (C(host-model)), and the guests it knows with the memory and vCPUs they hold (totals of the running
    ones).
  - On a machine that is not an s390x host (no C(/proc/sysinfo)) it returns RV(s390x_host=false) with what it could read
    (memory, CPUs, libvirt), or fails with O(require_s390x=true).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.attributes.INFO_MODULE
  - s390x.kvm.attributes.REQUIRE_S390X
  - s390x.kvm.attributes.actiongroup_host
options:
  uri:
    description:
      - libvirt connection URI. Without it no libvirt facts are read (and libvirt-python is not needed).
    type: str
    aliases: [libvirt_uri]
requirements:
  - libvirt-python (only with O(uri))
seealso:
  - module: s390x.kvm.domain_info
  - name: Linux kernel, arch/s390/kernel/sysinfo.c
    description: How /proc/sysinfo is written.
    link: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/arch/s390/kernel/sysinfo.c
"""

EXAMPLES = r"""
- name: Facts for a placement decision
  s390x.kvm.host_info:
    uri: qemu:///system
  register: host

- name: Refuse hosts without KVM
  ansible.builtin.assert:
    that: host.kvm.available
    fail_msg: "{{ inventory_hostname }}: {{ host.kvm.reason }}"
"""

RETURN = r"""
s390x_host:
  description: Whether the host is an s390x host (it has /proc/sysinfo).
  returned: always
  type: bool
msg:
  description: Why the result has no machine facts (not an s390x host).
  returned: when s390x_host is false
  type: str
machine:
  description: Manufacturer, type, type_name, model, model_capacity, sequence_code, plant, cpus_total, cpus_configured, cpus_standby, cpus_reserved.
  returned: when s390x_host
  type: dict
  sample: {manufacturer: IBM, type: "3931", type_name: IBM z16, model: A01, model_capacity: "710", cpus_total: 200}
lpar:
  description: The LPAR - number, name, characteristics, cpus_total/configured/standby/reserved/dedicated/shared (null when sysinfo has none).
  returned: when s390x_host
  type: dict
levels:
  description: Levels of virtualization this Linux runs in, innermost (level 0) first - name, control_program, cpus_*, extended_name, uuid.
  returned: when s390x_host
  type: list
  elements: dict
runs_in:
  description: V(lpar) (Linux in an LPAR), V(kvm) (a KVM guest), V(zvm) (a z/VM guest), or the control program's name.
  returned: when s390x_host
  type: str
cpus:
  description: online, possible, configured, standby, smt (active, control, threads_per_core).
  returned: always
  type: dict
memory:
  description: total_kib, free_kib, available_kib, hugepages (size_kib, total, free).
  returned: always
  type: dict
kvm:
  description: available, dev_kvm, sie (the CPU offers SIE to this Linux), reason (why not, null when available).
  returned: always
  type: dict
kernel:
  description: The kernel release.
  returned: always
  type: str
virtiofsd:
  description:
    - The virtiofsd libvirt starts for a virtio-fs share that names no binary - the first vhost-user backend of type
      C(fs) the host describes in C(/etc/qemu/vhost-user) or C(/usr/share/qemu/vhost-user) whose binary exists
      (V(/usr/lib/qemu/virtiofsd) on Debian 12, V(/usr/libexec/virtiofsd) where virtiofsd is a package of its own);
      null when there is none.
  returned: always
  type: str
  sample: /usr/libexec/virtiofsd
libvirt:
  description:
    - With O(uri) - libvirt_version, hypervisor_version, s390x_domain_types, s390x_machines, kvm_available,
      host_cpu_model (what libvirt offers guests as host-model), guests (name, state, memory_kib, max_memory_kib,
      vcpus, persistent), running, running_memory_kib, running_vcpus.
  returned: when uri is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils import host_facts
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import open_host, run_host_module
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError


def libvirt_facts(module):
    from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
    from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops
    client.require_libvirt(module)
    try:
        conn = client.connect(module.params["uri"], readonly=True)
        facts = domain_ops.host_capabilities(conn)
        facts["host_cpu_model"] = domain_ops.host_cpu_model(conn, "kvm" if facts["kvm_available"] else "qemu")
        facts.update(domain_ops.host_guests(conn))
    except client.LibvirtFailure as exc:
        module.fail_json(**exc.result())
    return facts


def run(module):
    fs = open_host(module)
    text = host_facts.read_or_none(fs, "/proc/sysinfo")
    sysinfo = host_facts.parse_sysinfo(text) if text else None
    result = {
        "changed": False, "s390x_host": sysinfo is not None,
        "cpus": host_facts.cpu_facts(fs, sysinfo),
        "memory": host_facts.parse_meminfo(host_facts.read_or_none(fs, "/proc/meminfo")),
        "kvm": host_facts.kvm_facts(fs, host_facts.cpu_features(host_facts.read_or_none(fs, "/proc/cpuinfo")),
                                    sysinfo),
        "kernel": host_facts.read_or_none(fs, "/proc/sys/kernel/osrelease"),
        "virtiofsd": next((b["binary"] for b in host_facts.vhost_user_backends(fs, "fs") if b["exists"]), None),
    }
    if sysinfo is None:
        message = ("%s is not an IBM Z (s390x) Linux host: /proc/sysinfo does not exist"
                   % (module.params["host_root"] if fs.root != "/" else "This machine"))
        if module.params["require_s390x"]:
            module.fail_json(msg=message, s390x_host=False)
        result["msg"] = message
    else:
        result.update(sysinfo)
        result["runs_in"] = host_facts.runs_in(sysinfo)
    if module.params["uri"]:
        result["libvirt"] = libvirt_facts(module)
    return result


def main():
    argument_spec = dict(
        uri=dict(type="str", aliases=["libvirt_uri"]),
        require_s390x=dict(type="bool", default=False),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=(HostAccessError,))


if __name__ == "__main__":
    main()
