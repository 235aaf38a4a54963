# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection every libvirt module takes (module_utils/_libvirt/client.py CONNECTION_SPEC).
    DOCUMENTATION = r"""
requirements:
  - libvirt-python
options:
  uri:
    description:
      - libvirt connection URI.
    type: str
    default: qemu:///system
    aliases: [libvirt_uri]
"""
