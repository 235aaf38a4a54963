"""s390x.kvm.domain and s390x.kvm.domain_info on a real libvirtd (kvmhost1) with s390x TCG guests:
run states, graceful shutdown with timeout then destroy, undefine with storage, check mode that
agrees with real mode (check -> apply -> check gives changed, changed, ok), and every device
kind that needs IBM Z hardware (DASD, SCSI multipath, NVMe, vfio-ccw, vfio-pci with zPCI, vfio-ap,
SCSI tape, Open vSwitch) defined with libvirt's schema validation and compared idempotently."""

import os
import subprocess

import pytest

from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import stable_mac
from tests.integration.guest.conftest import ROOT
from tests.testbed.playbook import run_module as module
from tests.testbed.pytest_libvirt import GuestConsole

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(600)]

MODULES = os.path.join(ROOT, "plugins", "modules")


def render_role_xml(guest_vars, domain_type="qemu"):
    """XML the guest role renders for these variables (through its filter and templates)."""
    import jinja2
    from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import guest_model
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROOT, "roles", "guest", "templates")),
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("domain.xml.j2").render(guest__model=guest_model(guest_vars, domain_type=domain_type))


@pytest.fixture
def host(libvirt_hosts):
    return libvirt_hosts["kvmhost1"]


class Names(list):
    """Domains a test uses: removed before (leftovers of an interrupted run) and after the test."""

    def __init__(self, host):
        list.__init__(self)
        self.host = host

    def append(self, name):
        module("domain", uri=self.host.uri, name=name, state="absent")
        list.append(self, name)


@pytest.fixture
def cleanup(host):
    names = Names(host)
    yield names
    for name in names:
        module("domain", uri=host.uri, name=name, state="absent")


@pytest.fixture
def bootable(s390x_guest_image, guest_workdir):
    def make(name, **extra):
        disk = os.path.join(guest_workdir, "%s-vda.qcow2" % name)
        if not os.path.exists(disk):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "32M"], check=True)
        spec = {"name": name, "memory_mib": 384, "kernel": s390x_guest_image.kernel,
                "initrd": s390x_guest_image.initrd, "cmdline": s390x_guest_image.cmdline,
                "console_log": os.path.join(guest_workdir, "%s.console.log" % name),
                "disks": [{"name": "vda", "kind": "image", "path": disk}]}
        spec.update(extra)
        return render_role_xml(spec), disk
    return make


def test_check_mode_agrees_with_real_mode_through_every_state(host, cleanup, bootable):
    name = "gx-states"
    cleanup.append(name)
    xml, disk = bootable(name)
    seen = []
    for state in ("present", "running", "paused", "running", "destroyed", "paused", "running", "absent"):
        args = dict(uri=host.uri, xml=xml if state != "absent" else None, name=name, state=state)
        if state == "absent":
            args["remove_storage"] = True
        predicted = module("domain", check=True, **args)
        applied = module("domain", **args)
        again = module("domain", check=True, **args)
        assert not predicted.get("failed") and not applied.get("failed"), (state, predicted, applied)
        assert predicted["changed"] is True and applied["changed"] is True, (state, predicted, applied)
        assert predicted["actions"] == applied["actions"], (state, predicted["actions"], applied["actions"])
        assert predicted["state"] == applied["state"], (state, predicted["state"], applied["state"])
        assert again["changed"] is False, (state, again)
        seen.append((state, applied["actions"], applied["state"], applied["seconds"]))
    assert [s[2] for s in seen] == ["shut_off", "running", "paused", "running", "shut_off", "paused", "running",
                                    "absent"], seen
    assert seen[-1][1] == ["destroy", "undefine", "delete_file"], seen
    assert not os.path.exists(disk)


def test_graceful_shutdown_and_timeout_then_destroy(host, cleanup, bootable, guest_workdir, testbed_results):
    # The guest kernel answers the SCLP quiesce signal (virDomainShutdown) by stopping: graceful
    # shutdown completes. A zero timeout gives the timeout paths deterministically.
    name = "gx-shutdown"
    cleanup.append(name)
    xml, _disk = bootable(name)
    console = GuestConsole(os.path.join(guest_workdir, "%s.console.log" % name))

    def boot():
        mark = console.mark()
        assert module("domain", uri=host.uri, xml=xml, state="running")["state"] == "running"
        console.wait("READY", timeout=240, since=mark)

    boot()
    graceful = module("domain", uri=host.uri, name=name, state="shut_off", shutdown_timeout=120)
    assert graceful["changed"] and graceful["shutdown"] == "graceful" and graceful["state"] == "shut_off", graceful

    boot()
    forced = module("domain", uri=host.uri, name=name, state="shut_off", shutdown_timeout=0,
                    destroy_after_timeout=True)
    assert forced["changed"] and forced["state"] == "shut_off", forced
    assert forced["shutdown"] in ("destroyed", "graceful") and forced["actions"][0] == "shutdown", forced

    # A guest may finish a graceful shutdown inside the 0 s (as the forced run allows): then it
    # is shut off, and another boot tries again; one of three must end in the timeout.
    for _attempt in range(3):
        boot()
        refused = module("domain", uri=host.uri, name=name, state="shut_off", shutdown_timeout=0)
        if refused.get("failed"):
            break
        assert refused["shutdown"] == "graceful" and refused["state"] == "shut_off", refused
    assert refused.get("failed") and "did not shut down within 0 s" in refused["msg"], refused
    assert "destroy_after_timeout" in refused["msg"]
    testbed_results["domain_graceful_shutdown_seconds"] = graceful["seconds"]["shutdown"]


def test_absent_removes_a_managed_save_image(host, cleanup, bootable, guest_workdir):
    name = "gx-managedsave"
    cleanup.append(name)
    xml, disk = bootable(name)
    assert module("domain", uri=host.uri, xml=xml, state="running")["state"] == "running"
    GuestConsole(os.path.join(guest_workdir, "%s.console.log" % name)).wait("READY", timeout=240)
    dom = host.conn().lookupByName(name)
    dom.managedSave(0)
    assert dom.hasManagedSaveImage(0)
    gone = module("domain", uri=host.uri, name=name, state="absent")     # storage kept (default)
    assert gone["changed"] and gone["actions"] == ["undefine"] and gone["state"] == "absent", gone
    assert os.path.exists(disk)
    assert name not in host.domain_names()


def test_errors_name_libvirt_codes(host):
    missing = module("domain", uri=host.uri, name="gx-not-there", state="running")
    assert missing["failed"] and "is not defined and no xml was given" in missing["msg"]
    bad = module("domain", uri=host.uri, state="present",
                 xml="<domain type='qemu'><name>gx-bad</name><memory>1</memory><bogus/></domain>")
    assert bad["failed"] and bad["libvirt_error"]["code_name"] == "VIR_ERR_XML_INVALID_SCHEMA", bad
    nohost = module("domain", uri="qemu+unix:///system?socket=/nonexistent", name="x", state="present")
    assert nohost["failed"] and "VIR_ERR_SYSTEM_ERROR" in nohost["msg"], nohost


MDEV_CCW = "90c6c135-ad44-41d0-b1b7-bae47de48627"
MDEV_AP = "a0c6c135-ad44-41d0-b1b7-bae47de48627"


def z_hardware_guest(name):
    """Every device kind that needs IBM Z hardware (define + validate only on this x86 test bed)."""
    return {
        "name": name, "memory_mib": 512,
        "disks": [
            {"name": "vda", "kind": "dasd", "bus_id": "0.0.e714", "boot_order": 1},
            {"name": "vdb", "kind": "scsi", "wwid": "36005076305ffc1ae000000000000215c"},
            {"name": "vdc", "kind": "nvme", "path": "/dev/disk/by-id/nvme-eui.0025388b71b05bd3"},
            {"name": "sda", "kind": "cdrom"},
        ],
        "interfaces": [
            {"kind": "macvtap", "source": "encbdf0", "trust_guest_rx_filters": True},
            {"kind": "ovs", "source": "ovsbr0"},
            {"kind": "bridge", "source": "br0", "transport": "pci", "zpci_uid": 8, "zpci_fid": 32},
        ],
        "hostdevs": [
            {"kind": "vfio-ccw", "uuid": MDEV_CCW, "devno": "0.0.e715"},
            {"kind": "vfio-pci", "address": "0001:00:00.0", "zpci_uid": 1, "zpci_fid": 16},
            {"kind": "vfio-ap", "uuid": MDEV_AP},
            {"kind": "scsi", "adapter": "scsi_host0", "bus": 0, "target": 1, "unit": 0},
        ],
        "watchdog_action": "reset",
    }


def test_z_hardware_kinds_define_validated_and_idempotent(host, cleanup):
    name = "gx-zhw"
    cleanup.append(name)
    xml = render_role_xml(z_hardware_guest(name))
    first = module("domain", uri=host.uri, xml=xml, state="present", validate=True)
    assert not first.get("failed"), first
    assert first["changed"] and first["actions"] == ["define"], first
    second = module("domain", uri=host.uri, xml=xml, state="present")
    assert second["changed"] is False, second["changes"]

    info = module("domain_info", uri=host.uri, names=[name], live=False)
    dom = info["domains"][0]
    kinds = dict((d["key"], d.get("backing_kind")) for d in dom["devices"])
    assert kinds["disk[vda]"] == "dasd" and kinds["disk[vdb]"] == "scsi" and kinds["disk[vdc]"] == "nvme", kinds
    assert sorted(p["model"] for p in dom["passthrough"]) == ["scsi", "vfio-ap", "vfio-ccw", "vfio-pci"]
    vfio_ccw = [p for p in dom["passthrough"] if p["model"] == "vfio-ccw"][0]
    assert vfio_ccw["guest_bus_id"] == "0.0.e715"
    blockers = sorted(b["device"] for b in dom["migration_blockers"])
    assert blockers == sorted([
        "hostdev[mdev:%s]" % MDEV_CCW, "hostdev[mdev:%s]" % MDEV_AP, "hostdev[pci:0x0001:0x00:0x00.0x0]",
        "hostdev[scsi:scsi_host0:0:1:0]", "interface[%s]" % stable_mac(name, "bridge:br0")]), blockers
    assert dom["migratable"] is False


def test_mdev_hostdev_cannot_start_on_x86(host, cleanup):
    """vfio-ccw defines but cannot start without VFIO: the error carries libvirt's code."""
    name = "gx-zhw-start"
    cleanup.append(name)
    spec = z_hardware_guest(name)
    spec.update(disks=[], interfaces=[], hostdevs=spec["hostdevs"][:1])
    started = module("domain", uri=host.uri, xml=render_role_xml(spec), state="running")
    assert started["failed"] and started["actions"] == ["define", "start"], started
    assert started["libvirt_error"]["code_name"].startswith("VIR_ERR_"), started


USER_XML = """<domain type='qemu'{ns}><name>{name}</name>{head}<memory unit='MiB'>256</memory>{mid}
<os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os><devices>{devices}</devices></domain>"""
NIC = "<interface type='bridge'><source bridge='%s'/><model type='virtio'/></interface>"

# XML a user writes by hand that libvirt 9.0 stores rewritten; each was re-defined on every run before.
REWRITTEN = {
    "uuid-upper": dict(head="<uuid>5A390B1E-0000-4000-8000-0000000000BB</uuid>"),
    "metadata-ns": dict(ns=" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'",
                        head="<title>t</title><description>a &amp; b</description><metadata>"
                             "<app:foo xmlns:app='http://example.org/app'><app:bar a='1'>x</app:bar></app:foo>"
                             "</metadata>",
                        devices="<console type='pty'/>"),
    "virtio-console": dict(devices="<console type='pty'><target type='virtio'/></console>"),
    "vcpu-auto": dict(mid="<vcpu placement='auto'>1</vcpu>"),
    "two-consoles": dict(devices="<console type='pty'/><console type='pty'><target type='sclplm'/></console>"),
    "vnet-target": dict(devices="<interface type='bridge'><source bridge='br0'/><target dev='vnet7'/>"
                                "<model type='virtio'/></interface>"),
    "memtune-mib": dict(mid="<memtune><hard_limit unit='MiB'>512</hard_limit></memtune>"),
    "cpu-fallback": dict(mid="<cpu mode='host-model'><model fallback='allow'/></cpu>"),
    "octal-devno": dict(devices="<disk type='file'><source file='/nonexistent/a.raw'/><target dev='vda' bus='virtio'/>"
                                "<address type='ccw' cssid='0xfe' ssid='0' devno='0010'/></disk>"),
}


@pytest.mark.parametrize("case", sorted(REWRITTEN))
def test_user_xml_libvirt_rewrites_is_defined_once(host, cleanup, case):
    name = "gx-rw-" + case
    cleanup.append(name)
    parts = dict(ns="", head="", mid="", devices="")
    parts.update(REWRITTEN[case])
    xml = USER_XML.format(name=name, **parts)
    first = module("domain", uri=host.uri, xml=xml, state="present")
    assert not first.get("failed") and first["actions"] == ["define"], first
    assert not first.get("warnings"), first["warnings"]         # what libvirt stored compares equal
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"] is False
    assert module("domain", check=True, uri=host.uri, xml=xml, state="present")["changed"] is False


def test_removing_a_nic_without_mac_keeps_the_others_mac_and_devno(host, cleanup):
    import xml.etree.ElementTree as ET
    name = "gx-nics"
    cleanup.append(name)

    def stored():
        root = ET.fromstring(host.conn().lookupByName(name).XMLDesc(2))
        return dict((i.find("source").get("bridge"), (i.find("mac").get("address"), i.find("address").get("devno")))
                    for i in root.findall("./devices/interface"))

    three = USER_XML.format(name=name, ns="", head="", mid="", devices=NIC % "br0" + NIC % "br1" + NIC % "br2")
    assert module("domain", uri=host.uri, xml=three, state="present")["changed"]
    before = stored()
    two = USER_XML.format(name=name, ns="", head="", mid="", devices=NIC % "br0" + NIC % "br2")
    result = module("domain", uri=host.uri, xml=two, state="present")
    assert [c["path"] for c in result["changes"]] == ["domain/devices/interface[%s]" % before["br1"][0]], result
    after = stored()
    assert after == {"br0": before["br0"], "br2": before["br2"]}, (before, after)
    assert module("domain", uri=host.uri, xml=two, state="present")["changed"] is False


def test_scsi_hba_and_balloon_libvirt_added_keep_their_devnos(host, cleanup):
    import xml.etree.ElementTree as ET
    name = "gx-hba"
    cleanup.append(name)
    disk = "<disk type='file'><source file='/nonexistent/%s'/><target dev='%s' bus='virtio'/></disk>"
    cdrom = "<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/></disk>"

    def devnos():
        root = ET.fromstring(host.conn().lookupByName(name).XMLDesc(2))
        return dict((d.tag + (d.get("type") or ""), d.find("address").get("devno"))
                    for d in root.find("devices") if d.tag in ("controller", "memballoon") and d.find("address") is not None)

    xml = USER_XML.format(name=name, ns="", head="", mid="", devices=disk % ("a", "vda") + disk % ("b", "vdb") + cdrom)
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"]
    before = devnos()
    assert before == {"controllerscsi": "0x0002", "memballoon": "0x0003"}, before
    fewer = USER_XML.format(name=name, ns="", head="", mid="", devices=disk % ("b", "vdb") + cdrom)
    assert module("domain", uri=host.uri, xml=fewer, state="present")["changed"]
    assert devnos() == before           # libvirt alone renumbered them to 0x0000 and 0x0002
    assert module("domain", uri=host.uri, xml=fewer, state="present")["changed"] is False


def test_zpci_uids_libvirt_chose_stay_when_a_zpci_device_goes(host, cleanup):
    import xml.etree.ElementTree as ET
    name = "gx-zpci"
    cleanup.append(name)
    nic = ("<interface type='bridge'><mac address='52:54:00:00:00:0%d'/><source bridge='br0'/><model type='virtio'/>"
           "<address type='pci'/></interface>")
    hostdev = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0001' bus='0x00' "
               "slot='0x00' function='0x0'/></source><address type='pci'/></hostdev>")

    def uids():
        root = ET.fromstring(host.conn().lookupByName(name).XMLDesc(2))
        return [(d.tag, d.find("address/zpci").get("uid"), d.find("address/zpci").get("fid"))
                for d in root.find("devices") if d.find("address/zpci") is not None]

    three = USER_XML.format(name=name, ns="", head="", mid="", devices=nic % 1 + nic % 2 + hostdev)
    assert module("domain", uri=host.uri, xml=three, state="present")["changed"]
    before = uids()
    two = USER_XML.format(name=name, ns="", head="", mid="", devices=nic % 2 + hostdev)
    assert module("domain", uri=host.uri, xml=two, state="present")["changed"]
    assert uids() == before[1:], (before, uids())     # libvirt alone renumbered them from 0x0001
    assert module("domain", uri=host.uri, xml=two, state="present")["changed"] is False


def test_metadata_another_application_set_survives_a_redefine(host, cleanup):
    import libvirt
    name = "gx-meta"
    cleanup.append(name)
    nova = "http://openstack.org/xmlns/libvirt/nova/1.0"
    xml = USER_XML.format(name=name, ns="", head="", mid="", devices="")
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"]
    host.conn().lookupByName(name).setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<instance><n>vm1</n></instance>",
                                               "nova", nova, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"] is False
    bigger = xml.replace("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>320</memory>")
    assert module("domain", uri=host.uri, xml=bigger, state="present")["changes"][0]["path"] == "domain/memory/text()"
    kept = host.conn().lookupByName(name).metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, nova,
                                                   libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert "<n>vm1</n>" in kept


def test_the_ovs_interfaceid_libvirt_generated_survives_a_redefine(host, cleanup):
    """libvirt gives an Open vSwitch port without an interfaceid a random one; a re-define for
    another change keeps it (the switch keeps the port)."""
    import xml.etree.ElementTree as ET
    name = "gx-ovs"
    cleanup.append(name)
    ovs = ("<interface type='bridge'><source bridge='ovsbr0'/><virtualport type='openvswitch'/>"
           "<model type='virtio'/></interface>")

    def interfaceid():
        root = ET.fromstring(host.conn().lookupByName(name).XMLDesc(2))
        return root.find("./devices/interface/virtualport/parameters").get("interfaceid")

    xml = USER_XML.format(name=name, ns="", head="", mid="", devices=ovs)
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"]
    generated = interfaceid()
    assert generated
    assert module("domain", uri=host.uri, xml=xml, state="present")["changed"] is False
    bigger = xml.replace("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>320</memory>")
    result = module("domain", uri=host.uri, xml=bigger, state="present")
    assert [c["path"] for c in result["changes"]] == ["domain/memory/text()"], result
    assert interfaceid() == generated


def test_restart_needed_until_the_running_guest_is_started_anew(host, cleanup, bootable):
    name = "gx-restart"
    cleanup.append(name)
    xml, _disk = bootable(name)
    started = module("domain", uri=host.uri, xml=xml, state="running")
    assert started["actions"] == ["define", "start"] and started["restart_needed"] is False, started
    bigger = xml.replace("<memory unit='KiB'>393216</memory>", "<memory unit='KiB'>458752</memory>")
    assert bigger != xml
    redefined = module("domain", uri=host.uri, xml=bigger, state="running")
    assert redefined["actions"] == ["define"] and redefined["restart_needed"] is True, redefined
    # nothing changes on the next runs, and the guest still runs the old definition
    again = module("domain", uri=host.uri, xml=bigger, state="running")
    assert again["changed"] is False and again["restart_needed"] is True, again
    assert module("domain", uri=host.uri, name=name, state="running", check=True)["restart_needed"] is True
    module("domain", uri=host.uri, name=name, state="destroyed")
    restarted = module("domain", uri=host.uri, xml=bigger, state="running")
    assert restarted["actions"] == ["start"] and restarted["restart_needed"] is False, restarted
