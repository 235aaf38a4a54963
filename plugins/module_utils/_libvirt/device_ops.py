# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``s390x.kvm.domain_device`` does: attach or detach devices, by identity, to or from the
running guest and its persistent definition, waiting for libvirt's confirmation of each live change
(:func:`domain_ops.attach_live`, :func:`domain_ops.detach_live`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops as ops
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import libvirt
from ansible_collections.s390x.kvm.plugins.module_utils._migration_journal import iso


def wanted_devices(xml_texts):
    """[(key, element, text)] of the given device XML documents; refuses a device without an
    identity (attaching it twice would add a second one) and two documents of the same device."""
    out = []
    seen = set()
    for index, text in enumerate(xml_texts):
        try:
            element = domain_xml.parse_device(text)
        except domain_xml.DomainXMLError as exc:
            raise ValueError("xml[%d]: %s" % (index, exc))
        if element.tag in ("domain", "devices"):
            raise ValueError("xml[%d]: <%s> is not a device: give one device per item (<disk>, <hostdev>, ...)"
                             % (index, element.tag))
        key = domain_xml.device_key(element)
        if key == element.tag:
            raise ValueError("xml[%d]: the <%s> has no identity (a disk target, a MAC, a host device source, a "
                             "filesystem tag) and no address (CCW devno, zPCI uid), so it cannot be found again: "
                             "add one" % (index, element.tag))
        if key in seen:
            raise ValueError("xml[%d]: %s is given twice" % (index, key))
        seen.add(key)
        out.append((key, element, text))
    return out


class DeviceChange(object):
    """One domain_device task over a LibvirtModule ``client``."""

    def __init__(self, client_module, wanted, check_mode, diff):
        self.client = client_module
        self.params = client_module.params
        self.wanted = wanted
        self.check = check_mode
        self.diff = diff
        self.timer = ops.PhaseTimer()
        self.devices = []
        self.changed = False
        self.before = {}

    def result(self):
        out = {"changed": self.changed, "name": self.params["name"], "devices": self.devices,
               "seconds": self.timer.as_dict()}
        return out

    def run(self):
        params = self.params
        name = params["name"]
        wait = params["wait"] and not self.check
        conn = self.client.connect(events=wait and params["live"])
        dom = client.lookup_domain(conn, name)
        if dom is None:
            raise client.LibvirtFailure("domain %s is not defined on %s" % (name, params["uri"]))
        running = client.domain_state(dom)[0] in client.ACTIVE
        persistent = bool(dom.isPersistent())
        live_root = ops.xml_of(dom) if running else None
        config_root = ops.xml_of(dom, inactive=True) if persistent else None
        keys_before = self._keys(live_root, config_root)
        present = params["state"] == "present"
        order = self.wanted if present else list(reversed(self.wanted))
        for key, element, text in order:
            entry = {"key": key, "live": "skipped", "config": "skipped"}
            self.devices.append(entry)
            if params["live"] and running:
                entry["live"] = self._live(conn, dom, key, text, live_root, present, wait, entry)
            if params["config"] and persistent:
                entry["config"] = self._config(dom, key, text, config_root, present)
        if not present:
            self.devices.reverse()      # report in the order given
        result = self.result()
        if self.diff:
            after = self._predicted_keys(keys_before)
            result["diff"] = [{"before": "\n".join(keys_before[part]) + "\n", "after": "\n".join(after[part]) + "\n",
                               "before_header": "%s %s devices" % (name, part),
                               "after_header": "%s %s devices" % (name, part)}
                              for part in ("live", "config") if keys_before[part] is not None]
        return result

    @staticmethod
    def _keys(live_root, config_root):
        def keys(root):
            return None if root is None else [domain_xml.device_key(d) for d in ops.devices(root)]
        return {"live": keys(live_root), "config": keys(config_root)}

    def _predicted_keys(self, before):
        after = {}
        for part in ("live", "config"):
            if before[part] is None:
                after[part] = None
                continue
            keys = list(before[part])
            for entry in self.devices:
                if entry[part] == "attached":
                    keys.append(entry["key"])
                elif entry[part] == "detached" and entry["key"] in keys:
                    keys.remove(entry["key"])
            after[part] = keys
        return after

    def _needed(self, root, key, present):
        """(the device as found in ``root``, what is already true - ``present``/``absent`` - or None
        when a change is needed; it counts as a change then)."""
        found = ops.find_device(root, key)
        if present and found is not None:
            return found, "present"
        if not present and found is None:
            return found, "absent"
        self.changed = True
        return found, None

    def _live(self, conn, dom, key, text, root, present, wait, entry):
        found, already = self._needed(root, key, present)
        if already or self.check:
            return already or ("attached" if present else "detached")
        with self.timer.phase("attach_live" if present else "detach_live"):
            try:
                if present and wait:
                    _alias, at = ops.attach_live(conn, dom, text, key, self.params["wait_timeout"])
                    entry["confirmed_at"] = iso(at)
                elif present:
                    dom.attachDeviceFlags(text, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                elif wait:
                    entry["confirmed_at"] = iso(ops.detach_live(conn, dom, found, self.params["wait_timeout"]))
                else:
                    alias = ops.alias_of(found)
                    if alias:
                        dom.detachDeviceAlias(alias, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                    else:
                        dom.detachDeviceFlags(ops.attach_xml(found), libvirt.VIR_DOMAIN_AFFECT_LIVE)
                    entry["confirmed_at"] = None if ops.find_device(ops.xml_of(dom), key) is not None \
                        else iso(time.time())
            except libvirt.libvirtError as exc:
                entry["live"] = "failed"
                raise client.failure("%s %s %s the running guest %s" % (
                    "attaching" if present else "detaching", key, "to" if present else "from", dom.name()), exc)
            except client.LibvirtFailure:
                entry["live"] = "failed"
                raise
        return "attached" if present else "detached"

    def _config(self, dom, key, text, root, present):
        found, already = self._needed(root, key, present)
        if already or self.check:
            return already or ("attached" if present else "detached")
        with self.timer.phase("attach_config" if present else "detach_config"):
            try:
                if present:
                    dom.attachDeviceFlags(text, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
                else:
                    dom.detachDeviceFlags(domain_xml.to_text(found), libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            except libvirt.libvirtError as exc:
                raise client.failure("%s %s %s the definition of %s" % (
                    "attaching" if present else "detaching", key, "to" if present else "from", dom.name()), exc)
        return "attached" if present else "detached"
