# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The wait options of the libvirt modules (module_utils/_libvirt/client.py WAIT_SPEC).
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until libvirt reports the outcome (a device removal the guest acknowledged, a device added).
      - With V(false) the request is made and the task ends; a live detach may then still be pending.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for each outcome. Must be positive.
    type: int
    default: 60
"""
