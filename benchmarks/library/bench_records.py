#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark floor: a module that reads nothing and returns ``count`` records shaped like
``sample`` (one CCW device record of ccw_info), each with its own bus ID. What Ansible pays to
move that result (module exit_json, the connection, the controller's parsing and callbacks) is
the least any discovery module pays to report one record per device."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule


def fresh(value):
    """A new copy of a JSON-shaped value (deepcopy's memo costs several times this)."""
    if isinstance(value, dict):
        return dict((key, fresh(item)) for key, item in value.items())
    if isinstance(value, list):
        return [fresh(item) for item in value]
    return value


def main():
    module = AnsibleModule(argument_spec=dict(count=dict(type="int", required=True),
                                              sample=dict(type="dict", required=True)))
    sample = module.params["sample"]
    records = []
    for number in range(module.params["count"]):
        record = fresh(sample)
        record["bus_id"] = "0.%x.%04x" % (number >> 16, number & 0xFFFF)
        if "subchannel" in record:
            record["subchannel"] = record["bus_id"]
        records.append(record)
    module.exit_json(changed=False, devices=records)


if __name__ == "__main__":
    main()
