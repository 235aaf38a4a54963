# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on libvirt: one event loop per process, the events of one domain collected from the
moment of registration (so an event that arrives while the call that causes it still runs is
never missed, as libvirt documents for virDomainDetachDeviceFlags: "In case the device is already
gone when virDomainDetachDeviceFlags returns, the event is delivered before this API call ends"),
and waits that end on an event, on a polled condition, or on a deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import threading
import time

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.client import libvirt

# One recorded event: its kind (a key of EVENT_IDS), libvirt's callback arguments without the
# connection, domain and opaque value, and when it arrived (monotonic seconds, and wall time).
Event = collections.namedtuple("Event", "kind args at wall")

EVENT_IDS = {
    "lifecycle": "VIR_DOMAIN_EVENT_ID_LIFECYCLE",
    "device_added": "VIR_DOMAIN_EVENT_ID_DEVICE_ADDED",
    "device_removed": "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED",
    "device_removal_failed": "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED",
    "job_completed": "VIR_DOMAIN_EVENT_ID_JOB_COMPLETED",
    "migration_iteration": "VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION",
}
DEVICE_EVENTS = ("device_added", "device_removed", "device_removal_failed")


class EventLoop(object):
    """libvirt's default event loop in a daemon thread (one per process).

    Must be started before the connection whose events are wanted is opened
    (:func:`client.connect` with ``events=True`` does that)."""

    _lock = threading.Lock()
    _started = False

    @classmethod
    def start(cls):
        with cls._lock:
            if cls._started:
                return
            libvirt.virEventRegisterDefaultImpl()
            thread = threading.Thread(target=cls._run, name="libvirt-event-loop")
            thread.daemon = True
            thread.start()
            cls._started = True

    @staticmethod
    def _run():
        while True:
            libvirt.virEventRunDefaultImpl()


class DomainEvents(object):
    """The events of one domain (or of every domain, ``dom=None``) on one connection, of the kinds
    asked for, recorded from :meth:`__enter__` on. Usage::

        with DomainEvents(conn, dom, DEVICE_EVENTS) as events:
            dom.detachDeviceAlias(alias, flags)
            event = events.wait_for(device_event(alias, "device_removed", "device_removal_failed"), 30)
    """

    def __init__(self, conn, dom, kinds=DEVICE_EVENTS):
        self.conn = conn
        self.dom = dom
        self.kinds = tuple(kinds)
        self.received = []
        self._cond = threading.Condition()
        self._callback_ids = []

    def __enter__(self):
        try:
            for kind in self.kinds:
                event_id = getattr(libvirt, EVENT_IDS[kind])
                self._callback_ids.append(self.conn.domainEventRegisterAny(
                    self.dom, event_id, self._callback_for(kind), None))
        except libvirt.libvirtError as exc:
            self.__exit__()
            raise client.failure("cannot register for libvirt's domain events", exc)
        return self

    def __exit__(self, *exc_info):
        for callback_id in self._callback_ids:
            try:
                self.conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError:
                pass
        self._callback_ids = []
        return False

    def _callback_for(self, kind):
        def callback(_conn, dom, *args):
            # The last argument is the opaque value; the domain's name goes first for dom=None.
            event = Event(kind, (dom.name(),) + tuple(args[:-1]) if self.dom is None else tuple(args[:-1]),
                          time.monotonic(), time.time())
            with self._cond:
                self.received.append(event)
                self._cond.notify_all()
        return callback

    def wait(self, timeout):
        """Block until any new event arrives or ``timeout`` seconds pass."""
        with self._cond:
            count = len(self.received)
            self._cond.wait_for(lambda: len(self.received) > count, timeout)

    def wait_for(self, predicate, timeout):
        """The first event (received so far or within ``timeout`` seconds) that satisfies
        ``predicate``, or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.received:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def of(self, *kinds):
        with self._cond:
            return [e for e in self.received if e.kind in kinds]


def device_event(alias, *kinds):
    """Predicate: a device event of one of ``kinds`` for the device with ``alias``."""
    return lambda event: event.kind in kinds and event.args and event.args[0] == alias


def wait_until(condition, timeout, interval=0.2, events=None):
    """Wait until ``condition()`` returns something true; returns (value, seconds waited), the
    value being the last one seen (false on a timeout). With ``events`` (:class:`DomainEvents`)
    every new event re-checks at once; the condition is polled every ``interval`` seconds anyway."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = condition()
        if value:
            return value, time.monotonic() - start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return value, time.monotonic() - start
        if events is not None:
            events.wait(min(remaining, interval))
        else:
            time.sleep(min(remaining, interval))


def wait_for_state(dom, wanted, timeout, interval=0.2, events=None):
    """Wait until the domain's state is in ``wanted`` (names, ``undefined`` when it vanished);
    returns (reached, state, seconds). ``events`` (lifecycle) ends the wait as libvirt
    reports the change; without it the state is polled every ``interval`` seconds."""
    seen = {}

    def reached():
        try:
            seen["state"] = client.domain_state(dom)[0]
        except libvirt.libvirtError as exc:
            if not client.is_error(exc, "VIR_ERR_NO_DOMAIN"):
                raise client.failure("cannot read the state of %s" % dom.name(), exc)
            seen["state"] = "undefined"
        return seen["state"] in wanted

    ok, seconds = wait_until(reached, timeout, interval=min(interval, 0.5), events=events)
    return bool(ok), seen["state"], seconds
