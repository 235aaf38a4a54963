# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  host_root:
    description:
      - Directory under which the host's C(sys/), C(proc/), C(dev/) and C(etc/) are found.
      - C(/) on a real host. Point it at a mounted or copied tree (for example a fixture
        tree, or a host's root mounted in a rescue system) to inspect that instead.
    type: path
    default: /
"""
