# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a domain XML holds, as data: devices with their backing and guest-visible addresses,
pass-through devices, and (from :mod:`migration_rules`) what keeps the domain from migrating live.
Standard library only: runs on the managed host and on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils.domain_xml import device_key, parse, to_kib
from ansible_collections.s390x.kvm.plugins.module_utils._migration_rules import migration_blockers


def guest_bus_id(devno_hex, ssid="0x0"):
    """Bus ID the guest sees for a virtio CCW devno: cssid 0xfe appears as css 0 (``0.0.1000``)."""
    return "0.%x.%04x" % (int(ssid, 16), int(devno_hex, 16))


def _disk_backing_kind(disk, source):
    kind = disk.get("type")
    if kind == "file":
        return "image"
    if kind == "network":
        return "network"
    if kind == "volume":
        return "volume"
    if kind != "block":
        return kind
    path = source.get("dev", "") if source is not None else ""
    name = path.rsplit("/", 1)[-1]
    # before the DASD test: udev names a zfcp LUN's path after its FCP device, "ccw-<bus ID>-fc-<wwpn>-lun-<lun>"
    if path.startswith("/dev/mapper/") or name.startswith("dm-uuid-mpath") or name.startswith("wwn-") \
            or name.startswith("scsi-") or path.startswith("/dev/disk/by-path/") and "-fc-" in path:
        return "scsi"
    if path.startswith("/dev/disk/by-path/ccw-") or name.startswith("ccw-") or path.startswith("/dev/dasd"):
        return "dasd"
    if name.startswith("nvme") or path.startswith("/dev/nvme"):
        return "nvme"
    return "block"


def _source(device):
    source = device.find("source")
    if source is None:
        return None
    for attr in ("file", "dev", "bridge", "network", "dir", "volume", "name", "path", "wwpn"):
        if source.get(attr):
            return source.get(attr)
    address = source.find("address")
    if address is not None:
        if address.get("uuid"):
            return address.get("uuid")
        if address.get("domain"):
            return "%s:%s:%s.%s" % tuple(address.get(k) for k in ("domain", "bus", "slot", "function"))
        adapter = source.find("adapter")
        if adapter is not None:
            return "%s:%s:%s:%s" % (adapter.get("name"), address.get("bus"), address.get("target"), address.get("unit"))
    return None


def _address(device, out):
    address = device.find("address")
    if address is None:
        return
    kind = address.get("type")
    out["address_type"] = kind
    if kind == "ccw":
        out["devno"] = address.get("devno")
        out["guest_bus_id"] = guest_bus_id(address.get("devno", "0"), address.get("ssid", "0x0"))
    elif kind == "pci":
        zpci = address.find("zpci")
        if zpci is not None:
            out["zpci"] = {"uid": zpci.get("uid"), "fid": zpci.get("fid")}
        if address.get("domain"):
            out["pci_address"] = "%s:%s:%s.%s" % tuple(address.get(k) for k in ("domain", "bus", "slot", "function"))
    elif kind == "drive":
        out["drive"] = dict((k, address.get(k)) for k in ("controller", "bus", "target", "unit"))


def describe_device(device):
    """One device as a dict (kind, key, backing, address, ...)."""
    tag = device.tag
    out = {"kind": tag, "key": device_key(device)}
    if device.get("type"):
        out["type"] = device.get("type")
    target = device.find("target")
    source = device.find("source")
    backing = _source(device)
    if backing:
        out["backing"] = backing
    if tag == "disk":
        out["device"] = device.get("device", "disk")
        out["backing_kind"] = _disk_backing_kind(device, source)
        if target is not None:
            out["target"] = target.get("dev")
            out["bus"] = target.get("bus")
        driver = device.find("driver")
        if driver is not None:
            out["driver"] = dict(driver.attrib)
        out["readonly"] = device.find("readonly") is not None
    elif tag == "interface":
        mac = device.find("mac")
        model = device.find("model")
        virtualport = device.find("virtualport")
        kind = device.get("type")
        out["backing_kind"] = {"direct": "macvtap", "bridge": "bridge", "network": "network",
                               "hostdev": "pci-passthrough", "ethernet": "ethernet"}.get(kind, kind)
        if virtualport is not None and virtualport.get("type") == "openvswitch":
            out["backing_kind"] = "openvswitch"
        if source is not None and source.get("mode"):
            out["mode"] = source.get("mode")
        out["mac"] = mac.get("address") if mac is not None else None
        out["model"] = model.get("type") if model is not None else None
        if target is not None and target.get("dev"):
            out["host_interface"] = target.get("dev")
    elif tag == "filesystem":
        driver = device.find("driver")
        out["driver"] = driver.get("type") if driver is not None else None
        out["tag"] = target.get("dir") if target is not None else None
    elif tag == "hostdev":
        out["model"] = device.get("model")
        out["managed"] = device.get("managed")
    elif tag in ("controller", "video", "input", "memballoon", "rng", "watchdog", "panic"):
        model = device.find("model")
        out["model"] = device.get("model") or (model.get("type") if model is not None else None)
        if device.get("index") is not None:
            out["index"] = device.get("index")
        if device.get("bus"):
            out["bus"] = device.get("bus")
    elif tag in ("console", "serial") and target is not None:
        out["target_type"] = target.get("type")
    boot = device.find("boot")
    if boot is not None:
        out["boot_order"] = int(boot.get("order", "0"))
    alias = device.find("alias")
    if alias is not None:
        out["alias"] = alias.get("name")
    _address(device, out)
    return out


def passthrough(device):
    """The pass-through description of a hostdev (or hostdev interface), or None."""
    if device.tag == "interface" and device.get("type") == "hostdev":
        kind, model = "pci", "vfio-pci"
    elif device.tag == "hostdev":
        kind, model = device.get("type"), device.get("model")
        if kind == "pci":
            model = "vfio-pci"
        elif kind == "scsi":
            model = "scsi"
        elif kind == "scsi_host":
            model = "vhost-scsi"
    else:
        return None
    out = {"type": kind, "model": model, "key": device_key(device), "source": _source(device)}
    _address(device, out)
    return out


def describe_domain(xml_text, qemu_version=None, fs_type_of=None):
    """devices, passthrough, migration_blockers and basic facts of a domain XML."""
    root = parse(xml_text)
    devices = [describe_device(d) for d in root.findall("./devices/*") if d.tag != "emulator"]
    passthrough_devices = [p for p in (passthrough(d) for d in root.findall("./devices/*")) if p]
    os_type = root.find("./os/type")
    memory = root.find("memory")
    info = {
        "type": root.get("type"),
        "arch": os_type.get("arch") if os_type is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "memory_kib": to_kib(memory.text, memory.get("unit", "KiB")) if memory is not None else None,
        "vcpus": int(root.findtext("vcpu", "0").strip() or 0),
        "devices": devices,
        "passthrough": passthrough_devices,
        "migration_blockers": migration_blockers(root, qemu_version, fs_type_of),
    }
    cpu = root.find("cpu")
    if cpu is not None:
        info["cpu"] = {"mode": cpu.get("mode"), "model": cpu.findtext("model")}
    return info
