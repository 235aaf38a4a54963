# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  persist:
    description:
      - Make the change survive reboots, in the files the host's own tools keep and apply at boot
        (a driverctl override, an mdevctl definition, the AP mask udev rule chzdev writes).
      - V(false) removes such files for the devices, so the change lasts until the next reboot.
    type: bool
    default: true
  settle_timeout:
    description:
      - Seconds (above 0) to wait for each kernel reaction (a driver bound, an mdev created or removed,
        a device registered again, a device online).
    type: float
    default: 15
  lock_timeout:
    description:
      - Seconds (above 0) to wait for a device another run holds locked (lock files in C(/run/lock/s390x-kvm)).
    type: float
    default: 60
"""
