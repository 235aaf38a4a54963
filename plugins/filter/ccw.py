# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: bus_id_in.yml and ccw_conflicts.yml beside this file (one file, two filters).

from ansible.errors import AnsibleFilterError

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError, BusIdSet, format_key, parse, parse_range


def bus_id_in(bus_id, spec):
    try:
        return parse(bus_id) in BusIdSet([spec])
    except BusIdError as err:
        raise AnsibleFilterError(str(err))


def ccw_conflicts(assignments):
    """Devices claimed more than once: {owner: [ids or ranges]} -> ["0.0.0104: db1, web1", ...]."""
    if not isinstance(assignments, dict):
        raise AnsibleFilterError("ccw_conflicts expects a mapping of owner -> list of bus IDs or ranges")
    owners = {}
    try:
        for owner, specs in assignments.items():
            for spec in specs or []:
                first, last = parse_range(spec)
                for key in range(first, last + 1):
                    owners.setdefault(key, []).append(str(owner))
    except BusIdError as err:
        raise AnsibleFilterError(str(err))
    return ["%s: %s" % (format_key(k), ", ".join(v)) for k, v in sorted(owners.items()) if len(v) > 1]


class FilterModule(object):
    def filters(self):
        return {"bus_id_in": bus_id_in, "ccw_conflicts": ccw_conflicts}
