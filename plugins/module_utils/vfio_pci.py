# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand zPCI functions to vfio-pci, and back.

The sequence is the PCI core's (Documentation/ABI/testing/sysfs-bus-pci
``driver_override``; drivers/pci/pci-driver.c): write ``vfio-pci`` to the
function's ``driver_override``, unbind it from its current driver, write its
address to ``/sys/bus/pci/drivers_probe``. Clearing the override (a newline)
and probing again binds the driver the function's IDs match, which restores
the original driver. Seen on Debian's 6.12 s390x kernel under QEMU for a zPCI
virtio-net function (``/dev/vfio/<group>`` appears).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import Persistence, VfioError, wait_for

VFIO_PCI = "vfio-pci"


class PciState(object):
    __slots__ = ("address", "driver", "override", "persisted_override", "iommu_group")

    def as_dict(self):
        return {"address": self.address, "driver": self.driver, "driver_override": self.override,
                "persistent_override": self.persisted_override, "iommu_group": self.iommu_group}


class VfioPci(object):
    def __init__(self, fs, settle_timeout=15.0):
        self.fs = fs
        self.persistence = Persistence(fs)
        self.settle_timeout = settle_timeout

    def state(self, address):
        base = "/sys/bus/pci/devices/%s/" % address
        s = PciState()
        s.address = address
        s.driver = self.fs.link_name(base + "driver")
        override = self.fs.read(base + "driver_override", default="")
        s.override = None if override in ("", "(null)") else override
        s.persisted_override = self.persistence.override("pci", address)
        s.iommu_group = self.fs.link_name(base + "iommu_group")
        return s

    def plan(self, s, target):
        steps = []
        if target["driver"] == VFIO_PCI:
            if s.override != VFIO_PCI:
                steps.append(("override", "set driver_override of %s to vfio-pci" % s.address))
            if s.driver != VFIO_PCI:
                steps.append(("bind", "unbind %s from %s and probe vfio-pci" % (s.address, s.driver or "no driver")))
        else:
            if s.override is not None:
                steps.append(("override", "clear driver_override of %s" % s.address))
            if s.driver == VFIO_PCI:
                steps.append(("bind", "unbind %s from vfio-pci and probe its own driver" % s.address))
            elif s.driver is None and VFIO_PCI in (s.override, s.persisted_override):
                # Left without a driver with our override (an interrupted run, or set by hand): probe it.
                steps.append(("bind", "probe %s for its own driver" % s.address))
        want = target.get("persist_override", VFIO_PCI if (target["driver"] == VFIO_PCI and target.get("persist")) else None)
        if s.persisted_override != want:
            steps.append(("persist", "%s /etc/driverctl.d/pci-%s" % ("write" if want else "remove", s.address)))
        return steps

    def apply(self, s, target):
        base = "/sys/bus/pci/devices/%s/" % s.address
        for key, _text in self.plan(s, target):
            if key == "override":
                value = VFIO_PCI if target["driver"] == VFIO_PCI else None
                self._write(base + "driver_override", (value or "") + "\n", "set driver_override of %s" % s.address)
                s.override = value
            elif key == "bind":
                if s.driver:
                    self._write(base + "driver/unbind", s.address, "unbind %s from %s" % (s.address, s.driver))
                self._write("/sys/bus/pci/drivers_probe", s.address, "probe %s" % s.address)
                if target["driver"] == VFIO_PCI:
                    ok = wait_for(lambda: self.fs.link_name(base + "driver") == VFIO_PCI, self.settle_timeout)
                else:
                    ok = wait_for(lambda: self.fs.link_name(base + "driver") != VFIO_PCI, self.settle_timeout)
                s.driver = self.fs.link_name(base + "driver")
                if not ok:
                    hint = " (is vfio-pci loaded? modprobe vfio-pci)" if target["driver"] == VFIO_PCI else ""
                    raise VfioError("%s is bound to %s, not to %s%s" % (
                        s.address, s.driver or "no driver", target["driver"] if target["driver"] == VFIO_PCI else "its own driver", hint))
            elif key == "persist":
                want = target.get("persist_override", VFIO_PCI if (target["driver"] == VFIO_PCI and target.get("persist")) else None)
                if want:
                    self.persistence.set_override("pci", s.address, want)
                else:
                    self.persistence.unset_override("pci", s.address)
                s.persisted_override = want

    def _write(self, path, value, what):
        try:
            self.fs.write(path, value)
        except HostAccessError as err:
            raise VfioError("%s: %s" % (what, err))

    @staticmethod
    def rollback_target(s):
        return {"driver": VFIO_PCI if s.driver == VFIO_PCI else "original", "persist_override": s.persisted_override}


def hostdev_xml(address, uid, fid):
    """libvirt <hostdev> for a zPCI function (IBM KVM on Z: <zpci uid fid> in the guest address);
    without uid when the function has none (libvirt then assigns one)."""
    domain, bus, slot_fn = address.split(":")
    slot, function = slot_fn.split(".")
    return ("<hostdev mode='subsystem' type='pci' managed='no'>\n"
            "  <driver name='vfio'/>\n"
            "  <source>\n"
            "    <address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/>\n"
            "  </source>\n"
            "  <address type='pci'>\n"
            "    <zpci%s fid='0x%08x'/>\n"
            "  </address>\n"
            "</hostdev>") % (domain, bus, slot, function, " uid='0x%04x'" % uid if uid else "", fid)
