#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ap_info
short_description: Discover AP crypto adapters, domains and vfio_ap matrix devices of an IBM Z KVM host
version_added: 0.1.0
description:
  - Reads the AP bus of an IBM Z (s390x) host from sysfs, that is crypto cards (Crypto Express adapters)
    with their type and state, queues (APQNs, adapter.domain) with the driver that holds them,
    the C(apmask)/C(aqmask) that reserve adapters and domains for the host's default drivers, and
    the vfio_ap matrix mediated devices (active in sysfs, or persistent in C(/etc/mdevctl.d/matrix))
    with the APQNs and control domains each one gives a guest, and which guests (from libvirt's
    persistent definitions) use each one.
  - Reads files only; never changes the host.
  - On a machine that is not an s390x host (no C(/sys/bus/css)) the module returns
    RV(s390x_host=false) with empty lists and a message, or fails if O(require_s390x=true).
    An s390x host without an AP bus (the C(ap) module not loaded, no crypto configured) returns
    RV(ap_bus=false).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.attributes.info_module
  - s390x.kvm.attributes.require_s390x
  - s390x.kvm.attributes.actiongroup_host
options:
  adapters:
    description:
      - Report only these adapters (cards), as numbers 0-255, or text in decimal or V(0x..) hex.
    type: list
    elements: raw
    default: []
  domains:
    description:
      - Report only queues of these domains, as numbers 0-255, or text in decimal or V(0x..) hex.
    type: list
    elements: raw
    default: []
notes:
  - Only adapters of hardware type 10 (CEX4) or later can be given to guests with vfio_ap; see
    the C(vfio_ap_capable) key of RV(cards).
seealso:
  - module: s390x.kvm.ccw_info
  - name: Linux kernel documentation, Adjunct Processor (AP) facility
    description: apmask/aqmask and the vfio_ap matrix device.
    link: https://docs.kernel.org/arch/s390/vfio-ap.html
"""

EXAMPLES = r"""
- name: Crypto resources of the host
  s390x.kvm.ap_info:
  register: ap

- name: Queues free for guests (bound to vfio_ap, not assigned to a matrix device)
  ansible.builtin.debug:
    msg: "{{ ap.queues | selectattr('driver', 'equalto', 'vfio_ap') | selectattr('vfio_ap_status', 'equalto', 'unassigned') | map(attribute='apqn') | list }}"

- name: Only adapter 3 and domain 0x47
  s390x.kvm.ap_info:
    adapters: [3]
    domains: ["0x47"]
"""

RETURN = r"""
s390x_host:
  description: Whether the host is an s390x host.
  returned: always
  type: bool
ap_bus:
  description: Whether the AP bus is present.
  returned: always
  type: bool
msg:
  description: Why the result is empty.
  returned: when s390x_host or ap_bus is false
  type: str
bus:
  description: AP bus settings.
  returned: when ap_bus is true
  type: dict
  contains:
    apmask: {description: "Adapters reserved for the host's default drivers (256-bit mask).", type: str}
    aqmask: {description: "Domains reserved for the host's default drivers (256-bit mask).", type: str}
    host_adapters: {description: "Adapter numbers (up to max_adapter_id) set in apmask: kept by the host. Null when apmask cannot be read.",
                    type: list, elements: int}
    host_domains: {description: "Domain numbers (up to max_domain_id) set in aqmask: kept by the host. Null when aqmask cannot be read.",
                   type: list, elements: int}
    vfio_adapters: {description: "Adapter numbers (up to max_adapter_id) not in apmask: free for vfio_ap. Null when apmask cannot be read.",
                    type: list, elements: int}
    vfio_domains: {description: "Domain numbers (up to max_domain_id) not in aqmask: free for vfio_ap. Null when aqmask cannot be read.",
                   type: list, elements: int}
    ap_domain: {description: "Default domain.", type: int}
    max_adapter_id: {description: "Highest adapter number.", type: int}
    max_domain_id: {description: "Highest domain number.", type: int}
    features: {description: "AP features.", type: list, elements: str}
    bindings: {description: "Bound/total devices.", type: str}
cards:
  description: Crypto cards.
  returned: always
  type: list
  elements: dict
  sample: [{id: 3, name: card03, type: CEX8C, hwtype: 14, raw_hwtype: 14, online: true, config: true, depth: 8,
            functions: "0x92000000", driver: cex4card, vfio_ap_capable: true}]
queues:
  description: AP queues (APQNs).
  returned: always
  type: list
  elements: dict
  sample: [{apqn: "03.0047", adapter: 3, domain: 71, driver: vfio_ap, online: null, config: true, vfio_ap_status: assigned}]
matrix_mdevs:
  description: vfio_ap matrix mediated devices, active or persistent.
  returned: always
  type: list
  elements: dict
  sample: [{uuid: 669d9b23-fe1b-4ecb-be08-a2fabca99b71, active: true, persistent: true, autostart: true,
            mdev_type: vfio_ap-passthrough, matrix: [{adapter: 3, domain: 71}], guest_matrix: [{adapter: 3, domain: 71}],
            control_domains: [71], guests: [guest1],
            defined_attrs: [{assign_adapter: "3"}, {assign_domain: "0x47"}, {assign_control_domain: "0x47"}]}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils.ap import ApDiscovery, parse_ids
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import not_s390x, open_host, run_host_module


def run(module):
    params = module.params
    try:
        adapters, domains = parse_ids(params["adapters"], "adapters"), parse_ids(params["domains"], "domains")
    except DeviceIdError as err:
        module.fail_json(msg=str(err))
    fs = open_host(module)
    if not fs.isdir("/sys/bus/css"):
        not_s390x(module, fs, "/sys/bus/css", ap_bus=False, cards=[], queues=[], matrix_mdevs=[])
    discovery = ApDiscovery(fs, adapters, domains)
    if not discovery.is_present():
        return dict(changed=False, s390x_host=True, ap_bus=False, cards=[], queues=[], matrix_mdevs=[],
                    msg="No AP bus (/sys/bus/ap): the ap module is not loaded or no crypto adapters are configured.")
    cards, queues = discovery.cards_and_queues()
    return dict(changed=False, s390x_host=True, ap_bus=True, bus=discovery.bus(), cards=cards, queues=queues,
                matrix_mdevs=discovery.matrix_mdevs())


def main():
    argument_spec = dict(
        adapters=dict(type="list", elements="raw", default=[]),
        domains=dict(type="list", elements="raw", default=[]),
        require_s390x=dict(type="bool", default=False),
    )
    run_host_module(AnsibleModule, argument_spec, run, errors=())


if __name__ == "__main__":
    main()
