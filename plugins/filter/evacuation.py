# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: evacuation_*.yml beside this file (one per filter).

from ansible.errors import AnsibleFilterError
from ansible_collections.s390x.kvm.plugins.plugin_utils import _evacuation


def evacuation_plan(guests, source, hosts, anti_affinity=None, options=None, guest_pools=None):
    try:
        return _evacuation.plan(source, guests, hosts, anti_affinity, options, guest_pools)
    except _evacuation.PlanError as exc:
        raise AnsibleFilterError(str(exc))


def evacuation_waves(moves, max_per_source=1, max_per_destination=1, max_total=None):
    try:
        return _evacuation.waves(moves, max_per_source, max_per_destination, max_total)
    except _evacuation.PlanError as exc:
        raise AnsibleFilterError(str(exc))


def evacuation_hosts(facts_results, mark_results=None, pools=None):
    try:
        return _evacuation.hosts_from_results(facts_results, mark_results, pools)
    except _evacuation.PlanError as exc:
        raise AnsibleFilterError(str(exc))


def evacuation_summary(results, restore=False):
    return _evacuation.summary(results, restore)


def evacuation_record(moved, entries, how="live"):
    return _evacuation.record(moved, entries, how)


class FilterModule(object):
    def filters(self):
        return {"evacuation_plan": evacuation_plan, "evacuation_waves": evacuation_waves,
                "evacuation_hosts": evacuation_hosts, "evacuation_summary": evacuation_summary,
                "evacuation_record": evacuation_record}
