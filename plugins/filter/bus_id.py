# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: bus_id_in.yml and ccw_conflicts.yml beside this file (one file, two filters).

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.plugin_utils import _bus_id


def bus_id_in(bus_id, spec):
    try:
        return _bus_id.contains(bus_id, spec)
    except DeviceIdError as err:
        raise AnsibleFilterError(str(err))


def ccw_conflicts(assignments):
    if not isinstance(assignments, Mapping):
        raise AnsibleFilterError("ccw_conflicts expects a mapping of owner -> list of bus IDs or ranges")
    try:
        return _bus_id.conflicts(assignments)
    except DeviceIdError as err:
        raise AnsibleFilterError(str(err))


class FilterModule(object):
    def filters(self):
        return {"bus_id_in": bus_id_in, "ccw_conflicts": ccw_conflicts}
