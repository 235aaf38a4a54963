# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest model (plugin_utils/_guest_model): guest_model's validation messages naming the variable,
deterministic and stable CCW devno allocation, and the role's templates rendering IBM's documented XML for
every device kind; guest_models, the guests of one host as one batch (the role's "guests" entry point, and
main as a batch of one): settings over the host-wide defaults, errors naming the guest, one domain_info
lookup per URI, host checks under host_root, models resolved against the stored definitions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import jinja2
import pytest

from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import GuestError, guest_model, guest_models, stable_mac
from ansible_collections.s390x.kvm.plugins.module_utils import _domain_describe as ddesc
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TEMPLATES = os.path.join(ROOT, "roles", "guest", "templates")

MDEV_CCW = "90c6c135-ad44-41d0-b1b7-bae47de48627"
MDEV_AP = "a0c6c135-ad44-41d0-b1b7-bae47de48627"


def base(**kw):
    spec = {"name": "web1", "memory_mib": 2048, "vcpus": 2}
    spec.update(kw)
    return spec


def everything():
    return base(
        disks=[
            {"name": "vda", "kind": "dasd", "bus_id": "0.0.e714", "boot_order": 1},
            {"name": "vdb", "kind": "scsi", "wwid": "36005076305ffc1ae000000000000215c"},
            {"name": "vdc", "kind": "nvme", "path": "/dev/disk/by-id/nvme-eui.0025388b71b05bd3"},
            {"name": "vdd", "kind": "image", "path": "/var/lib/libvirt/images/web1.qcow2"},
            {"name": "sda", "kind": "cdrom", "path": "/isos/install.iso"},
            {"name": "sdb", "kind": "image", "path": "/var/lib/libvirt/images/lun.raw", "bus": "scsi"},
        ],
        interfaces=[
            {"kind": "macvtap", "source": "encbdf0", "trust_guest_rx_filters": True},
            {"kind": "bridge", "source": "br0"},
            {"kind": "ovs", "source": "ovsbr0", "interfaceid": "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f"},
            {"kind": "macvtap", "source": "eno1", "transport": "pci", "zpci_uid": 8, "zpci_fid": "0x20"},
        ],
        filesystems=[{"tag": "data", "source": "/srv/data"}],
        hostdevs=[
            {"kind": "vfio-ccw", "uuid": MDEV_CCW, "devno": "0.0.e715"},
            {"kind": "vfio-pci", "address": "0001:00:00.0", "zpci_uid": 1, "zpci_fid": 16},
            {"kind": "vfio-ap", "uuid": MDEV_AP},
            {"kind": "scsi", "adapter": "scsi_host0", "bus": 0, "target": 1, "unit": 0},
        ],
        gpu=True, keyboard=True, mouse=True, vnc_listen="127.0.0.1", watchdog_action="reset",
        console_log="/var/log/libvirt/qemu/web1.console.log",
    )


def render(model):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("domain.xml.j2").render(guest__model=model)


def devnos(model):
    return dict((d["key"], d["devno"]) for d in model["devices"] if d.get("devno"))


def test_all_device_kinds_render_ibm_xml():
    model = guest_model(everything(), domain_type="kvm")
    root = dx.parse(render(model))
    assert root.get("type") == "kvm"
    assert root.find("./os/type").attrib == {"arch": "s390x", "machine": "s390-ccw-virtio"}
    assert root.find("cpu").get("mode") == "host-model"
    assert root.findtext("on_crash") == "preserve"
    # every virtio CCW address has cssid 0xfe and a unique devno
    ccw = [a for a in root.iter("address") if a.get("type") == "ccw"]
    assert all(a.get("cssid") == "0xfe" and a.get("ssid") == "0x0" for a in ccw)
    assert len(set(a.get("devno") for a in ccw)) == len(ccw)
    disks = dict((d.find("target").get("dev"), d) for d in root.findall("./devices/disk"))
    assert disks["vda"].find("source").get("dev") == "/dev/disk/by-path/ccw-0.0.e714"
    assert disks["vda"].find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none", "io": "native",
                                                  "iothread": "1"}
    assert disks["vda"].find("boot").get("order") == "1"
    assert disks["vdb"].find("source").get("dev") == "/dev/disk/by-id/dm-uuid-mpath-36005076305ffc1ae000000000000215c"
    assert disks["vdd"].find("driver").get("type") == "qcow2" and disks["vdd"].get("type") == "file"
    assert disks["sda"].get("device") == "cdrom" and disks["sda"].find("readonly") is not None
    assert disks["sda"].find("target").get("bus") == "scsi"
    assert disks["sda"].find("address").attrib == {"type": "drive", "controller": "0", "bus": "0", "target": "0",
                                                   "unit": "0"}
    assert disks["sdb"].find("address").get("unit") == "1"
    ifaces = root.findall("./devices/interface")
    assert ifaces[0].get("type") == "direct" and ifaces[0].get("trustGuestRxFilters") == "yes"
    assert ifaces[0].find("source").attrib == {"dev": "encbdf0", "mode": "bridge"}
    assert ifaces[2].find("virtualport").get("type") == "openvswitch"
    assert ifaces[3].find("rom").get("enabled") == "no"
    assert ifaces[3].find("./address/zpci").attrib == {"uid": "0x0008", "fid": "0x00000020"}
    fs = root.find("./devices/filesystem")
    assert fs.find("driver").get("type") == "virtiofs" and fs.find("target").get("dir") == "data"
    assert root.find("./memoryBacking/access").get("mode") == "shared"
    hostdevs = root.findall("./devices/hostdev")
    assert [h.get("model") or h.get("type") for h in hostdevs] == ["vfio-ccw", "pci", "vfio-ap", "scsi"]
    assert hostdevs[0].find("address").get("devno") == "0xe715"
    assert hostdevs[1].find("./address/zpci").attrib == {"uid": "0x0001", "fid": "0x00000010"}
    assert hostdevs[3].find("./source/adapter").get("name") == "scsi_host0"
    assert root.find("./devices/controller").attrib == {"type": "scsi", "index": "0", "model": "virtio-scsi"}
    assert root.find("./devices/watchdog").attrib == {"model": "diag288", "action": "reset"}
    assert [i.get("type") for i in root.findall("./devices/input")] == ["keyboard", "mouse"]
    assert root.find("./devices/video/model").get("type") == "virtio"
    # the same XML describes the same devices (blockers come from the pass-through and zPCI ones)
    blocked = sorted(b["device"] for b in ddesc.describe_domain(render(model))["migration_blockers"])
    assert len(blocked) == 6, blocked


def test_tcg_uses_the_qemu_cpu_model_and_kvm_host_model():
    assert guest_model(base(), domain_type="qemu")["cpu"] == {"mode": "custom", "model": "qemu"}
    assert guest_model(base(), domain_type="kvm")["cpu"] == {"mode": "host-model"}
    with pytest.raises(GuestError, match="guest_cpu_model: host-model needs KVM"):
        guest_model(base(cpu_model="host-model"), domain_type="qemu")


def test_devnos_are_per_kind_and_deterministic():
    first = devnos(guest_model(everything()))
    assert first == devnos(guest_model(everything()))
    assert first["disk[vda]"] == "0x1000" and first["disk[vdd]"] == "0x1003"
    assert first["filesystem[data]"] == "0x3000"
    assert first["controller[scsi:0]"] == "0x4000"
    assert first["video"] == "0x5000" and first["input[keyboard]"] == "0x5001"
    assert first["memballoon"] == "0xff00" and first["rng"] == "0xff01"
    assert first["hostdev[mdev:%s]" % MDEV_CCW] == "0xe715"


def test_devnos_stay_when_a_device_is_removed_or_added():
    spec = everything()
    stored = render(guest_model(spec))
    before = devnos(guest_model(spec, existing_xml=stored))
    del spec["disks"][1]                                   # remove vdb (0x1001)
    spec["disks"].insert(0, {"name": "vde", "kind": "image", "path": "/var/lib/libvirt/images/new.raw"})
    after = devnos(guest_model(spec, existing_xml=stored))
    for key, devno in after.items():
        if key in before:
            assert before[key] == devno, key
    assert "disk[vdb]" not in after
    assert after["disk[vde]"] == "0x1004"                  # lowest free, and not vdb's old number


def test_explicit_devno_wins_over_a_kept_one():
    spec = base(disks=[{"name": "vda", "kind": "image", "path": "/a.raw"}])
    stored = render(guest_model(spec))
    spec["disks"][0]["devno"] = "0.0.0100"
    assert devnos(guest_model(spec, existing_xml=stored))["disk[vda]"] == "0x0100"


def test_stable_mac():
    model = guest_model(base(interfaces=[{"kind": "bridge", "source": "br0"}]))
    mac = [d for d in model["devices"] if d["partial"] == "interface"][0]["mac"]
    assert mac == stable_mac("web1", "bridge:br0") and mac.startswith("52:54:00:")


IMG = {"name": "vda", "kind": "image", "path": "/a.raw"}


# guest_definition (the deploy_guests playbook) bypasses the role's argument spec: the filter is the only check
GUEST_DEFINITION_CASES = [
    (base(memory=2048), "guest_memory: unknown setting; allowed: "),
    (base(disks=[dict(IMG, chache="none")]), "guest_disks[0].chache: unknown setting; allowed: boot_order, bus,"),
    (base(interfaces=[{"kind": "bridge", "source": "br0", "ip": "10.0.0.1"}]), "guest_interfaces[0].ip: unknown"),
    (base(hostdevs=[{"kind": "vfio-ap", "uuid": MDEV_AP, "mdev": "x"}]), "guest_hostdevs[0].mdev: unknown"),
    (base(memory_mib=True), "guest_memory_mib: True is not a whole number of MiB"),
    (base(memory_mib=1.5), "guest_memory_mib: 1.5 is not a whole number of MiB"),
    (base(memory_mib="2G"), "guest_memory_mib: '2G' is not a whole number of MiB (2 GiB is 2048)"),
    (base(disks=[dict(IMG, devno="0.4.0001")]), "guest_disks[0].devno: 0.4.0001: the subchannel set ID (the middle "
                                                "part) must be 0 to 3"),
    (base(disks=[dict(IMG, devno=0x10000)]), "guest_disks[0].devno: 0x10000 is out of range (0x0000-0xffff)"),
    (base(disks=[dict(IMG, devno="0x10000")]), "guest_disks[0].devno: '0x10000' is not a device number (0x0000-0xffff"),
    (base(disks=[dict(IMG, devno=1.0)]), "guest_disks[0].devno: 1.0 is not a device number"),
    (base(interfaces=[{"kind": "bridge", "source": "br0", "mac": 5}]), "guest_interfaces[0].mac: 5 is not a MAC"),
    (base(interfaces=[{"kind": "bridge", "source": "br'0"}]), "guest_interfaces[0].source: \"br'0\" is not a host "
                                                              "interface name"),
    (base(interfaces=[{"kind": "bridge", "source": "br0", "mode": "vepa"}]), "guest_interfaces[0].mode: only macvtap"),
    (base(interfaces=[{"kind": "bridge", "source": "br0", "interfaceid": "x"}]), "guest_interfaces[0].interfaceid: 'x' "
                                                                                 "is not a UUID"),
    (base(hostdevs=[{"kind": "vfio-pci", "address": "0001:00:00.0", "zpci_uid": 0}]),
     "guest_hostdevs[0].zpci_uid: 0 is out of range (1 to 65535)"),
    (base(hostdevs=[{"kind": "vfio-ccw", "uuid": 5}]), "guest_hostdevs[0].uuid: 5 is not a UUID"),
    (base(hostdevs=[{"kind": "vfio-pci", "address": 1}]), "guest_hostdevs[0].address: 1 is not a PCI address"),
    (base(hostdevs=[{"kind": "vfio-pci", "address": "0001:00:00.0", "managed": "maybe"}]),
     "guest_hostdevs[0].managed: 'maybe' is not a boolean"),
    (base(filesystems=[{"tag": 5, "source": "/srv"}]), "guest_filesystems[0].tag: 5 is not a mount tag"),
    (base(filesystems=[{"tag": "t", "source": "srv"}]), "guest_filesystems[0].source: 'srv' is not an absolute"),
    (base(disks=[dict(IMG, boot_order=0)]), "guest_disks[0].boot_order: 0 is out of range (1 to 999)"),
    (base(disks=[dict(IMG, boot_order=1), {"name": "vdb", "kind": "image", "path": "/b", "boot_order": 1}]),
     "guest_disks[1].boot_order: boot order 1 is also given to guest_disks[0]"),
    (base(disks=[{"name": "vda", "kind": "cdrom", "bus": "virtio"}]),
     "guest_disks[0].bus: a CD/DVD drive sits on the SCSI bus"),
    (base(disks=[dict(IMG, serial="a<b")]), "guest_disks[0].serial: 'a<b' is not a disk serial"),
    (base(cpu_model="z15</model>"), "guest_cpu_model: 'z15</model>' is not a CPU model name"),
    (base(machine="pc-q35"), "guest_machine: 'pc-q35' is not an s390x machine type"),
    (base(vnc_listen="0.0.0.0'"), "guest_vnc_listen: \"0.0.0.0'\" is not an IPv4 or IPv6 address"),
    (base(kernel="vmlinuz"), "guest_kernel: 'vmlinuz' is not an absolute path on the host"),
    (base(uuid="not-a-uuid"), "guest_uuid: 'not-a-uuid' is not a UUID"),
    (base(gpu="maybe"), "guest_gpu: 'maybe' is not a boolean"),
    # libvirt 9.0's QEMU driver refused these at define time, after libvirt was touched
    (base(on_poweroff="preserve"), "guest_on_poweroff: 'preserve' is not allowed; allowed: destroy, restart"),
    (base(on_reboot="rename-restart"), "guest_on_reboot: 'rename-restart' is not allowed; allowed: destroy, restart"),
    (base(on_crash="rename-restart"), "guest_on_crash: 'rename-restart' is not allowed"),
    (base(hostdevs=[{"kind": "vfio-ccw", "bus_id": "0.0.e714"}], vfio_ccw_map=["0.0.e714"]),
     "guest_vfio_ccw_map: must be the map result of s390x.kvm.vfio_ccw"),
    (base(hostdevs=[{"kind": "vfio-pci", "fid": 16}], zpci_functions=["0001:00:00.0"]),
     "guest_zpci_functions[0]: must be a dictionary"),
    (base(state="runing"), "guest_state: 'runing' is not allowed; allowed: present, running,"),
    (base(domain_type="xen"), "guest_domain_type: 'xen' is not allowed; allowed: auto, kvm, qemu"),
    (base(check_host="maybe"), "guest_check_host: 'maybe' is not a boolean"),
    (base(shutdown_timeout="soon"), "guest_shutdown_timeout: 'soon' is not an integer"),
]


@pytest.mark.parametrize("spec, message", [
    (base(disks=[{"name": "vda", "kind": "image", "path": "/a", "devno": "0x1"}],
          interfaces=[{"kind": "bridge", "source": "br0", "devno": 1}]),
     "guest_interfaces[0].devno: device number 0x0001 is also given to guest_disks[0].devno"),
    (base(disks=[{"name": "vda", "kind": "floppy", "path": "/a"}]),
     "guest_disks[0].kind: 'floppy' is not allowed; allowed: image, dasd, scsi, nvme, block, cdrom"),
    (base(filesystems=[{"tag": "data"}]),
     "guest_filesystems[0].source: required: the host directory to share"),
    (base(filesystems=[{"tag": "data", "source": "/srv"}], memory_backing="none"),
     "guest_memory_backing: virtio-fs (guest_filesystems) needs shared memory"),
    (base(disks=[{"name": "vda", "kind": "dasd"}]), "guest_disks[0].bus_id: required"),
    (base(disks=[{"name": "vda", "kind": "dasd", "bus_id": "0.0.12"}]), "guest_disks[0].bus_id: '0.0.12' is not"),
    (base(disks=[{"name": "vda", "kind": "image", "path": "/a"}, {"name": "vda", "kind": "image", "path": "/b"}]),
     "guest_disks[1].name: vda is also the name of guest_disks[0]"),
    (base(disks=[{"name": "sda", "kind": "cdrom", "controller": 1}]),
     "guest_disks[0].controller: SCSI controller 1 leaves a gap"),
    (base(disks=[{"name": "vda", "kind": "image", "path": "/a", "cache": "writeback"}]),
     "guest_disks[0].io: io=native needs cache none or directsync"),
    (base(disks=[{"name": "vda", "kind": "image", "path": "/a", "iothread": 2}]),
     "guest_disks[0].iothread: 2 is out of range (0 to 1)"),
    (base(interfaces=[{"kind": "bridge", "source": "br0", "mac": "01:00:00:00:00:01"}]),
     "guest_interfaces[0].mac: 01:00:00:00:00:01 is a multicast address"),
    (base(interfaces=[{"kind": "bridge", "source": "br0"}, {"kind": "bridge", "source": "br0"}]),
     "guest_interfaces[1].name: two interfaces are called bridge:br0"),
    (base(hostdevs=[{"kind": "vfio-ccw", "uuid": "nope"}]), "guest_hostdevs[0].uuid: 'nope' is not a UUID"),
    (base(hostdevs=[{"kind": "vfio-pci", "address": "0001:00:00.0", "zpci_uid": 1},
                    {"kind": "vfio-pci", "address": "0002:00:00.0", "zpci_uid": 1}]),
     "guest_hostdevs[1].zpci_uid: 0x0001 is also the uid of guest_hostdevs[0]"),
    (base(hostdevs=[{"kind": "vfio-ap", "uuid": MDEV_AP, "devno": "0x10"}]),
     "guest_hostdevs[0].devno: a vfio-ap matrix device has no CCW device number"),
    (base(disks=[{"name": "vda", "kind": "image", "path": "/a", "devno": "1.0.0001"}]),
     "guest_disks[0].devno: 1.0.0001: virtio CCW devices live in css 0xfe"),
    (base(disks="vda"), "guest_disks: must be a list"),
    (base(name="bad name"), "guest_name: 'bad name' is not a usable domain name"),
    (base(initrd="/boot/initrd"), "guest_kernel: required when guest_initrd"),
] + GUEST_DEFINITION_CASES)
def test_wrong_input_names_the_variable(spec, message):
    with pytest.raises(GuestError) as info:
        guest_model(spec, domain_type="kvm")
    assert message in str(info.value)


def test_host_checks_for_passthrough_and_virtiofs():
    model = guest_model(everything())
    checks = dict((d["var"], d["host_check"]["path"]) for d in model["devices"] if d.get("host_check"))
    assert checks == {
        "guest_filesystems[0]": "/srv/data",
        "guest_hostdevs[0]": "/sys/bus/mdev/devices/%s" % MDEV_CCW,
        "guest_hostdevs[1]": "/sys/bus/pci/devices/0001:00:00.0",
        "guest_hostdevs[2]": "/sys/bus/mdev/devices/%s" % MDEV_AP,
        "guest_hostdevs[3]": "/sys/bus/scsi/devices/0:0:1:0",
    }


def test_rendered_xml_compares_equal_to_itself_after_a_libvirt_like_rewrite():
    """The role's own output, canonicalised as libvirt stores it (pty console -> SCLP serial +
    console), compares equal: no spurious change."""
    xml = render(guest_model(everything()))
    assert not dx.compare(xml, dx.to_text(dx.normalize(xml))).changed


def test_hostdevs_from_the_preparing_modules_results():
    spec = base(
        hostdevs=[{"kind": "vfio-ccw", "bus_id": "0.0.0104", "devno": "0.0.0104"},
                  {"kind": "vfio-pci", "fid": 16}],
        vfio_ccw_map={"0.0.0104": {"subchannel": "0.0.0004", "uuid": MDEV_CCW.upper()}},
        zpci_functions=[{"address": "0001:00:00.0", "fid": 16, "uid": 1}, {"address": "0002:00:00.0", "fid": 17}])
    root = dx.parse(render(guest_model(spec)))
    hostdevs = root.findall("./devices/hostdev")
    assert hostdevs[0].find("./source/address").get("uuid") == MDEV_CCW
    assert hostdevs[0].find("address").get("devno") == "0x0104"
    assert hostdevs[1].find("./source/address").attrib == {"domain": "0x0001", "bus": "0x00", "slot": "0x00",
                                                           "function": "0x0"}
    assert hostdevs[1].find("./address/zpci").attrib == {"uid": "0x0001", "fid": "0x00000010"}
    with pytest.raises(GuestError, match=r"guest_hostdevs\[0\].bus_id: 0.0.0105 has no mediated device"):
        guest_model(base(hostdevs=[{"kind": "vfio-ccw", "bus_id": "0.0.0105"}], vfio_ccw_map={}))
    with pytest.raises(GuestError, match=r"guest_hostdevs\[0\].fid: 0x00000020 is not among guest_zpci_functions"):
        guest_model(base(hostdevs=[{"kind": "vfio-pci", "fid": "0x20"}], zpci_functions=[]))


# IBM's documented examples (KVM Virtual Server Management, SC34-2752), as facts to check against:
# every attribute IBM's example states must be in the role's output with the same value
# (domain_xml.compare projects the role's XML onto IBM's, so extra defaults are allowed).
IBM_EXAMPLES = [
    # ldva_r_XML_Address.html: a multipath SCSI LUN as virtio-blk on CCW devno 0x1108
    ({"disks": [{"name": "vda", "kind": "scsi", "path": "/dev/mapper/36005076305ffc1ae00000000000021d5",
                 "devno": "0x1108"}]},
     "<disk type='block' device='disk'><driver name='qemu' type='raw' cache='none' io='native' iothread='1'/>"
     "<source dev='/dev/mapper/36005076305ffc1ae00000000000021d5'/><target dev='vda' bus='virtio'/>"
     "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x1108'/></disk>"),
    # ldva_r_XML_AddressInterface.html: a zPCI address with uid and fid
    ({"hostdevs": [{"kind": "vfio-pci", "address": "0000:00:00.0", "zpci_uid": 1, "zpci_fid": 0}]},
     "<hostdev mode='subsystem' type='pci'><address type='pci'><zpci uid='0x0001' fid='0x00000000'/></address>"
     "</hostdev>"),
    # topic=xml-address-as-child-hostdev-disk: vfio-ccw pass-through DASD on the virtual channel subsystem
    ({"hostdevs": [{"kind": "vfio-ccw", "uuid": MDEV_CCW, "devno": "0x0009"}]},
     "<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='%s'/></source>"
     "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>" % MDEV_CCW),
    # ldva "virtual SCSI-attached CD/DVD drive": file-backed cdrom on the SCSI bus, read-only, raw, native I/O
    ({"disks": [{"name": "sda", "kind": "cdrom", "path": "/var/lib/libvirt/images/cd.iso"}]},
     "<disk type='file' device='cdrom'><driver name='qemu' type='raw' io='native' cache='none'/>"
     "<source file='/var/lib/libvirt/images/cd.iso'/><target dev='sda' bus='scsi'/><readonly/></disk>"),
    # topic=xml-crash: IBM recommends preserve (keeps debug data)
    ({}, None),
]


@pytest.mark.parametrize("spec, ibm_device", IBM_EXAMPLES)
def test_role_output_contains_ibms_documented_xml(spec, ibm_device):
    role_xml = render(guest_model(base(**spec)))
    ibm = ("<domain type='kvm'><name>web1</name><os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os>"
           "<on_crash>preserve</on_crash><devices>%s</devices></domain>" % (ibm_device or ""))
    # The role's XML as libvirt would store it (canonical console) must show nothing missing from IBM's.
    comparison = dx.compare(ibm, dx.to_text(dx.normalize(role_xml)))
    missing = [c for c in comparison.changes if c["after"] not in (None, "removed")]   # role extras are fine
    assert missing == [], comparison.unified_diff()


def test_scsi_units_avoid_what_disks_and_tapes_ask_for():
    model = guest_model(base(
        disks=[{"name": "sda", "kind": "cdrom"},
               {"name": "sdb", "kind": "image", "path": "/a.raw", "bus": "scsi", "unit": 0}],
        hostdevs=[{"kind": "scsi", "adapter": "scsi_host0", "bus": 0, "target": 0, "unit": 1}]))
    units = dict((d["target"], d["unit"]) for d in model["devices"] if d["partial"] == "disk")
    assert units == {"sda": 2, "sdb": 0}


@pytest.mark.parametrize("value, enabled", [("no", False), ("false", False), (0, False), ("yes", True), (True, True)])
def test_boolean_strings_from_extra_vars_mean_what_they_say(value, enabled):
    # bool("no") and bool("false") are True: a balloon the user switched off came back
    model = guest_model(base(balloon=value, gpu=value, disks=[dict(IMG, readonly=value)]))
    by_partial = dict((d["partial"], d) for d in model["devices"])
    assert by_partial["memballoon"]["enabled"] is enabled and ("video" in by_partial) is enabled
    assert by_partial["disk"]["readonly"] is enabled


def test_interface_devnos_stay_when_one_in_the_middle_is_removed_or_added():
    nics = [{"kind": "bridge", "source": "br%d" % i} for i in range(3)]
    stored = render(guest_model(base(interfaces=nics)))
    before = devnos(guest_model(base(interfaces=nics), existing_xml=stored))
    middle = [nics[0], {"kind": "macvtap", "source": "enc100"}, nics[2]]
    after = devnos(guest_model(base(interfaces=middle), existing_xml=stored))
    key = "interface[%s]" % stable_mac("web1", "bridge:br2")
    assert after[key] == before[key] == "0x2002"
    assert after["interface[%s]" % stable_mac("web1", "macvtap:enc100")] == "0x2003"   # not br1's 0x2001


def test_moving_an_interface_to_another_bridge_changes_exactly_its_source():
    nics = [{"kind": "bridge", "source": "br0"}, {"kind": "macvtap", "source": "enc100"}]
    stored = render(guest_model(base(interfaces=nics)))
    moved = [{"kind": "bridge", "source": "br1"}, nics[1]]
    model = guest_model(base(interfaces=moved), existing_xml=stored)
    # the MAC derives from kind:source; without the stored one the guest would get a new NIC
    assert [d["mac"] for d in model["devices"] if d["partial"] == "interface"] == [
        stable_mac("web1", "bridge:br0"), stable_mac("web1", "macvtap:enc100")]
    result = dx.compare(render(model), dx.to_text(dx.normalize(stored)))    # console as libvirt stores it
    assert [c["path"] for c in result.changes] == [
        "domain/devices/interface[%s]/source/@bridge" % stable_mac("web1", "bridge:br0")]
    added = guest_model(base(interfaces=nics + [{"kind": "bridge", "source": "br2"}]), existing_xml=stored)
    assert [d["mac"] for d in added["devices"] if d["partial"] == "interface"][2] == stable_mac("web1", "bridge:br2")


@pytest.mark.parametrize("setting, found, binary", [
    ("auto", "/usr/libexec/virtiofsd", "/usr/libexec/virtiofsd"),      # what the host's descriptor names
    ("auto", "", None),                                                 # not looked up: libvirt chooses
    ("", "/usr/libexec/virtiofsd", None),
    ("/opt/virtiofsd", "/usr/libexec/virtiofsd", "/opt/virtiofsd"),
])
def test_virtiofsd_found_on_the_host_given_or_left_to_libvirt(setting, found, binary):
    spec = base(filesystems=[{"tag": "data", "source": "/srv/data"}], virtiofsd=setting)
    fs = dx.parse(render(guest_model(spec, host_virtiofsd=found))).find("./devices/filesystem")
    assert (fs.find("binary").get("path") if fs.find("binary") is not None else None) == binary
    own = base(filesystems=[{"tag": "data", "source": "/srv/data", "binary": "/srv/bin/virtiofsd"}])
    assert guest_model(own, host_virtiofsd=found)["devices"][0]["binary"] == "/srv/bin/virtiofsd"


def test_a_virtiofsd_that_is_no_path_is_refused():
    with pytest.raises(GuestError, match="guest_virtiofsd: 'virtiofsd' is not the absolute path of virtiofsd, auto"):
        guest_model(base(filesystems=[{"tag": "data", "source": "/srv/data"}], virtiofsd="virtiofsd"))


# --------------------------------------------------------------------------- guest_models (a batch)

DEFAULTS = {"uri": "qemu:///system", "state": "running", "domain_type": "auto", "check_host": True,
            "host_root": "/srv/host/", "virtiofsd": "auto", "memory_mib": 1024}


def stored(uri, kvm, domains=()):
    """A result of the role's domain_info loop over one lookup."""
    return {"item": {"uri": uri}, "host": {"kvm_available": kvm},
            "domains": [{"name": name, "xml": xml} for name, xml in domains]}


def test_every_guest_over_the_defaults_in_order_one_lookup_per_uri():
    plan = guest_models([{"name": "web1"}, {"name": "db1", "memory_mib": 4096, "domain_type": "qemu"},
                         {"name": "other", "uri": "qemu+ssh://z2/system"}], DEFAULTS)
    assert [g["settings"]["name"] for g in plan["guests"]] == ["web1", "db1", "other"]
    assert plan["guests"][1]["settings"]["memory_mib"] == 4096 and plan["guests"][0]["settings"]["memory_mib"] == 1024
    assert plan["lookups"] == [
        {"uri": "qemu:///system", "names": ["web1", "db1"], "capabilities": True},
        {"uri": "qemu+ssh://z2/system", "names": ["other"], "capabilities": True}]
    # before the stored definitions are read: validated as kvm unless qemu is asked for
    assert [g["model"]["type"] for g in plan["guests"]] == ["kvm", "qemu", "kvm"]


def test_capabilities_are_read_only_where_a_guest_leaves_the_domain_type_to_the_host():
    plan = guest_models([{"name": "a", "domain_type": "kvm"}, {"name": "b", "domain_type": "qemu"}], DEFAULTS)
    assert plan["lookups"] == [{"uri": "qemu:///system", "names": ["a", "b"], "capabilities": False}]


def test_an_absent_guest_has_no_model_and_is_not_looked_up():
    plan = guest_models([{"name": "gone", "state": "absent", "hostdevs": [{"kind": "vfio-ccw", "bus_id": "0.0.0001"}]},
                         {"name": "web1"}], DEFAULTS)
    assert plan["guests"][0]["model"] is None and plan["guests"][0]["settings"]["state"] == "absent"
    assert plan["lookups"][0]["names"] == ["web1"]
    assert guest_models([{"name": "gone", "state": "absent"}], DEFAULTS)["lookups"] == []


def test_errors_name_the_guest_in_a_batch_and_the_variable_alone_for_one_guest():
    with pytest.raises(GuestError, match=r"^db1: guest_memory: unknown setting; allowed:"):
        guest_models([{"name": "web1"}, {"name": "db1", "memory": 2048}], DEFAULTS)
    with pytest.raises(GuestError, match=r"^guest_memory: unknown setting; allowed:"):
        guest_models([{"name": "db1", "memory": 2048}], DEFAULTS, labelled=False)


@pytest.mark.parametrize("definitions, message", [
    ({"name": "web1"}, "guest_definitions: expects a list of guests (dictionaries), got dict"),
    (["web1"], "guest_definitions[0]: 'web1' is not a guest"),
    ([{"memory_mib": 512}], "guest_definitions[0].name: required (the domain name)"),
    ([{"name": "web1"}, {"name": "web1", "vcpus": 2}],
     "guest_definitions[1].name: web1 is also the name of guest_definitions[0] (one entry per guest)"),
])
def test_a_batch_that_is_not_a_list_of_named_guests_is_refused(definitions, message):
    with pytest.raises(GuestError) as err:
        guest_models(definitions, {"uri": "qemu:///system"})
    assert message in str(err.value)


def test_host_checks_lie_under_host_root_and_name_the_guest():
    plan = guest_models([{"name": "web1", "hostdevs": [{"kind": "vfio-ccw", "uuid": MDEV_CCW}],
                          "filesystems": [{"tag": "data", "source": "/srv/data"}]},
                         {"name": "nocheck", "check_host": False, "hostdevs": [{"kind": "vfio-ccw", "uuid": MDEV_CCW}]}],
                        DEFAULTS)
    checks = dict((c["var"], c) for c in plan["host_checks"])
    assert sorted(checks) == ["web1: guest_filesystems[0]", "web1: guest_hostdevs[0]"]
    assert checks["web1: guest_hostdevs[0]"]["path"] == "/srv/host/sys/bus/mdev/devices/" + MDEV_CCW
    assert not checks["web1: guest_hostdevs[0]"]["isdir"]
    # a shared directory is the host's own path, not below the sysfs root
    assert checks["web1: guest_filesystems[0]"]["path"] == "/srv/data" and checks["web1: guest_filesystems[0]"]["isdir"]
    assert "does not exist on the host" in checks["web1: guest_hostdevs[0]"]["missing"]
    assert plan["virtiofsd_root"] == "/srv/host/"        # a share and virtiofsd auto: look virtiofsd up there


def test_no_virtiofsd_lookup_without_a_share_or_with_a_given_binary():
    assert guest_models([{"name": "web1"}], DEFAULTS)["virtiofsd_root"] is None
    shares = [{"tag": "data", "source": "/srv/data"}]
    assert guest_models([{"name": "w", "filesystems": shares, "virtiofsd": "/usr/libexec/virtiofsd"}],
                        DEFAULTS)["virtiofsd_root"] is None
    assert guest_models([{"name": "w", "filesystems": shares, "check_host": False}], DEFAULTS)["virtiofsd_root"] is None


def test_resolved_against_the_stored_definitions_per_uri():
    first = guest_model({"name": "web1", "disks": [{"name": "vda", "kind": "image", "path": "/i/a.qcow2"},
                                                   {"name": "vdb", "kind": "image", "path": "/i/b.qcow2"}]},
                        domain_type="qemu")
    assert first["devnos"]["disk[vda]"] == "0x1000" and first["devnos"]["disk[vdb]"] == "0x1001"
    xml = ("<domain type='qemu'><name>web1</name><devices><disk type='file' device='disk'>"
           "<source file='/i/b.qcow2'/><target dev='vdb' bus='virtio'/>"
           "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x1000'/></disk></devices></domain>")
    definitions = [{"name": "web1", "disks": [{"name": "vda", "kind": "image", "path": "/i/a.qcow2"},
                                              {"name": "vdb", "kind": "image", "path": "/i/b.qcow2"}]},
                   {"name": "far", "uri": "qemu+ssh://z2/system"}]
    plan = guest_models(definitions, DEFAULTS, stored=[stored("qemu:///system", False, [("web1", xml)]),
                                                       stored("qemu+ssh://z2/system", True)])
    web1, far = (g["model"] for g in plan["guests"])
    assert web1["type"] == "qemu" and far["type"] == "kvm"         # auto: what each host offers
    assert web1["devnos"]["disk[vdb]"] == "0x1000" and web1["devnos"]["disk[vda]"] == "0x1001"   # kept


def test_the_virtiofsd_found_goes_into_the_shares():
    shares = [{"tag": "data", "source": "/srv/data"}]
    plan = guest_models([{"name": "w", "filesystems": shares}], DEFAULTS, stored=[stored("qemu:///system", True)],
                        host_virtiofsd="/usr/libexec/virtiofsd")
    assert [d["binary"] for d in plan["guests"][0]["model"]["devices"] if d["partial"] == "filesystem"] == [
        "/usr/libexec/virtiofsd"]


def test_each_device_key_is_the_identity_carry_over_matches_the_rendered_device_by():
    """Devnos are kept under domain_xml.identity, the name carry_over pairs devices by: every device the
    model renders must carry that name as its key, or a kept devno would go to another device."""
    model = guest_model(dict(everything(), tablet=True))
    root = dx.parse(render(model))
    rendered = sorted(dx.identity(element) for element in root.find("devices")
                      if element.find("address") is not None and element.find("address").get("type") == "ccw")
    assert rendered == sorted(devnos(model))
    assert len(set(rendered)) == len(rendered)
    assert {"input[keyboard]", "input[mouse]", "input[tablet]", "video", "memballoon", "rng"} <= set(rendered)
    # and the devnos the model keeps are those carry_over would carry for the same devices
    kept = devnos(guest_model(dict(everything(), tablet=True), existing_xml=render(model)))
    assert kept == devnos(model)
