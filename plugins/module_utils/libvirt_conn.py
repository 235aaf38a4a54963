# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt connections for the collection's modules: connect by URI, errors that name libvirt's
error code, domain state names, and an event loop helper for waits (lifecycle, device removal).

libvirt-python is imported lazily-tolerant: modules call :func:`require_libvirt` so a host
without it gets ``missing_required_lib`` instead of a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
import traceback

try:
    import libvirt
    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

DEFAULT_URI = "qemu:///system"

CONNECTION_SPEC = dict(
    uri=dict(type="str", default=DEFAULT_URI, aliases=["libvirt_uri"]),
)

# virDomainState -> the names the modules use (and return).
STATE_NAMES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused",
    4: "shutting_down", 5: "shut_off", 6: "crashed", 7: "pmsuspended",
}


def require_libvirt(module):
    """fail_json with Ansible's standard message when libvirt-python is missing."""
    if not HAS_LIBVIRT:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("libvirt-python"), exception=LIBVIRT_IMPORT_ERROR)


# Error *levels* share the VIR_ERR_ prefix with the error codes; they are not codes.
_NOT_CODES = ("VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR")


def _constant_names(prefix):
    if libvirt is None:
        return {}
    names = {}
    for name in dir(libvirt):
        if name.startswith(prefix) and name not in _NOT_CODES:
            value = getattr(libvirt, name)
            if isinstance(value, int) and value not in names:
                names[value] = name
    return names


_ERROR_NAMES = {}
_DOMAIN_NAMES = {}


def error_code_name(code):
    """``VIR_ERR_NO_DOMAIN`` for 42, etc. (``VIR_ERR_<code>`` when unknown)."""
    if not _ERROR_NAMES:
        _ERROR_NAMES.update(_constant_names("VIR_ERR_"))
    name = _ERROR_NAMES.get(code)
    return name or "VIR_ERR_%s" % code


def error_domain_name(domain):
    if not _DOMAIN_NAMES:
        _DOMAIN_NAMES.update(_constant_names("VIR_FROM_"))
    return _DOMAIN_NAMES.get(domain) or "VIR_FROM_%s" % domain


class LibvirtFailure(Exception):
    """A libvirt call failed; carries what fail_json should report."""

    def __init__(self, msg, code=None, domain=None, libvirt_message=None):
        super(LibvirtFailure, self).__init__(msg)
        self.msg = msg
        self.code = code
        self.domain = domain
        self.libvirt_message = libvirt_message

    def result(self):
        """Keys for fail_json."""
        out = {"msg": self.msg}
        if self.code is not None:
            out["libvirt_error"] = {
                "code": self.code, "code_name": error_code_name(self.code),
                "domain": self.domain, "domain_name": error_domain_name(self.domain) if self.domain is not None else None,
                "message": self.libvirt_message,
            }
        return out


def failure(action, exc):
    """LibvirtFailure from a libvirt.libvirtError, as "ACTION: message (VIR_ERR_X, code N)"."""
    code = domain = message = None
    if libvirt is not None and isinstance(exc, libvirt.libvirtError):
        code, domain, message = exc.get_error_code(), exc.get_error_domain(), exc.get_error_message()
    message = message or str(exc)
    if code is not None:
        text = "%s: %s (%s, code %s)" % (action, message, error_code_name(code), code)
    else:
        text = "%s: %s" % (action, message)
    return LibvirtFailure(text, code=code, domain=domain, libvirt_message=message)


def is_error(exc, *names):
    """Whether a libvirtError has one of the named codes (``"VIR_ERR_NO_DOMAIN"``...)."""
    if libvirt is None or not isinstance(exc, libvirt.libvirtError):
        return False
    return exc.get_error_code() in [getattr(libvirt, n, None) for n in names]


def is_local_uri(uri):
    """Whether a libvirt URI reaches this machine's libvirtd (no host part, or the unix transport)."""
    scheme, _sep, rest = uri.partition("://")
    return "+unix" in scheme or rest.split("/", 1)[0] in ("", "localhost")


def connect(uri, readonly=False):
    """Open a libvirt connection or raise LibvirtFailure naming the URI."""
    _silence_default_error_handler()
    try:
        conn = libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise failure("cannot connect to libvirt at %s" % uri, exc)
    if conn is None:
        raise LibvirtFailure("cannot connect to libvirt at %s" % uri)
    return conn


def _silence_default_error_handler():
    # libvirt prints every error on stderr by default; modules report them in their result.
    try:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    except Exception:   # pragma: no cover - very old bindings
        pass


def lookup_domain(conn, name):
    """The virDomain called ``name`` or None when there is none."""
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if is_error(exc, "VIR_ERR_NO_DOMAIN"):
            return None
        raise failure("cannot look up domain %s" % name, exc)


def domain_state(dom):
    """(state name, reason number) of a domain."""
    state, reason = dom.state()
    return STATE_NAMES.get(state, "unknown"), reason


def wait_for_state(dom, wanted, timeout, interval=0.2, events=None):
    """Wait until the domain's state is in ``wanted`` (names); returns (reached, state, seconds).

    ``events`` (a :class:`DomainEvents`) wakes the wait as soon as libvirt reports a lifecycle
    event; without it the state is polled every ``interval`` seconds.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            state = domain_state(dom)[0]
        except libvirt.libvirtError as exc:
            if is_error(exc, "VIR_ERR_NO_DOMAIN"):
                state = "undefined"
            else:
                raise failure("cannot read the state of %s" % dom.name(), exc)
        if state in wanted:
            return True, state, time.monotonic() - start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, state, time.monotonic() - start
        if events is not None:
            events.wait(min(remaining, 0.5))
        else:
            time.sleep(min(remaining, interval))


class EventLoop(object):
    """libvirt's default event loop in a daemon thread (one per process).

    Must be started before the connection whose events are wanted is opened.
    """

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
    """Collects one domain's events of one kind (lifecycle, device removed, ...) for waits.

    Usage::

        EventLoop.start(); conn = connect(uri)
        with DomainEvents(conn, dom, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED) as ev:
            dom.detachDeviceFlags(xml, flags)
            ok = ev.wait_for(lambda args: args[0] == alias, timeout=30)
    """

    def __init__(self, conn, dom, event_id):
        self.conn = conn
        self.dom = dom
        self.event_id = event_id
        self.received = []
        self._cond = threading.Condition()
        self._callback_id = None

    def __enter__(self):
        self._callback_id = self.conn.domainEventRegisterAny(self.dom, self.event_id, self._callback, None)
        return self

    def __exit__(self, *exc_info):
        if self._callback_id is not None:
            try:
                self.conn.domainEventDeregisterAny(self._callback_id)
            except libvirt.libvirtError:
                pass
            self._callback_id = None
        return False

    def _callback(self, _conn, _dom, *args):
        with self._cond:
            self.received.append(args[:-1])     # the last argument is the opaque value
            self._cond.notify_all()

    def wait(self, timeout):
        """Block until any new event arrives or ``timeout`` seconds pass."""
        with self._cond:
            count = len(self.received)
            self._cond.wait_for(lambda: len(self.received) > count, timeout)

    def wait_for(self, predicate, timeout):
        """Wait until an event whose arguments satisfy ``predicate`` has arrived; returns it or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for args in self.received:
                    if predicate(args):
                        return args
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
