# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: guest_model.yml and guest_models.yml (one file per filter).

from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import guest_model, guest_models


class FilterModule(object):
    def filters(self):
        return {"guest_model": guest_model, "guest_models": guest_models}
