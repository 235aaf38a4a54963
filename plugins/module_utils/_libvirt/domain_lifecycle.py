# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``s390x.kvm.domain`` does: bring a libvirt domain to a desired definition (semantic
comparison, :mod:`domain_xml`) and run state, with per-action timing, check mode that predicts the
real run, graceful shutdown that ends on libvirt's lifecycle event, and removal with storage."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import waiter

ACTIVE = lc.ACTIVE


class DomainManager(object):

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.conn = None
        self.dom = None
        self.actions = []
        self.seconds = {}
        self.result = {"changes": [], "defined": False, "restart_needed": False}
        self.diffs = []
        self.defaults = None
        self.defined_while_active = False

    # -- helpers ------------------------------------------------------------------------
    def _timed(self, action, func, *args):
        self.actions.append(action)
        if self.check:
            return None
        start = time.monotonic()
        try:
            return func(*args)
        except lc.libvirt.libvirtError as exc:
            raise lc.failure("%s of domain %s failed" % (action, self.name), exc)
        finally:
            self.seconds[action] = round(self.seconds.get(action, 0) + time.monotonic() - start, 3)

    def _state(self):
        if self.dom is None:
            return "absent"
        return lc.domain_state(self.dom)[0]

    # -- main ---------------------------------------------------------------------------
    def run(self):
        params = self.params
        self.name = params["name"]
        if self.name is not None and not self.name.strip():
            self.module.fail_json(msg="name is empty")     # an unset inventory variable, not a domain
        if params["xml"] is not None:
            try:
                xml_name = domain_xml.domain_name(params["xml"])
            except domain_xml.DomainXMLError as exc:
                self.module.fail_json(msg="xml: %s" % exc)
            if self.name and self.name != xml_name:
                self.module.fail_json(msg="name is %s but the <name> in xml is %s" % (self.name, xml_name))
            self.name = xml_name
        # lifecycle events end the shutdown wait
        self.conn = lc.connect(params["uri"], events=params["state"] == "shut_off" and not self.check)
        self.dom = lc.lookup_domain(self.conn, self.name)
        self.defaults = domain_ops.ConnectionDefaults(self.conn)
        previous = self._state()
        self.result["previous_state"] = previous
        wanted = params["state"]

        if wanted == "absent":
            self.absent(previous)
        else:
            if params["xml"]:
                self.present()
            elif self.dom is None:
                self.module.fail_json(msg="domain %s is not defined and no xml was given to define it" % self.name,
                                      name=self.name, state="absent", previous_state=previous)
            if params["autostart"] is not None:
                self.autostart(params["autostart"])
            self.run_state(wanted, previous)

        final = self._final_state(previous)
        self.result["restart_needed"] = final in ACTIVE and (self.defined_while_active or self._runs_older_definition())
        if previous != final:
            self.diffs.append({"before": "state: %s\n" % previous, "after": "state: %s\n" % final,
                               "before_header": "%s run state" % self.name, "after_header": "%s run state" % self.name})
        self.result.update(
            name=self.name, state=final, actions=self.actions, seconds=self.seconds,
            uuid=self.dom.UUIDString() if self.dom is not None and final != "absent" else None,
            changed=bool(self.actions),
        )
        if self.module._diff:
            self.result["diff"] = self.diffs
        return self.result

    def _final_state(self, previous):
        if not self.check:
            return self._state()
        # check mode: the state the actions would reach
        final = previous
        for action in self.actions:
            final = {"define": "shut_off" if final == "absent" else final, "start": "running",
                     "start_paused": "paused", "resume": "running", "suspend": "paused", "shutdown": "shut_off",
                     "destroy": "shut_off", "undefine": "absent"}.get(action, final)
        return final

    # -- definition ---------------------------------------------------------------------
    def present(self):
        stored = None
        if self.dom is not None:
            try:
                stored = self.dom.XMLDesc(lc.libvirt.VIR_DOMAIN_XML_INACTIVE)
            except lc.libvirt.libvirtError as exc:
                raise lc.failure("cannot read the definition of %s" % self.name, exc)
        try:
            comparison = domain_xml.compare(self.params["xml"], stored, self.defaults)
        except domain_xml.DomainXMLError as exc:
            self.module.fail_json(msg="xml: %s" % exc)
        self.result["changes"] = comparison.changes
        if not comparison.changed:
            return
        self.diffs.append(comparison.ansible_diff(self.name))
        self.result["defined"] = True
        new_xml = domain_xml.to_text(domain_xml.carry_over(self.params["xml"], stored))
        flags = lc.libvirt.VIR_DOMAIN_DEFINE_VALIDATE if (lc.HAS_LIBVIRT and self.params["validate"]) else 0
        self.defined_while_active = self.dom is not None and self._state() in ACTIVE
        dom = self._timed("define", self.conn.defineXMLFlags, new_xml, flags)
        if self.check:
            return
        self.dom = dom
        # What libvirt stored must now compare equal: otherwise a rewrite escaped normalisation
        # and every run would re-define. Say so instead of hiding it.
        again = domain_xml.compare(self.params["xml"], dom.XMLDesc(lc.libvirt.VIR_DOMAIN_XML_INACTIVE), self.defaults)
        if again.changed:
            self.module.warn("libvirt stored %s differently from the desired XML after defining it, so the next run "
                             "will report a change again: %s" % (self.name, "; ".join(
                                 "%s: %s -> %s" % (c["path"], c["before"], c["after"]) for c in again.changes)))

    def _runs_older_definition(self):
        """Whether the running domain differs from its persistent definition: defined anew while it
        ran, in this run or an earlier one, the definition takes effect at its next start."""
        if self.dom is None or (self.check and self._state() not in ACTIVE) or not self.dom.isPersistent():
            return False
        try:
            defined = self.dom.XMLDesc(lc.libvirt.VIR_DOMAIN_XML_INACTIVE)
            live = self.dom.XMLDesc(0)
        except lc.libvirt.libvirtError as exc:
            raise lc.failure("cannot read the definition of %s" % self.name, exc)
        return bool(domain_xml.compare_running(defined, live))

    def autostart(self, wanted):
        current = bool(self.dom.autostart()) if self.dom is not None else False
        if current != wanted:
            self._timed("autostart" if wanted else "no_autostart", self.dom.setAutostart if self.dom else None,
                        1 if wanted else 0)

    # -- run state ----------------------------------------------------------------------
    def run_state(self, wanted, previous):
        state = previous if self.dom is not None or self.check else "absent"
        if "define" in self.actions and state == "absent":
            state = "shut_off"
        dom = self.dom
        if wanted == "running":
            if state in ("shut_off", "crashed"):
                self._timed("start", dom.create if dom else None)
            elif state == "paused":
                self._timed("resume", dom.resume)
            elif state == "pmsuspended":
                self._timed("wakeup", dom.pMWakeup, 0)
        elif wanted == "paused":
            if state in ("shut_off", "crashed"):
                self._timed("start_paused", dom.createWithFlags if dom else None, lc.libvirt.VIR_DOMAIN_START_PAUSED)
            elif state == "running":
                self._timed("suspend", dom.suspend)
        elif wanted == "destroyed":
            if state in ACTIVE or state == "crashed":
                self._timed("destroy", dom.destroy)
        elif wanted == "shut_off":
            if state in ACTIVE or state == "crashed":
                self.shutdown(state)

    def shutdown(self, state):
        dom = self.dom
        if state == "crashed":
            self._timed("destroy", dom.destroy)
            return
        if state == "paused":
            self._timed("resume", dom.resume)
        if self.check:
            self._timed("shutdown", dom.shutdown)
            return
        timeout = self.params["shutdown_timeout"]
        with waiter.DomainEvents(self.conn, dom, ("lifecycle",)) as events:
            self._timed("shutdown", dom.shutdown)
            reached, now, waited = waiter.wait_for_state(dom, ("shut_off", "crashed", "undefined"), timeout,
                                                         events=events)
        self.seconds["shutdown"] = round(self.seconds.get("shutdown", 0) + waited, 3)
        if reached:
            self.result["shutdown"] = "graceful"
            return
        if not self.params["destroy_after_timeout"]:
            self.result.update(name=self.name, state=now, actions=self.actions, seconds=self.seconds, changed=True)
            self.module.fail_json(msg="domain %s did not shut down within %s s (state %s); set destroy_after_timeout "
                                      "to destroy it after the timeout" % (self.name, timeout, now), **self.result)
        try:
            self._timed("destroy", dom.destroy)
        except lc.LibvirtFailure:
            if lc.domain_state(dom)[0] not in ("shut_off", "crashed"):
                raise
            self.result["shutdown"] = "graceful"      # it went down between the timeout and the destroy
            return
        self.result["shutdown"] = "destroyed"

    # -- removal ------------------------------------------------------------------------
    def absent(self, previous):
        self.result.update(removed_storage=[], kept_storage=[])
        if self.dom is None:
            return
        if previous in ACTIVE or previous == "crashed":
            self._timed("destroy", self.dom.destroy)
        storage = self._storage() if self.params["remove_storage"] else []
        libvirt = lc.libvirt
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                 getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0))
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM if self.params["nvram"] == "remove" \
            else libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM
        stored = self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if self.module._diff else None
        self._timed("undefine", self.dom.undefineFlags, flags)
        if stored is not None:
            self.diffs.append({"before": domain_xml.to_text(domain_xml.normalize(stored, canonical_console=False)),
                               "after": "", "before_header": "%s (defined in libvirt)" % self.name,
                               "after_header": "%s (absent)" % self.name})
        for path in storage:
            self._remove_image(path)
        if not self.check:
            self.dom = None

    def _storage(self):
        """[(path, 'pool'|'file')] of the writable file/volume disks (others are never removed)."""
        root = domain_xml.parse(self.dom.XMLDesc(lc.libvirt.VIR_DOMAIN_XML_INACTIVE))
        found = []
        for disk in root.findall("./devices/disk"):
            if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None \
                    or disk.find("shareable") is not None:
                continue
            source = disk.find("source")
            if source is None:
                continue
            if disk.get("type") == "file" and source.get("file"):
                found.append(source.get("file"))
            elif disk.get("type") == "volume" and source.get("pool") and source.get("volume"):
                try:
                    vol = self.conn.storagePoolLookupByName(source.get("pool")).storageVolLookupByName(
                        source.get("volume"))
                    found.append(vol.path())
                except lc.libvirt.libvirtError as exc:
                    self.result["kept_storage"].append("%s/%s: %s" % (source.get("pool"), source.get("volume"), exc))
        return found

    def _remove_image(self, path):
        try:
            vol = self.conn.storageVolLookupByPath(path)
        except lc.libvirt.libvirtError:
            vol = None
        if vol is not None:
            self._timed("delete_volume", vol.delete, 0)
            self.result["removed_storage"].append(path)
            return
        if not _local_uri(self.params["uri"]):
            self.result["kept_storage"].append("%s: in no libvirt storage pool and the connection is remote" % path)
            return
        if not os.path.exists(path):
            self.result["kept_storage"].append("%s: does not exist" % path)
            return
        self.actions.append("delete_file")
        if not self.check:
            os.remove(path)
        self.result["removed_storage"].append(path)


_local_uri = lc.is_local_uri
