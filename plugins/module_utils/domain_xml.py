# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Semantic comparison of libvirt domain XML (desired against what libvirt stores).

libvirt rewrites a domain definition when it stores it: it fills in defaults (``<clock>``,
``on_*``, ``currentMemory``, ``<emulator>``, ``<panic model='s390'/>``, ``<audio type='none'/>``,
``<memballoon>``, ``<controller type='pci' model='pci-root'/>``), expands the machine alias
(``s390-ccw-virtio`` -> ``s390-ccw-virtio-7.2``), converts memory to KiB, turns a bare pty
``<console>`` into an SCLP ``<serial>`` plus a console pointing at it, assigns MAC addresses and
CCW device numbers, sorts devices by kind and, in live XML, adds aliases, pty paths and tap names.

A byte comparison therefore reports changes that are not there (the complaint against
community.libvirt's ``virt``). Here the stored XML is *projected* onto the desired XML: the
projection keeps, from the stored side, exactly the parts the desired XML mentions (attributes,
text, child elements matched by identity) plus the parts a user can remove (devices, and a known
list of user-only elements and attributes). The domain is unchanged exactly when the projection
serialises to the same text as the desired XML, and the unified diff of the two is a readable,
minimal ``--diff``. Values libvirt generated and the desired XML leaves open (MACs, CCW device
numbers, the UUID) are carried over on a re-define so they stay stable (:func:`carry_over`).

Only the standard library is used, so this runs on the managed host (Python 3.9+) and on the
controller (the role's filters use :func:`device_key`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import io
import re
import xml.etree.ElementTree as ET

# --------------------------------------------------------------------------------------------
# Parsing and serialising
# --------------------------------------------------------------------------------------------


class DomainXMLError(ValueError):
    """The XML is not a usable domain definition."""


def parse(xml_text, root_tag="domain"):
    """Parse domain XML text into an Element (``<domain>``), raising DomainXMLError.
    ``root_tag=None`` takes any root element (device XML).

    Namespace prefixes (``<metadata>`` children, ``<qemu:commandline>``) are remembered so
    :func:`to_text` writes them back as the user wrote them; ElementTree keeps only the URI.
    """
    if isinstance(xml_text, ET.Element):
        return xml_text
    if not (xml_text or "").strip():
        raise DomainXMLError("the domain XML is empty")
    root = None
    try:
        for event, item in ET.iterparse(io.StringIO(xml_text), events=("start", "start-ns")):
            if event == "start-ns":
                _PREFIXES.setdefault(item[1], item[0])
            elif root is None:
                root = item
    except ET.ParseError as exc:
        raise DomainXMLError("the domain XML does not parse: %s" % exc)
    if root_tag is not None and root.tag != root_tag:
        raise DomainXMLError("the root element is <%s>, expected <%s>" % (root.tag, root_tag))
    return root


def parse_device(xml_text):
    """Parse the XML of one device (``<disk>``, ``<hostdev>``, ...)."""
    return parse(xml_text, root_tag=None)


# Namespace URI -> prefix seen while parsing (first one wins); ``xml:`` is predeclared.
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_PREFIXES = {}


def _short(name):
    """``app:foo`` for ``{http://example.org/app}foo`` in change paths."""
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    return "%s:%s" % (_PREFIXES.get(uri) or "ns", local)


def _qualified(name, declared, new_decls):
    """``prefix:local`` for an ElementTree ``{uri}local`` name, declaring the prefix once per subtree."""
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if uri == _XML_NS:
        return "xml:" + local
    if uri not in declared:
        prefix = _PREFIXES.get(uri) or "ns"     # a default namespace gets a prefix: same meaning
        taken = set(declared.values())
        base, n = prefix, 0
        while prefix in taken:
            n += 1
            prefix = "%s%d" % (base, n)
        declared[uri] = prefix
        new_decls.append((prefix, uri))
    return "%s:%s" % (declared[uri], local)


def _escape_attr(value):
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def _escape_text(value):
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_text(element, indent=0, _declared=None):
    """Deterministic pretty serialisation (2-space indent, attributes in element order)."""
    pad = "  " * indent
    declared = dict(_declared or {})
    new_decls = []
    tag = _qualified(element.tag, declared, new_decls)
    attrs = "".join(" %s='%s'" % (_qualified(k, declared, new_decls), _escape_attr(v))
                    for k, v in element.attrib.items())
    attrs = "".join(" xmlns:%s='%s'" % (p, _escape_attr(u)) for p, u in new_decls) + attrs
    text = (element.text or "").strip()
    children = list(element)
    if not children and not text:
        return "%s<%s%s/>\n" % (pad, tag, attrs)
    if not children:
        return "%s<%s%s>%s</%s>\n" % (pad, tag, attrs, _escape_text(text), tag)
    out = ["%s<%s%s>\n" % (pad, tag, attrs)]
    if text:
        out.append("%s  %s\n" % (pad, _escape_text(text)))
    for child in children:
        out.append(to_text(child, indent + 1, declared))
    out.append("%s</%s>\n" % (pad, tag))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Normalisation (applied to both sides)
# --------------------------------------------------------------------------------------------

_UNIT_FACTORS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
}

# Formats of numeric address attributes as libvirt writes them back.
_ADDRESS_FORMATS = {
    "ccw": {"cssid": "0x%02x", "ssid": "0x%x", "devno": "0x%04x"},
    "pci": {"domain": "0x%04x", "bus": "0x%02x", "slot": "0x%02x", "function": "0x%x"},
    "drive": {"controller": "%d", "bus": "%d", "target": "%d", "unit": "%d"},
}
_ZPCI_FORMATS = {"uid": "0x%04x", "fid": "0x%08x"}
_SOURCE_PCI_FORMATS = _ADDRESS_FORMATS["pci"]

# formatdomain.html#overriding-the-target-element: libvirt reserves these tap name prefixes and
# drops such a name from the definition, so it is not part of what is compared.
_GENERATED_TAP_PREFIXES = ("vnet", "vif", "macvtap", "macvlan")

_LIVE_ONLY_ATTRS = {"domain": ("id",), "console": ("tty",)}


def to_kib(value, unit="KiB"):
    """Convert a libvirt memory quantity to KiB (int); ValueError on a bad value or unit."""
    factor = _UNIT_FACTORS.get((unit or "KiB").lower())
    if factor is None:
        raise ValueError("unknown memory unit %r" % unit)
    return (int(str(value).strip()) * factor + 1023) // 1024


def _int_or_none(value, base=0):
    """The number libvirt reads from an attribute, or None.

    libvirt parses CCW, PCI and zPCI numbers with strtoul base 0 (``0x10`` hex, ``010`` octal,
    ``10`` decimal: devno='0010' is stored as 0x0008) and drive addresses in base 10.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if base == 0 and text[:2].lower() == "0x":
            return int(text[2:], 16)
        if base == 0 and len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10)
    except ValueError:
        return None


def _format_numbers(element, formats):
    for name, fmt in formats.items():
        number = _int_or_none(element.get(name), 10 if fmt == "%d" else 0)
        if number is not None:
            element.set(name, fmt % number)


def _normalize_memory(element):
    unit = element.get("unit", "KiB")
    try:
        kib = to_kib(element.text or "", unit)
    except ValueError:
        return
    element.text = str(kib)
    element.set("unit", "KiB")


def normalize(root, canonical_console=True):
    """Return a normalised deep copy of a ``<domain>`` Element.

    Memory in KiB, numeric address attributes in libvirt's hex format, MACs in lower case,
    whitespace-only text dropped, live-only attributes (``domain@id``, ``console@tty``) removed,
    and (``canonical_console``) a bare pty ``<console>`` without a ``<serial>`` expanded into
    the SCLP serial + console pair libvirt stores on s390x.
    """
    root = copy.deepcopy(parse(root))
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        element.tail = None
        for attr in _LIVE_ONLY_ATTRS.get(element.tag, ()):
            element.attrib.pop(attr, None)
    for tag in ("memory", "currentMemory", "maxMemory"):
        found = root.find(tag)
        if found is not None:
            _normalize_memory(found)
    for memdev in root.findall("./devices/memory/target/size"):
        _normalize_memory(memdev)
    for limit in root.findall("./memtune/*"):
        _normalize_memory(limit)
    for iface in root.findall("./devices/interface"):
        target = iface.find("target")
        if target is not None and set(target.attrib) == {"dev"} and \
                target.get("dev").startswith(_GENERATED_TAP_PREFIXES):
            iface.remove(target)
    for address in root.iter("address"):
        _format_numbers(address, _ADDRESS_FORMATS.get(address.get("type"), {}))
        for zpci in address.findall("zpci"):
            _format_numbers(zpci, _ZPCI_FORMATS)
    for source_address in root.findall("./devices/hostdev/source/address"):
        if source_address.get("uuid"):
            source_address.set("uuid", source_address.get("uuid").lower())
        elif source_address.get("slot") is not None:
            _format_numbers(source_address, _SOURCE_PCI_FORMATS)
    cpu = root.find("cpu")
    if cpu is not None and cpu.get("mode") in ("host-model", "host-passthrough", "maximum"):
        for model in cpu.findall("model"):
            if not (model.text or "").strip():
                cpu.remove(model)       # libvirt 9.0 drops <model fallback=.../> without a name in these modes
    uuid = root.find("uuid")
    if uuid is not None and uuid.text:
        uuid.text = _canonical_uuid(uuid.text)
    for mac in root.findall("./devices/interface/mac"):
        if mac.get("address"):
            mac.set("address", mac.get("address").lower())
    if canonical_console:
        _canonical_console(root)
    return root


def _canonical_uuid(text):
    """libvirt reads a UUID in any case, with or without dashes, and writes it lower case 8-4-4-4-12."""
    digits = re.sub(r"[\s-]", "", text).lower()
    if not re.match(r"^[0-9a-f]{32}$", digits):
        return text.strip()
    return "-".join((digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:]))


def _canonical_console(root):
    """A pty console with no serial becomes serial(sclp-serial) + console(serial), as libvirt does."""
    arch_el = root.find("./os/type")
    if arch_el is not None and arch_el.get("arch") not in (None, "s390x"):
        return
    devices = root.find("devices")
    if devices is None or devices.find("serial") is not None:
        return
    consoles = devices.findall("console")
    if not consoles:
        return
    first = consoles[0]
    target = first.find("target")
    if target is not None and target.get("type") not in (None, "serial"):
        return        # sclp / sclplm / virtio consoles are stored as they are
    serial = ET.Element("serial", dict(first.attrib))
    for child in first:
        if child.tag != "target":
            serial.append(copy.deepcopy(child))
    port = target.get("port", "0") if target is not None else "0"
    serial_target = ET.SubElement(serial, "target", {"type": "sclp-serial", "port": port})
    ET.SubElement(serial_target, "model", {"name": "sclpconsole"})
    if target is None:
        target = ET.SubElement(first, "target")
    target.set("type", "serial")
    target.set("port", port)
    devices.insert(list(devices).index(first), serial)


def clean_live(element):
    """Deep copy of a stored element without live-only noise, for showing it in a diff."""
    element = copy.deepcopy(element)
    for parent in element.iter():
        for child in list(parent):
            if child.tag == "alias" and not (child.get("name") or "").startswith("ua-"):
                parent.remove(child)
            elif child.tag == "backingStore" and not list(child):
                parent.remove(child)
            elif parent.tag == "interface" and child.tag == "target" and set(child.attrib) <= {"dev", "managed"}:
                parent.remove(child)
        if parent.tag == "source":
            parent.attrib.pop("index", None)
    return element


# --------------------------------------------------------------------------------------------
# Device identity
# --------------------------------------------------------------------------------------------

def _ccw_devno(element):
    address = element.find("address")
    if address is not None and address.get("type") == "ccw":
        return "%s.%s.%s" % (address.get("cssid"), address.get("ssid"), address.get("devno"))
    return None


def identity_key(element):
    """Strong identity of a device element, or None when it has none of its own."""
    tag = element.tag
    if tag == "disk":
        target = element.find("target")
        return target.get("dev") if target is not None else None
    if tag == "filesystem":
        target = element.find("target")
        return target.get("dir") if target is not None else None
    if tag == "interface":
        mac = element.find("mac")
        return mac.get("address") if mac is not None else None
    if tag == "hostdev":
        address = element.find("./source/address")
        adapter = element.find("./source/adapter")
        if address is not None and address.get("uuid"):
            return "mdev:" + address.get("uuid")
        if address is not None and adapter is not None:
            return "scsi:%s:%s:%s:%s" % (adapter.get("name"), address.get("bus"), address.get("target"),
                                         address.get("unit"))
        if address is not None:
            return "pci:%s:%s:%s.%s" % tuple(address.get(k) for k in ("domain", "bus", "slot", "function"))
        if element.find("source") is not None and element.find("source").get("wwpn"):
            return "vhost:" + element.find("source").get("wwpn")
        return None
    if tag == "controller":
        return "%s:%s" % (element.get("type"), element.get("index", "0"))
    if tag in ("serial", "console", "channel", "parallel"):
        # libvirt numbers the ports of those written without one (a second console gets port 1):
        # only a port (or a channel name) the XML states identifies the device
        target = element.find("target")
        if target is not None and target.get("port") is not None:
            return "port:%s" % target.get("port")
        if target is not None and tag == "channel" and target.get("name"):
            return "name:%s" % target.get("name")
        return None
    if tag in ("graphics", "input"):
        # a domain has one input device of each type (keyboard, mouse, tablet)
        return element.get("type")
    return None


def identity(element):
    """``tag[identity]`` under which carry_over pairs a stored device with a desired one first
    (:func:`match_devices`), or the bare tag for a device without an identity of its own (video,
    memballoon, rng: one per domain, paired by kind). The guest model keeps CCW device numbers under
    this name, so the devno it keeps and the device carry_over matches cannot differ."""
    key = identity_key(element)
    return "%s[%s]" % (element.tag, key) if key else element.tag


def address_key(element):
    """The device's bus address (CCW devno, zPCI uid or drive address), or None."""
    address = element.find("address")
    if address is None:
        return None
    kind = address.get("type")
    if kind == "ccw":
        return "ccw:" + _ccw_devno(element)
    if kind == "pci":
        zpci = address.find("zpci")
        if zpci is not None and zpci.get("uid"):
            return "zpci:" + zpci.get("uid")
    if kind == "drive":
        return "drive:%s:%s:%s:%s" % tuple(address.get(k) for k in ("controller", "bus", "target", "unit"))
    return None


def device_key(element):
    """A human-readable key naming a device (used in diffs, change lists and devno pinning)."""
    key = identity_key(element) or address_key(element)
    return "%s[%s]" % (element.tag, key) if key else element.tag


def match_devices(desired, actual):
    """Pair desired devices with stored ones.

    Passes: strong identity (disk target, filesystem tag, MAC, hostdev source, controller type
    and index, console port), then bus address, then, for devices the desired XML leaves without
    either (an interface without MAC, a balloon), the stored device of the same kind it differs
    from least (document order breaks ties). Pairing by position alone would hand a removed
    NIC's MAC and devno to its neighbour (carry_over) and report a change on both.
    Returns (pairs [(d, a)], unmatched_desired, unmatched_actual).
    """
    free = list(actual)
    pairs = {}
    for key_fn in (identity_key, address_key):
        for index, d_el in enumerate(desired):
            d_key = key_fn(d_el)
            if index in pairs or d_key is None:
                continue
            for a_el in free:
                if a_el.tag == d_el.tag and key_fn(a_el) == d_key:
                    pairs[index] = a_el
                    free.remove(a_el)
                    break
    for index, d_el in enumerate(desired):
        if index in pairs:
            continue
        d_identity = identity_key(d_el)
        # both with identities that differ: different devices
        candidates = [a for a in free if a.tag == d_el.tag and (d_identity is None or identity_key(a) is None)]
        if candidates:
            best = min(candidates, key=lambda a_el: _distance(d_el, a_el))
            pairs[index] = best
            free.remove(best)
    matched = [(d_el, pairs[i]) for i, d_el in enumerate(desired) if i in pairs]
    unmatched = [d_el for i, d_el in enumerate(desired) if i not in pairs]
    return matched, unmatched, free


def _distance(d_el, a_el):
    """How many fields differ between a desired device and a stored one."""
    projection = Projection()
    projection.project(d_el, a_el, d_el.tag, "device")
    return len(projection.changes)


# --------------------------------------------------------------------------------------------
# Projection and comparison
# --------------------------------------------------------------------------------------------

# Elements libvirt never adds on its own: when stored but not desired, the user removed them.
_REMOVABLE_CHILDREN = {
    "domain": {"memoryBacking", "iothreads", "iothreadids", "cputune", "numatune", "blkiotune", "memtune",
               "description", "title", "keywrap", "sysinfo", "vcpus", "maxMemory", "launchSecurity",
               "genid", "perf", "idmap", "throttlegroups"},
    "os": {"kernel", "initrd", "cmdline", "dtb", "loader", "nvram", "acpi"},
    "cpu": {"feature", "topology", "numa", "cache"},
    "memoryBacking": {"hugepages", "nosharepages", "locked", "source", "access", "allocation", "discard"},
    "device": {"boot", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product", "iotune",
               "blockio", "geometry", "encryption", "bandwidth", "vlan", "virtualport", "rom", "link", "mtu",
               "filterref", "tune", "coalesce", "teaming", "backend", "rate", "binary", "idmap", "loadparm"},
}
# A disk without <source> is an empty CD/DVD drive: dropping the source ejects the medium.
_REMOVABLE_CHILDREN["disk"] = _REMOVABLE_CHILDREN["device"] | {"source"}
# Attributes libvirt never adds on its own, per element.
_REMOVABLE_ATTRS = {
    "driver": {"cache", "io", "iothread", "discard", "detect_zeroes", "queues", "error_policy",
               "rerror_policy", "copy_on_read", "queue_size", "iommu", "ats", "packed"},
    "source": {"startupPolicy"},
    "interface": {"trustGuestRxFilters"},
    "boot": {"loadparm"},
}
# Attributes whose value the stored XML hides (or that are compared loosely).
_HIDDEN_ATTRS = {"graphics": {"passwd"}}


class HostDefaults(object):
    """What the connection fills in by itself that the XML alone cannot tell: the machines it offers
    (with the version each alias stands for) and the user-NIC backends its QEMU has. This base knows
    neither, so the comparison falls back on machine names; the domain module passes one that asks
    libvirt (``_libvirt.domain_ops.ConnectionDefaults``), only when a comparison needs it."""

    def machines(self, arch):
        """``{machine: canonical machine or None}`` this host offers for ``arch``, or None if unknown."""
        return None

    def user_net_backends(self, arch, machine, virt_type):
        """Backend types a ``<interface type='user'>`` can have here (``default`` is QEMU's SLIRP), or None."""
        return None


def machine_matches(desired, stored, machines=None):
    """Whether the stored machine is what the desired one asks for.

    QEMU names the versions of a machine family ``<alias>-<version>`` and gives the newest the
    alias (hw/s390x/s390-virtio-ccw.c, DEFINE_CCW_MACHINE: ``s390-ccw-virtio-`` plus the version);
    distributions add their own versions (``-rhel9.6.0``, Ubuntu's ``-noble``). libvirt stores the
    version the alias stood for at define time and never moves a guest to a newer one by itself,
    so a desired alias matches any stored version of its family: a change would be a new guest ABI,
    which the user asks for by naming the version. ``machines`` is the host's ``{name: canonical}``
    (libvirt's capabilities): a desired name the host offers as a machine of its own (not an alias)
    is a pinned machine and matches only itself; the canonical machine of an alias always matches,
    whatever it is called (x86's ``q35`` stands for ``pc-q35-*``).
    """
    if desired == stored:
        return True
    if not stored:
        return False
    if machines is not None and desired in machines:
        if machines[desired] is None:
            return False                        # an explicit machine: the guest stays pinned to it
        if stored == machines[desired]:
            return True
    return stored.startswith(desired + "-")


def _user_nic_backend_implied(interface, backend, defaults, context):
    """libvirt gives a user NIC ``<backend type='passt'/>`` when its QEMU has no SLIRP (RHEL's QEMU
    is built without it); domain capabilities then list no ``default`` user-NIC backend (libvirt
    docs/formatdomaincaps.rst, "backendType")."""
    if interface.get("type") != "user" or backend.attrib != {"type": "passt"} or len(backend):
        return False
    backends = defaults.user_net_backends(*context)
    return backends is not None and "passt" in backends and "default" not in backends


def _auto_added(a_el, desired_devices, actual_devices):
    """Devices libvirt adds by itself when the desired XML does not name them."""
    tag = a_el.tag
    d_tags = set(el.tag for el in desired_devices)
    if tag in ("emulator",):
        return True
    if tag == "audio" and a_el.get("type") == "none":
        return True
    if tag == "panic" and a_el.get("model") in ("s390", None):
        return "panic" not in d_tags
    if tag == "memballoon":
        return "memballoon" not in d_tags
    if tag == "video":
        return "video" not in d_tags and "graphics" in d_tags
    if tag == "console":
        return "console" not in d_tags and "serial" in d_tags
    if tag == "controller":
        kind, index = a_el.get("type"), a_el.get("index", "0")
        if kind == "pci" and a_el.get("model") == "pci-root":
            return True
        for other in actual_devices:
            address = other.find("address")
            if address is None:
                continue
            if kind == "scsi" and address.get("type") == "drive" and address.get("controller", "0") == index:
                return True
            if kind == "virtio-serial" and address.get("type") == "virtio-serial" and \
                    address.get("controller", "0") == index:
                return True
        if kind == "virtio-serial" and index == "0" and any(
                d.tag == "console" and d.find("target") is not None and d.find("target").get("type") == "virtio"
                for d in desired_devices):
            return True     # a virtio console needs a virtio-serial bus; libvirt adds controller 0 for it
    return False


def _implied_child(parent, a_child, d_parent, defaults, context):
    """Children libvirt adds because of something else the desired XML states."""
    if parent == "domain" and a_child.tag == "numatune":
        # formatdomain.html#numa-node-tuning: with <vcpu placement='auto'> and no <numatune>,
        # libvirt adds <numatune><memory mode='strict' placement='auto'/></numatune>.
        vcpu = d_parent.find("vcpu")
        memory = a_child.find("memory")
        return vcpu is not None and vcpu.get("placement") == "auto" and len(a_child) == 1 and \
            memory is not None and memory.attrib == {"mode": "strict", "placement": "auto"}
    if parent == "interface" and a_child.tag == "backend":
        return _user_nic_backend_implied(d_parent, a_child, defaults, context)
    return False


class Projection(object):
    """Projects stored XML onto desired XML; collects field-level changes. ``defaults`` (a
    HostDefaults) and ``context`` (the stored domain's arch, machine and type) answer what libvirt
    may have filled in by itself."""

    def __init__(self, defaults=None, context=(None, None, None)):
        self.changes = []
        self.defaults = defaults or HostDefaults()
        self.context = context

    def _equivalent_attr(self, d_el, name, d_value, a_value):
        if d_value == a_value:
            return True
        if d_el.tag == "type" and name == "machine":
            return machine_matches(d_value, a_value, self.defaults.machines(d_el.get("arch")))
        return False

    def _note(self, path, before, after):
        self.changes.append({"path": path, "before": before, "after": after})

    def project(self, d_el, a_el, path, removable_key):
        out = ET.Element(d_el.tag)
        hidden = _HIDDEN_ATTRS.get(d_el.tag, set())
        for name, d_value in d_el.attrib.items():
            a_value = a_el.get(name)
            if name in hidden:
                out.set(name, d_value)
            elif a_value is None:
                self._note("%s/@%s" % (path, name), None, d_value)
            elif self._equivalent_attr(d_el, name, d_value, a_value):
                out.set(name, d_value)
            else:
                out.set(name, a_value)
                self._note("%s/@%s" % (path, name), a_value, d_value)
        for name in sorted(_REMOVABLE_ATTRS.get(d_el.tag, set())):
            if name not in d_el.attrib and a_el.get(name) is not None:
                out.set(name, a_el.get(name))
                self._note("%s/@%s" % (path, name), a_el.get(name), None)
        d_text = (d_el.text or "").strip()
        a_text = (a_el.text or "").strip()
        if d_text:
            out.text = a_text or None
            if a_text != d_text:
                self._note(path + "/text()", a_text or None, d_text)
        if d_el.tag == "devices":
            self._project_devices(d_el, a_el, out, path)
        else:
            self._project_children(d_el, a_el, out, path, removable_key)
        return out

    def _project_children(self, d_el, a_el, out, path, removable_key):
        seen = {}
        a_by_tag = {}
        for child in a_el:
            a_by_tag.setdefault(child.tag, []).append(child)
        for d_child in d_el:
            n = seen.get(d_child.tag, 0)
            seen[d_child.tag] = n + 1
            candidates = a_by_tag.get(d_child.tag, [])
            label = _short(d_child.tag) if n == 0 else "%s[%d]" % (_short(d_child.tag), n + 1)
            child_path = "%s/%s" % (path, label)
            if n < len(candidates):
                out.append(self.project(d_child, candidates[n], child_path, d_child.tag))
            else:
                self._note(child_path, None, "added")
        removable = _REMOVABLE_CHILDREN.get(removable_key, set())
        for tag, candidates in a_by_tag.items():
            extra = candidates[seen.get(tag, 0):]
            if tag in removable:
                for a_child in extra:
                    if _implied_child(d_el.tag, a_child, d_el, self.defaults, self.context):
                        continue
                    out.append(clean_live(a_child))
                    self._note("%s/%s" % (path, _short(tag)), "present", None)
            elif tag in _REMOVABLE_ATTRS:
                # <driver cache='writeback'/> dropped as a whole: its user-only attributes are
                # removed as surely as when they are dropped one by one
                for a_child in extra:
                    kept = dict((k, v) for k, v in a_child.attrib.items() if k in _REMOVABLE_ATTRS[tag])
                    if kept:
                        out.append(ET.Element(tag, kept))
                        self._note("%s/%s" % (path, tag), "present", None)

    def _project_devices(self, d_el, a_el, out, path):
        d_devices, a_devices = list(d_el), list(a_el)
        matched, _unmatched, extra = match_devices(d_devices, a_devices)
        by_desired = dict((id(d), a) for d, a in matched)
        for d_dev in d_devices:
            label = "%s/%s" % (path, device_key(d_dev))
            a_dev = by_desired.get(id(d_dev))
            if a_dev is None:
                self._note(label, None, "added")
                continue
            out.append(self.project(d_dev, a_dev, label, "disk" if d_dev.tag == "disk" else "device"))
        for a_dev in extra:
            if _auto_added(a_dev, d_devices, a_devices):
                continue
            out.append(clean_live(a_dev))
            self._note("%s/%s" % (path, device_key(a_dev)), "present", "removed")


class Comparison(object):
    """Result of comparing a desired domain definition with the stored one."""

    def __init__(self, desired, stored, before, after, changes):
        self.desired = desired
        self.stored = stored
        self.before = before
        self.after = after
        self.changes = changes

    @property
    def changed(self):
        return self.before != self.after

    def unified_diff(self, before_name="libvirt", after_name="desired"):
        return "".join(difflib.unified_diff(self.before.splitlines(True), self.after.splitlines(True),
                                            before_name, after_name))

    def ansible_diff(self, name):
        return {
            "before": self.before, "after": self.after,
            "before_header": "%s (defined in libvirt)" % name if self.stored is not None else "%s (not defined)" % name,
            "after_header": "%s (desired)" % name,
        }


def _context(root):
    """The arch, machine and domain type of a domain (what domain capabilities are asked for)."""
    os_type = root.find("./os/type")
    if os_type is None:
        return (None, None, root.get("type"))
    return (os_type.get("arch"), os_type.get("machine"), root.get("type"))


def compare(desired_xml, stored_xml, defaults=None):
    """Compare desired domain XML with libvirt's stored XML (or None when undefined). ``defaults``
    (a HostDefaults) tells what this host's libvirt fills in by itself."""
    desired = normalize(desired_xml)
    after = to_text(desired)
    if stored_xml is None:
        return Comparison(desired, None, "", after, [{"path": "domain", "before": None, "after": "defined"}])
    stored = normalize(stored_xml, canonical_console=False)
    projection = Projection(defaults, _context(stored))
    projected = projection.project(desired, stored, "domain", "domain")
    before = to_text(projected)
    changes = projection.changes if before != after else []
    return Comparison(desired, stored, before, after, changes)


def _drop_run_time_values(root, defined):
    """Take out of a live XML (and its definition) what only the running domain can have."""
    memory = root.find("currentMemory")
    if memory is not None:
        root.remove(memory)                     # the balloon moves it while the guest runs
    cpu = defined.find("cpu")
    if cpu is not None and cpu.get("mode") == "host-model" and root.find("cpu") is not None:
        root.remove(root.find("cpu"))           # started, host-model is expanded into a custom model
    for graphics in root.iter("graphics"):
        if graphics.get("autoport") == "yes":
            for name in ("port", "tlsPort", "websocket"):
                graphics.attrib.pop(name, None)


def compare_running(defined_xml, live_xml):
    """Where a running domain differs from its persistent definition (the changes its next start
    brings), as a list of changes; empty when it runs what is defined. The live XML is projected
    onto the definition as stored XML is onto desired XML, less what only a running domain has:
    the expansion of a host-model CPU, the balloon's current memory, ports given at start."""
    defined = normalize(defined_xml, canonical_console=False)
    live = normalize(live_xml, canonical_console=False)
    _drop_run_time_values(defined, defined)
    _drop_run_time_values(live, defined)
    projection = Projection(None, _context(live))
    projected = projection.project(defined, live, "domain", "domain")
    return projection.changes if to_text(projected) != to_text(defined) else []


def carry_over(desired_xml, stored_xml):
    """Desired XML (Element) with the values libvirt generated and the desired XML leaves open.

    Copies the UUID and, for each matched device, its MAC address and its CCW address (unless
    the desired XML uses that devno for another device), so re-defines keep them stable.
    """
    desired = normalize(desired_xml)
    if stored_xml is None:
        return desired
    stored = normalize(stored_xml, canonical_console=False)
    if desired.find("uuid") is None and stored.find("uuid") is not None:
        desired.insert(1, copy.deepcopy(stored.find("uuid")))
    _carry_metadata(desired, stored)
    d_devices, a_devices = desired.find("devices"), stored.find("devices")
    if d_devices is None or a_devices is None:
        return desired
    used = set(_ccw_devno(el) for el in d_devices if _ccw_devno(el))
    desired_devices = list(d_devices)
    pci_used = _pci_ids(desired_devices)
    matched, _unused, extra = match_devices(desired_devices, list(a_devices))
    for d_dev, a_dev in matched:
        if d_dev.tag == "interface" and d_dev.find("mac") is None and a_dev.find("mac") is not None:
            d_dev.insert(0, copy.deepcopy(a_dev.find("mac")))
        if d_dev.tag == "interface":
            _carry_port_ids(d_dev, a_dev)
        a_devno = _ccw_devno(a_dev)
        if d_dev.find("address") is None and a_devno and a_devno not in used:
            d_dev.append(copy.deepcopy(a_dev.find("address")))
            used.add(a_devno)
        a_addr = a_dev.find("address")
        if d_dev.find("address") is None and a_addr is not None and a_addr.get("type") == "pci" and (
                d_dev.tag == "hostdev" and d_dev.get("type") == "pci" or
                d_dev.tag == "interface" and d_dev.get("type") == "hostdev"):
            ET.SubElement(d_dev, "address", {"type": "pci"})    # a PCI function only has a PCI address
        _carry_pci(d_dev.find("address"), a_addr, pci_used)
    # Devices libvirt adds by itself keep their devnos too: left out, they are numbered anew (the
    # SCSI HBA moved from 0x0002 to 0x0000 when a disk before it was removed, and with it the
    # guest's /dev/disk/by-path/ccw-0.0.xxxx-scsi-* names).
    for a_dev in extra:
        a_devno = _ccw_devno(a_dev)
        if a_devno and a_devno not in used and _added_again(a_dev, desired_devices):
            d_devices.append(clean_live(a_dev))
            used.add(a_devno)
    return desired


# The port IDs libvirt generates for a <virtualport> that has none (a random UUID: Open vSwitch and
# MidoNet's interfaceid, 802.1Qbg's instanceid; formatdomain.html, "Generic Ethernet connection"
# ... "virtualport"). A re-define without them would get new ones, and the switch a new port.
_GENERATED_PORT_IDS = ("interfaceid", "instanceid")


def _carry_port_ids(d_dev, a_dev):
    d_port, a_port = d_dev.find("virtualport"), a_dev.find("virtualport")
    if d_port is None or a_port is None or a_port.find("parameters") is None:
        return
    if d_port.get("type") not in (None, a_port.get("type")):
        return                                  # another kind of port: its IDs mean something else
    a_params = a_port.find("parameters")
    d_params = d_port.find("parameters")
    for name in _GENERATED_PORT_IDS:
        if a_params.get(name) and (d_params is None or d_params.get(name) is None):
            if d_params is None:
                d_params = ET.SubElement(d_port, "parameters")
            d_params.set(name, a_params.get(name))


def _carry_metadata(desired, stored):
    """Keep the <metadata> of namespaces the desired XML does not write (other applications set
    theirs with virDomainSetMetadata; a re-define must not wipe them). They are not compared."""
    a_meta = stored.find("metadata")
    if a_meta is None or not len(a_meta):
        return
    d_meta = desired.find("metadata")
    if d_meta is None:
        d_meta = ET.Element("metadata")
        desired.insert(list(desired).index(desired.find("name")) + 1 if desired.find("name") is not None else 0,
                       d_meta)
    written = set(child.tag.split("}")[0] for child in d_meta)
    for child in a_meta:
        if child.tag.split("}")[0] not in written:
            d_meta.append(copy.deepcopy(child))


_PCI_SLOT = ("domain", "bus", "slot", "function")


def _pci_ids(devices):
    """PCI slots and zPCI uids/fids the desired devices state, as {"slot"|"uid"|"fid": set}."""
    ids = {"slot": set(), "uid": set(), "fid": set()}
    for device in devices:
        address = device.find("address")
        if address is None or address.get("type") != "pci":
            continue
        if address.get("slot") is not None:
            ids["slot"].add(tuple(address.get(k) for k in _PCI_SLOT))
        zpci = address.find("zpci")
        for key in ("uid", "fid"):
            if zpci is not None and zpci.get(key) is not None:
                ids[key].add(zpci.get(key))
    return ids


def _carry_pci(d_addr, a_addr, used):
    """Fill an open ``<address type='pci'/>`` with the slot and zPCI uid/fid libvirt stored.

    libvirt numbers zPCI uids and fids anew on every define: removing one zPCI device gave the
    next one the other's uid, and the uid is the PCI domain the guest sees (IBM: persistent).
    """
    if d_addr is None or a_addr is None or d_addr.get("type") != "pci" or a_addr.get("type") != "pci":
        return
    slot = tuple(a_addr.get(k) for k in _PCI_SLOT)
    if all(d_addr.get(k) is None for k in _PCI_SLOT) and None not in slot and slot not in used["slot"]:
        for key, value in zip(_PCI_SLOT, slot):
            d_addr.set(key, value)
        used["slot"].add(slot)
    a_zpci = a_addr.find("zpci")
    if a_zpci is None:
        return
    d_zpci = d_addr.find("zpci")
    for key in ("uid", "fid"):
        value = a_zpci.get(key)
        if value is None or value in used[key] or d_zpci is not None and d_zpci.get(key) is not None:
            continue
        if d_zpci is None:
            d_zpci = ET.SubElement(d_addr, "zpci")
        d_zpci.set(key, value)
        used[key].add(value)


def _added_again(a_el, desired_devices):
    """Whether libvirt adds this stored device again for the desired devices (it is not in them)."""
    if a_el.tag == "memballoon":
        return not any(d.tag == "memballoon" for d in desired_devices)
    if a_el.tag != "controller":
        return False
    kind, index = a_el.get("type"), a_el.get("index", "0")
    if any(d.tag == "controller" and d.get("type") == kind and d.get("index", "0") == index for d in desired_devices):
        return False
    for device in desired_devices:
        address = device.find("address")
        target = device.find("target")
        if kind == "scsi" and address is not None and address.get("type") == "drive":
            if address.get("controller", "0") == index:
                return True
        elif kind == "scsi" and address is None and index == "0" and (
                device.tag == "hostdev" and device.get("type") == "scsi" or
                device.tag == "disk" and target is not None and target.get("bus") == "scsi"):
            return True
        elif kind == "virtio-serial" and index == "0" and device.tag in ("console", "channel") and \
                target is not None and target.get("type") == "virtio":
            return True
    return False


def domain_name(xml_text):
    """The ``<name>`` of a domain XML document."""
    name = (parse(xml_text).findtext("name") or "").strip()
    if not name:
        raise DomainXMLError("the domain XML has no <name>")
    return name


def hex_devno(element):
    """``0x1234`` of a device's CCW address, or None."""
    address = element.find("address")
    if address is None or address.get("type") != "ccw":
        return None
    number = _int_or_none(address.get("devno"))
    return None if number is None else "0x%04x" % number
