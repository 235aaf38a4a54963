# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt connections for the collection's modules: the shared options (``uri``, ``wait``,
``wait_timeout``), one scaffold (:class:`LibvirtModule`) that checks for libvirt-python, starts the
event loop before connecting and turns :class:`LibvirtFailure` into ``fail_json`` with libvirt's
error code, and the small lookups every libvirt module needs.

libvirt-python is imported tolerantly: a host without it gets Ansible's ``missing_required_lib``
message instead of a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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

# Doc fragment s390x.kvm.libvirt.
CONNECTION_SPEC = dict(
    uri=dict(type="str", default=DEFAULT_URI, aliases=["libvirt_uri"]),
)

# Doc fragment s390x.kvm.libvirt_wait: how long to wait for what the guest or QEMU must confirm
# (a device removal the guest acknowledges, a device added, a state reached).
WAIT_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=60),
)

# virDomainState -> the names the modules use (and return).
STATE_NAMES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused",
    4: "shutting_down", 5: "shut_off", 6: "crashed", 7: "pmsuspended",
}
# States in which QEMU runs (a device can be attached live, a migration can start).
ACTIVE = ("running", "paused", "blocked", "shutting_down", "pmsuspended", "nostate")


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
    """A libvirt call (or a wait on libvirt) failed; carries what fail_json should report."""

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


def connect(uri, readonly=False, events=False):
    """Open a libvirt connection or raise LibvirtFailure naming the URI.

    ``events``: the connection will deliver domain events, so libvirt's event loop is started
    first (libvirt binds a connection to the event implementation registered when it opens).
    """
    if events:
        from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.waiter import EventLoop
        EventLoop.start()
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


def version_text(number):
    """libvirt's version numbers (major * 1,000,000 + minor * 1,000 + micro) as ``9.0.0``."""
    return "%d.%d.%d" % (number // 1000000, number // 1000 % 1000, number % 1000)


class LibvirtModule(object):
    """The scaffold of a libvirt module: spec merged with the connection (and wait) options,
    libvirt-python required, connections that start the event loop when events are wanted, and
    every LibvirtFailure reported through fail_json with libvirt's error code.

    ``module_class`` is the module's own AnsibleModule import (ansible-test looks for it there)::

        client = LibvirtModule(AnsibleModule, argument_spec, wait=True, supports_check_mode=True)
        client.run(lambda: Manager(client).run())
    """

    def __init__(self, module_class, argument_spec, wait=False, **module_kwargs):
        spec = dict(argument_spec)
        spec.update(CONNECTION_SPEC)
        if wait:
            spec.update(WAIT_SPEC)
        self.module = module_class(argument_spec=spec, **module_kwargs)
        self.params = self.module.params
        require_libvirt(self.module)
        if wait and self.params["wait_timeout"] <= 0:
            self.module.fail_json(msg="wait_timeout must be a positive number of seconds, got %s"
                                      % self.params["wait_timeout"])

    def connect(self, uri=None, readonly=False, events=False):
        return connect(uri or self.params["uri"], readonly=readonly, events=events)

    def run(self, func, partial=None):
        """Call ``func()`` and exit with its result; a LibvirtFailure (or a stray libvirtError)
        fails the task with libvirt's error code, merged into ``partial()`` (what was done so far)."""
        try:
            result = func()
        except LibvirtFailure as exc:
            out = dict(partial() if partial else {})
            out.update(exc.result())
            self.module.fail_json(**out)
        except libvirt.libvirtError as exc:
            out = dict(partial() if partial else {})
            out.update(failure("libvirt call failed", exc).result())
            self.module.fail_json(exception=traceback.format_exc(), **out)
        self.module.exit_json(**result)
