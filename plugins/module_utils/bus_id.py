# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CCW bus IDs, device numbers and ranges.

A CCW bus ID is ``<cssid>.<ssid>.<devno>`` printed by the kernel as
``"0.%x.%04x"`` (drivers/s390/cio/device.c, ``dev_set_name`` in
io_subchannel_initialize_dev; subchannels likewise in css.c
css_sch_device_register). Linux uses channel subsystem 0; the subchannel set
ID is 0-3 and the device number 0x0000-0xffff. Users also write bare device
numbers (``1234``, ``0x1234``) which mean subchannel set 0, and ranges
(``0.0.1234-0.0.12ff``) as ``cio_ignore`` and chzdev accept them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import re

MAX_SSID = 3
MAX_DEVNO = 0xFFFF

_BUS_ID_RE = re.compile(r"^([0-9a-fA-F]{1,2})\.([0-9a-fA-F])\.([0-9a-fA-F]{1,})$")
_DEVNO_RE = re.compile(r"^(?:0[xX])?([0-9a-fA-F]{1,})$")
_PCI_ADDR_RE = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")

ALLOWED_FORMS = ("0.<ssid>.<devno> with ssid 0-3 and devno 0000-ffff (e.g. 0.0.1234), "
                 "a device number (1234 or 0x1234, subchannel set 0), "
                 "or a range of either (0.0.1234-0.0.12ff)")


class DeviceIdError(ValueError):
    """An invalid device ID of any kind (bus ID or range, PCI address, zPCI fid or uid, AP adapter
    or domain); ``str()`` names the bad value and what is allowed."""


BusIdError = DeviceIdError   # its name before 0.4.0, kept for code that imports it


def key(cssid, ssid, devno):
    """A sortable integer for a bus ID."""
    return (cssid << 24) | (ssid << 16) | devno


def format_key(k):
    return "%x.%x.%04x" % (k >> 24, (k >> 16) & 0xFF, k & 0xFFFF)


def parse(text, what="bus ID"):
    """Parse one bus ID or device number into its integer key."""
    value = str(text).strip()
    match = _BUS_ID_RE.match(value)
    if match:
        cssid, ssid, devno = (int(g, 16) for g in match.groups())
        if cssid != 0:
            # asm/cio.h __MAX_CSSID is 0: Linux addresses channel subsystem 0 only, and
            # blacklist.c rejects any other cssid with EINVAL.
            raise DeviceIdError("invalid %s %r: channel subsystem %x does not exist for Linux (only 0); allowed: %s"
                                % (what, text, cssid, ALLOWED_FORMS))
        if len(match.group(3)) > 4 or devno > MAX_DEVNO:
            raise DeviceIdError("invalid %s %r: device number %s is out of range; allowed: %s"
                                % (what, text, match.group(3), ALLOWED_FORMS))
        if ssid > MAX_SSID:
            raise DeviceIdError("invalid %s %r: subchannel set %x is out of range 0-3; allowed: %s"
                                % (what, text, ssid, ALLOWED_FORMS))
        return key(cssid, ssid, devno)
    match = _DEVNO_RE.match(value)
    if match:
        devno = int(match.group(1), 16)
        if devno > MAX_DEVNO:
            raise DeviceIdError("invalid %s %r: device number out of range 0x0000-0xffff; allowed: %s"
                                % (what, text, ALLOWED_FORMS))
        return key(0, 0, devno)
    raise DeviceIdError("invalid %s %r; allowed: %s" % (what, text, ALLOWED_FORMS))


def require_text(values, option):
    """Refuse numbers in a list of bus IDs, device numbers or ranges.

    YAML reads an unquoted ``0x2b09`` as the number 11017 and ``0100`` as 64 (octal), and
    Ansible would turn those into the strings "11017" and "64": another device, silently.
    Options that take these lists keep their elements raw and pass them through here."""
    for value in values or []:
        if isinstance(value, bool) or not isinstance(value, str):
            if isinstance(value, int) and not isinstance(value, bool):
                raise DeviceIdError("%s: %d is a number, not text: YAML reads an unquoted 0x%x as %d (and 0100 as 64); "
                                    "quote it, e.g. '0x%04x' or '0.0.%04x'" % (option, value, value, value, value, value))
            raise DeviceIdError("%s: %r is not a bus ID, device number or range; allowed: %s"
                                % (option, value, ALLOWED_FORMS))
    return list(values or [])


def normalize(text):
    """Canonical kernel spelling of one bus ID: ``0.0.1234``."""
    return format_key(parse(text))


def parse_range(text):
    """``(first_key, last_key)`` of a bus ID, device number or range."""
    value = str(text).strip()
    if "-" in value:
        first_text, _sep, last_text = value.partition("-")
        first, last = parse(first_text, "range start"), parse(last_text, "range end")
        if first > last:
            raise DeviceIdError("invalid range %r: %s comes after %s; write the lower bus ID first"
                                % (text, format_key(first), format_key(last)))
        if (first >> 16) != (last >> 16):
            raise DeviceIdError("invalid range %r: both ends must be in the same subchannel set" % (text,))
        return first, last
    k = parse(value)
    return k, k


class BusIdSet(object):
    """A set of bus IDs given as IDs and ranges; ``None``/empty means *all*."""

    def __init__(self, specs=None):
        ranges = sorted(parse_range(s) for s in (specs or []))
        merged = []
        for first, last in ranges:
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self.ranges = [tuple(r) for r in merged]
        self._starts = [r[0] for r in self.ranges]
        self.everything = not specs

    def __contains__(self, bus_id):
        if self.everything:
            return True
        try:
            k = parse(bus_id) if not isinstance(bus_id, int) else bus_id
        except DeviceIdError:
            return False
        i = bisect.bisect_right(self._starts, k) - 1
        return i >= 0 and self.ranges[i][0] <= k <= self.ranges[i][1]

    def __len__(self):
        return sum(last - first + 1 for first, last in self.ranges)

    def as_strings(self):
        return ranges_to_text(self.ranges)


# Range arithmetic on (first, last) key pairs, as cio_ignore lists and device selections need it.

def ranges_to_text(ranges):
    """(first, last) pairs as bus IDs and ``first-last`` ranges, the form /proc/cio_ignore takes."""
    return [format_key(a) if a == b else "%s-%s" % (format_key(a), format_key(b)) for a, b in ranges]


def key_ranges(keys):
    """Keys as sorted runs of consecutive IDs; a run never crosses into the next subchannel set
    (a cio_ignore range must stay within one, blacklist.c)."""
    runs = []
    for k in sorted(set(keys)):
        if runs and runs[-1][1] + 1 == k and k & 0xFFFF:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return [tuple(run) for run in runs]


def id_ranges(bus_ids):
    """Bus IDs as cio_ignore items: single IDs and ranges of consecutive IDs."""
    return ranges_to_text(key_ranges(parse(b) for b in bus_ids))


def subtract(ranges, first, last):
    """``ranges`` without [first, last]."""
    out = []
    for a, b in ranges:
        if b < first or a > last:
            out.append((a, b))
            continue
        if a < first:
            out.append((a, first - 1))
        if b > last:
            out.append((last + 1, b))
    return out


def overlap(ranges, first, last):
    """Parts of [first, last] that are in ``ranges``."""
    return [(max(a, first), min(b, last)) for a, b in ranges if not (b < first or a > last)]


def gaps(ranges, first, last):
    """Parts of [first, last] that are not in ``ranges``."""
    result, cursor = [], first
    for a, b in sorted(ranges):
        if b < cursor or a > last:
            continue
        if a > cursor:
            result.append((cursor, a - 1))
        cursor = max(cursor, b + 1)
    if cursor <= last:
        result.append((cursor, last))
    return result


def parse_cio_ignore(lines):
    """Ranges from ``/proc/cio_ignore`` (blacklist.c prints ``0.%x.%04x`` or ``0.%x.%04x-0.%x.%04x``)."""
    result = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        first, last = parse_range(line)
        result.append({"start": format_key(first), "end": format_key(last), "count": last - first + 1})
    return result


def parse_pci_address(text):
    """Validate a PCI address ``DDDD:BB:SS.F`` and return it lower-cased."""
    value = str(text).strip()
    if not _PCI_ADDR_RE.match(value):
        raise DeviceIdError("invalid PCI address %r; allowed: DDDD:BB:SS.F in hex, e.g. 0005:00:00.0" % (text,))
    return value.lower()
