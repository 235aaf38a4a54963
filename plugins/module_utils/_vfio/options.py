# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every VFIO module takes (documented once, in the ``s390x.kvm.vfio`` doc fragment)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError

VFIO_OPTIONS = dict(
    persist=dict(type="bool", default=True),
    settle_timeout=dict(type="float", default=15.0),
    lock_timeout=dict(type="float", default=60.0),
)


def vfio_spec(**options):
    """The module's own options plus the shared VFIO ones."""
    spec = dict(VFIO_OPTIONS)
    spec.update(options)
    return spec


def check_timeouts(params):
    """Refuse timeouts that are not a number of seconds above 0 (a 0 would never wait, a negative
    one never give up on a lock)."""
    errors = ["%s: %s is not allowed; give a number of seconds above 0" % (name, params[name])
              for name in ("settle_timeout", "lock_timeout") if not params[name] > 0]
    if errors:
        raise VfioError("; ".join(errors))
