# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: migration_device_map.yml and migration_devices.yml beside this file.

from ansible.errors import AnsibleFilterError
from ansible_collections.s390x.kvm.plugins.plugin_utils import _migration_map


def migration_device_map(devices, ccw_map=None, pci_map=None):
    try:
        return _migration_map.device_map(devices, ccw_map, pci_map)
    except _migration_map.MigrationMapError as exc:
        raise AnsibleFilterError(str(exc))


def migration_devices(devices, what="prepare"):
    """The bus IDs and fids to prepare on the destination (``prepare``) or release on the source (``release``)."""
    try:
        if what == "prepare":
            return _migration_map.to_prepare(devices)
        if what == "release":
            return _migration_map.to_release(devices)
    except _migration_map.MigrationMapError as exc:
        raise AnsibleFilterError(str(exc))
    raise AnsibleFilterError("migration_devices: what must be prepare or release, got %r" % (what,))


class FilterModule(object):
    def filters(self):
        return {"migration_device_map": migration_device_map, "migration_devices": migration_devices}
