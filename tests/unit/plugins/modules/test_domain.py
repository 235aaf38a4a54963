# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""s390x.kvm.domain against a fake libvirt connection: what it decides (actions, check mode that
predicts the real run, undefine flags, stable MACs and devnos on a re-define). The real daemon is
exercised by tests/integration/guest/test_domain_module.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.modules import domain as domain_module

libvirt = pytest.importorskip("libvirt")

XML = """<domain type='qemu'><name>web1</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
<os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os>
<devices><interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>
<console type='pty'/></devices></domain>"""

# `virsh capabilities` of a RHEL 9 host, the parts read here (the alias stands for the distribution's
# version: terraform-provider-libvirt, libvirt/domain_def.go, getCanonicalMachineName's comment).
CAPABILITIES = """<capabilities><host><cpu><arch>s390x</arch></cpu></host>
<guest><os_type>hvm</os_type><arch name='s390x'><wordsize>64</wordsize><emulator>/usr/libexec/qemu-kvm</emulator>
<machine maxCpus='248'>s390-ccw-virtio-rhel9.6.0</machine>
<machine canonical='s390-ccw-virtio-rhel9.6.0' maxCpus='248'>s390-ccw-virtio</machine>
<machine maxCpus='248'>s390-ccw-virtio-rhel8.6.0</machine>
<domain type='qemu'/><domain type='kvm'/></arch></guest></capabilities>"""
MACHINE = "s390-ccw-virtio-7.2"


def stored_from(xml_text):
    """What libvirt 9.0 stores for XML (the rewrites that matter here)."""
    root = dx.normalize(xml_text)
    if root.find("./os/type").get("machine") == "s390-ccw-virtio":
        root.find("./os/type").set("machine", MACHINE)
    if root.find("uuid") is None:
        uuid = root.makeelement("uuid", {})
        uuid.text = "5a390b1e-0000-4000-8000-0000000000aa"
        root.insert(1, uuid)
    iface = root.find("./devices/interface")
    if iface is not None and iface.find("mac") is None:
        mac = iface.makeelement("mac", {"address": "52:54:00:12:34:56"})
        iface.insert(0, mac)
    if iface is not None and iface.find("address") is None:
        iface.append(iface.makeelement("address", {"type": "ccw", "cssid": "0xfe", "ssid": "0x0", "devno": "0x0000"}))
    return dx.to_text(root)


class FakeDomain(object):
    def __init__(self, conn, xml_text, state=5):
        self.conn = conn
        self.xml = stored_from(xml_text)
        self.state_value = state
        self.live = self.xml if state in (1, 3) else None      # what a running domain runs
        self.calls = []
        self.auto = 0

    def name(self):
        return dx.domain_name(self.xml)

    def UUIDString(self):
        return dx.parse(self.xml).findtext("uuid")

    def XMLDesc(self, flags=0):
        if self.live is not None and not flags & libvirt.VIR_DOMAIN_XML_INACTIVE:
            return self.live
        return self.xml

    def isPersistent(self):
        return 1

    def state(self):
        return self.state_value, 1

    def autostart(self):
        return self.auto

    def setAutostart(self, value):
        self.calls.append(("setAutostart", value))
        self.auto = value

    def create(self):
        self.calls.append(("create",))
        self.state_value = 1
        self.live = self.xml

    def createWithFlags(self, flags):
        self.calls.append(("createWithFlags", flags))
        self.state_value = 3
        self.live = self.xml

    def resume(self):
        self.calls.append(("resume",))
        self.state_value = 1

    def suspend(self):
        self.calls.append(("suspend",))
        self.state_value = 3

    def destroy(self):
        self.calls.append(("destroy",))
        self.state_value = 5
        self.live = None

    def shutdown(self):
        self.calls.append(("shutdown",))
        self.state_value = 5
        self.live = None

    def undefineFlags(self, flags):
        self.calls.append(("undefineFlags", flags))
        self.conn.domains.pop(self.name())


class FakeConn(object):
    def __init__(self):
        self.domains = {}
        self.defined = []

    def lookupByName(self, name):
        if name not in self.domains:
            raise _error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name '%s'" % name)
        return self.domains[name]

    def defineXMLFlags(self, xml_text, flags):
        self.defined.append((xml_text, flags))
        name = dx.domain_name(xml_text)
        old = self.domains.get(name)
        dom = FakeDomain(self, xml_text, state=old.state_value if old else 5)
        if old:
            dom.calls = old.calls
            dom.live = old.live                 # a running domain keeps running what it ran
        self.domains[name] = dom
        return dom

    def getCapabilities(self):
        self.calls_capabilities = getattr(self, "calls_capabilities", 0) + 1
        return CAPABILITIES

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):
        return 1

    def domainEventDeregisterAny(self, callback_id):
        pass

    def storageVolLookupByPath(self, path):
        raise _error(libvirt.VIR_ERR_NO_STORAGE_VOL, "no storage vol")


def _error(code, message):
    exc = libvirt.libvirtError(message)
    exc.err = (code, 10, message, 2, None, None, None, 0, 0)
    return exc


@pytest.fixture
def conn(monkeypatch):
    fake = FakeConn()
    monkeypatch.setattr(lc, "connect", lambda uri, readonly=False, events=False: fake)
    return fake


def run(monkeypatch, capsys, check=False, **args):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            domain_module.main()
    return json.loads(capsys.readouterr().out)


def test_new_domain_check_then_real_then_again(conn, monkeypatch, capsys):
    predicted = run(monkeypatch, capsys, check=True, xml=XML, state="running")
    assert predicted["changed"] and predicted["actions"] == ["define", "start"] and predicted["state"] == "running"
    assert conn.defined == []                        # check mode defined nothing
    applied = run(monkeypatch, capsys, xml=XML, state="running")
    assert applied["actions"] == predicted["actions"] and applied["state"] == "running"
    assert conn.defined[0][1] == libvirt.VIR_DOMAIN_DEFINE_VALIDATE
    assert conn.domains["web1"].calls == [("create",)]
    again = run(monkeypatch, capsys, xml=XML, state="running")
    assert again["changed"] is False and again["changes"] == []
    assert [d["before_header"] for d in applied["diff"]] == ["web1 (not defined)", "web1 run state"]


def test_redefine_keeps_generated_mac_devno_and_uuid(conn, monkeypatch, capsys):
    run(monkeypatch, capsys, xml=XML, state="present")
    first = dx.parse(conn.domains["web1"].xml)
    changed = XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    result = run(monkeypatch, capsys, xml=changed, state="present")
    assert result["changes"] == [{"path": "domain/vcpu/text()", "before": "1", "after": "2"}]
    sent = dx.parse(conn.defined[-1][0])
    assert sent.findtext("uuid") == first.findtext("uuid")
    assert sent.find("./devices/interface/mac").get("address") == "52:54:00:12:34:56"
    assert dx.hex_devno(sent.find("./devices/interface")) == "0x0000"


def test_running_domain_with_new_definition_needs_restart(conn, monkeypatch, capsys):
    run(monkeypatch, capsys, xml=XML, state="running")
    result = run(monkeypatch, capsys, xml=XML.replace("512", "640"), state="running")
    assert result["actions"] == ["define"] and result["restart_needed"] is True


@pytest.mark.parametrize("state, start, actions, final", [
    ("paused", 1, ["suspend"], "paused"),
    ("running", 3, ["resume"], "running"),
    ("destroyed", 1, ["destroy"], "shut_off"),
    ("shut_off", 1, ["shutdown"], "shut_off"),
    ("paused", 5, ["start_paused"], "paused"),
    ("destroyed", 5, [], "shut_off"),
])
def test_state_transitions(conn, monkeypatch, capsys, state, start, actions, final):
    run(monkeypatch, capsys, xml=XML, state="present")
    conn.domains["web1"].state_value = start
    predicted = run(monkeypatch, capsys, check=True, name="web1", state=state)
    applied = run(monkeypatch, capsys, name="web1", state=state)
    assert predicted["actions"] == applied["actions"] == actions
    assert predicted["state"] == applied["state"] == final
    assert predicted["changed"] == applied["changed"] == bool(actions)


@pytest.mark.parametrize("nvram, flag", [("remove", "VIR_DOMAIN_UNDEFINE_NVRAM"),
                                         ("keep", "VIR_DOMAIN_UNDEFINE_KEEP_NVRAM")])
def test_absent_undefines_with_managed_save_snapshots_and_nvram_flags(conn, monkeypatch, capsys, nvram, flag):
    run(monkeypatch, capsys, xml=XML, state="running")
    dom = conn.domains["web1"]
    result = run(monkeypatch, capsys, name="web1", state="absent", nvram=nvram)
    assert result["actions"] == ["destroy", "undefine"] and result["state"] == "absent"
    flags = dom.calls[-1][1]
    assert flags & libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    assert flags & libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    assert flags & getattr(libvirt, flag)
    assert run(monkeypatch, capsys, name="web1", state="absent")["changed"] is False


def test_name_and_xml_must_agree(conn, monkeypatch, capsys):
    result = run(monkeypatch, capsys, name="other", xml=XML, state="present")
    assert result["failed"] and result["msg"] == "name is other but the <name> in xml is web1"


@pytest.mark.parametrize("uri, local", [
    ("qemu:///system", True), ("qemu+unix:///system?socket=/run/x", True), ("qemu+ssh://root@h/system", False),
    ("qemu+tcp://localhost/system", True), ("qemu+tls://kvmhost2/system", False),
])
def test_local_uri(uri, local):
    assert lc.is_local_uri(uri) is local


def test_empty_xml_fails_before_libvirt_naming_xml(conn, monkeypatch, capsys):
    # an empty template result used to be taken for "no xml": a lookup of domain None in libvirt
    result = run(monkeypatch, capsys, xml="", state="present")
    assert result["failed"] and result["msg"] == "xml: the domain XML is empty"
    assert conn.defined == []


def test_metadata_in_a_foreign_namespace_is_sent_with_its_prefix(conn, monkeypatch, capsys):
    xml = XML.replace("<vcpu>", "<metadata><app:x xmlns:app='http://example.org/app'>1</app:x></metadata><vcpu>")
    run(monkeypatch, capsys, xml=xml, state="present")
    assert "<app:x xmlns:app='http://example.org/app'>1</app:x>" in conn.defined[-1][0]


def test_empty_name_fails_instead_of_finding_nothing_to_remove(conn, monkeypatch, capsys):
    result = run(monkeypatch, capsys, name="", state="absent")
    assert result["failed"] and result["msg"] == "name is empty"


def test_a_running_domain_defined_anew_needs_a_restart_until_it_restarts(conn, monkeypatch, capsys):
    run(monkeypatch, capsys, xml=XML, state="running")
    bigger = XML.replace("512", "640")
    assert run(monkeypatch, capsys, xml=bigger, state="running")["restart_needed"] is True
    # the next run changes nothing, and the guest still runs the old definition
    again = run(monkeypatch, capsys, xml=bigger, state="running")
    assert again["changed"] is False and again["restart_needed"] is True
    assert run(monkeypatch, capsys, check=True, xml=bigger, state="running")["restart_needed"] is True
    assert run(monkeypatch, capsys, name="web1", state="running")["restart_needed"] is True
    run(monkeypatch, capsys, name="web1", state="shut_off")
    restarted = run(monkeypatch, capsys, xml=bigger, state="running")
    assert restarted["actions"] == ["start"] and restarted["restart_needed"] is False
    # stopping it in check mode: it would not run the old definition any more
    run(monkeypatch, capsys, xml=XML, state="running")
    assert run(monkeypatch, capsys, check=True, xml=XML, state="shut_off")["restart_needed"] is False


def test_a_distribution_machine_version_is_no_change_and_asks_libvirt_once(conn, monkeypatch, capsys):
    monkeypatch.setitem(globals(), "MACHINE", "s390-ccw-virtio-rhel9.6.0")      # what RHEL's libvirt stores
    first = run(monkeypatch, capsys, xml=XML, state="present")
    assert conn.domains["web1"].xml.count("s390-ccw-virtio-rhel9.6.0") == 1
    again = run(monkeypatch, capsys, xml=XML, state="present")
    assert first["changed"] is True and again["changed"] is False
    assert conn.calls_capabilities == 2                 # once per run that compared a stored machine
    pinned = run(monkeypatch, capsys, xml=XML.replace("'s390-ccw-virtio'", "'s390-ccw-virtio-rhel8.6.0'"),
                 state="present")
    assert [c["path"] for c in pinned["changes"]] == ["domain/os/type/@machine"]
