# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's list of ignored device IDs, ``/proc/cio_ignore`` (private to this collection).

Linux drivers/s390/cio/blacklist.c: reading lists the ignored IDs as ``0.%x.%04x`` or
``0.%x.%04x-0.%x.%04x``; writing ``free <ids>`` or ``add <ids>`` (IDs and ranges, comma
separated) changes the list. A freed ID is sensed by the channel subsystem asynchronously;
cio_ignore(8) of s390-tools waits for that by writing 1 to ``/proc/cio_settle``. The one
writer of the list for the cio_ignore and vfio_ccw modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdSet, id_ranges, parse_range, ranges_to_text

CIO_IGNORE = "/proc/cio_ignore"
CIO_SETTLE = "/proc/cio_settle"


class CioIgnore(object):
    def __init__(self, fs):
        self.fs = fs
        self._ranges = None
        self._set = None

    def ranges(self):
        """The list as sorted (first, last) keys; a line that is no bus ID or range raises DeviceIdError."""
        if self._ranges is None:
            self._ranges = sorted(parse_range(line) for line in self.fs.lines(CIO_IGNORE) if line.strip())
        return self._ranges

    def __contains__(self, bus_id):
        if self._set is None:   # read once until the list changes (a range asks for every ID in it)
            self._set = BusIdSet(ranges_to_text(self.ranges()))
        return not self._set.everything and bus_id in self._set   # an empty BusIdSet means "all"

    def write(self, commands):
        """Write ``free``/``add`` commands, one write each, as the kernel parses them."""
        try:
            for command in commands:
                self.fs.write(CIO_IGNORE, command)
        finally:
            self._ranges = self._set = None

    def free(self, bus_ids):
        """Take IDs off the list (one command per run of consecutive IDs) and wait until the channel
        subsystem has registered what they hid."""
        self.write(["free %s" % spec for spec in id_ranges(bus_ids)])
        self.settle()

    def add(self, bus_ids):
        """Put IDs back on the list (devices already registered stay until a purge)."""
        self.write(["add %s" % spec for spec in id_ranges(bus_ids)])

    def settle(self):
        if self.fs.exists(CIO_SETTLE):
            self.fs.write(CIO_SETTLE, "1")
