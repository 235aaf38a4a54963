# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read libvirt's persistent domain definitions from ``<host_root>/etc/libvirt/qemu``.

Discovery modules use this to say which guest holds a pass-through device
without needing a libvirt connection (it also works on fixture trees and when
libvirtd is down). Running guests' live state is the job of the libvirt
modules, which use libvirt-python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET


def hostdev_owners(fs):
    """Map of pass-through device keys to the names of the guests that define them.

    Keys: ``mdev:<uuid>``, ``pci:<dddd:bb:ss.f>``, ``ccw:<bus id>`` (subchannel of a
    ``<hostdev type='ccw'>``). Unreadable or malformed files are skipped.
    """
    owners = {}
    for name in fs.listdir("/etc/libvirt/qemu"):
        if not name.endswith(".xml"):
            continue
        try:
            root = ET.fromstring(fs.read("/etc/libvirt/qemu/" + name, default=""))
        except (ET.ParseError, ValueError):
            continue
        domain = root.findtext("name") or name[:-4]
        for hostdev in root.findall("./devices/hostdev"):
            for key in _hostdev_keys(hostdev):
                owners.setdefault(key, []).append(domain)
    return owners


def _hostdev_keys(hostdev):
    kind = hostdev.get("type")
    address = hostdev.find("./source/address")
    if address is None:
        return []
    if kind == "mdev" and address.get("uuid"):
        return ["mdev:" + address.get("uuid").lower()]
    if kind == "pci":
        try:
            return ["pci:%04x:%02x:%02x.%x" % tuple(int(address.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function"))]
        except ValueError:
            return []
    return []
