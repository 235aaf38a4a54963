# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain operations the libvirt modules share: per-phase timing, reading a domain's devices,
and live device attach/detach that end only when libvirt reports the outcome.

A live detach is a *request*: libvirt passes it to QEMU, which asks the guest; zPCI devices go only
when the guest's kernel lets them go, CCW devices are removed by the host at once. libvirt reports
the end with DEVICE_REMOVED, or DEVICE_REMOVAL_FAILED when the guest refused, and its API doc says
to wait for that event or re-read the XML ("the device is actually removed later (in cooperation
with a guest OS)", virDomainDetachDeviceFlags). nova does the same (register the waiter first, by
alias; nova/virt/libvirt/driver.py _detach_from_live_and_wait_for_event).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import time
import xml.etree.ElementTree as ET

from ansible_collections.s390x.kvm.plugins.module_utils import _domain_describe as domain_describe
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils import _migration_rules as migration_rules
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import waiter
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import libvirt


class PhaseTimer(object):
    """Seconds spent per named phase or action (added up when a name repeats), in first-seen order."""

    def __init__(self):
        self.seconds = {}
        self.order = []

    def add(self, name, seconds):
        if name not in self.seconds:
            self.order.append(name)
            self.seconds[name] = 0.0
        self.seconds[name] = round(self.seconds[name] + seconds, 3)

    @contextlib.contextmanager
    def phase(self, name):
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - start)

    def call(self, name, what, func, *args):
        """``func(*args)`` timed under ``name``; a libvirtError becomes "WHAT failed: ..."."""
        with self.phase(name):
            try:
                return func(*args)
            except libvirt.libvirtError as exc:
                raise client.failure("%s failed" % what, exc)

    def as_dict(self):
        return dict((name, self.seconds[name]) for name in self.order)


class DeviceWaitFailure(client.LibvirtFailure):
    """A device did not come or go as asked: the guest refused, or nothing was confirmed in time.
    ``outcome`` is ``removal_failed``, ``timeout`` or ``not_added``."""

    def __init__(self, msg, outcome, device):
        super(DeviceWaitFailure, self).__init__(msg)
        self.outcome = outcome
        self.device = device


def xml_of(dom, inactive=False, what=None):
    """The domain's XML (live, or the persistent definition), parsed."""
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
    try:
        return domain_xml.parse(dom.XMLDesc(flags))
    except libvirt.libvirtError as exc:
        raise client.failure(what or "cannot read the %s XML of %s" % (
            "persistent" if inactive else "live", dom.name()), exc)


def devices(root):
    return [d for d in root.findall("./devices/*") if d.tag != "emulator"]


def find_device(root, key):
    """The device whose :func:`domain_xml.device_key` is ``key``, or None."""
    for device in devices(root):
        if domain_xml.device_key(device) == key:
            return device
    return None


def alias_of(device):
    alias = device.find("alias")
    return alias.get("name") if alias is not None else None


def attach_xml(device):
    """Device XML to attach again what was read from a live domain: without the aliases libvirt
    generated (only ``ua-`` aliases are the user's; a generated one in the request is refused
    later when it clashes), tap names libvirt chose, and other live-only noise."""
    return domain_xml.to_text(domain_xml.clean_live(device))


def detach_live(conn, dom, device, timeout):
    """Detach a device from the running domain and wait for the guest's acknowledgement.

    Returns the wall time (``time.time()``) at which the removal was confirmed. Raises
    DeviceWaitFailure on DEVICE_REMOVAL_FAILED or when nothing confirmed it within ``timeout`` s
    (the device is then still attached and QEMU's removal request may still be pending)."""
    key = domain_xml.device_key(device)
    alias = alias_of(device)
    with waiter.DomainEvents(conn, dom, waiter.DEVICE_EVENTS) as events:
        try:
            if alias:
                dom.detachDeviceAlias(alias, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            else:
                dom.detachDeviceFlags(attach_xml(device), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise client.failure("detaching %s from %s failed" % (key, dom.name()), exc)
        event = None
        if alias:
            event = events.wait_for(waiter.device_event(alias, "device_removed", "device_removal_failed"), timeout)
    if event is not None and event.kind == "device_removed":
        return event.wall
    if event is not None:
        raise DeviceWaitFailure("the guest refused to release %s (libvirt: DEVICE_REMOVAL_FAILED for alias %s); "
                                "it stays attached" % (key, alias), "removal_failed", key)
    # No event (none expected without an alias, or it did not come): the XML is the truth.
    gone, _waited = waiter.wait_until(lambda: find_device(xml_of(dom), key) is None, 0 if alias else timeout)
    if gone:
        return time.time()
    raise DeviceWaitFailure("the guest did not acknowledge the removal of %s within %s s: it is still attached "
                            "and QEMU keeps the removal request pending (a guest that is paused, hung or "
                            "without hotplug support never answers)" % (key, timeout), "timeout", key)


def attach_live(conn, dom, xml_text, key, timeout):
    """Attach a device to the running domain and wait for DEVICE_ADDED.

    ``key`` is the device's :func:`domain_xml.device_key` (how it is found in the live XML
    afterwards). Returns (alias, wall time of the confirmation)."""
    with waiter.DomainEvents(conn, dom, ("device_added",)) as events:
        try:
            dom.attachDeviceFlags(xml_text, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise client.failure("attaching %s to %s failed" % (key, dom.name()), exc)
        device = find_device(xml_of(dom), key)
        alias = alias_of(device) if device is not None else None
        event = events.wait_for(waiter.device_event(alias, "device_added"), timeout) if alias else None
    if event is not None:
        return alias, event.wall
    if device is not None:
        return alias, time.time()       # attached (libvirt says so in the live XML) without the event
    raise DeviceWaitFailure("%s is not in the live XML of %s after attaching it" % (key, dom.name()),
                            "not_added", key)


def machines_of(caps, arch_name):
    """``{machine: canonical or None}`` a capabilities document offers for an arch: an alias maps to
    the versioned machine it stands for (``<machine canonical='s390-ccw-virtio-7.2'>s390-ccw-virtio``),
    a versioned machine to None."""
    machines = {}
    for arch in caps.findall("./guest/arch"):
        if arch.get("name") != arch_name:
            continue
        for machine in arch.iter("machine"):       # per arch, and per <domain> on older libvirt
            name = (machine.text or "").strip()
            if name:
                machines[name] = machine.get("canonical") or machines.get(name)
            if machine.get("canonical"):
                machines.setdefault(machine.get("canonical"), None)
    return machines


class ConnectionDefaults(domain_xml.HostDefaults):
    """What this connection's libvirt fills in by itself, asked only when a comparison needs it and
    once per run: its capabilities (the machines) and domain capabilities (user-NIC backends). What
    cannot be read is unknown (None), and the comparison then goes by names."""

    def __init__(self, conn):
        self.conn = conn
        self._caps = None
        self._backends = {}

    def machines(self, arch):
        if self._caps is None:
            try:
                self._caps = ET.fromstring(self.conn.getCapabilities())
            except (client.libvirt.libvirtError, ET.ParseError):
                self._caps = False
        if self._caps is False or not arch:
            return None
        return machines_of(self._caps, arch) or None

    def user_net_backends(self, arch, machine, virt_type):
        key = (arch, machine, virt_type)
        if key not in self._backends:
            try:
                caps = ET.fromstring(self.conn.getDomainCapabilities(None, arch, machine, virt_type, 0))
            except (client.libvirt.libvirtError, ET.ParseError):
                caps = None
            values = None if caps is None else caps.findall("./devices/interface/enum[@name='backendType']/value")
            self._backends[key] = set(v.text for v in values) if values else None
        return self._backends[key]


def host_capabilities(conn):
    """Facts of a host for s390x guests (domain_info capabilities=true)."""
    caps = ET.fromstring(conn.getCapabilities())
    types = set()
    for arch in caps.findall("./guest/arch"):
        if arch.get("name") != "s390x":
            continue
        for domain in arch.findall("domain"):
            types.add(domain.get("type"))
    machines = set(machines_of(caps, "s390x"))
    try:
        hypervisor = client.version_text(conn.getVersion())
    except client.libvirt.libvirtError:
        hypervisor = None       # libvirt 9.0 asks for the host-arch emulator here, absent on a pure s390x-emulating host
    return {
        "arch": caps.findtext("./host/cpu/arch"),
        "libvirt_version": client.version_text(conn.getLibVersion()),
        "hypervisor_version": hypervisor,
        "s390x_domain_types": sorted(types),
        "s390x_machines": sorted(m for m in machines if m),
        "kvm_available": "kvm" in types,
    }


def describe(dom, live, with_xml, qemu_version, judge_local_disks):
    """What s390x.kvm.domain_info reports of one domain (its live XML unless ``live`` is false or it
    does not run). Local disk images are judged only when ``judge_local_disks`` (libvirtd runs here,
    so this host's mounts are its mounts)."""
    state, reason = client.domain_state(dom)
    flags = 0 if (live and state != "shut_off") else client.libvirt.VIR_DOMAIN_XML_INACTIVE
    if not dom.isPersistent():
        flags = 0
    xml_text = dom.XMLDesc(flags)
    out = {
        "name": dom.name(), "uuid": dom.UUIDString(), "state": state, "state_reason": reason,
        "persistent": bool(dom.isPersistent()),
        "autostart": bool(dom.autostart()) if dom.isPersistent() else False,
    }
    out.update(domain_describe.describe_domain(xml_text, qemu_version,
                                               migration_rules.fs_type_of if judge_local_disks else None))
    out["migratable"] = not out["migration_blockers"]
    if with_xml:
        out["xml"] = xml_text
    return out


def host_guests(conn):
    """The guests libvirt knows on this host, with the memory and vCPUs each holds, and the totals
    of those that run (what a placement decision subtracts from the host's capacity)."""
    guests = []
    for dom in conn.listAllDomains(0):
        try:
            state, max_kib, current_kib, vcpus, _cpu_time = dom.info()
            guests.append({"name": dom.name(), "state": client.STATE_NAMES.get(state, "unknown"),
                           "memory_kib": current_kib, "max_memory_kib": max_kib, "vcpus": vcpus,
                           "persistent": bool(dom.isPersistent())})
        except libvirt.libvirtError as exc:
            if not client.is_error(exc, "VIR_ERR_NO_DOMAIN"):
                raise client.failure("cannot read domain %s" % dom.name(), exc)
    running = [g for g in guests if g["state"] in client.ACTIVE]
    return {"guests": sorted(guests, key=lambda g: g["name"]), "running": len(running),
            "running_memory_kib": sum(g["memory_kib"] for g in running),
            "running_vcpus": sum(g["vcpus"] for g in running)}


def host_cpu_model(conn, virttype):
    """The CPU model libvirt offers s390x guests as host-model here (``virsh domcapabilities``), or None."""
    try:
        caps = ET.fromstring(conn.getDomainCapabilities(None, "s390x", None, virttype, 0))
    except (libvirt.libvirtError, ET.ParseError):
        return None
    for mode in caps.findall("./cpu/mode"):
        if mode.get("name") == "host-model" and mode.get("supported") == "yes":
            return mode.findtext("model")
    return None
