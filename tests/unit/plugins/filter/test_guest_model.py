# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest_model and guest_models filters are the model of plugin_utils/_guest_model, nothing else
(its tests: tests/unit/plugins/plugin_utils/test__guest_model.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.filter.guest_model import FilterModule
from ansible_collections.s390x.kvm.plugins.plugin_utils import _guest_model


def test_the_filters_are_the_models_functions():
    assert FilterModule().filters() == {"guest_model": _guest_model.guest_model, "guest_models": _guest_model.guest_models}
