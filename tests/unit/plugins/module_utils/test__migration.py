# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration: the state machine of s390x.kvm.migrate against two stand-in libvirt hosts that behave
as libvirt does where the machine depends on it (device events delivered before the detach call
returns, live metadata migrating with the domain, a persistent XML given to the destination, node
devices and other guests on the destination). The real daemons, a real vfio-ccw device and the
fault matrix are in tests/integration (libvirt/test_migrate_*.py, zhost/test_zhost_migrate.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx
from ansible_collections.s390x.kvm.plugins.module_utils import _migration as migration
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._migration_journal import Journal, NAMESPACE

libvirt = pytest.importorskip("libvirt")

MDEV_A = "aaaaaaaa-0000-4000-8000-00000000000a"
MDEV_B = "bbbbbbbb-0000-4000-8000-00000000000b"
GUEST = """<domain type='kvm'><name>web1</name><uuid>5a390b1e-0000-4000-8000-000000000001</uuid>
<memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>1048576</currentMemory>
<os><type arch='s390x' machine='s390-ccw-virtio-9.2'>hvm</type></os>
<cpu mode='custom' match='exact'><model fallback='forbid'>gen16a</model></cpu>
<devices>
<disk type='block' device='disk'><driver name='qemu' type='raw' cache='none' io='native'/>
  <source dev='/dev/disk/by-id/ccw-IBM.750000000FG861.7b00.0a'/><target dev='vda' bus='virtio'/>
  <alias name='virtio-disk0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/><model type='virtio'/>
  <alias name='net0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></interface>
<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/>
  <rom enabled='no'/><alias name='net1'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'><zpci uid='0x0005' fid='0x0000000a'/></address>
</interface>
<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-ccw'><source><address uuid='%s'/></source>
  <alias name='hostdev0'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>
</devices></domain>""" % MDEV_A
MDEV_KEY = "hostdev[mdev:%s]" % MDEV_A
MAPPED_KEY = "hostdev[mdev:%s]" % MDEV_B
ZPCI_KEY = "interface[52:54:00:00:00:02]"


def error(code, message):
    exc = libvirt.libvirtError(message)
    exc.err = (code, 10, message, 2, None, None, None, 0, 0)
    return exc


class FakeDomain(object):
    def __init__(self, host, xml, state=1):
        self.host = host
        self.live = dx.parse(xml)
        self.config = dx.parse(xml)
        self.state_value = state
        self.metadata_text = None
        self.persistent = True
        self.job = libvirt.VIR_DOMAIN_JOB_NONE
        self.refuse_removal = False

    def name(self):
        return self.live.findtext("name")

    def UUIDString(self):
        return self.live.findtext("uuid")

    def state(self):
        if self.host.domains.get(self.name()) is not self:
            raise error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
        return self.state_value, 1

    def isPersistent(self):
        return self.persistent

    def isActive(self):
        return self.state_value in (1, 3)

    def jobInfo(self):
        return [self.job] + [0] * 11

    def XMLDesc(self, flags=0):
        root = copy.deepcopy(self.config if flags & libvirt.VIR_DOMAIN_XML_INACTIVE else self.live)
        if self.metadata_text and not flags & libvirt.VIR_DOMAIN_XML_INACTIVE:
            metadata = root.makeelement("metadata", {})
            metadata.append(dx.parse_device(self.metadata_text.replace("<migration ", "<migration xmlns='%s' " % NAMESPACE, 1)))
            root.insert(2, metadata)
        return dx.to_text(root)

    def metadata(self, kind, uri, flags):
        if self.metadata_text is None:
            raise error(libvirt.VIR_ERR_NO_DOMAIN_METADATA, "metadata not found")
        return self.metadata_text

    def setMetadata(self, kind, text, key, uri, flags):
        assert flags == libvirt.VIR_DOMAIN_AFFECT_LIVE, "the journal belongs to the live domain"
        self.metadata_text = text

    def _devices(self, root):
        return root.find("devices")

    def detachDeviceAlias(self, alias, flags):
        self.host.calls.append(("detach", alias))
        if self.refuse_removal:
            self.host.fire(self, "device_removal_failed", alias)
            return
        devices = self._devices(self.live)
        for device in list(devices):
            if device.find("alias") is not None and device.find("alias").get("name") == alias:
                devices.remove(device)
                self.host.fire(self, "device_removed", alias)
                return
        raise error(libvirt.VIR_ERR_DEVICE_MISSING, "no device with alias %s" % alias)

    def attachDeviceFlags(self, xml, flags):
        element = dx.parse_device(xml)
        key = dx.device_key(element)
        self.host.calls.append(("attach", key))
        if key in self.host.refuse_attach:
            raise error(libvirt.VIR_ERR_INTERNAL_ERROR, "unable to attach %s" % key)
        if element.find("alias") is None:
            self.host.aliases += 1
            element.append(element.makeelement("alias", {"name": "auto%d" % self.host.aliases}))
        self._devices(self.live).append(element)
        self.host.fire(self, "device_added", element.find("alias").get("name"))

    def migrateToURI3(self, dest_uri, params, flags):
        self.host.calls.append(("migrate", dest_uri, flags))
        if self.host.fail_migration:
            raise error(libvirt.VIR_ERR_OPERATION_FAILED, self.host.fail_migration)
        dest = HOSTS[dest_uri]
        blockers = [dx.device_key(d) for d in self.live.find("devices")
                    if d.tag == "hostdev" or (d.find("address") is not None and d.find("address").get("type") == "pci")]
        if blockers:
            raise error(libvirt.VIR_ERR_OPERATION_INVALID, "cannot migrate domain: non-migratable device: %s" % blockers)
        moved = FakeDomain(dest, self.XMLDesc(0))
        moved.live = copy.deepcopy(self.live)
        moved.metadata_text = self.metadata_text           # live metadata goes with the domain
        moved.config = dx.parse(params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML])
        dest.domains[self.name()] = moved
        del self.host.domains[self.name()]

    def jobStats(self, flags=0):
        return {"time_elapsed": 270, "downtime": 30, "data_total": 1 << 28}

    def migrateSetMaxDowntime(self, ms, flags):
        self.host.calls.append(("downtime", ms))


class FakeNode(object):
    def __init__(self, name, xml):
        self._name, self.xml = name, xml

    def name(self):
        return self._name

    def XMLDesc(self, flags):
        return self.xml


class FakeHost(object):
    def __init__(self, uri, host_uuid):
        self.uri = uri
        self.host_uuid = host_uuid
        self.domains = {}
        self.callbacks = {}
        self.calls = []
        self.aliases = 0
        self.refuse_attach = set()
        self.fail_migration = None
        self.mdevs = {}

    # connection
    machines = ("s390-ccw-virtio-9.2", "s390-ccw-virtio-9.1")       # the newest first, as QEMU lists them

    def getCapabilities(self):
        machines = "".join("<machine>%s</machine>" % m for m in self.machines)
        alias = "<machine canonical='%s'>s390-ccw-virtio</machine>" % self.machines[0] if self.machines else ""
        return ("<capabilities><host><uuid>%s</uuid></host><guest><os_type>hvm</os_type><arch name='s390x'>%s%s"
                "<domain type='qemu'/></arch></guest></capabilities>") % (self.host_uuid, machines, alias)

    def getVersion(self):
        return 9002000

    def getFreeMemory(self):
        return 16 << 30

    def compareHypervisorCPU(self, *args):
        return libvirt.VIR_CPU_COMPARE_SUPERSET

    def lookupByName(self, name):
        if name not in self.domains:
            raise error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: %s" % name)
        return self.domains[name]

    def listAllDomains(self, flags=0):
        return list(self.domains.values())

    def listAllDevices(self, flags):
        return [FakeNode("mdev_%s_0_0_0001" % uuid.replace("-", "_"),
                         "<device><name>x</name><parent>css_0_0_0001</parent><capability type='mdev'>"
                         "<type id='%s'/><uuid>%s</uuid></capability></device>" % (kind, uuid))
                for uuid, kind in self.mdevs.items()]

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):
        key = len(self.callbacks) + 1000
        self.callbacks[key] = (dom, event_id, callback, opaque)
        return key

    def domainEventDeregisterAny(self, key):
        self.callbacks.pop(key, None)

    def fire(self, dom, kind, alias):
        event_id = getattr(libvirt, {"device_removed": "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED",
                                     "device_added": "VIR_DOMAIN_EVENT_ID_DEVICE_ADDED",
                                     "device_removal_failed": "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED"}[kind])
        for registered, wanted, callback, opaque in list(self.callbacks.values()):
            if wanted == event_id and (registered is None or registered is dom):
                callback(self, dom, alias, opaque)


HOSTS = {}


@pytest.fixture
def hosts(monkeypatch):
    src = FakeHost("qemu+ssh://kvmhost1/system", "host-1")
    dst = FakeHost("qemu+ssh://kvmhost2/system", "host-2")
    HOSTS.clear()
    HOSTS.update({src.uri: src, dst.uri: dst})
    src.domains["web1"] = FakeDomain(src, GUEST)
    dst.mdevs[MDEV_B] = "vfio_ccw-io"

    def connect(uri, readonly=False, events=False):
        if uri not in HOSTS or HOSTS[uri] is None:
            raise client.LibvirtFailure("cannot connect to libvirt at %s: no such host" % uri)
        return HOSTS[uri]

    monkeypatch.setattr(client, "connect", connect)
    return src, dst


def params(**overrides):
    out = dict((k, v.get("default")) for k, v in migration.ARGUMENT_SPEC.items())
    out.update(name="web1", uri="qemu+ssh://kvmhost1/system", dest_uri="qemu+ssh://kvmhost2/system",
               device_map={MDEV_A: MDEV_B}, wait_timeout=5)
    out.update(overrides)
    return out


def run(check=False, **overrides):
    warnings = []
    job = migration.Migration(params(**overrides), check_mode=check, warn=warnings.append)
    try:
        result = job.run()
    except migration.MigrationFailed as exc:
        result = dict(exc.result, failed=True, msg=exc.msg)
    result["warnings"] = warnings
    return result


def keys(dom, inactive=False):
    root = dom.config if inactive else dom.live
    return [dx.device_key(d) for d in root.find("devices")]


def test_check_mode_is_the_preflight_report_and_changes_nothing(hosts):
    src, dst = hosts
    result = run(check=True)
    assert result["changed"] and result["outcome"] == "planned"
    report = result["preflight"]
    assert report["passed"]
    assert [(d["key"], d["target_key"]) for d in report["devices"]] == [(ZPCI_KEY, ZPCI_KEY), (MDEV_KEY, MAPPED_KEY)]
    statuses = dict((c["check"], c["status"]) for c in report["checks"])
    assert statuses["cpu"] == "ok" and statuses["memory"] == "ok" and statuses["device %s" % MDEV_KEY] == "ok"
    assert src.calls == [] and dst.calls == [] and src.domains["web1"].metadata_text is None


def test_migrates_unplugging_and_replugging_the_mapped_devices(hosts):
    src, dst = hosts
    result = run()
    assert result["outcome"] == "migrated" and result["host"] == dst.uri and result["changed"]
    assert "web1" not in src.domains
    moved = dst.domains["web1"]
    assert ZPCI_KEY in keys(moved) and MAPPED_KEY in keys(moved) and MDEV_KEY not in keys(moved)
    assert MAPPED_KEY in keys(moved, inactive=True) and MDEV_KEY not in keys(moved, inactive=True)
    assert moved.metadata_text is None, "the journal is removed at the end"
    assert [c[0] for c in src.calls] == ["detach", "detach", "migrate"]
    assert dst.calls == [("attach", ZPCI_KEY), ("attach", MAPPED_KEY)]
    flags = src.calls[2][2]
    assert flags & libvirt.VIR_MIGRATE_LIVE and flags & libvirt.VIR_MIGRATE_PEER2PEER
    assert flags & libvirt.VIR_MIGRATE_PERSIST_DEST and flags & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    assert all(d["status"] == "replugged" and d["outage_s"] >= 0 for d in result["devices"])
    assert result["job"]["downtime"] == 30
    again = run()
    assert again["outcome"] == "already_there" and not again["changed"]


@pytest.mark.parametrize("change, reason", [
    (lambda src, dst: dst.mdevs.clear(), "libvirtd lists no active mediated device %s" % MDEV_B),
    (lambda src, dst: dst.mdevs.update({MDEV_B: "vfio_ap-passthrough"}), "is of type vfio_ap-passthrough"),
    (lambda src, dst: dst.domains.update(other=FakeDomain(dst, GUEST.replace(MDEV_A, MDEV_B).replace(
        "web1", "other").replace("000000000001", "000000000002"), state=5)), "already assigned to guest other"),
    (lambda src, dst: setattr(dst, "host_uuid", "host-1"), "is the same host"),
    (lambda src, dst: setattr(src.domains["web1"], "state_value", 3), "is paused: zPCI devices"),
    (lambda src, dst: HOSTS.update({dst.uri: None}), "cannot connect to libvirt at qemu+ssh://kvmhost2/system"),
    # an older QEMU (libvirt 9.0's 7.2) has not the machine a newer one started the guest on
    (lambda src, dst: setattr(dst, "machines", ("s390-ccw-virtio-7.2", "s390-ccw-virtio-7.1")),
     "the destination's QEMU has no machine s390-ccw-virtio-9.2 (its newest: s390-ccw-virtio-7.2)"),
])
def test_preflight_refusals_change_nothing(hosts, change, reason):
    src, dst = hosts
    change(src, dst)
    result = run()
    assert result["failed"] and "preflight refused" in result["msg"] and reason in result["msg"], result["msg"]
    assert not result["changed"] and src.calls == [] and src.domains["web1"].metadata_text is None


def test_refused_devices_name_what_to_do(hosts):
    src, _dst = hosts
    xml = GUEST.replace("</devices>", "<hostdev mode='subsystem' type='mdev' model='vfio-ap'><source><address "
                        "uuid='cccccccc-0000-4000-8000-00000000000c'/></source></hostdev><filesystem type='mount'>"
                        "<driver type='virtiofs'/><source dir='/srv'/><target dir='srv'/></filesystem></devices>")
    src.domains["web1"] = FakeDomain(src, xml)
    result = run(postcopy=True)
    assert "set ap_policy=unplug" in result["msg"] and "virtio-fs: IBM requires it unmounted" in result["msg"]
    assert "post-copy with VFIO devices attached" in result["msg"]


def test_device_map_typo_is_refused(hosts):
    result = run(device_map={"0.0.0100": MDEV_B})
    assert result["failed"] and "device_map: '0.0.0100' names no pass-through device" in result["msg"]


def test_failed_migration_plugs_back_only_what_was_unplugged(hosts):
    src, dst = hosts
    src.fail_migration = "migration aborted: link down"
    result = run()
    assert result["failed"] and result["outcome"] == "rolled_back" and result["host"] == src.uri
    assert "link down" in result["msg"] and "with every device" in result["msg"]
    dom = src.domains["web1"]
    assert sorted(keys(dom)) == sorted(dx.device_key(d) for d in dx.parse(GUEST).find("devices"))
    assert dom.metadata_text is None and "web1" not in dst.domains
    assert [c[0] for c in src.calls] == ["detach", "detach", "migrate", "attach", "attach"]


def test_guest_refusing_a_removal_rolls_back_the_others(hosts):
    src, _dst = hosts
    dom = src.domains["web1"]
    original = dom.detachDeviceAlias

    def refuse_the_mdev(alias, flags):
        dom.refuse_removal = alias == "hostdev0"
        original(alias, flags)

    dom.detachDeviceAlias = refuse_the_mdev
    result = run()
    assert result["failed"] and "refused to release %s" % MDEV_KEY in result["msg"]
    assert ZPCI_KEY in keys(dom) and MDEV_KEY in keys(dom)           # the zPCI NIC came back
    assert ("attach", ZPCI_KEY) in src.calls and ("attach", MDEV_KEY) not in src.calls
    assert dom.metadata_text is None


def test_failed_replug_is_degraded_and_a_rerun_finishes(hosts):
    src, dst = hosts
    dst.refuse_attach.add(MAPPED_KEY)
    result = run()
    assert result["failed"] and result["outcome"] == "degraded" and result["host"] == dst.uri
    assert "runs on %s without %s" % (dst.uri, MAPPED_KEY) in result["msg"]
    moved = dst.domains["web1"]
    assert Journal.load(moved).device(MDEV_KEY).status == "unplugged"
    dst.refuse_attach.clear()
    again = run()
    assert again["outcome"] == "migrated" and again["changed"] and MAPPED_KEY in keys(moved)
    assert moved.metadata_text is None
    assert [c for c in dst.calls if c == ("attach", ZPCI_KEY)] == [("attach", ZPCI_KEY)], "never plugged twice"


@pytest.mark.parametrize("kill_at", ["unplug:requesting", "unplug:confirmed", "migrate:starting",
                                     "replug:requesting", "replug:confirmed"])
def test_a_run_killed_anywhere_is_finished_by_the_next(hosts, kill_at):
    src, dst = hosts

    class Killed(BaseException):
        pass

    class Job(migration.Migration):
        def checkpoint(self, where):
            if where == kill_at:
                raise Killed()

    with pytest.raises(Killed):
        Job(params(), warn=lambda text: None).run()
    result = run()
    assert result["outcome"] == "migrated", result.get("msg")
    moved = dst.domains["web1"]
    assert sorted(keys(moved)) == sorted(k.replace(MDEV_KEY, MAPPED_KEY) for k in
                                         (dx.device_key(d) for d in dx.parse(GUEST).find("devices")))
    assert len([c for c in src.calls if c[0] == "migrate"]) == 1, "migrated once"
    assert moved.metadata_text is None


def test_check_params():
    assert migration.check_params(params(wait_timeout=0)) == "wait_timeout must be a positive number, got 0"
    assert "needs postcopy=true" in migration.check_params(params(timeout_action="postcopy"))
    assert "same as uri" in migration.check_params(params(dest_uri="qemu+ssh://kvmhost1/system"))
    assert migration.check_params(params()) is None
