# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VFIO layer of vfio_ccw, vfio_pci and vfio_ap (private: not an API for other collections).

``host``     per-device locks, driverctl/mdevctl persistence files, stable mdev UUIDs, sysfs writes, waits
``batch``    the step type, the driver interface and the one batch runner (locks, plan, apply, roll back)
``options``  the options every VFIO module shares, validated once
``ccw``      the vfio_ccw driver: subchannels, mdevs, cio_ignore, device selection and refusals
``pci``      the vfio-pci driver for zPCI functions: selection and refusals
``ap``       the vfio_ap driver: AP masks and one matrix mdev
``hostdev``  the libvirt ``<hostdev>`` of each pass-through kind
"""
