# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Attributes every *_info module of this collection shares: it only reads.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same result.
  diff_mode:
    support: N/A
    description: Nothing changes, so there is nothing to diff.
  idempotent:
    support: full
    description: Never changes anything.
"""

    # The s390x-host switch of the discovery modules.
    REQUIRE_S390X = r"""
options:
  require_s390x:
    description:
      - Fail instead of returning an empty result when the host is not an s390x host.
    type: bool
    default: false
"""

    # The action groups (meta/runtime.yml): modules that share options, for module_defaults.
    ACTIONGROUP_HOST = r"""
attributes:
  action_group:
    description: Use C(group/s390x.kvm.host) in C(module_defaults) to set O(host_root) for every host module at once.
    support: full
    membership:
      - s390x.kvm.host
"""

    ACTIONGROUP_LIBVIRT = r"""
attributes:
  action_group:
    description: Use C(group/s390x.kvm.libvirt) in C(module_defaults) to set the connection (O(uri)) for every libvirt module at once.
    support: full
    membership:
      - s390x.kvm.libvirt
"""
