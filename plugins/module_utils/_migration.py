# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live migration of an s390x guest that has pass-through devices: the state machine behind
``s390x.kvm.migrate``.

IBM's rule for KVM on Z: "Pass-through devices block live guest migration. Dynamically remove all
pass-through devices from a virtual server before a live guest migration and dynamically add them
after the migration." QEMU enforces it: vfio-ccw and every zPCI device are ``.unmigratable``.

Phases, each re-entrant from the journal (:mod:`migration_journal`) kept in the guest's live metadata:

``preflight``  everything checked before anything changes, reported as one list: both ends, the
               domain's state, CPU model (virConnectCompareHypervisorCPU), memory, every device
               classified (:func:`migration_rules.classify`), each unplugged pass-through device
               mapped to a destination device that exists there, is prepared and is free.
``unplug``     each device detached live only (the persistent definition keeps it), waiting for
               the guest's acknowledgement; journaled before and after.
``migrate``    virDomainMigrateToURI3 (live, peer to peer, persistent on the destination with the
               mapped devices in its definition, source undefined), watched by our own timer.
``replug``     the mapped devices attached live to the guest on the destination, waiting for
               DEVICE_ADDED.
``rollback``   on a failure before the switch-over, the devices that really were unplugged are
               plugged back on the source; after the switch-over the guest stays on the
               destination and a failed replug is reported as ``degraded`` (a re-run retries it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
import xml.etree.ElementTree as ET

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils import _migration_rules as rules
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops as ops
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import libvirt
from ansible_collections.s390x.kvm.plugins.module_utils._migration_journal import (
    Journal, JournalDevice, PLANNED, UNPLUGGING, UNPLUGGED, REPLUGGED, RESTORED)

# The options of s390x.kvm.migrate (plus uri from client.CONNECTION_SPEC), documented there.
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    dest_uri=dict(type="str", required=True),
    migrate_uri=dict(type="str"),
    listen_address=dict(type="str"),
    live=dict(type="bool", default=True),
    peer_to_peer=dict(type="bool", default=True),
    persistent=dict(type="bool", default=True),
    undefine_source=dict(type="bool", default=True),
    copy_storage=dict(type="str", default="none", choices=["none", "all", "inc"]),
    unsafe=dict(type="bool", default=False),
    bandwidth=dict(type="int"),
    max_downtime=dict(type="int"),
    auto_converge=dict(type="bool", default=False),
    postcopy=dict(type="bool", default=False),
    timeout=dict(type="int", default=0),
    timeout_action=dict(type="str", default="abort", choices=["abort", "suspend", "postcopy"]),
    device_map=dict(type="dict", default={}),
    ap_policy=dict(type="str", default="refuse", choices=["refuse", "unplug"]),
    wait_timeout=dict(type="int", default=60),
)

OK, FAILED, WARNING, UNKNOWN = "ok", "failed", "warning", "unknown"


def check_params(params):
    """What is wrong with the options beyond their types (None when nothing is)."""
    for option in ("bandwidth", "max_downtime", "wait_timeout", "timeout"):
        value = params[option]
        if value is not None and (value < 0 or value == 0 and option in ("wait_timeout", "max_downtime")):
            return "%s must be a %s number, got %s" % (
                option, "positive" if option in ("wait_timeout", "max_downtime") else "non-negative", value)
    if params["timeout_action"] == "postcopy" and not params["postcopy"]:
        return ("timeout_action=postcopy needs postcopy=true (libvirt can switch to post-copy only when the "
                "migration started with it)")
    if params["dest_uri"] == params["uri"]:
        return "dest_uri is the same as uri (%s): nothing to migrate to" % params["uri"]
    return None


# jobStats keys reported (libvirt's VIR_DOMAIN_JOB_* typed parameter names).
JOB_KEYS = ("time_elapsed", "downtime", "setup_time", "data_total", "data_processed", "data_remaining",
            "memory_total", "memory_processed", "memory_remaining", "memory_bps", "memory_dirty_rate",
            "memory_iteration", "memory_postcopy_requests", "disk_total", "disk_processed",
            "auto_converge_throttle")


class MigrationFailed(Exception):
    """The migration did not complete as asked; ``result`` says where the guest is and what was done."""

    def __init__(self, msg, result, libvirt_failure=None):
        super(MigrationFailed, self).__init__(msg)
        self.msg = msg
        self.result = result
        self.libvirt_failure = libvirt_failure


class Preflight(object):
    """The preflight report: one entry per check, devices with what happens to each."""

    def __init__(self):
        self.checks = []
        self.devices = []

    def add(self, check, status, detail):
        self.checks.append({"check": check, "status": status, "detail": detail})

    @property
    def passed(self):
        return not any(c["status"] == FAILED for c in self.checks)

    def failures(self):
        return [c for c in self.checks if c["status"] == FAILED]

    def report(self):
        return {"passed": self.passed, "checks": self.checks, "devices": self.devices}


def _state(dom):
    try:
        return client.domain_state(dom)[0]
    except libvirt.libvirtError as exc:
        if client.is_error(exc, "VIR_ERR_NO_DOMAIN"):
            return "absent"
        raise client.failure("cannot read the state of %s" % dom.name(), exc)


def _active(dom):
    return dom is not None and _state(dom) in client.ACTIVE


def _job_running(dom):
    try:
        return dom.jobInfo()[0] not in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED,
                                        libvirt.VIR_DOMAIN_JOB_FAILED, libvirt.VIR_DOMAIN_JOB_CANCELLED)
    except libvirt.libvirtError:
        return False


def _capabilities(conn):
    """A host's capabilities document, or None when it cannot be read."""
    try:
        return ET.fromstring(conn.getCapabilities())
    except (libvirt.libvirtError, ET.ParseError):
        return None


def _host_uuid(conn, caps=None):
    caps = caps if caps is not None else _capabilities(conn)
    return caps.findtext("./host/uuid") if caps is not None else None


class Migration(object):
    """One ``migrate`` task. ``params`` are the module's; ``warn(text)`` reports a warning;
    ``fs_type_of(path)`` names the file system of a disk image on the source (None: not judged)."""

    def __init__(self, params, check_mode=False, warn=None, fs_type_of=None):
        self.params = params
        self.check = check_mode
        self.warn = warn or (lambda text: None)
        self.fs_type_of = fs_type_of
        self.name = params["name"]
        self.timer = ops.PhaseTimer()
        self.src = self.dst = None
        self.dst_caps = None            # the destination's capabilities, read once by _same_host
        self.journal = None
        self.preflight_report = None
        self.job = {}
        self.outcome = None
        self.where = None

    def checkpoint(self, where):
        """Called at each point a crash could interrupt (after the journal says what comes next):
        ``unplug:requesting``, ``unplug:confirmed``, ``migrate:starting``, ``replug:requesting``,
        ``replug:confirmed``. Nothing happens here; the fault-injection tests stop the run at one."""

    # ---------------------------------------------------------------------------- result
    def result(self, changed=False):
        devices = [d.report() for d in self.journal.devices] if self.journal else []
        return {
            "changed": changed, "name": self.name, "source_uri": self.params["uri"],
            "dest_uri": self.params["dest_uri"], "host": self.where, "outcome": self.outcome,
            "preflight": self.preflight_report.report() if self.preflight_report else None,
            "phases": self.timer.as_dict(), "job": self.job, "devices": devices,
            "journal_id": self.journal.id if self.journal else None,
        }

    def fail(self, msg, changed, failure=None):
        raise MigrationFailed(msg, self.result(changed), failure)

    # ---------------------------------------------------------------------------- main
    def run(self):
        params = self.params
        wait_limit = params["timeout"] or 3600
        with self.timer.phase("preflight"):
            self.src = client.connect(params["uri"], events=True)
            dst_error = None
            try:
                self.dst = client.connect(params["dest_uri"], events=True)
            except client.LibvirtFailure as exc:
                dst_error = exc.msg
            s_dom = client.lookup_domain(self.src, self.name)
            d_dom = client.lookup_domain(self.dst, self.name) if self.dst else None
            if s_dom is not None and _active(s_dom) and _job_running(s_dom):
                # A migration an interrupted run started goes on in libvirtd (peer to peer): let it end.
                self.warn("%s has a job running on the source (a migration an earlier run started?); waiting for "
                          "it to end" % self.name)
                ops.waiter.wait_until(lambda: not _job_running(s_dom), wait_limit, interval=0.5)
                d_dom = client.lookup_domain(self.dst, self.name) if self.dst else None
            s_active, d_active = _active(s_dom), _active(d_dom)
        if d_active and not s_active:
            return self._on_destination(d_dom)
        if not s_active:
            where = "not defined" if s_dom is None else "defined but %s" % _state(s_dom)
            self.fail("%s does not run on the source %s (%s) nor on the destination %s: a live migration needs a "
                      "running guest" % (self.name, params["uri"], where, params["dest_uri"]), False)
        if d_active:
            self.fail("%s runs on the source and on the destination at once (the destination's copy is %s): "
                      "refusing to touch either" % (self.name, _state(d_dom)), False)
        self.where = params["uri"]
        self.journal = Journal.load(s_dom)
        if self.journal is not None and self.journal.dest_uri != params["dest_uri"]:
            self.warn("%s carries the journal of a migration to %s; plugging its devices back first"
                      % (self.name, self.journal.dest_uri))
            self._rollback(s_dom, "an earlier migration to another destination")
            self.journal = None
        with self.timer.phase("preflight"):
            plan = self._preflight(s_dom, dst_error)
        if not self.preflight_report.passed:
            reasons = "; ".join("%s: %s" % (c["check"], c["detail"]) for c in self.preflight_report.failures())
            if self.journal is not None and not self.check:
                self._rollback(s_dom, "preflight refused the migration")
                self.fail("preflight refused to migrate %s (the devices an earlier run unplugged are plugged back): %s"
                          % (self.name, reasons), True)
            self.fail("preflight refused to migrate %s, nothing was changed: %s" % (self.name, reasons), False)
        if self.check:
            self.outcome = "planned"
            self.journal = self.journal or self._new_journal(plan)
            return self.result(changed=True)
        if self.journal is None:
            self.journal = self._new_journal(plan)
        else:
            self._extend_journal(plan)
        self._unplug(s_dom)
        d_dom = self._migrate(s_dom)
        self._replug(d_dom)
        return self.result(changed=True)

    def _on_destination(self, d_dom):
        """The guest already runs on the destination: finish what an interrupted run left (replug),
        or report that nothing is to be done."""
        self.where = self.params["dest_uri"]
        self.journal = Journal.load(d_dom)
        if self.journal is None:
            self.outcome = "already_there"
            return self.result(changed=False)
        if self.check:
            self.outcome = "planned"
            return self.result(changed=True)
        self.warn("%s already runs on the destination with the journal of an interrupted migration; plugging in "
                  "the devices it still lacks" % self.name)
        self._replug(d_dom)
        return self.result(changed=True)

    # ---------------------------------------------------------------------------- preflight
    def _preflight(self, s_dom, dst_error):
        """Every check, before anything changes. Returns the devices to unplug ({entry, target_xml})."""
        report = self.preflight_report = Preflight()
        params = self.params
        live = ops.xml_of(s_dom)
        state = _state(s_dom)
        report.add("source", OK, "%s is %s on %s" % (self.name, state, params["uri"]))
        if dst_error:
            report.add("destination", FAILED, dst_error)
        elif self._same_host():
            report.add("destination", FAILED, "%s is the same host as %s (host UUID %s)" % (
                params["dest_uri"], params["uri"], _host_uuid(self.src)))
        else:
            report.add("destination", OK, "%s answers" % params["dest_uri"])
        if self.dst is not None and not dst_error:
            self._check_definition_on_destination(s_dom)
            self._check_machine(live)
            self._check_cpu(live)
            self._check_memory(live)

        try:
            qemu_version = self.src.getVersion()
        except libvirt.libvirtError:
            qemu_version = None
        classified = rules.classify(live, qemu_version, self.fs_type_of, params["copy_storage"], params["unsafe"],
                                    params["ap_policy"])
        journaled = dict((d.key, d) for d in self.journal.devices) if self.journal else {}
        entries = [c for c in classified if c["action"] == rules.UNPLUG]
        # Devices an interrupted run already unplugged are no longer in the live XML: from the journal.
        live_keys = set(c["key"] for c in entries)
        for device in journaled.values():
            if device.key not in live_keys and device.status in (UNPLUGGING, UNPLUGGED):
                entries.append({"key": device.key, "kind": device.kind, "action": rules.UNPLUG,
                                "reason": "unplugged by an earlier run", "element": domain_xml.parse_device(device.xml)})
        for item in classified:
            if item["action"] == rules.REFUSE:
                report.add("device %s" % item["key"], FAILED, item["reason"])
            elif item["action"] == "warn":
                report.add("device %s" % item["key"], WARNING, item["reason"])
                self.warn(item["reason"])
        try:
            mapping = rules.resolve_device_map(params["device_map"], entries)
        except rules.DeviceMapError as exc:
            report.add("device_map", FAILED, str(exc))
            mapping = {}
        plan = []
        for entry in entries:
            source = rules.host_source(entry["element"])
            target = mapping.get(entry["key"], source)
            try:
                mapped = rules.mapped_element(entry["element"], target)
            except rules.DeviceMapError as exc:
                report.add("device %s" % entry["key"], FAILED, str(exc))
                continue
            mapped = domain_xml.clean_live(mapped)
            target_key = domain_xml.device_key(mapped)
            report.devices.append({"key": entry["key"], "kind": entry["kind"], "action": "unplug_replug",
                                   "reason": entry["reason"], "source": source, "target": target,
                                   "target_key": target_key})
            plan.append({"entry": entry, "target_xml": domain_xml.to_text(mapped), "target_key": target_key})
            if source is not None and self.dst is not None and not dst_error:
                self._check_destination_device(entry, target, mapped)
            elif source is None:
                report.add("device %s" % entry["key"], OK, "emulated %s device: unplugged before and plugged in again "
                           "after the migration" % entry["kind"])
        needs_guest = [p["entry"]["key"] for p in plan if p["entry"]["kind"] in ("zpci", "vfio-pci")
                       and p["entry"]["key"] not in journaled]
        if state == "paused" and needs_guest:
            report.add("guest", FAILED, "%s is paused: zPCI devices (%s) leave only when the guest's kernel releases "
                       "them; resume it first" % (self.name, ", ".join(needs_guest)))
        if params["postcopy"]:
            kept = [domain_xml.device_key(d) for d in live.findall("./devices/hostdev")
                    if domain_xml.device_key(d) not in set(p["entry"]["key"] for p in plan)]
            if kept:
                report.add("postcopy", FAILED, "post-copy with VFIO devices attached (%s) cannot recover from a "
                           "broken link: refused" % ", ".join(kept))
        return plan

    def _same_host(self):
        # Each getCapabilities() costs: without libvirt's capability cache it probes every QEMU
        # binary (~50 s under TCG). Once per end; the destination's serves _check_machine too.
        self.dst_caps = _capabilities(self.dst)
        source = _host_uuid(self.src)
        return bool(source) and source == _host_uuid(self.dst, self.dst_caps)

    def _check_machine(self, live):
        """The destination's QEMU has the guest's machine (the version it runs, not the alias): a guest
        started on a newer QEMU (s390-ccw-virtio-10.0) cannot move to an older one."""
        os_type = live.find("./os/type")
        machine = os_type.get("machine") if os_type is not None else None
        caps = self.dst_caps
        if not machine:
            return
        if caps is None:
            self.preflight_report.add("machine", UNKNOWN, "the destination's capabilities cannot be read: QEMU checks "
                                      "machine %s when the migration starts" % machine)
            return
        offered = ops.machines_of(caps, os_type.get("arch"))
        if machine in offered:
            self.preflight_report.add("machine", OK, "the destination's QEMU has machine %s" % machine)
            return
        newest = sorted(c for c in offered.values() if c)
        self.preflight_report.add("machine", FAILED, "the destination's QEMU has no machine %s (its newest: %s): a guest "
                                  "cannot move to an older QEMU than the machine it runs; define it with a machine both "
                                  "hosts have and restart it" % (machine, ", ".join(newest) or "none for %s"
                                                                 % os_type.get("arch")))

    def _check_definition_on_destination(self, s_dom):
        d_dom = client.lookup_domain(self.dst, self.name)
        if d_dom is None:
            self.preflight_report.add("destination_definition", OK, "%s is not defined on %s" % (
                self.name, self.params["dest_uri"]))
        elif d_dom.UUIDString() != s_dom.UUIDString():
            self.preflight_report.add("destination_definition", FAILED, "another domain called %s (UUID %s) is defined "
                                      "on %s" % (self.name, d_dom.UUIDString(), self.params["dest_uri"]))
        else:
            self.preflight_report.add("destination_definition", WARNING, "%s is defined (shut off) on %s: the "
                                      "migration replaces that definition" % (self.name, self.params["dest_uri"]))

    def _check_cpu(self, live):
        cpu = live.find("cpu")
        os_type = live.find("./os/type")
        if cpu is None or os_type is None:
            self.preflight_report.add("cpu", OK, "the guest has no CPU model of its own: the destination's default")
            return
        try:
            verdict = self.dst.compareHypervisorCPU(None, os_type.get("arch"), os_type.get("machine"), live.get("type"),
                                                    domain_xml.to_text(cpu), 0)
        except libvirt.libvirtError as exc:
            # Under TCG libvirt has no host CPU model to compare with; QEMU checks the model at the
            # migration itself (and that failure rolls back like any other).
            self.preflight_report.add("cpu", UNKNOWN, "the destination cannot compare CPU models (%s); QEMU checks "
                                      "the model when the migration starts" % exc.get_error_message())
            return
        model = cpu.findtext("model") or cpu.get("mode")
        if verdict == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
            self.preflight_report.add("cpu", FAILED, "the destination cannot run CPU model %s (IBM: migrate only to "
                                      "the same or a later machine, or give the guest an older model)" % model)
        else:
            self.preflight_report.add("cpu", OK, "CPU model %s is %s on the destination" % (
                model, "identical" if verdict == libvirt.VIR_CPU_COMPARE_IDENTICAL else "supported"))

    def _check_memory(self, live):
        current = live.find("currentMemory")
        memory = current if current is not None else live.find("memory")
        if memory is None:
            return
        need = domain_xml.to_kib(memory.text, memory.get("unit", "KiB")) * 1024
        try:
            free = self.dst.getFreeMemory()
        except libvirt.libvirtError as exc:
            self.preflight_report.add("memory", UNKNOWN, "the destination does not say how much memory is free (%s)"
                                      % exc.get_error_message())
            return
        status = OK if free >= need else FAILED
        self.preflight_report.add("memory", status, "the guest needs %d MiB, the destination has %d MiB free" % (
            need // 2 ** 20, free // 2 ** 20))

    def _check_destination_device(self, entry, target, mapped):
        """The mapped device exists on the destination, is prepared for VFIO and no other guest has it."""
        check = "device %s" % entry["key"]
        kind = entry["kind"]
        try:
            found, detail = self._destination_node(kind, target, mapped)
        except libvirt.libvirtError as exc:
            self.preflight_report.add(check, FAILED, "cannot verify %s on the destination: %s (fail closed: a device "
                                      "that cannot be read is not taken as ready)" % (target, exc.get_error_message()))
            return
        if not found:
            self.preflight_report.add(check, FAILED, detail)
            return
        user = self._destination_user(target)
        if user:
            self.preflight_report.add(check, FAILED, "%s on the destination is already assigned to guest %s" % (
                target, user))
            return
        self.preflight_report.add(check, OK, "unplug, then plug in %s on the destination (%s)" % (target, detail))

    def _destination_node(self, kind, target, mapped):
        """(ready, detail) of the destination's host device ``target`` from libvirt's node devices."""
        if kind in ("vfio-ccw", "vfio-ap"):
            flags = libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV
            for node in self.dst.listAllDevices(flags):
                name = node.name()
                xml = ET.fromstring(node.XMLDesc(0))
                uuid = (xml.findtext("./capability/uuid") or "").lower()
                if uuid == target or name.startswith("mdev_" + target.replace("-", "_")):
                    mdev_type = xml.find("./capability/type")
                    type_id = mdev_type.get("id") if mdev_type is not None else "?"
                    want = "vfio_ccw-io" if kind == "vfio-ccw" else "vfio_ap-passthrough"
                    if type_id != want:
                        return False, "mdev %s on the destination is of type %s, not %s" % (target, type_id, want)
                    return True, "active mdev %s of type %s, parent %s" % (target, type_id, xml.findtext("parent"))
            return False, ("the destination's libvirtd lists no active mediated device %s: prepare it there first "
                           "(s390x.kvm.vfio_ccw / s390x.kvm.vfio_ap with that UUID); if it exists in "
                           "/sys/bus/mdev/devices, libvirtd missed its udev event: restart libvirtd or udev there "
                           "(a device libvirt does not list is not taken as ready)" % target)
        if kind == "vfio-pci":
            name = "pci_" + target.replace(":", "_").replace(".", "_")
            try:
                node = self.dst.nodeDeviceLookupByName(name)
            except libvirt.libvirtError as exc:
                if client.is_error(exc, "VIR_ERR_NO_NODE_DEVICE"):
                    return False, "no PCI function %s on the destination" % target
                raise
            driver = ET.fromstring(node.XMLDesc(0)).findtext("./driver/name")
            if driver != "vfio-pci" and mapped.get("managed") != "yes":
                return False, ("PCI function %s on the destination is bound to %s, not vfio-pci: prepare it there "
                               "first (s390x.kvm.vfio_pci)" % (target, driver or "no driver"))
            return True, "PCI function %s bound to %s" % (target, driver or "no driver (libvirt binds it)")
        if kind == "scsi":
            adapter, bus, tgt, unit = target.split(":")
            name = "scsi_%s_%s_%s_%s" % (adapter.replace("scsi_host", ""), bus, tgt, unit)
            try:
                self.dst.nodeDeviceLookupByName(name)
            except libvirt.libvirtError as exc:
                if client.is_error(exc, "VIR_ERR_NO_NODE_DEVICE"):
                    return False, "no SCSI device %s on the destination" % target
                raise
            return True, "SCSI device %s" % target
        return True, target

    def _destination_user(self, target):
        """Name of a guest on the destination (other than this one) whose definition holds ``target``."""
        for dom in self.dst.listAllDomains(0):
            if dom.name() == self.name:
                continue
            texts = []
            try:
                if dom.isActive():
                    texts.append(dom.XMLDesc(0))
                if dom.isPersistent():
                    texts.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except libvirt.libvirtError:
                continue
            for text in texts:
                for device in domain_xml.parse(text).findall("./devices/*"):
                    if rules.host_source(device) == target:
                        return dom.name()
        return None

    # ---------------------------------------------------------------------------- journal
    def _new_journal(self, plan):
        journal = Journal(self.params["uri"], self.params["dest_uri"])
        self.journal = journal
        self._extend_journal(plan)
        return journal

    def _extend_journal(self, plan):
        for item in plan:
            entry = item["entry"]
            known = self.journal.device(entry["key"])
            if known is not None:
                known.target_key, known.target_xml = item["target_key"], item["target_xml"]
                continue
            self.journal.devices.append(JournalDevice(
                entry["key"], entry["kind"], ops.attach_xml(entry["element"]), item["target_key"],
                item["target_xml"]))

    # ---------------------------------------------------------------------------- unplug
    def _unplug(self, s_dom):
        journal = self.journal
        journal.phase = "unplug"
        journal.save(s_dom)
        timeout = self.params["wait_timeout"]
        with self.timer.phase("unplug"):
            for device in journal.devices:
                if device.status not in (PLANNED, UNPLUGGING):
                    continue
                element = ops.find_device(ops.xml_of(s_dom), device.key)
                if element is None:
                    if device.status == UNPLUGGING:
                        device.status, device.unplugged_at = UNPLUGGED, device.unplugged_at or time.time()
                        journal.save(s_dom)
                    continue
                device.status = UNPLUGGING
                journal.save(s_dom)
                self.checkpoint("unplug:requesting")
                try:
                    device.unplugged_at = ops.detach_live(self.src, s_dom, element, timeout)
                except client.LibvirtFailure as exc:
                    device.error = exc.msg
                    pending = isinstance(exc, ops.DeviceWaitFailure) and exc.outcome == "timeout"
                    if not pending and ops.find_device(ops.xml_of(s_dom), device.key) is not None:
                        device.status = PLANNED     # refused: it stays, nothing to give back
                    journal.save(s_dom)
                    self._rollback(s_dom, "unplugging %s failed" % device.key)
                    self.fail("unplugging %s from %s failed, so the migration was not started; %s. %s" % (
                        device.key, self.name, self._rollback_summary(), exc.msg), True, exc)
                self.checkpoint("unplug:confirmed")
                device.status = UNPLUGGED
                device.error = None
                journal.save(s_dom)

    # ---------------------------------------------------------------------------- migrate
    # boolean option -> the virDomainMigrateFlags bit it sets (virsh migrate's --p2p, --live, ...)
    FLAG_OPTIONS = (("peer_to_peer", "VIR_MIGRATE_PEER2PEER"), ("live", "VIR_MIGRATE_LIVE"),
                    ("persistent", "VIR_MIGRATE_PERSIST_DEST"), ("undefine_source", "VIR_MIGRATE_UNDEFINE_SOURCE"),
                    ("unsafe", "VIR_MIGRATE_UNSAFE"), ("auto_converge", "VIR_MIGRATE_AUTO_CONVERGE"),
                    ("postcopy", "VIR_MIGRATE_POSTCOPY"))
    COPY_STORAGE_FLAGS = {"all": "VIR_MIGRATE_NON_SHARED_DISK", "inc": "VIR_MIGRATE_NON_SHARED_INC"}

    def _flags(self):
        p = self.params
        flags = 0
        for option, name in self.FLAG_OPTIONS:
            if p[option]:
                flags |= getattr(libvirt, name)
        if p["copy_storage"] in self.COPY_STORAGE_FLAGS:
            flags |= getattr(libvirt, self.COPY_STORAGE_FLAGS[p["copy_storage"]])
        return flags

    def _persistent_xml(self, s_dom):
        """The destination's definition: the source's own, with each unplugged device replaced by
        its mapped device (devices only attached live stay out, as they were)."""
        try:
            text = s_dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_MIGRATABLE)
        except libvirt.libvirtError as exc:
            raise client.failure("cannot read the persistent definition of %s" % self.name, exc)
        root = domain_xml.parse(text)
        devices = root.find("devices")
        for device in self.journal.with_status(UNPLUGGED):
            old = ops.find_device(root, device.key)
            if old is None:
                continue
            index = list(devices).index(old)
            devices.remove(old)
            devices.insert(index, domain_xml.parse_device(device.target_xml))
        return domain_xml.to_text(root)

    def _migrate(self, s_dom):
        p = self.params
        self.journal.phase = "migrate"
        self.journal.save(s_dom)
        params = {}
        if p["migrate_uri"]:
            params[libvirt.VIR_MIGRATE_PARAM_URI] = p["migrate_uri"]
        if p["listen_address"]:
            params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] = p["listen_address"]
        if p["bandwidth"]:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = p["bandwidth"]
        if p["persistent"] and s_dom.isPersistent():
            params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML] = self._persistent_xml(s_dom)
        flags = self._flags()
        self.checkpoint("migrate:starting")
        with self.timer.phase("migrate"):
            if p["max_downtime"]:
                try:
                    s_dom.migrateSetMaxDowntime(p["max_downtime"], 0)
                except libvirt.libvirtError as exc:
                    self._rollback(s_dom, "max_downtime was refused")
                    self.fail("cannot set max_downtime %s ms on %s; %s" % (
                        p["max_downtime"], self.name, self._rollback_summary()), True,
                        client.failure("migrateSetMaxDowntime", exc))
            error, action = self._run_migration(s_dom, params, flags)
        if _active(s_dom):
            # Still running here: the migration did not complete (failed, aborted, or the
            # destination went away), whatever libvirt said. Give the guest its devices back.
            failure = client.failure("migrating %s to %s failed" % (self.name, p["dest_uri"]), error) \
                if error is not None else client.LibvirtFailure("the migration ended with the guest still on the "
                                                                "source")
            self._rollback(s_dom, "the migration failed")
            self.fail("%s%s; %s" % (failure.msg, " (timeout_action %s after %s s)" % (action, p["timeout"])
                                    if action else "", self._rollback_summary()), True, failure)
        d_dom = self._destination_domain()
        if not _active(d_dom):
            self.where = None
            self.fail("%s runs neither on the source nor on the destination after the migration: %s" % (
                self.name, error.get_error_message() if error is not None else "no error from libvirt"), True)
        if error is not None:
            self.warn("libvirt reported an error at the end of the migration, but %s runs on the destination: %s"
                      % (self.name, error.get_error_message()))
        self.where = p["dest_uri"]
        if action == "suspend" and _state(d_dom) == "paused":
            try:
                d_dom.resume()      # virsh --timeout-suspend: paused to finish, running again afterwards
            except libvirt.libvirtError as exc:
                self.warn("the guest stays paused on the destination: %s" % exc.get_error_message())
        try:
            stats = d_dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError:
            stats = {}
        self.job = dict((k, stats[k]) for k in JOB_KEYS if k in stats)
        if action:
            self.job["timeout_action"] = action
        return d_dom

    def _destination_domain(self):
        """The guest on the destination after the migration, reconnecting once when the connection
        broke (the destination's libvirtd may have restarted meanwhile); None when it is not there."""
        for attempt in (1, 2):
            try:
                return client.lookup_domain(self.dst, self.name)
            except client.LibvirtFailure:
                if attempt == 2:
                    return None
                try:
                    self.dst = client.connect(self.params["dest_uri"], events=True)
                except client.LibvirtFailure:
                    return None
        return None

    def _run_migration(self, s_dom, params, flags):
        """migrateToURI3 in a worker thread, watched by our timer (virsh's --timeout is client-side
        too). Returns (libvirtError or None, timeout action taken or None)."""
        p = self.params
        outcome = {}

        def call():
            try:
                if p["peer_to_peer"]:
                    s_dom.migrateToURI3(p["dest_uri"], params, flags)
                else:
                    s_dom.migrate3(self.dst, params, flags)
            except libvirt.libvirtError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=call, name="migrate-%s" % self.name)
        thread.daemon = True
        started = time.monotonic()
        thread.start()
        action = None
        while thread.is_alive():
            thread.join(0.25)
            if action is None and p["timeout"] and time.monotonic() - started > p["timeout"] and thread.is_alive():
                action = p["timeout_action"]
                try:
                    if action == "abort":
                        s_dom.abortJob()
                    elif action == "suspend":
                        s_dom.suspend()
                    else:
                        s_dom.migrateStartPostCopy(0)
                except libvirt.libvirtError as exc:
                    self.warn("timeout_action %s failed: %s" % (action, exc.get_error_message()))
        return outcome.get("error"), action

    # ---------------------------------------------------------------------------- replug
    def _replug(self, d_dom):
        journal = self.journal
        journal.phase = "replug"
        journal.save(d_dom)
        failed = []
        with self.timer.phase("replug"):
            for device in journal.with_status(UNPLUGGED):
                if ops.find_device(ops.xml_of(d_dom), device.target_key) is not None:
                    device.status = REPLUGGED
                    device.replugged_at = device.replugged_at or time.time()
                    journal.save(d_dom)
                    continue
                self.checkpoint("replug:requesting")
                try:
                    _alias, device.replugged_at = ops.attach_live(
                        self.dst, d_dom, device.target_xml, device.target_key, self.params["wait_timeout"])
                except client.LibvirtFailure as exc:
                    device.error = exc.msg
                    failed.append(device)
                    journal.save(d_dom)
                    continue
                device.status = REPLUGGED
                device.error = None
                journal.save(d_dom)
                self.checkpoint("replug:confirmed")
        if failed:
            self.outcome = "degraded"
            self.fail("%s runs on %s without %s: plugging %s in failed (%s). The journal keeps them; a re-run "
                      "retries the replug" % (
                          self.name, self.params["dest_uri"], ", ".join(d.target_key for d in failed),
                          "it" if len(failed) == 1 else "them", "; ".join(d.error for d in failed)), True)
        Journal.clear(d_dom)
        self.outcome = "migrated"

    # ---------------------------------------------------------------------------- rollback
    def _rollback(self, s_dom, why):
        """Plug back into the guest on the source what was really unplugged (never a device that
        was not), newest first."""
        journal = self.journal
        if journal is None:
            return
        journal.phase = "rollback"
        journal.save(s_dom)
        with self.timer.phase("rollback"):
            for device in reversed(journal.devices):
                if device.status not in (UNPLUGGING, UNPLUGGED):
                    continue
                if ops.find_device(ops.xml_of(s_dom), device.key) is not None:
                    if device.status == UNPLUGGED:
                        device.status = RESTORED
                        journal.save(s_dom)
                    # UNPLUGGING and still there: the guest has not answered the removal request,
                    # which QEMU keeps pending. It stays journaled: when the guest lets the device
                    # go, a re-run finds it gone and plugs it in again.
                    continue
                try:
                    _alias, device.replugged_at = ops.attach_live(
                        self.src, s_dom, device.xml, device.key, self.params["wait_timeout"])
                except client.LibvirtFailure as exc:
                    device.error = "%s; rollback could not plug it back: %s" % (why, exc.msg)
                    journal.save(s_dom)
                    continue
                device.status = RESTORED
                journal.save(s_dom)
        self.where = self.params["uri"]
        if journal.with_status(UNPLUGGED):
            self.outcome = "degraded"
        else:
            self.outcome = "rolled_back"
            if not journal.with_status(UNPLUGGING):
                Journal.clear(s_dom)

    def _rollback_summary(self):
        journal = self.journal
        lost = journal.with_status(UNPLUGGED) if journal else []
        pending = journal.with_status(UNPLUGGING) if journal else []
        restored = journal.with_status(RESTORED) if journal else []
        parts = []
        if lost:
            parts.append("the guest runs on the source WITHOUT %s (plugging back failed; a re-run retries)" % (
                ", ".join(d.key for d in lost)))
        elif restored:
            parts.append("the guest runs on the source with every device (%s plugged back)" % (
                ", ".join(d.key for d in restored)))
        else:
            parts.append("the guest runs on the source with every device")
        if pending:
            parts.append("the removal of %s is still pending in QEMU: the guest loses it when it answers, and a "
                         "re-run then plugs it back (or moves it)" % ", ".join(d.key for d in pending))
        return "; ".join(parts)
