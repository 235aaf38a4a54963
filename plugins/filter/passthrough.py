# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: passthrough_guests.yml, passthrough_plan.yml and passthrough_result.yml beside this file
# (one per filter).

from ansible_collections.s390x.kvm.plugins.plugin_utils import _passthrough


def passthrough_guests(definitions):
    return _passthrough.from_definitions(definitions)


def passthrough_plan(guests):
    return _passthrough.plan(guests)


def passthrough_result(plan, ccw=None, pci=None, ap=None):
    return _passthrough.result(plan, ccw, pci, ap)


class FilterModule(object):
    def filters(self):
        return {"passthrough_guests": passthrough_guests, "passthrough_plan": passthrough_plan,
                "passthrough_result": passthrough_result}
