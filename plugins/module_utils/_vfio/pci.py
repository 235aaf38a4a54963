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

from collections import namedtuple

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import Driver, Step, override_step, reprobe_step
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError, reprobe, set_driver_override, wait_for
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import override_or_none
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage, host_use_refusal
from ansible_collections.s390x.kvm.plugins.module_utils.guest_usage import device_users
from ansible_collections.s390x.kvm.plugins.module_utils.zpci import FunctionSelector, ZpciDiscovery

VFIO_PCI = "vfio-pci"
ITS_OWN_DRIVER = "original"   # a target driver: whichever the function's IDs match once no override is set


class PciState(object):
    __slots__ = ("address", "driver", "override", "persisted_override", "iommu_group")

    def as_dict(self):
        return {"address": self.address, "driver": self.driver, "driver_override": self.override,
                "persistent_override": self.persisted_override, "iommu_group": self.iommu_group}


class PciTarget(namedtuple("PciTarget", "driver override_file")):
    """The function's driver (vfio-pci or its own) and its driverctl override file (None: no file)."""

    __slots__ = ()

    @classmethod
    def passed_through(cls, persist):
        return cls(VFIO_PCI, VFIO_PCI if persist else None)

    @classmethod
    def with_host(cls):
        return cls(ITS_OWN_DRIVER, None)

    @classmethod
    def as_before(cls, s):
        return cls(VFIO_PCI if s.driver == VFIO_PCI else ITS_OWN_DRIVER, s.persisted_override)


class VfioPci(Driver):
    """The vfio-pci driver for the zPCI functions of one host, named by PCI address."""

    Target = PciTarget

    def lock_name(self, device):
        return "pci-" + device

    def read(self, device):
        base = "/sys/bus/pci/devices/%s/" % device
        s = PciState()
        s.address = device
        s.driver = self.fs.link_name(base + "driver")
        s.override = override_or_none(self.fs.read(base + "driver_override", default=""))
        s.persisted_override = self.persistence.override("pci", device)
        s.iommu_group = self.fs.link_name(base + "iommu_group")
        return s

    def plan(self, state, target):
        steps = []
        address = state.address
        if target.driver == VFIO_PCI:
            if state.override != VFIO_PCI:
                steps.append(override_step(self, state, VFIO_PCI, address))
            if state.driver != VFIO_PCI:
                steps.append(reprobe_step(lambda: self.rebind(state, VFIO_PCI), state, address, VFIO_PCI))
        else:
            if state.override is not None:
                steps.append(override_step(self, state, None, address))
            if state.driver == VFIO_PCI:
                steps.append(reprobe_step(lambda: self.rebind(state, ITS_OWN_DRIVER), state, address, "its own driver"))
            elif state.driver is None and VFIO_PCI in (state.override, state.persisted_override):
                # Left without a driver with our override (an interrupted run, or set by hand): probe it.
                steps.append(Step(lambda: self.rebind(state, ITS_OWN_DRIVER), "probe %s for its own driver" % address))
        if state.persisted_override != target.override_file:
            steps.append(Step(lambda: self.keep_override(state, target.override_file),
                              "%s /etc/driverctl.d/pci-%s" % ("write" if target.override_file else "remove", address),
                              target.override_file))
        return steps

    def set_override(self, s, driver):
        set_driver_override(self.fs, "pci", s.address, driver, s.address)
        s.override = driver

    def keep_override(self, s, driver):
        """The driverctl override file of the function says ``driver`` (None: no file)."""
        self.persistence.put_override("pci", s.address, driver)
        s.persisted_override = driver

    def rebind(self, s, driver):
        base = "/sys/bus/pci/devices/%s/" % s.address
        reprobe(self.fs, "pci", s.address, s.driver, s.address)
        if driver == VFIO_PCI:
            ok = wait_for(lambda: self.fs.link_name(base + "driver") == VFIO_PCI, self.settle_timeout)
        else:
            ok = wait_for(lambda: self.fs.link_name(base + "driver") != VFIO_PCI, self.settle_timeout)
        s.driver = self.fs.link_name(base + "driver")
        if not ok:
            hint = " (is vfio-pci loaded? modprobe vfio-pci)" if driver == VFIO_PCI else ""
            raise VfioError("%s is bound to %s, not to %s%s" % (
                s.address, s.driver or "no driver", VFIO_PCI if driver == VFIO_PCI else "its own driver", hint))

    def predict(self, before, target, steps):
        after = dict(before)
        if steps:
            if target.driver == VFIO_PCI:
                after.update(driver=VFIO_PCI, driver_override=VFIO_PCI, persistent_override=target.override_file)
            else:
                after.update(driver_override=None, persistent_override=None)
                if before["driver"] == VFIO_PCI:
                    after["driver"] = "(its own driver)"
        return after


def select_functions(fs, params):
    """The functions ``fids``, ``uids`` and ``addresses`` name, in that order, each once; and
    refusals for values no function has."""
    try:
        # FunctionSelector refuses numbers: YAML reads an unquoted 0x10 as 16, which as text is 0x16.
        wanted = [("fid", v, FunctionSelector(fids=[v])) for v in params["fids"]]
        for value in params["uids"]:
            selector = FunctionSelector(uids=[value])
            if 0 in selector.uids:   # zPCI UIDs are 0x0001-0xffff; 0 means "no UID" (not unique)
                raise DeviceIdError("invalid uid %r: out of range 0x0001-0xffff" % (value,))
            wanted.append(("uid", value, selector))
        wanted += [("address", v, FunctionSelector(addresses=[v])) for v in params["addresses"]]
        everything, _count = ZpciDiscovery(fs).scan()
    except DeviceIdError as err:
        raise VfioError(str(err))
    refusals, chosen = [], []
    for what, value, selector in wanted:
        found = [f for f in everything if selector.matches(f)]
        if not found:
            refusals.append("%s %s: no zPCI function on this host has it" % (what, value))
        chosen += [f for f in found if f["address"] not in [c["address"] for c in chosen]]
    return chosen, refusals


def function_refusals(fs, chosen, state, warn):
    """Why functions must not change hands: used by the host (or not proven free), or by guests."""
    ZpciDiscovery.annotate_usage(chosen, HostUsage(fs))
    users = device_users(fs)
    refusals = []
    for func in chosen:
        name = "%s (fid %s)" % (func["address"], func["fid_hex"])
        # Fail closed: a function the host may use is not taken on a guess (host_usage.py).
        refusal = host_use_refusal(name, func["host_use"], func["host_use_unknown"])
        if refusal:
            refusals.append(refusal)
        guests = users.get("pci:" + func["address"], [])
        running = [u["guest"] for u in guests if u["running"]]
        defined = [u["guest"] for u in guests if not u["running"]]
        if running and state == "absent":
            refusals.append("%s: used by running guest %s" % (name, ", ".join(running)))
        elif defined and state == "absent" and func["driver"] == VFIO_PCI:
            refusals.append("%s: defined guest %s has it as a pass-through device; it could not start without it"
                            % (name, ", ".join(defined)))
        if running and state == "present" and func["driver"] != VFIO_PCI:
            refusals.append("%s: running guest %s is defined with it" % (name, ", ".join(running)))
        if func["uid_is_unique"] is False:
            warn("%s: UIDs are not unique in this partition; its PCI address may change across reboots" % name)
    return refusals
