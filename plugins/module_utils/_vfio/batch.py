# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one batch runner of the VFIO modules, and the interface a VFIO driver gives it.

A driver turns a device's current state and a target into steps, and runs them. The runner
does the rest the same way for every kind of device: it takes the devices' locks in sorted
order (two runs with the same devices in another order cannot deadlock), re-reads each device
under its lock, plans, applies, and when a step fails returns every device it changed, newest
first, to the state it had before the run. Check mode plans and predicts; it takes no lock and
writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple
from contextlib import ExitStack

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import DeviceLock, Persistence, VfioError


class Step(namedtuple("Step", "action text value")):
    """One change: ``action`` does it (a callable without arguments, or what the driver's own
    :meth:`Driver.apply` understands), ``text`` is what the task reports, ``value`` what the change
    sets (a driver, an mdev UUID, a mask, a file's content), or None."""

    __slots__ = ()

    def __new__(cls, action, text, value=None):
        return super(Step, cls).__new__(cls, action, text, value)


def override_step(driver, state, value, name):
    """The step that sets a device's driver_override to ``value`` (None clears it), for drivers whose
    ``set_override(state, value)`` writes it (the driver core's override, css and pci alike)."""
    text = "set driver_override of %s to %s" % (name, value) if value else "clear driver_override of %s" % name
    return Step(lambda: driver.set_override(state, value), text, value)


def reprobe_step(action, state, name, probed):
    """The step that unbinds a device from its driver and probes it again, for ``probed`` to bind."""
    return Step(action, "unbind %s from %s and probe %s" % (name, state.driver or "no driver", probed))


class Entry(namedtuple("Entry", "item target steps before after")):
    """What the runner did to one device: ``before``/``after`` as the driver describes them."""

    __slots__ = ()

    @property
    def changed(self):
        return bool(self.steps)

    @property
    def step_texts(self):
        return [step.text for step in self.steps]


class Driver(object):
    """What the runner needs of a VFIO driver. ``device`` is the driver's name of a device (a bus ID,
    a PCI address, a matrix mdev UUID); ``target`` whatever its :meth:`plan` understands."""

    def __init__(self, fs, settle_timeout=15.0):
        self.fs = fs
        self.settle_timeout = settle_timeout
        self.persistence = Persistence(fs)   # the driverctl and mdevctl files

    def lock_name(self, device):
        raise NotImplementedError

    def read(self, device):
        """The device's current state, from the kernel and the persistence files."""
        raise NotImplementedError

    def plan(self, state, target):
        """[:class:`Step`] that take ``state`` to ``target``; the same in check mode and for real."""
        raise NotImplementedError

    def apply(self, state, target, steps):
        """Run ``steps`` (planned from ``state``) in order; raise :class:`VfioError` on a failed one.
        By default each step's action is a callable that makes the change."""
        for step in steps:
            step.action()

    def snapshot(self, device):
        """What :meth:`restore` needs to bring the device back to this moment."""
        return self.read(device)

    # The driver's target type; its ``as_before(snapshot)`` is the target that brings a device back
    # to a snapshot (for the default :meth:`restore`).
    Target = None

    def restore(self, device, snapshot):
        """Bring the device back to ``snapshot``, whatever state a failed run left it in: plans and
        applies from wherever it is now, as any run does."""
        current = self.read(device)
        target = self.Target.as_before(snapshot)
        self.apply(current, target, self.plan(current, target))

    def describe(self, state):
        """The state as the task returns it in ``before``, ``after`` and ``diff``."""
        return state.as_dict()

    def predict(self, before, target, steps):
        """``after`` as check mode reports it: ``before`` (described) changed by ``steps``."""
        raise NotImplementedError


class BatchFailed(VfioError):
    """A step failed: ``item`` is the device, ``error`` the step's error, ``steps`` what was planned
    for the device (texts), ``rolled_back`` the devices returned to their state before the run,
    newest first."""

    def __init__(self, item, error, steps, rolled_back):
        outcome = "rolled back: %s" % ", ".join(rolled_back) if rolled_back else "nothing to roll back"
        super(BatchFailed, self).__init__("%s: %s; %s" % (item, error, outcome), rolled_back=rolled_back)
        self.item, self.error, self.steps, self.rolled_back = item, error, [s.text for s in steps], rolled_back


def run_batch(driver, items, targets, check_mode, lock_timeout, warn):
    """Take every device in ``items`` to ``targets[item]``; [:class:`Entry`] in the order of ``items``.
    A failed step raises :class:`BatchFailed` once the devices changed so far are rolled back."""
    entries, touched, snapshots = [], [], {}
    with ExitStack() as locks:
        if not check_mode:
            for name in sorted(set(driver.lock_name(item) for item in items)):
                locks.enter_context(DeviceLock(driver.fs, name, lock_timeout))
        for item in items:
            state = driver.read(item)   # under the lock: what an earlier read saw may have changed
            target = targets[item]
            before = driver.describe(state)
            steps = driver.plan(state, target)
            if check_mode:
                entries.append(Entry(item, target, steps, before, driver.predict(before, target, steps)))
                continue
            if steps:
                snapshots[item] = driver.snapshot(item)
                touched.append(item)
                try:
                    driver.apply(state, target, steps)
                except (VfioError, HostAccessError) as err:
                    raise BatchFailed(item, err, steps, roll_back(driver, touched, snapshots, warn))
            entries.append(Entry(item, target, steps, before, driver.describe(driver.read(item))))
    return entries


def roll_back(driver, touched, snapshots, warn):
    """Return the devices changed in this run, newest first, to their snapshots; the ones that
    could not be are warned about and left out of the result."""
    rolled_back = []
    for item in reversed(touched):
        try:
            driver.restore(item, snapshots[item])
            rolled_back.append(item)
        except (VfioError, HostAccessError) as err:
            warn("roll-back of %s failed: %s" % (item, err))
    return rolled_back


def batch_diff(entries):
    """``diff`` of a batch: before and after of the devices that changed, by device."""
    return {"before": dict((e.item, e.before) for e in entries if e.changed),
            "after": dict((e.item, e.after) for e in entries if e.changed)}
