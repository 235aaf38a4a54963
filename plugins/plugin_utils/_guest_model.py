# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The guest role's model, controller side: a guest's variables validated and resolved into what the
role's templates render (s390x.kvm.guest_model), and the guests of one host planned as one batch
(s390x.kvm.guest_models). The filters of those names are thin shells over this module; so is
s390x.kvm.domain_device's device rendering (_device_render)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.hostdev import vfio_ap_hostdev, vfio_ccw_hostdev, vfio_pci_hostdev

DEVNO_RANGES = {
    "disk": (0x1000, 0x1fff), "interface": (0x2000, 0x2fff), "filesystem": (0x3000, 0x3fff),
    "controller": (0x4000, 0x4fff), "input": (0x5000, 0x5fff), "hostdev": (0x6000, 0x6fff),
    "misc": (0xff00, 0xffff),
}
DISK_KINDS = ("image", "dasd", "scsi", "nvme", "block", "cdrom")
INTERFACE_KINDS = ("macvtap", "bridge", "ovs")
HOSTDEV_KINDS = ("vfio-ccw", "vfio-pci", "vfio-ap", "scsi")
CACHE_MODES = ("none", "writethrough", "writeback", "directsync", "unsafe", "default")
IO_MODES = ("native", "threads", "io_uring", "default")
# What libvirt's QEMU driver accepts (libvirt 9.0 refuses preserve for on_poweroff/on_reboot and
# rename-restart everywhere: "qemu driver doesn't support the ... action").
ON_ACTIONS = {"on_poweroff": ("destroy", "restart"), "on_reboot": ("destroy", "restart"),
              "on_crash": ("destroy", "restart", "preserve", "coredump-destroy", "coredump-restart")}
WATCHDOG_ACTIONS = ("", "reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_BUS_ID = re.compile(r"^(?P<css>[0-9a-fA-F]{1,2})\.(?P<ssid>[0-3])\.(?P<devno>[0-9a-fA-F]{4})$")
_PCI = re.compile(r"^(?:(?P<domain>[0-9a-fA-F]{4}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<slot>[0-9a-fA-F]{2})\.(?P<fn>[0-7])$")
_DEV_NAME = re.compile(r"^(vd|sd)[a-z]{1,3}$")


class GuestError(AnsibleFilterError):
    pass


def fail(var, msg):
    raise GuestError("%s: %s" % (var, msg))


def _int(var, value, low, high, what="an integer"):
    # YAML gives bools and floats too: int(True) == 1 and int(1.5) == 1 would pass silently
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        fail(var, "%r is not %s" % (value, what))
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        fail(var, "%r is not %s" % (value, what))
    if number < low or number > high:
        fail(var, "%s is out of range (%s to %s)" % (value, low, high))
    return number


_TRUE = ("yes", "on", "true", "1", "y", "t")
_FALSE = ("no", "off", "false", "0", "n", "f", "")


def _bool(var, value, default=False):
    """A boolean as Ansible reads one (bool("no") would be True)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, (str, int)) and text in _TRUE + _FALSE:
        return text in _TRUE
    fail(var, "%r is not a boolean (true/false, yes/no)" % (value,))


def _text(var, value, pattern, what):
    """A string that matches ``pattern`` (it goes into XML and libvirt names)."""
    if not isinstance(value, str) or not re.match(pattern, value):
        fail(var, "%r is not %s" % (value, what))
    return value


def _abspath(var, value, what="an absolute path"):
    return _text(var, value, r"^/[^\x00]*$", what)


_NETDEV = r"^[A-Za-z0-9_.:@+-]{1,15}$"      # a Linux interface name (IFNAMSIZ - 1)


def _known(var, item, allowed):
    """Unknown keys are typos (chache, memory) that would otherwise be ignored silently."""
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        fail("%s.%s" % (var, unknown[0]) if var else "guest_" + unknown[0],
             "unknown setting; allowed: %s" % ", ".join(sorted(allowed)))


def _choice(var, value, allowed):
    if value not in allowed:
        fail(var, "%r is not allowed; allowed: %s" % (value, ", ".join(str(a) for a in allowed if a != "") or "-"))
    return value


def _required(var, item, key, why):
    value = item.get(key)
    if value in (None, ""):
        fail("%s.%s" % (var, key), "required: %s" % why)
    return value


def parse_devno(var, value):
    """(ssid, devno) from an integer, "0x1234", "1234" (hex), "0.0.1234" or "fe.0.1234" (bus ID)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xffff:
            fail(var, "%#x is out of range (0x0000-0xffff)" % value)
        return 0, value
    if not isinstance(value, str):
        fail(var, "%r is not a device number (0x0000-0xffff, or a bus ID such as 0.0.1234)" % (value,))
    text = value.strip().lower()
    if re.match(r"^[0-9a-f]{1,2}\.[0-9a-f]+\.[0-9a-f]{4}$", text) and not _BUS_ID.match(text):
        fail(var, "%s: the subchannel set ID (the middle part) must be 0 to 3" % value)
    match = _BUS_ID.match(text)
    if match:
        if match.group("css") not in ("0", "00", "fe"):
            fail(var, "%s: virtio CCW devices live in css 0xfe (the guest's css 0); got css %s"
                 % (value, match.group("css")))
        return int(match.group("ssid")), int(match.group("devno"), 16)
    if not re.match(r"^(0x)?[0-9a-f]{1,4}$", text):
        fail(var, "%r is not a device number (0x0000-0xffff, or a bus ID such as 0.0.1234)" % value)
    return 0, int(text, 16)


def stable_mac(guest, key):
    digest = hashlib.sha256(("%s/%s" % (guest, key)).encode("utf-8")).hexdigest()
    return "52:54:00:%s:%s:%s" % (digest[0:2], digest[2:4], digest[4:6])


def existing_devnos(existing_xml):
    """{name: (ssid, devno)} of the stored CCW devices, by :func:`domain_xml.identity`: the name under
    which carry_over matches a device is the key under which the model keeps its devno (every device's
    ``key`` is that name of the device it renders)."""
    pins = {}
    if not existing_xml:
        return pins
    try:
        root = domain_xml.normalize(existing_xml, canonical_console=False)
    except domain_xml.DomainXMLError as exc:
        raise GuestError("existing_xml: %s" % exc)
    for element in root.findall("./devices/*"):
        address = element.find("address")
        if address is not None and address.get("type") == "ccw":
            pins[domain_xml.identity(element)] = (int(address.get("ssid"), 16), int(address.get("devno"), 16))
    return pins


def stored_nics(existing_xml):
    """[((kind, transport), mac)] of the interfaces in the stored definition, in order."""
    if not existing_xml:
        return []
    nics = []
    for element in domain_xml.normalize(existing_xml, canonical_console=False).findall("./devices/interface"):
        mac, address = element.find("mac"), element.find("address")
        kind = {"direct": "macvtap", "bridge": "bridge"}.get(element.get("type"))
        if element.find("virtualport") is not None and element.find("virtualport").get("type") == "openvswitch":
            kind = "ovs"
        if kind and mac is not None:
            transport = "pci" if address is not None and address.get("type") == "pci" else "ccw"
            nics.append(((kind, transport), mac.get("address")))
    return nics


def keep_stored_macs(ifaces, stored):
    """An interface whose generated MAC libvirt does not store takes a stored MAC nobody claims.

    A generated MAC derives from the interface's name, by default kind:source: without this,
    moving an interface to another bridge would give the guest a new NIC (new MAC, new devno)
    instead of changing exactly its source.
    """
    claimed = set(iface["mac"] for iface in ifaces)
    stored_macs = set(mac for _kind, mac in stored)
    free = [(kind, mac) for kind, mac in stored if mac not in claimed]
    for iface in ifaces:
        if not iface["generated_mac"] or iface["mac"] in stored_macs:
            continue
        for entry in free:
            if entry[0] == (iface["kind"], iface["transport"]):
                iface["mac"], iface["key"] = entry[1], "interface[%s]" % entry[1]
                free.remove(entry)
                break


class Allocator(object):
    """Deterministic CCW devno allocation: explicit first, then kept (pinned), then lowest free in range."""

    def __init__(self, pins):
        self.pins = pins
        self.used = {}          # (ssid, devno) -> variable name

    def explicit(self, var, value):
        address = parse_devno(var, value)
        if address in self.used:
            fail(var, "device number %s is also given to %s; every CCW device needs its own"
                 % (fmt_devno(address), self.used[address]))
        self.used[address] = var
        return address

    def assign(self, requests):
        """requests: [(var, key, range_name, address or None)] -> {key: (ssid, devno)}."""
        out = {}
        for var, key, _range, address in requests:
            if address is not None:
                out[key] = address
        for var, key, _range, address in requests:
            if address is None and key in self.pins and self.pins[key] not in self.used:
                out[key] = self.pins[key]
                self.used[self.pins[key]] = var
        for var, key, range_name, address in requests:
            if key in out:
                continue
            low, high = DEVNO_RANGES[range_name]
            for devno in range(low, high + 1):
                if (0, devno) not in self.used and (0, devno) not in self.pins.values():
                    break
            else:
                fail(var, "no free device number left in %#06x-%#06x" % (low, high))
            out[key] = (0, devno)
            self.used[(0, devno)] = var
        return out


def fmt_devno(address):
    return "0x%04x" % address[1] if address[0] == 0 else "%x.%04x" % address


DISK_KEYS = ("name", "kind", "path", "bus_id", "wwid", "format", "bus", "cache", "io", "iothread", "boot_order",
             "readonly", "serial", "devno", "controller", "target", "unit", "startup_policy")
INTERFACE_KEYS = ("kind", "source", "name", "mac", "mode", "trust_guest_rx_filters", "interfaceid", "transport",
                  "zpci_uid", "zpci_fid", "devno")
FILESYSTEM_KEYS = ("tag", "source", "binary", "devno")
CONTROLLER_KEYS = ("index", "queues", "devno")
HOSTDEV_KEYS = ("kind", "uuid", "bus_id", "fid", "devno", "boot_order", "loadparm", "address", "managed", "zpci_uid",
                "zpci_fid", "adapter", "bus", "target", "unit", "controller", "guest_target", "guest_unit")
# The role's settings (defaults/main.yml, meta/argument_specs.yml) without their guest_ prefix, but for
# guest_definition(s) (tests/unit/roles/test_guest_argument_spec.py holds them together).
GUEST_KEYS = ("name", "uuid", "uri", "state", "autostart", "domain_type", "machine", "memory_mib", "vcpus", "cpu_model",
              "iothreads", "on_poweroff", "on_reboot", "on_crash", "kernel", "initrd", "cmdline", "disks", "interfaces",
              "filesystems", "virtiofsd", "memory_backing", "scsi_controllers", "hostdevs", "vfio_ccw_map",
              "zpci_functions", "gpu", "keyboard", "mouse", "tablet", "vnc_listen", "console_log", "watchdog_action",
              "balloon", "rng", "check_host", "host_root", "shutdown_timeout", "destroy_after_timeout",
              "remove_storage")


def _boot_order(var, item):
    if item.get("boot_order") in (None, ""):
        return None
    return _int(var + ".boot_order", item["boot_order"], 1, 999)


def _disk(var, item, iothreads):
    _known(var, item, DISK_KEYS)
    kind = _choice(var + ".kind", _required(var, item, "kind", "one of " + ", ".join(DISK_KINDS)), DISK_KINDS)
    name = _required(var, item, "name", "the guest device name (target dev), such as vda or sda")
    if not isinstance(name, str) or not _DEV_NAME.match(name):
        fail(var + ".name", "%r is not a target device name such as vda (virtio) or sda (SCSI)" % name)
    bus = item.get("bus") or ("scsi" if kind == "cdrom" or name.startswith("sd") else "virtio")
    _choice(var + ".bus", bus, ("virtio", "scsi"))
    if kind == "cdrom" and bus != "scsi":
        fail(var + ".bus", "a CD/DVD drive sits on the SCSI bus (IBM: target bus=scsi); virtio-blk has no removable media")
    if bus == "virtio" and not name.startswith("vd"):
        fail(var + ".name", "%s is on the virtio bus: name it vdX" % name)
    if bus == "scsi" and not name.startswith("sd"):
        fail(var + ".name", "%s is on the SCSI bus: name it sdX" % name)
    path = item.get("path") or ""
    if path and not isinstance(path, str):
        fail(var + ".path", "%r is not a path" % (path,))
    if kind == "dasd" and not path:
        bus_id = _required(var, item, "bus_id", "the DASD's bus ID (0.0.xxxx) or give path")
        if not _BUS_ID.match(str(bus_id).lower()):
            fail(var + ".bus_id", "%r is not a CCW bus ID such as 0.0.1234" % bus_id)
        path = "/dev/disk/by-path/ccw-%s" % str(bus_id).lower()
    elif kind == "scsi" and not path:
        wwid = _required(var, item, "wwid", "the multipath WWID of the SCSI LUN, or give path (a multipath node)")
        _text(var + ".wwid", wwid, r"^[0-9A-Za-z._:-]+$", "a multipath WWID")
        path = "/dev/disk/by-id/dm-uuid-mpath-%s" % wwid
    elif kind != "cdrom" and not path:
        _required(var, item, "path", "the %s" % ("image file" if kind == "image" else "block device node"))
    if path and not path.startswith("/"):
        fail(var + ".path", "%r is not an absolute path" % path)
    file_backed = kind in ("image", "cdrom")
    fmt = item.get("format") or ("qcow2" if path.endswith(".qcow2") and kind == "image" else "raw")
    _choice(var + ".format", fmt, ("raw", "qcow2"))
    if not file_backed and fmt != "raw":
        fail(var + ".format", "block devices are raw")
    disk = {
        "partial": "disk", "kind": kind, "target": name, "bus": bus, "path": path,
        "type": "file" if file_backed else "block", "device": "cdrom" if kind == "cdrom" else "disk",
        "format": fmt,
        "cache": _choice(var + ".cache", item.get("cache") or "none", CACHE_MODES),
        "io": _choice(var + ".io", item.get("io") or "native", IO_MODES),
        "readonly": _bool(var + ".readonly", item.get("readonly")) or kind == "cdrom",
        "boot_order": _boot_order(var, item),
        "serial": _text(var + ".serial", item["serial"], r"^[A-Za-z0-9 _.+-]{1,20}$",
                        "a disk serial (up to 20 letters, digits, space _ . + -)") if item.get("serial") else None,
        "startup_policy": item.get("startup_policy") or ("optional" if kind == "cdrom" and path else None),
        "key": "disk[%s]" % name,
    }
    if disk["io"] == "native" and disk["cache"] not in ("none", "directsync"):
        fail(var + ".io", "io=native needs cache none or directsync (QEMU), got cache=%s" % disk["cache"])
    if disk["startup_policy"]:
        _choice(var + ".startup_policy", disk["startup_policy"], ("mandatory", "requisite", "optional"))
        if kind != "cdrom":
            fail(var + ".startup_policy", "only CD/DVD drives take a startup policy")
    iothread = item.get("iothread")
    disk["iothread"] = None
    if bus == "virtio":
        if iothread is None:
            iothread = 1 if iothreads else 0
        iothread = _int(var + ".iothread", iothread, 0, max(iothreads, 0))
        disk["iothread"] = iothread or None
    elif iothread:
        fail(var + ".iothread", "only virtio-blk disks use I/O threads")
    if bus == "scsi":
        disk["controller"] = _int(var + ".controller", item.get("controller", 0), 0, 31)
        disk["unit"] = _int(var + ".unit", item["unit"], 0, 16383) if item.get("unit") is not None else None
        disk["scsi_target"] = _int(var + ".target", item.get("target", 0), 0, 255)
    return disk


def _interface(var, item, guest, seen_names):
    _known(var, item, INTERFACE_KEYS)
    kind = _choice(var + ".kind", _required(var, item, "kind", "one of " + ", ".join(INTERFACE_KINDS)),
                   INTERFACE_KINDS)
    source = _required(var, item, "source", {
        "macvtap": "the host interface (OSA, HiperSockets or PCIe NIC netdev) the macvtap sits on",
        "bridge": "the Linux bridge", "ovs": "the Open vSwitch bridge"}[kind])
    _text(var + ".source", source, _NETDEV, "a host interface name (up to 15 letters, digits, _ . : @ + -)")
    name = item.get("name") or "%s:%s" % (kind, source)
    if name in seen_names:
        fail(var + ".name", "two interfaces are called %s (give each a distinct name or mac)" % name)
    seen_names.add(name)
    if item.get("mac") and not isinstance(item["mac"], str):
        fail(var + ".mac", "%r is not a MAC address such as 52:54:00:12:34:56" % (item["mac"],))
    mac = (item.get("mac") or stable_mac(guest, name)).lower()
    if not re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", mac):
        fail(var + ".mac", "%r is not a MAC address" % item.get("mac"))
    if int(mac[:2], 16) & 1:
        fail(var + ".mac", "%s is a multicast address" % mac)
    transport = _choice(var + ".transport", item.get("transport") or "ccw", ("ccw", "pci"))
    iface = {
        "partial": "interface", "kind": kind, "source": source, "mac": mac, "name": name,
        "mode": item.get("mode") or "bridge", "transport": transport,
        "trust_guest_rx_filters": _bool(var + ".trust_guest_rx_filters", item.get("trust_guest_rx_filters")),
        "interfaceid": _text(var + ".interfaceid", item["interfaceid"], _UUID.pattern, "a UUID (Open vSwitch "
                             "interface ID)") if item.get("interfaceid") else None,
        "key": "interface[%s]" % mac,
    }
    if kind == "macvtap":
        _choice(var + ".mode", iface["mode"], ("bridge", "vepa", "private", "passthrough"))
    elif item.get("mode"):
        fail(var + ".mode", "only macvtap interfaces have a mode")
    if iface["interfaceid"] and kind != "ovs":
        fail(var + ".interfaceid", "only Open vSwitch (kind ovs) interfaces have an interface ID")
    if transport == "pci":
        iface["zpci_uid"] = _int(var + ".zpci_uid", _required(var, item, "zpci_uid", "the zPCI uid (0x0001-0xffff)"),
                                 1, 0xffff)
        iface["zpci_fid"] = _int(var + ".zpci_fid", _required(var, item, "zpci_fid", "the zPCI fid"), 0, 0xffffffff)
        if item.get("devno"):
            fail(var + ".devno", "a zPCI interface has no CCW device number")
    return iface


def _filesystem(var, item, virtiofsd):
    _known(var, item, FILESYSTEM_KEYS)
    tag = _required(var, item, "tag", "the mount tag the guest uses (mount -t virtiofs TAG /mnt)")
    _text(var + ".tag", tag, r"^[^\x00-\x1f'\"<>&]+$", "a mount tag (printable, no quotes, < > or &)")
    source = _required(var, item, "source", "the host directory to share (virtio-fs needs a source directory)")
    _abspath(var + ".source", source, "an absolute directory path")
    if item.get("binary"):
        _abspath(var + ".binary", item["binary"], "the absolute path of virtiofsd")
    if len(tag) > 36:
        fail(var + ".tag", "%r is longer than 36 characters (virtio-fs tag limit)" % tag)
    return {"partial": "filesystem", "tag": tag, "source": source,
            "binary": item.get("binary", virtiofsd) or None, "key": "filesystem[%s]" % tag,
            "host_check": {"path": source, "sysfs": False, "isdir": True,
                           "missing": "the shared directory %s does not exist on the host" % source}}


def _from_facts(var, item, facts):
    """Fill uuid (vfio-ccw by bus_id) and address/zpci ids (vfio-pci by fid) from the modules' results."""
    item = dict(item)
    if item.get("kind") == "vfio-ccw" and item.get("bus_id") and not item.get("uuid"):
        bus_id = str(item["bus_id"]).lower()
        ccw_map = facts.get("vfio_ccw_map") or {}
        if not isinstance(ccw_map, dict):
            fail("guest_vfio_ccw_map", "must be the map result of s390x.kvm.vfio_ccw (bus ID -> subchannel and uuid), "
                                       "got %s" % type(ccw_map).__name__)
        entry = ccw_map.get(bus_id)
        entry = entry if isinstance(entry, dict) else None
        if not entry or not entry.get("uuid"):
            fail(var + ".bus_id", "%s has no mediated device in guest_vfio_ccw_map: prepare it with s390x.kvm.vfio_ccw "
                                  "and pass its result's map" % bus_id)
        item["uuid"] = entry["uuid"]
    if item.get("kind") == "vfio-pci" and item.get("fid") not in (None, "") and not item.get("address"):
        fid = _int(var + ".fid", item["fid"], 0, 0xffffffff)
        functions = _check_list("guest_zpci_functions", facts.get("zpci_functions"))
        found = [f for f in functions if f.get("fid") == fid]
        if not found:
            fail(var + ".fid", "%#010x is not among guest_zpci_functions (the functions of s390x.kvm.zpci_info)" % fid)
        item["address"] = found[0]["address"]
        if item.get("zpci_uid") in (None, "") and found[0].get("uid") is not None:
            item["zpci_uid"] = found[0]["uid"]
        if item.get("zpci_fid") in (None, ""):
            item["zpci_fid"] = fid
    return item


# The pass-through kinds whose <hostdev> the VFIO modules return as hostdev_xml too.
VFIO_HOSTDEV_KINDS = ("vfio-ccw", "vfio-pci", "vfio-ap")


def hostdev_xml(dev):
    """The <hostdev> of a VFIO device of the model, written by the builder the VFIO modules use
    (module_utils/_vfio/hostdev.py), so the role's guest and a module's hostdev_xml cannot differ."""
    if dev["kind"] == "vfio-ccw":
        return vfio_ccw_hostdev(dev["uuid"], int(dev["ssid"], 16), int(dev["devno"], 16), dev.get("boot_order"),
                                dev.get("loadparm"))
    if dev["kind"] == "vfio-ap":
        return vfio_ap_hostdev(dev["uuid"])
    return vfio_pci_hostdev(dev["address"], dev.get("zpci_uid"), dev.get("zpci_fid"), dev["managed"])


def _hostdev(var, item):
    _known(var, item, HOSTDEV_KEYS)
    kind = _choice(var + ".kind", _required(var, item, "kind", "one of " + ", ".join(HOSTDEV_KINDS)), HOSTDEV_KINDS)
    dev = {"partial": "hostdev_" + kind.replace("-", "_"), "kind": kind}
    if kind in ("vfio-ccw", "vfio-ap"):
        uuid = _required(var, item, "uuid", "the UUID of the %s mediated device (from s390x.kvm.%s)%s"
                         % (kind, kind.replace("-", "_"), " or its bus_id" if kind == "vfio-ccw" else ""))
        if not isinstance(uuid, str) or not _UUID.match(uuid):
            fail(var + ".uuid", "%r is not a UUID" % uuid)
        dev.update(uuid=uuid.lower(), key="hostdev[mdev:%s]" % uuid.lower(),
                   host_check={"path": "/sys/bus/mdev/devices/%s" % uuid.lower(), "sysfs": True,
                               "missing": "the %s mediated device %s does not exist on the host: prepare it first "
                                          "(s390x.kvm.%s)" % (kind, uuid.lower(), kind.replace("-", "_"))})
        if kind == "vfio-ccw":
            dev["boot_order"] = _boot_order(var, item)
            # loadparm: up to 8 characters from A-Z 0-9 . and blank (libvirt's check, upper-cased)
            dev["loadparm"] = _text(var + ".loadparm", item["loadparm"], r"^[A-Za-z0-9. ]{1,8}$",
                                    "a loadparm (1-8 of A-Z 0-9 . blank)").upper() if item.get("loadparm") else None
        elif item.get("devno"):
            fail(var + ".devno", "a vfio-ap matrix device has no CCW device number")
    elif kind == "vfio-pci":
        address = _required(var, item, "address", "the host PCI address of the zPCI function (0001:00:00.0)")
        match = _PCI.match(address.lower()) if isinstance(address, str) else None
        if not match:
            fail(var + ".address", "%r is not a PCI address such as 0001:00:00.0" % address)
        parts = dict(domain=int(match.group("domain") or "0", 16), bus=int(match.group("bus"), 16),
                     slot=int(match.group("slot"), 16), function=int(match.group("fn")))
        dev.update(parts, address="%04x:%02x:%02x.%x" % tuple(parts[k] for k in ("domain", "bus", "slot", "function")),
                   managed=_bool(var + ".managed", item.get("managed"), default=True),
                   key="hostdev[pci:0x%04x:0x%02x:0x%02x.0x%x]" % tuple(
                       parts[k] for k in ("domain", "bus", "slot", "function")))
        dev["host_check"] = {
            "path": "/sys/bus/pci/devices/%s" % dev["address"] if dev["managed"]
            else "/sys/bus/pci/drivers/vfio-pci/%s" % dev["address"], "sysfs": True,
            "missing": "PCI function %s %s" % (dev["address"], "does not exist on the host" if dev["managed"] else
                                               "is not bound to vfio-pci (managed: false): prepare it first "
                                               "(s390x.kvm.vfio_pci)")}
        dev["zpci_uid"] = _int(var + ".zpci_uid", item["zpci_uid"], 1, 0xffff) \
            if item.get("zpci_uid") not in (None, "") else None
        dev["zpci_fid"] = _int(var + ".zpci_fid", item["zpci_fid"], 0, 0xffffffff) \
            if item.get("zpci_fid") not in (None, "") else None
        if item.get("devno"):
            fail(var + ".devno", "a PCI device has no CCW device number (use zpci_uid and zpci_fid)")
    else:
        adapter = _required(var, item, "adapter", "the host SCSI adapter (scsi_hostN) of the tape or changer")
        if not isinstance(adapter, str) or not re.match(r"^scsi_host\d+$", adapter):
            fail(var + ".adapter", "%r is not an adapter name such as scsi_host0" % adapter)
        dev.update(adapter=adapter,
                   host_bus=_int(var + ".bus", item.get("bus", 0), 0, 255),
                   host_target=_int(var + ".target", item.get("target", 0), 0, 255),
                   host_unit=_int(var + ".unit", item.get("unit", 0), 0, 16383),
                   controller=_int(var + ".controller", item.get("controller", 0), 0, 31))
        dev["guest_target"] = _int(var + ".guest_target", item.get("guest_target", dev["host_target"]), 0, 255)
        dev["guest_unit"] = _int(var + ".guest_unit", item.get("guest_unit", dev["host_unit"]), 0, 16383)
        dev["key"] = "hostdev[scsi:%s:%s:%s:%s]" % (adapter, dev["host_bus"], dev["host_target"], dev["host_unit"])
        hctl = "%s:%s:%s:%s" % (adapter[len("scsi_host"):], dev["host_bus"], dev["host_target"], dev["host_unit"])
        dev["host_check"] = {"path": "/sys/bus/scsi/devices/%s" % hctl, "sysfs": True,
                             "missing": "SCSI device %s (%s) does not exist on the host" % (hctl, adapter)}
        if item.get("devno"):
            fail(var + ".devno", "a SCSI pass-through device sits on a virtio-scsi controller, not on a CCW devno")
    return dev


def _check_list(var, value):
    if value is None:
        return []
    if not isinstance(value, list):
        fail(var, "must be a list, got %s" % type(value).__name__)
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            fail("%s[%d]" % (var, index), "must be a dictionary, got %r" % (item,))
    return value


def guest_model(spec, domain_type="kvm", existing_xml="", host_virtiofsd=""):
    """The resolved guest model (see DOCUMENTATION)."""
    if not isinstance(spec, dict):
        raise GuestError("guest_model: expects a dictionary of the guest role's variables")
    _known(None, spec, GUEST_KEYS)
    name = spec.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", name):
        fail("guest_name", "%r is not a usable domain name (letters, digits, _ . + -)" % (name,))
    _choice("guest_domain_type", domain_type, ("kvm", "qemu"))
    # settings the role's tasks read directly (a guest_definition never meets the argument spec)
    _choice("guest_state", spec.get("state", "running"),
            ("present", "running", "shut_off", "destroyed", "paused", "absent"))
    _choice("guest_domain_type", spec.get("domain_type", "auto"), ("auto", "kvm", "qemu"))
    for key in ("autostart", "check_host", "destroy_after_timeout", "remove_storage"):
        _bool("guest_" + key, spec.get(key))
    if spec.get("shutdown_timeout") is not None:
        _int("guest_shutdown_timeout", spec["shutdown_timeout"], 0, 86400)
    if spec.get("uuid"):
        _text("guest_uuid", spec["uuid"], _UUID.pattern, "a UUID such as 5a390b1e-0000-4000-8000-000000000001")
    machine = spec.get("machine") or "s390-ccw-virtio"
    _text("guest_machine", machine, r"^s390-ccw-virtio(-[0-9.]+)?$",
          "an s390x machine type (s390-ccw-virtio or a versioned one such as s390-ccw-virtio-7.2)")
    for key in ("kernel", "initrd", "console_log"):
        if spec.get(key):
            _abspath("guest_" + key, spec[key], "an absolute path on the host")
    if spec.get("cmdline") and not isinstance(spec["cmdline"], str):
        fail("guest_cmdline", "%r is not a kernel command line (a string)" % (spec["cmdline"],))
    if spec.get("vnc_listen"):
        _text("guest_vnc_listen", spec["vnc_listen"], r"^([0-9.]+|[0-9A-Fa-f:]+)$", "an IPv4 or IPv6 address")
    flags = dict((key, _bool("guest_" + key, spec.get(key), key in ("balloon", "rng")))
                 for key in ("gpu", "keyboard", "mouse", "tablet", "balloon", "rng"))
    iothreads = _int("guest_iothreads", spec.get("iothreads", 1), 0, 64)
    vcpus = _int("guest_vcpus", spec.get("vcpus", 1), 1, 248)
    memory_mib = _int("guest_memory_mib", spec.get("memory_mib", 1024), 64, 16 * 1024 * 1024,
                      "a whole number of MiB (2 GiB is 2048)")
    cpu_model = spec.get("cpu_model") or "auto"
    _text("guest_cpu_model", cpu_model, r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "a CPU model name (auto, host-model, z15, ...)")
    if cpu_model == "auto":
        cpu = {"mode": "host-model"} if domain_type == "kvm" else {"mode": "custom", "model": "qemu"}
    elif cpu_model in ("host-model", "host-passthrough"):
        if domain_type != "kvm":
            fail("guest_cpu_model", "%s needs KVM; this guest runs under TCG (domain type qemu): use auto or a "
                                    "model such as qemu" % cpu_model)
        cpu = {"mode": cpu_model}
    else:
        cpu = {"mode": "custom", "model": cpu_model}
    for action in ("on_poweroff", "on_reboot", "on_crash"):
        _choice("guest_" + action, spec.get(action, "destroy"), ON_ACTIONS[action])
    watchdog = spec.get("watchdog_action") or ""
    _choice("guest_watchdog_action", watchdog, WATCHDOG_ACTIONS)

    devices, requests = [], []
    allocator = Allocator(existing_devnos(existing_xml))

    def ccw(var, dev, range_name, item):
        address = allocator.explicit(var + ".devno", item["devno"]) if item.get("devno") not in (None, "") else None
        requests.append((var, dev["key"], range_name, address))

    targets = {}
    scsi_units = {}
    controllers_used = {}
    for index, item in enumerate(_check_list("guest_disks", spec.get("disks"))):
        var = "guest_disks[%d]" % index
        disk = _disk(var, item, iothreads)
        disk["var"] = var
        if disk["target"] in targets:
            fail(var + ".name", "%s is also the name of %s" % (disk["target"], targets[disk["target"]]))
        targets[disk["target"]] = var
        if disk["bus"] == "virtio":
            ccw(var, disk, "disk", item)
        else:
            if item.get("devno"):
                fail(var + ".devno", "a SCSI disk sits on a virtio-scsi controller, not on a CCW devno")
            if disk["unit"] is None:      # the lowest unit on that controller and target nobody asked for
                taken = set(scsi_units) | _explicit_scsi_units(spec)
                disk["unit"] = min(u for u in range(16384)
                                   if (disk["controller"], disk["scsi_target"], u) not in taken)
            unit = (disk["controller"], disk["scsi_target"], disk["unit"])
            if unit in scsi_units:
                fail(var + ".unit", "controller %s target %s unit %s is also used by %s" % (unit + (scsi_units[unit],)))
            scsi_units[unit] = var
            controllers_used.setdefault(disk["controller"], var)
        devices.append(disk)

    macs, names = {}, set()
    zpci_uids, zpci_fids = {}, {}
    ifaces = []
    for index, item in enumerate(_check_list("guest_interfaces", spec.get("interfaces"))):
        var = "guest_interfaces[%d]" % index
        iface = _interface(var, item, name, names)
        iface.update(var=var, generated_mac=not item.get("mac"))
        ifaces.append((item, iface))
    keep_stored_macs([iface for _item, iface in ifaces], stored_nics(existing_xml))
    for item, iface in ifaces:
        var = iface["var"]
        if iface["mac"] in macs:
            fail(var + ".mac", "%s is also the MAC of %s" % (iface["mac"], macs[iface["mac"]]))
        macs[iface["mac"]] = var
        if iface["transport"] == "ccw":
            ccw(var, iface, "interface", item)
        else:
            _zpci_unique(var, iface, zpci_uids, zpci_fids)
        devices.append(iface)

    tags = {}
    virtiofsd = spec.get("virtiofsd", "auto")
    if virtiofsd == "auto":
        virtiofsd = host_virtiofsd or ""        # found on the host, as libvirt would find it
    elif virtiofsd:
        _abspath("guest_virtiofsd", virtiofsd, "the absolute path of virtiofsd, auto, or empty")
    filesystems = _check_list("guest_filesystems", spec.get("filesystems"))
    for index, item in enumerate(filesystems):
        var = "guest_filesystems[%d]" % index
        fs = _filesystem(var, item, virtiofsd)
        if fs["tag"] in tags:
            fail(var + ".tag", "%s is also the tag of %s" % (fs["tag"], tags[fs["tag"]]))
        tags[fs["tag"]] = var
        ccw(var, fs, "filesystem", item)
        devices.append(fs)

    hostdevs = []
    keys = {}
    for index, item in enumerate(_check_list("guest_hostdevs", spec.get("hostdevs"))):
        var = "guest_hostdevs[%d]" % index
        dev = _hostdev(var, _from_facts(var, item, spec))
        dev["var"] = var
        if dev["key"] in keys:
            fail(var, "the same device is also given as %s" % keys[dev["key"]])
        keys[dev["key"]] = var
        if dev["kind"] == "vfio-ccw":
            ccw(var, dev, "hostdev", item)
        elif dev["kind"] == "vfio-pci":
            _zpci_unique(var, dev, zpci_uids, zpci_fids)
        elif dev["kind"] == "scsi":
            unit = (dev["controller"], dev["guest_target"], dev["guest_unit"])
            if unit in scsi_units:
                fail(var + ".guest_unit", "controller %s target %s unit %s is also used by %s"
                     % (unit + (scsi_units[unit],)))
            scsi_units[unit] = var
            controllers_used.setdefault(dev["controller"], var)
        hostdevs.append(dev)

    explicit_controllers = {}
    for index, item in enumerate(_check_list("guest_scsi_controllers", spec.get("scsi_controllers"))):
        var = "guest_scsi_controllers[%d]" % index
        _known(var, item, CONTROLLER_KEYS)
        number = _int(var + ".index", item.get("index", index), 0, 31)
        if number in explicit_controllers:
            fail(var + ".index", "controller %s is also given as %s" % (number, explicit_controllers[number][0]))
        explicit_controllers[number] = (var, item)
    all_indices = sorted(set(controllers_used) | set(explicit_controllers))
    if all_indices and all_indices != list(range(len(all_indices))):
        first_gap = [i for i in all_indices if i >= len(all_indices)][0]
        var = (controllers_used.get(first_gap) and controllers_used[first_gap] + ".controller") or \
            explicit_controllers[first_gap][0] + ".index"
        fail(var, "SCSI controller %s leaves a gap: controller indices must be contiguous from 0 (used: %s)"
             % (first_gap, ", ".join(str(i) for i in all_indices)))
    for number in all_indices:
        automatic = "guest_scsi_controllers (automatic, for %s)" % controllers_used.get(number)
        var, item = explicit_controllers.get(number, (automatic, {}))
        ctrl = {"partial": "scsi_controller", "index": number, "key": "controller[scsi:%d]" % number,
                "queues": _int(var + ".queues", item["queues"], 1, 256) if item.get("queues") else None}
        ccw(var, ctrl, "controller", item)
        devices.append(ctrl)

    devices.append({"partial": "console", "log": spec.get("console_log") or None, "key": "console"})
    if flags["gpu"]:
        dev = {"partial": "video", "key": "video"}
        ccw("guest_gpu", dev, "input", {})
        devices.append(dev)
    for kind in ("keyboard", "mouse", "tablet"):
        if flags[kind]:
            dev = {"partial": "input", "type": kind, "key": "input[%s]" % kind}
            ccw("guest_" + kind, dev, "input", {})
            devices.append(dev)
    if spec.get("vnc_listen"):
        devices.append({"partial": "graphics", "listen": spec["vnc_listen"], "key": "graphics[vnc]"})
    devices.extend(hostdevs)
    if watchdog:
        devices.append({"partial": "watchdog", "action": watchdog, "key": "watchdog"})
    balloon = {"partial": "memballoon", "enabled": flags["balloon"], "key": "memballoon"}
    if balloon["enabled"]:
        ccw("guest_balloon", balloon, "misc", {})
    devices.append(balloon)
    if flags["rng"]:
        dev = {"partial": "rng", "key": "rng"}
        ccw("guest_rng", dev, "misc", {})
        devices.append(dev)

    boot_orders = {}
    for dev in devices:
        if dev.get("boot_order"):
            if dev["boot_order"] in boot_orders:
                fail(dev["var"] + ".boot_order", "boot order %s is also given to %s (libvirt needs each once)"
                     % (dev["boot_order"], boot_orders[dev["boot_order"]]))
            boot_orders[dev["boot_order"]] = dev["var"]
    var_of = dict((key, var) for var, key, _range, _address in requests)
    for dev in devices:
        dev.setdefault("var", var_of.get(dev["key"]))
    assigned = allocator.assign(requests)
    for dev in devices:
        if dev["key"] in assigned:
            ssid, devno = assigned[dev["key"]]
            dev["ssid"] = "0x%x" % ssid
            dev["devno"] = "0x%04x" % devno
    for dev in devices:
        if dev.get("kind") in VFIO_HOSTDEV_KINDS:
            dev["xml"] = hostdev_xml(dev)

    backing = spec.get("memory_backing") or "auto"
    _choice("guest_memory_backing", backing, ("auto", "memfd", "file", "hugepages", "none"))
    if backing == "auto":
        backing = "memfd" if filesystems else "none"
    if filesystems and backing == "none":
        fail("guest_memory_backing", "virtio-fs (guest_filesystems) needs shared memory: use auto, memfd, file or "
                                     "hugepages")
    kernel = spec.get("kernel") or None
    if (spec.get("initrd") or spec.get("cmdline")) and not kernel:
        fail("guest_kernel", "required when guest_initrd or guest_cmdline is set (direct kernel boot)")
    return {
        "name": name,
        "uuid": spec.get("uuid") or None,
        "type": domain_type,
        "machine": machine,
        "memory_kib": memory_mib * 1024,
        "vcpus": vcpus,
        "cpu": cpu,
        "iothreads": iothreads,
        "on_poweroff": spec.get("on_poweroff", "destroy"),
        "on_reboot": spec.get("on_reboot", "restart"),
        "on_crash": spec.get("on_crash", "preserve"),
        "os": {"kernel": kernel, "initrd": spec.get("initrd") or None, "cmdline": spec.get("cmdline") or None},
        "memory_backing": None if backing == "none" else backing,
        "devices": devices,
        "devnos": dict((dev["key"], dev["devno"]) for dev in devices if dev.get("devno")),
    }


def _explicit_scsi_units(spec):
    """(controller, target, unit) that SCSI disks and SCSI pass-through devices ask for explicitly."""
    taken = set()
    for item in spec.get("disks") or []:
        if isinstance(item, dict) and item.get("unit") is not None:
            try:
                taken.add((int(item.get("controller", 0)), int(item.get("target", 0)), int(item["unit"])))
            except (TypeError, ValueError):
                pass        # reported when that disk is validated
    for item in spec.get("hostdevs") or []:
        if isinstance(item, dict) and item.get("kind") == "scsi":
            try:
                taken.add((int(item.get("controller", 0)), int(item.get("guest_target", item.get("target", 0))),
                           int(item.get("guest_unit", item.get("unit", 0)))))
            except (TypeError, ValueError):
                pass
    return taken


def _zpci_unique(var, dev, uids, fids):
    if dev.get("zpci_uid") is not None:
        if dev["zpci_uid"] in uids:
            fail(var + ".zpci_uid", "%#06x is also the uid of %s (uids must be unique in a guest)"
                 % (dev["zpci_uid"], uids[dev["zpci_uid"]]))
        uids[dev["zpci_uid"]] = var
    if dev.get("zpci_fid") is not None:
        if dev["zpci_fid"] in fids:
            fail(var + ".zpci_fid", "%#010x is also the fid of %s" % (dev["zpci_fid"], fids[dev["zpci_fid"]]))
        fids[dev["zpci_fid"]] = var


def _labelled(label, call, *args, **kwargs):
    """call(*args, **kwargs), its GuestError prefixed with ``label`` (the guest's name in a batch)."""
    if not label:
        return call(*args, **kwargs)
    try:
        return call(*args, **kwargs)
    except GuestError as err:
        raise GuestError("%s: %s" % (label, err.message))


def _batch_settings(definitions, defaults):
    """Each definition over the host-wide settings, in order; names checked and unique."""
    if not isinstance(definitions, list):
        raise GuestError("guest_definitions: expects a list of guests (dictionaries), got %s" % type(definitions).__name__)
    batch, names, uuids = [], {}, {}
    for index, definition in enumerate(definitions):
        var = "guest_definitions[%d]" % index
        if not isinstance(definition, dict):
            fail(var, "%r is not a guest (a dictionary of the role's variables without the guest_ prefix)"
                 % (definition,))
        settings = dict(defaults or {}, **definition)
        name = settings.get("name")
        if not isinstance(name, str) or not name:
            fail(var + ".name", "required (the domain name)")
        if name in names:
            fail(var + ".name", "%s is also the name of %s (one entry per guest)" % (name, names[name]))
        names[name] = var
        uuid = str(settings.get("uuid") or "").lower()
        if uuid and uuid in uuids:
            fail(var + ".uuid", "%s is also the UUID of %s (each guest needs its own; a host-wide guest_uuid "
                                "gives every guest the same)" % (settings["uuid"], uuids[uuid]))
        uuids[uuid] = var
        batch.append(settings)
    return batch


def _host_checks(label, settings, model):
    """What must exist on the host before the guest is defined: one stat per device, its path under host_root."""
    root = (settings.get("host_root") or "/").rstrip("/")
    checks = []
    for dev in model["devices"]:
        check = dev.get("host_check")
        if check:
            var = "%s: %s" % (label, dev["var"]) if label else dev["var"]
            checks.append({"var": var, "path": root + check["path"] if check["sysfs"] else check["path"],
                           "isdir": bool(check.get("isdir")), "missing": check["missing"]})
    return checks


def guest_models(definitions, defaults=None, stored=None, host_virtiofsd="", labelled=True):
    """The guests of one host as one batch (see the guest_models filter's DOCUMENTATION): each definition
    over ``defaults`` (the role's host-wide settings), validated (before ``stored`` is known) or resolved
    against the stored definitions (``stored``: the results of domain_info over ``lookups``), plus what
    the role's tasks need to act on all of them at once."""
    batch = _batch_settings(definitions, defaults)
    found, kvm = {}, {}
    for result in stored or []:
        uri = result["item"]["uri"]
        kvm[uri] = (result.get("host") or {}).get("kvm_available")
        for domain in result.get("domains") or []:
            found[(uri, domain["name"])] = domain.get("xml") or ""
    guests, checks, lookups, virtiofsd_root = [], [], {}, None
    for settings in batch:
        label = settings["name"] if labelled else ""
        if settings.get("state", "running") == "absent":
            guests.append({"settings": settings, "model": None})
            continue
        wanted = settings.get("domain_type", "auto")
        if stored is None:
            domain_type = "qemu" if wanted == "qemu" else "kvm"
        else:
            domain_type = wanted if wanted != "auto" else ("kvm" if kvm.get(settings["uri"]) else "qemu")
        model = _labelled(label, guest_model, settings, domain_type=domain_type,
                          existing_xml=found.get((settings["uri"], settings["name"]), ""),
                          host_virtiofsd=host_virtiofsd)
        guests.append({"settings": settings, "model": model})
        lookup = lookups.setdefault(settings["uri"], {"uri": settings["uri"], "names": [], "capabilities": False})
        lookup["names"].append(settings["name"])
        lookup["capabilities"] = lookup["capabilities"] or wanted == "auto"
        if _bool("guest_check_host", settings.get("check_host"), True):
            checks.extend(_host_checks(label, settings, model))
            if settings.get("virtiofsd", "auto") == "auto" and any(
                    dev["partial"] == "filesystem" for dev in model["devices"]):
                virtiofsd_root = virtiofsd_root or settings.get("host_root") or "/"
    return {"guests": guests, "host_checks": checks, "lookups": list(lookups.values()),
            "virtiofsd_root": virtiofsd_root}
