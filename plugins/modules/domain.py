#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain
short_description: Define, start, stop and remove libvirt domains (KVM guests on IBM Z)
version_added: 0.2.0
description:
  - Makes a libvirt domain match a desired definition (O(xml)) and run state (O(state)).
  - Idempotent by B(semantic) comparison with what libvirt stores, not by text. libvirt's
    defaults (clock, C(on_*), C(currentMemory), emulator, C(<panic model='s390'/>), C(<audio>),
    memballoon, pci-root controller), the machine alias expanded to a versioned machine
    (C(s390-ccw-virtio) -> C(s390-ccw-virtio-7.2)), memory converted to KiB, a pty console
    turned into an SCLP serial console, assigned MAC addresses and CCW device numbers, device
    reordering and live-only data (aliases, pty paths, tap names) are not changes. Everything
    the desired XML states is compared, and so is everything a user can remove (devices, and
    user-only elements such as C(<memoryBacking>), C(<iothreads>), C(<boot>), C(<readonly/>)).
  - The domain is re-defined only when the comparison finds a difference; C(--diff) shows it
    as a unified diff of the parts that differ, and RV(changes) lists each changed field.
  - MAC addresses, CCW device numbers and the UUID that libvirt generated are kept on a
    re-define when the desired XML leaves them open, so guests keep their device identities; so are
    the device numbers of devices libvirt adds by itself (balloon, SCSI HBA, virtio-serial bus).
  - Devices the desired XML leaves without an identity (an interface without MAC) are paired with the
    stored device of their kind they differ from least, so removing one keeps the others' MACs.
  - Check mode defines, starts and stops nothing and reports what a real run would change.
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.libvirt
options:
  name:
    description:
      - Name of the domain. Required unless O(xml) is given (then the XML's C(<name>) is used and
        must match O(name) when both are given).
    type: str
  xml:
    description:
      - The desired domain XML (for example from the P(s390x.kvm.guest#role) role's templates, or
        C(lookup('template', ...))).
      - Without it the module manages the run state of an existing domain only.
    type: str
  state:
    description:
      - V(present) defines (or updates) the domain and leaves its run state alone.
      - V(running) also starts it (or resumes it when paused).
      - V(paused) also starts it paused, or suspends it when it runs.
      - V(shut_off) shuts it down gracefully, waiting O(shutdown_timeout) seconds (see O(destroy_after_timeout)).
      - V(destroyed) stops it at once (the equivalent of pulling the plug).
      - V(absent) stops it at once and undefines it (see O(remove_storage) and O(nvram)); managed save
        images and snapshot/checkpoint metadata are removed with it.
    type: str
    choices: [present, absent, running, shut_off, destroyed, paused]
    default: present
  autostart:
    description:
      - Whether libvirtd starts the domain when it starts. Left alone when not given.
    type: bool
  shutdown_timeout:
    description:
      - Seconds to wait for a graceful shutdown (O(state=shut_off)).
    type: int
    default: 120
  destroy_after_timeout:
    description:
      - When the guest has not shut down after O(shutdown_timeout) seconds, destroy it instead of failing.
    type: bool
    default: false
  validate:
    description:
      - Ask libvirt to validate the XML against its schema when defining (C(VIR_DOMAIN_DEFINE_VALIDATE)).
    type: bool
    default: true
  remove_storage:
    description:
      - With O(state=absent), also delete the domain's writable disk images. Images in a libvirt storage
        pool are deleted through the pool; files outside any pool are removed only when the connection is
        local. Read-only and shareable disks, CD-ROMs and block devices are never removed.
    type: bool
    default: false
  nvram:
    description:
      - With O(state=absent), whether to remove or keep the domain's NVRAM file.
    type: str
    choices: [remove, keep]
    default: remove
attributes:
  check_mode:
    support: full
    description: Nothing is defined, started or stopped; the result (C(changed), diff, RV(changes)) is what a real run reports.
  diff_mode:
    support: full
    description: Unified diff of the semantic difference between libvirt's stored definition and the desired one, plus the run state.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
notes:
  - The comparison is against the persistent (inactive) definition. When a running domain's definition
    changes, the new definition takes effect at the next start; RV(restart_needed) says so. Use
    M(s390x.kvm.domain_device) for live device changes.
  - Graphics passwords are not compared (libvirt hides them without C(VIR_DOMAIN_XML_SECURE)).
  - C(<metadata>) of namespaces the desired XML does not write (set by other applications with
    C(virDomainSetMetadata)) is neither compared nor removed by a re-define.
  - Elements and attributes that libvirt fills in by default and that the desired XML does not mention
    keep libvirt's value (state them to compare them).
seealso:
  - module: s390x.kvm.domain_info
  - name: IBM KVM on Z, domain configuration-XML
    description: The XML elements of a KVM virtual server on IBM Z.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=xml-domain-configuration
  - name: libvirt domain XML format
    description: Reference of every element compared here.
    link: https://libvirt.org/formatdomain.html
"""

EXAMPLES = r"""
- name: Define a guest from a template and start it
  s390x.kvm.domain:
    xml: "{{ lookup('ansible.builtin.template', 'guest.xml.j2') }}"
    state: running

- name: Shut a guest down, pulling the plug after 60 s
  s390x.kvm.domain:
    name: web1
    state: shut_off
    shutdown_timeout: 60
    destroy_after_timeout: true

- name: Remove a guest and its disk images
  s390x.kvm.domain:
    name: web1
    state: absent
    remove_storage: true

- name: Against another host's libvirtd
  s390x.kvm.domain:
    uri: qemu+ssh://root@kvmhost2/system
    name: web1
    state: running
"""

RETURN = r"""
name:
  description: Domain name.
  returned: always
  type: str
  sample: web1
uuid:
  description: Domain UUID (null when the domain does not exist, or would be new in check mode).
  returned: always
  type: str
  sample: 5a390b1e-0000-4000-8000-000000000001
state:
  description: Run state after the task (V(absent) when not defined; in check mode, the state a real run would reach).
  returned: always
  type: str
  sample: running
previous_state:
  description: Run state before the task (V(absent) when not defined).
  returned: always
  type: str
  sample: shut_off
defined:
  description: Whether the task defined or re-defined the domain (or would, in check mode).
  returned: always
  type: bool
changes:
  description: Each field of the definition that differs, as a path with the stored and desired values.
  returned: always
  type: list
  elements: dict
  sample:
    - path: "domain/devices/disk[vdb]/driver/@cache"
      before: none
      after: writeback
actions:
  description: What the task did (or would do, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [define, start]
restart_needed:
  description: Whether the domain runs with an older definition than the one now stored.
  returned: always
  type: bool
shutdown:
  description: How a shutdown ended (V(graceful), V(destroyed) after the timeout), when one was done.
  returned: when the task shut the domain down
  type: str
  sample: graceful
removed_storage:
  description: Disk images deleted with O(remove_storage=true).
  returned: when state is absent
  type: list
  elements: str
kept_storage:
  description: Writable disk images O(remove_storage=true) could not delete, with the reason.
  returned: when state is absent
  type: list
  elements: str
seconds:
  description: Time spent per action.
  returned: always
  type: dict
  sample: {define: 0.02, start: 0.35}
libvirt_error:
  description: The libvirt error behind a failure (code, code_name such as V(VIR_ERR_OPERATION_INVALID), domain, message).
  returned: on failure from libvirt
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
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
            comparison = domain_xml.compare(self.params["xml"], stored)
        except domain_xml.DomainXMLError as exc:
            self.module.fail_json(msg="xml: %s" % exc)
        self.result["changes"] = comparison.changes
        if not comparison.changed:
            return
        self.diffs.append(comparison.ansible_diff(self.name))
        self.result["defined"] = True
        new_xml = domain_xml.to_text(domain_xml.carry_over(self.params["xml"], stored))
        flags = lc.libvirt.VIR_DOMAIN_DEFINE_VALIDATE if (lc.HAS_LIBVIRT and self.params["validate"]) else 0
        dom = self._timed("define", self.conn.defineXMLFlags, new_xml, flags)
        if self.check:
            if self.dom is not None and self._state() in ACTIVE:
                self.result["restart_needed"] = True
            return
        self.dom = dom
        # What libvirt stored must now compare equal: otherwise a rewrite escaped normalisation
        # and every run would re-define. Say so instead of hiding it.
        again = domain_xml.compare(self.params["xml"], dom.XMLDesc(lc.libvirt.VIR_DOMAIN_XML_INACTIVE))
        if again.changed:
            self.module.warn("libvirt stored %s differently from the desired XML after defining it, so the next run "
                             "will report a change again: %s" % (self.name, "; ".join(
                                 "%s: %s -> %s" % (c["path"], c["before"], c["after"]) for c in again.changes)))
        if self._state() in ACTIVE:
            self.result["restart_needed"] = True

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


def main():
    argument_spec = dict(
        name=dict(type="str"),
        xml=dict(type="str"),
        state=dict(type="str", default="present",
                   choices=["present", "absent", "running", "shut_off", "destroyed", "paused"]),
        autostart=dict(type="bool"),
        shutdown_timeout=dict(type="int", default=120),
        destroy_after_timeout=dict(type="bool", default=False),
        validate=dict(type="bool", default=True),
        remove_storage=dict(type="bool", default=False),
        nvram=dict(type="str", default="remove", choices=["remove", "keep"]),
    )
    client = lc.LibvirtModule(AnsibleModule, argument_spec, supports_check_mode=True,
                              required_one_of=[("name", "xml")])
    module = client.module
    if module.params["shutdown_timeout"] < 0:
        module.fail_json(msg="shutdown_timeout must be 0 or more, got %s" % module.params["shutdown_timeout"])
    manager = DomainManager(module)

    def partial():
        result = dict(manager.result)
        result.update(name=getattr(manager, "name", module.params["name"]), actions=manager.actions)
        return result

    client.run(manager.run, partial)


if __name__ == "__main__":
    main()
