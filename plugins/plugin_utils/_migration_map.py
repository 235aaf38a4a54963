# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of a migration with pass-through devices: which destination device each of the
guest's pass-through devices becomes (the ``device_map`` of s390x.kvm.migrate), from the role's
``live_migration_devices`` and what s390x.kvm.vfio_ccw / s390x.kvm.vfio_pci returned on the
destination when they prepared those devices. Also the bus IDs and fids to release on the source."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils import bus_id as bus_ids

_DEST_KEYS = ("bus_id", "fid", "target")
_KEYS = ("source", "source_bus_id", "source_fid") + _DEST_KEYS


class MigrationMapError(ValueError):
    """A live_migration_devices entry of the wrong shape, naming the entry."""


def _fid(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MigrationMapError("%s: a function ID as hex text (\"0x10\"), got %r" % (where, value))
    try:
        number = value if isinstance(value, int) else int(str(value), 16)
    except ValueError:
        raise MigrationMapError("%s: %r is not a function ID (hex, for example \"0x10\")" % (where, value))
    if not 0 <= number <= 0xFFFFFFFF:
        raise MigrationMapError("%s: function ID %r is out of range (0x0-0xffffffff)" % (where, value))
    return "0x%08x" % number


def _bus_id(value, where):
    try:
        bus_ids.require_text([value], where)
        return bus_ids.normalize(value)
    except bus_ids.DeviceIdError as exc:
        raise MigrationMapError("%s: %s" % (where, exc))


def checked(devices, name="live_migration_devices"):
    """The entries, validated: each has ``source`` and exactly one of ``bus_id``, ``fid``, ``target``.
    Returns normalised copies (bus IDs as 0.0.xxxx, fids as 0x%08x)."""
    if not isinstance(devices, list):
        raise MigrationMapError("%s must be a list of dictionaries, got %s" % (name, type(devices).__name__))
    out = []
    for index, entry in enumerate(devices):
        where = "%s[%d]" % (name, index)
        if not isinstance(entry, dict):
            raise MigrationMapError("%s must be a dictionary, got %r" % (where, entry))
        unknown = sorted(set(entry) - set(_KEYS))
        if unknown:
            raise MigrationMapError("%s: unknown key %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(_KEYS)))
        if not entry.get("source"):
            raise MigrationMapError("%s.source is required: the guest's device (mdev UUID, PCI address or device key)"
                                    % where)
        given = [k for k in _DEST_KEYS if entry.get(k) not in (None, "")]
        if len(given) != 1:
            raise MigrationMapError("%s needs exactly one of bus_id (vfio-ccw DASD on the destination), fid (zPCI "
                                    "function on the destination) or target (a prepared mdev UUID or PCI address), "
                                    "got %s" % (where, ", ".join(given) or "none"))
        item = {"source": str(entry["source"]).strip()}
        if given[0] == "bus_id":
            item["bus_id"] = _bus_id(entry["bus_id"], where + ".bus_id")
        elif given[0] == "fid":
            item["fid"] = _fid(entry["fid"], where + ".fid")
        else:
            item["target"] = str(entry["target"]).strip()
        if entry.get("source_bus_id") not in (None, ""):
            item["source_bus_id"] = _bus_id(entry["source_bus_id"], where + ".source_bus_id")
        if entry.get("source_fid") not in (None, ""):
            item["source_fid"] = _fid(entry["source_fid"], where + ".source_fid")
        out.append(item)
    return out


def device_map(devices, ccw_map=None, pci_map=None):
    """{source: target} for s390x.kvm.migrate from the checked entries and the destination's
    vfio_ccw ``map`` (bus ID -> {uuid}) and vfio_pci ``map`` (fid -> {address})."""
    result = {}
    for index, entry in enumerate(checked(devices)):
        where = "live_migration_devices[%d]" % index
        if "target" in entry:
            target = entry["target"]
        elif "bus_id" in entry:
            found = (ccw_map or {}).get(entry["bus_id"])
            if not found or not found.get("uuid"):
                raise MigrationMapError("%s: vfio_ccw on the destination returned no mdev for %s" % (
                    where, entry["bus_id"]))
            target = found["uuid"]
        else:
            found = (pci_map or {}).get(entry["fid"])
            if not found or not found.get("address"):
                raise MigrationMapError("%s: vfio_pci on the destination returned no function %s" % (
                    where, entry["fid"]))
            target = found["address"]
        result[entry["source"]] = target
    return result


def to_prepare(devices):
    """{"bus_ids": [...], "fids": [...]} the destination must prepare."""
    entries = checked(devices)
    return {"bus_ids": sorted(set(e["bus_id"] for e in entries if "bus_id" in e)),
            "fids": sorted(set(e["fid"] for e in entries if "fid" in e))}


def to_release(devices):
    """{"bus_ids": [...], "fids": [...]} to give back to the source host's own drivers afterwards."""
    entries = checked(devices)
    return {"bus_ids": sorted(set(e["source_bus_id"] for e in entries if "source_bus_id" in e)),
            "fids": sorted(set(e["source_fid"] for e in entries if "source_fid" in e))}
