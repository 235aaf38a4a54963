# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: libvirt_guests
short_description: The guests of KVM hosts on IBM Z, grouped by host, state and pass-through device
version_added: 0.3.0
author:
  - s390x.kvm developers (@s390x-kvm)
description:
  - Asks the libvirtd of each KVM host listed in O(hosts) which guests it has, and adds each guest to the inventory
    with what M(s390x.kvm.domain_info) knows of it - host, state, memory, vCPUs, pass-through devices and migration
    blockers - so a play can target, for example, every guest of one host that has a vfio-ccw DASD.
  - Groups - C(kvm_host_<host>) per KVM host, C(state_<state>) (V(running), V(paused), V(shut_off), ...),
    C(passthrough_<kind>) per pass-through kind (V(vfio_ccw), V(vfio_pci), V(vfio_ap), V(scsi), V(vhost_scsi)),
    C(migratable) or C(not_migratable). More with O(groups), O(keyed_groups) and O(compose).
  - The file must end in C(libvirt_guests.yml) or C(libvirt_guests.yaml).
  - A host that cannot be reached is skipped with a warning (O(strict_hosts=true) fails instead).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - libvirt-python on the controller
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [s390x.kvm.libvirt_guests]
  hosts:
    description:
      - KVM host name -> its libvirt URI as the controller reaches it (for example C(qemu+ssh://root@kvmhost1/system)).
    type: dict
    required: true
  name_template:
    description:
      - How each guest is named in the inventory; C({guest}) and C({host}) are replaced. Guest names are unique per host,
        not across hosts - use C({host}_{guest}) when two hosts may run guests of the same name.
    type: str
    default: "{guest}"
  strict_hosts:
    description: Fail when a host cannot be reached instead of skipping it with a warning.
    type: bool
    default: false
"""

EXAMPLES = r"""
# kvm.libvirt_guests.yml
plugin: s390x.kvm.libvirt_guests
hosts:
  kvmhost1: qemu+ssh://root@kvmhost1/system
  kvmhost2: qemu+ssh://root@kvmhost2/system
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/s390x-kvm-inventory
keyed_groups:
  - key: kvm_memory_kib // 1048576
    prefix: memory_gib

# Then, every running guest of kvmhost1 with a vfio-ccw DASD:
#   ansible -i kvm.libvirt_guests.yml 'kvm_host_kvmhost1:&state_running:&passthrough_vfio_ccw' --list-hosts
"""

import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

display = Display()

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def _safe(text):
    return re.sub(r"[^A-Za-z0-9_]", "_", str(text))


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "s390x.kvm.libvirt_guests"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            ("libvirt_guests.yml", "libvirt_guests.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        guests = None
        if use_cache:
            try:
                guests = self._cache[cache_key]
            except KeyError:
                guests = None
        if guests is None:
            guests = self._gather()
            if self.get_option("cache"):
                self._cache[cache_key] = guests
        self._populate(guests)

    def _gather(self):
        if not HAS_LIBVIRT:
            raise AnsibleParserError("s390x.kvm.libvirt_guests needs libvirt-python on the controller")
        from ansible_collections.s390x.kvm.plugins.module_utils import _domain_describe as domain_describe
        from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
        hosts = self.get_option("hosts") or {}
        if not isinstance(hosts, dict) or not hosts:
            raise AnsibleParserError("hosts must map each KVM host to its libvirt URI")
        guests = []
        for host, uri in sorted(hosts.items()):
            try:
                conn = client.connect(uri, readonly=True)
                try:
                    for dom in conn.listAllDomains(0):
                        state = client.domain_state(dom)[0]
                        info = domain_describe.describe_domain(dom.XMLDesc(0 if state in client.ACTIVE else 2))
                        guests.append({
                            "guest": dom.name(), "host": host, "uri": uri, "uuid": dom.UUIDString(), "state": state,
                            "persistent": bool(dom.isPersistent()), "memory_kib": info["memory_kib"],
                            "vcpus": info["vcpus"], "passthrough": info["passthrough"],
                            "migration_blockers": info["migration_blockers"], "cpu": info.get("cpu"),
                        })
                finally:
                    conn.close()
            except (client.LibvirtFailure, libvirt.libvirtError) as exc:
                if self.get_option("strict_hosts"):
                    raise AnsibleParserError("s390x.kvm.libvirt_guests: %s: %s" % (host, exc))
                display.warning("s390x.kvm.libvirt_guests: skipping %s: %s" % (host, exc))
        return guests

    def _populate(self, guests):
        template = self.get_option("name_template")
        strict = self.get_option("strict")
        for guest in guests:
            name = template.replace("{guest}", guest["guest"]).replace("{host}", guest["host"])
            self.inventory.add_host(name)
            kinds = sorted(set(_safe(p.get("model") or p.get("type")) for p in guest["passthrough"]))
            hostvars = {
                "kvm_host": guest["host"], "kvm_guest_name": guest["guest"], "libvirt_uri": guest["uri"],
                "kvm_state": guest["state"], "kvm_uuid": guest["uuid"], "kvm_persistent": guest["persistent"],
                "kvm_memory_kib": guest["memory_kib"], "kvm_vcpus": guest["vcpus"], "kvm_cpu": guest["cpu"],
                "kvm_passthrough": guest["passthrough"], "kvm_passthrough_kinds": kinds,
                "kvm_migration_blockers": guest["migration_blockers"],
            }
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            groups = ["kvm_host_%s" % _safe(guest["host"]), "state_%s" % _safe(guest["state"]),
                      "not_migratable" if guest["migration_blockers"] else "migratable"]
            groups += ["passthrough_%s" % kind for kind in kinds]
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
