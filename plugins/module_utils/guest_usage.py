# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which guests use which host devices, read from libvirt's own files.

libvirt keeps the persistent definition of each QEMU guest in
``/etc/libvirt/qemu/<name>.xml`` and, while the guest runs, its live state in
``/run/libvirt/qemu/<name>.xml`` (a ``<domstatus>`` document wrapping the live
``<domain>``). Reading them needs no connection, so the host modules can refuse
to take a device from a running guest even when libvirtd is down, and the same
code works on fixture trees.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

CONFIG_DIR = "/etc/libvirt/qemu"
STATUS_DIR = "/run/libvirt/qemu"


def _domains(fs, directory):
    for name in fs.listdir(directory):
        if not name.endswith(".xml"):
            continue
        try:
            root = ET.fromstring(fs.read("%s/%s" % (directory, name), default=""))
        except (ET.ParseError, ValueError):
            continue
        domain = root if root.tag == "domain" else root.find("domain")
        if domain is not None:
            yield domain.findtext("name") or name[:-4], domain


def device_users(fs):
    """Map of device keys to the guests that use them: ``{key: [{"guest": name, "running": bool}]}``.

    Keys: ``mdev:<uuid>``, ``pci:<dddd:bb:ss.f>``, ``block:<path as written>`` (disk sources).
    A guest that runs is listed once, as running.
    """
    users = {}
    running = set()
    for source_dir, is_running in ((STATUS_DIR, True), (CONFIG_DIR, False)):
        for guest, domain in _domains(fs, source_dir):
            if not is_running and guest in running:
                continue
            if is_running:
                running.add(guest)
            for key in _device_keys(domain):
                entries = users.setdefault(key, [])
                if not any(e["guest"] == guest for e in entries):
                    entries.append({"guest": guest, "running": is_running})
    return users


def hostdev_owners(fs):
    """``{key: [guest names]}`` for pass-through devices of defined or running guests."""
    return dict((key, [e["guest"] for e in entries]) for key, entries in device_users(fs).items()
                if not key.startswith("block:"))


def _device_keys(domain):
    keys = []
    for hostdev in domain.findall("./devices/hostdev"):
        kind = hostdev.get("type")
        address = hostdev.find("./source/address")
        if address is None:
            continue
        if kind == "mdev" and address.get("uuid"):
            keys.append("mdev:" + address.get("uuid").lower())
        elif kind == "pci":
            try:
                keys.append("pci:%04x:%02x:%02x.%x" % tuple(
                    int(address.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")))
            except ValueError:
                pass
    for disk in domain.findall("./devices/disk"):
        source = disk.find("source")
        if source is not None and source.get("dev"):
            keys.append("block:" + source.get("dev"))
    return keys
