# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_libvirt.device_ops: which device XML domain_device accepts (the changes themselves run against
the real daemon in tests/integration/libvirt/test_domain_device.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import device_ops

HOSTDEV = ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='8f1b4c2e-7d1a-4c55-9f0a-"
           "3c1d2b3a4e5f'/></source><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>")


def test_devices_by_identity():
    wanted = device_ops.wanted_devices([HOSTDEV, "<disk type='file'><target dev='vdb' bus='virtio'/></disk>",
                                        "<rng model='virtio'><address type='ccw' cssid='0xfe' ssid='0x0' "
                                        "devno='0x0007'/></rng>"])
    assert [key for key, _element, _text in wanted] == [
        "hostdev[mdev:8f1b4c2e-7d1a-4c55-9f0a-3c1d2b3a4e5f]", "disk[vdb]", "rng[ccw:0xfe.0x0.0x0007]"]


@pytest.mark.parametrize("xml, message", [
    ("<interface type='bridge'><source bridge='br0'/></interface>", r"xml\[0\]: the <interface> has no identity"),
    ("<domain><name>x</name></domain>", r"xml\[0\]: <domain> is not a device"),
    ("<disk", r"xml\[0\]: the domain XML does not parse"),
])
def test_refusals_name_the_item(xml, message):
    with pytest.raises(ValueError, match=message):
        device_ops.wanted_devices([xml])


def test_the_same_device_twice_is_refused():
    with pytest.raises(ValueError, match=r"xml\[1\]: hostdev\[mdev:8f1b4c2e.*\] is given twice"):
        device_ops.wanted_devices([HOSTDEV, HOSTDEV])
