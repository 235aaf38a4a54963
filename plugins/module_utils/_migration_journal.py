# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The journal of a migration with pass-through devices, kept in the running domain's own live
metadata (``virDomainSetMetadata``, ``VIR_DOMAIN_AFFECT_LIVE``).

Why there: it lives and dies with the running guest, libvirt migrates live metadata with the
domain (so after the switch-over the destination's copy says what still has to be plugged back),
it survives libvirtd restarts and a killed Ansible, and no file on either host can get out of step
with the guest. nova lost track of what it had detached and re-attached what never was
(nova bug 1944619); here every device is written down *before* it is unplugged, as ``unplugging``,
and a re-run reads the live XML to learn whether that request completed.

Device XML is stored as text, not as elements: metadata elements must be in the metadata's own
namespace, and the device XML must come back exactly as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import libvirt

NAMESPACE = "https://s390x-kvm.github.io/xmlns/migration/1"
PREFIX = "s390xkvm"

# Device statuses, in the order a device goes through them.
PLANNED = "planned"            # to be unplugged
UNPLUGGING = "unplugging"      # detach requested; the live XML says whether it completed
UNPLUGGED = "unplugged"        # gone from the guest; its mapped device is to be plugged after
REPLUGGED = "replugged"        # the mapped device is in the guest on the destination
RESTORED = "restored"          # plugged back into the guest on the source (rollback)


def now():
    return time.time()


def iso(seconds):
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % int(seconds % 1 * 1000)


class JournalDevice(object):
    def __init__(self, key, kind, xml, target_key, target_xml, status=PLANNED, unplugged_at=None,
                 replugged_at=None, error=None):
        self.key = key
        self.kind = kind
        self.xml = xml                  # the device as the source's live XML had it
        self.target_key = target_key    # its key once mapped to the destination's device
        self.target_xml = target_xml    # what is plugged in on the destination
        self.status = status
        self.unplugged_at = unplugged_at
        self.replugged_at = replugged_at
        self.error = error

    def report(self):
        outage = None
        if self.unplugged_at is not None and self.replugged_at is not None:
            outage = round(self.replugged_at - self.unplugged_at, 3)
        return {"key": self.key, "kind": self.kind, "target": self.target_key, "status": self.status,
                "unplugged_at": iso(self.unplugged_at), "replugged_at": iso(self.replugged_at),
                "outage_s": outage, "error": self.error}


class Journal(object):
    """What one migration has done to the guest's devices, and how far it got."""

    def __init__(self, source_uri, dest_uri, migration_id=None, phase="unplug", started=None, devices=None):
        self.id = migration_id or str(uuidlib.uuid4())
        self.source_uri = source_uri
        self.dest_uri = dest_uri
        self.phase = phase
        self.started = started if started is not None else now()
        self.devices = list(devices or [])

    def device(self, key):
        for device in self.devices:
            if device.key == key:
                return device
        return None

    def with_status(self, *statuses):
        return [d for d in self.devices if d.status in statuses]

    # -- serialisation --------------------------------------------------------------------
    def to_xml(self):
        root = ET.Element("migration", {"id": self.id, "source": self.source_uri, "dest": self.dest_uri,
                                        "phase": self.phase, "started": repr(self.started)})
        for device in self.devices:
            attrs = {"key": device.key, "kind": device.kind or "", "status": device.status,
                     "target-key": device.target_key}
            for name in ("unplugged_at", "replugged_at"):
                if getattr(device, name) is not None:
                    attrs[name.replace("_", "-")] = repr(getattr(device, name))
            element = ET.SubElement(root, "device", attrs)
            ET.SubElement(element, "xml").text = device.xml
            ET.SubElement(element, "target-xml").text = device.target_xml
            if device.error:
                ET.SubElement(element, "error").text = device.error
        return ET.tostring(root, encoding="unicode")

    @classmethod
    def from_xml(cls, text):
        root = ET.fromstring(text)
        if root.tag.startswith("{"):
            for element in root.iter():
                element.tag = element.tag.split("}", 1)[1]
        devices = []
        for element in root.findall("device"):
            devices.append(JournalDevice(
                element.get("key"), element.get("kind") or None, element.findtext("xml"),
                element.get("target-key"), element.findtext("target-xml"), element.get("status"),
                _float(element.get("unplugged-at")), _float(element.get("replugged-at")),
                element.findtext("error")))
        return cls(root.get("source"), root.get("dest"), root.get("id"), root.get("phase"),
                   _float(root.get("started")), devices)

    # -- in the domain's live metadata ------------------------------------------------------
    def save(self, dom):
        try:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, self.to_xml(), PREFIX, NAMESPACE,
                            libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise client.failure("cannot write the migration journal into the live metadata of %s" % dom.name(), exc)

    @classmethod
    def load(cls, dom):
        """The journal in a running domain's live metadata, or None."""
        try:
            text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            if client.is_error(exc, "VIR_ERR_NO_DOMAIN_METADATA"):
                return None
            raise client.failure("cannot read the migration journal of %s" % dom.name(), exc)
        try:
            return cls.from_xml(text)
        except (ET.ParseError, TypeError, ValueError) as exc:
            raise client.LibvirtFailure("the migration journal in the live metadata of %s (namespace %s) cannot be "
                                        "read (%s); remove it with virsh metadata --live --remove" % (
                                            dom.name(), NAMESPACE, exc))

    @staticmethod
    def clear(dom):
        try:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            if not client.is_error(exc, "VIR_ERR_NO_DOMAIN_METADATA"):
                raise client.failure("cannot remove the migration journal of %s" % dom.name(), exc)


def _float(text):
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
