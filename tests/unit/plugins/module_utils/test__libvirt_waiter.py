# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_libvirt.waiter: events recorded from registration on, waits that end on an event, a polled
condition or a deadline (no daemon: the connection is a stand-in that calls back like libvirt's
event loop does). The real daemon's events are waited for in tests/integration/libvirt."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import waiter

libvirt = pytest.importorskip("libvirt")


class FakeDomain(object):
    def __init__(self, states=(1,), name="fake"):
        self.states = list(states)
        self._name = name

    def state(self):
        return (self.states.pop(0) if len(self.states) > 1 else self.states[0]), 1

    def name(self):
        return self._name


class FakeConn(object):
    """Registers callbacks as domainEventRegisterAny does; fire() calls them from another thread."""

    def __init__(self):
        self.callbacks = {}
        self.next_id = 0

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):
        self.next_id += 1
        self.callbacks[self.next_id] = (event_id, callback, opaque)
        return self.next_id

    def domainEventDeregisterAny(self, callback_id):
        del self.callbacks[callback_id]

    def fire(self, event_id, dom, *args, **kw):
        def go():
            time.sleep(kw.get("delay", 0))
            for registered, callback, opaque in list(self.callbacks.values()):
                if registered == event_id:
                    callback(self, dom, *(args + (opaque,)))
        thread = threading.Thread(target=go)
        thread.start()
        return thread


def test_wait_for_state_reaches_and_times_out():
    reached, state, _seconds = waiter.wait_for_state(FakeDomain([1, 1, 5]), ("shut_off",), timeout=5, interval=0.01)
    assert reached and state == "shut_off"
    reached, state, seconds = waiter.wait_for_state(FakeDomain([1]), ("shut_off",), timeout=0.05, interval=0.01)
    assert not reached and state == "running" and seconds >= 0.05


def test_device_events_by_alias_and_kind():
    conn, dom = FakeConn(), FakeDomain()
    with waiter.DomainEvents(conn, dom) as events:
        assert len(conn.callbacks) == 3          # added, removed, removal failed
        conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, dom, "net1").join()
        conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, dom, "hostdev0", delay=0.05)
        started = time.monotonic()
        event = events.wait_for(waiter.device_event("hostdev0", "device_removed", "device_removal_failed"), 5)
        assert event.kind == "device_removal_failed" and event.args == ("hostdev0",)
        assert time.monotonic() - started < 4
        # an event that arrived before the wait began is not missed
        assert events.wait_for(waiter.device_event("net1", "device_removed"), 0).args == ("net1",)
        assert events.wait_for(waiter.device_event("net2", "device_removed"), 0.05) is None
        assert [e.kind for e in events.of("device_removed")] == ["device_removed"]
    assert conn.callbacks == {}


def test_every_domain_events_carry_the_domain_name():
    conn = FakeConn()
    with waiter.DomainEvents(conn, None, ("device_added",)) as events:
        conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, FakeDomain(name="web1"), "ua-disk1").join()
        assert events.received[0].args == ("web1", "ua-disk1")


def test_wait_until_wakes_on_events():
    conn, dom = FakeConn(), FakeDomain()
    flag = {"done": False}
    with waiter.DomainEvents(conn, dom, ("lifecycle",)) as events:
        def later():
            time.sleep(0.1)
            flag["done"] = True
            conn.fire(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, dom, 5, 1)
        threading.Thread(target=later).start()
        value, seconds = waiter.wait_until(lambda: flag["done"], 10, interval=5, events=events)
    assert value is True and seconds < 4     # woken by the event, not by the 5 s poll
    value, seconds = waiter.wait_until(lambda: False, 0.05, interval=0.01)
    assert value is False and seconds >= 0.05
