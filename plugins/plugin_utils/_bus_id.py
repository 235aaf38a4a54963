# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""CCW bus IDs on the controller: whether a bus ID lies in a spec, and devices claimed by two owners
(the bus_id_in and ccw_conflicts filters, the vfio_passthrough role's plan). The parsing is
module_utils/bus_id's, the same the modules use; its DeviceIdError passes through."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdSet, format_key, parse, parse_range


def contains(bus_id, spec):
    """Whether ``bus_id`` is the bus ID or device number ``spec`` or lies in the range ``spec``."""
    return parse(bus_id) in BusIdSet([spec])


def conflicts(assignments):
    """Devices claimed more than once: {owner: [ids or ranges]} -> ["0.0.0104: db1, web1", ...]."""
    owners = {}
    for owner, specs in assignments.items():
        for spec in specs or []:
            first, last = parse_range(spec)
            for key in range(first, last + 1):
                owners.setdefault(key, []).append(str(owner))
    return ["%s: %s" % (format_key(k), ", ".join(v)) for k, v in sorted(owners.items()) if len(v) > 1]
