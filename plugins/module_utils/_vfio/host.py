# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host access of the VFIO drivers: per-device locks, persistence files
(driverctl and mdevctl), stable mdev UUIDs, sysfs writes and waiting for the kernel.

Persistence is written as the files the tools themselves keep, so a host
without this collection still restores the state at boot:

* driverctl keeps one file per override, ``/etc/driverctl.d/<bus>-<device>``,
  holding the driver name; its udev rule calls ``driverctl load-override`` when
  the device is added (driverctl script ``save_override``/``load-override``).
* mdevctl keeps one JSON file per mediated device,
  ``/etc/mdevctl.d/<parent>/<uuid>`` with ``mdev_type``, ``start``
  (``auto``/``manual``) and ``attrs`` (mdevctl README, "Config file format");
  its udev rule starts a parent's ``auto`` devices when the parent appears.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import time
import uuid

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, is_uuid

# Namespace for UUIDs derived from host + device; fixed forever (changing it changes every derived UUID).
MDEV_UUID_NAMESPACE = uuid.UUID("5e0c3f2a-7d1b-4c55-9a0e-3b9d2f6e8c41")
LOCK_DIR = "/run/lock/s390x-kvm"
DRIVERCTL_DIR = "/etc/driverctl.d"
MDEVCTL_DIR = "/etc/mdevctl.d"


class VfioError(Exception):
    """A refusal or a failed step; ``str()`` is the message for users, ``details`` what the
    failed task returns beside it (``refusals``, ``rolled_back``, ...)."""

    def __init__(self, message, **details):
        super(VfioError, self).__init__(message)
        self.details = details


def write_attr(fs, path, value, what):
    """Write a sysfs or procfs attribute; a refused write fails with ``what`` it was for."""
    try:
        fs.write(path, value)
    except HostAccessError as err:
        raise VfioError("%s: %s" % (what, err))


def host_identity(fs):
    """A stable identity of the host: /etc/machine-id, else the hostname."""
    ident = fs.read("/etc/machine-id", default="").strip()
    if not ident:
        ident = fs.read("/proc/sys/kernel/hostname", default="").strip() or fs.read("/etc/hostname", default="").strip()
    return ident or "unknown-host"


def derive_mdev_uuid(fs, device_id):
    """The same UUID for the same device on the same host, on every run."""
    return str(uuid.uuid5(MDEV_UUID_NAMESPACE, "%s/%s" % (host_identity(fs), device_id)))


def normalize_uuid(text):
    try:
        return str(uuid.UUID(str(text)))
    except ValueError:
        raise VfioError("invalid UUID %r: expected 8-4-4-4-12 hex digits, e.g. 3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51" % (text,))


class DeviceLock(object):
    """An exclusive advisory lock per device so two runs cannot interleave on it."""

    def __init__(self, fs, name, timeout=30.0):
        self.path = fs.path("%s/%s.lock" % (LOCK_DIR, name.replace("/", "_")))
        self.name = name
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        # exist_ok: a concurrent run may create the directory between a check and makedirs
        os.makedirs(os.path.dirname(self.path), 0o755, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.time() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise VfioError("%s is locked by another run (lock file %s) for more than %.0f s"
                                    % (self.name, self.path, self.timeout))
                time.sleep(0.1)

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


def atomic_write(local_path, text):
    os.makedirs(os.path.dirname(local_path), 0o755, exist_ok=True)
    tmp = "%s.tmp.%d" % (local_path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, local_path)


class Persistence(object):
    """Reads and writes driverctl overrides and mdevctl definitions under host_root."""

    def __init__(self, fs):
        self.fs = fs

    # driverctl
    def driverctl_path(self, bus, device):
        return "%s/%s-%s" % (DRIVERCTL_DIR, bus, device)

    def override(self, bus, device):
        return self.fs.read(self.driverctl_path(bus, device), default="").strip() or None

    def set_override(self, bus, device, driver):
        atomic_write(self.fs.path(self.driverctl_path(bus, device)), driver + "\n")

    def unset_override(self, bus, device):
        remove_file(self.fs.path(self.driverctl_path(bus, device)))

    def put_override(self, bus, device, driver):
        """Make the override file say ``driver``; None: no file."""
        if driver:
            self.set_override(bus, device, driver)
        else:
            self.unset_override(bus, device)

    # mdevctl
    def mdev_path(self, parent, mdev_uuid):
        return "%s/%s/%s" % (MDEVCTL_DIR, parent, mdev_uuid)

    def mdev_definitions(self, parent):
        """{uuid: config dict} of the mdevs defined for a parent."""
        result = {}
        for name in self.fs.listdir("%s/%s" % (MDEVCTL_DIR, parent)):
            if not is_uuid(name):
                continue   # mdevctl names its files by UUID; anything else (editor or temporary files) is not a definition
            try:
                result[name] = json.loads(self.fs.read(self.mdev_path(parent, name), default="{}"))
            except ValueError:
                result[name] = {}
        return result

    def define_mdev(self, parent, mdev_uuid, mdev_type, autostart=True, attrs=None):
        config = mdev_config(mdev_type, autostart, attrs)
        atomic_write(self.fs.path(self.mdev_path(parent, mdev_uuid)), json.dumps(config, indent=2, sort_keys=True) + "\n")

    def undefine_mdev(self, parent, mdev_uuid):
        remove_file(self.fs.path(self.mdev_path(parent, mdev_uuid)))
        directory = self.fs.path("%s/%s" % (MDEVCTL_DIR, parent))
        try:
            os.rmdir(directory)
        except OSError:
            pass


def mdev_config(mdev_type, autostart=True, attrs=None):
    """An mdevctl definition as mdevctl writes it: type, start policy (auto: at boot), attributes in order."""
    return {"mdev_type": mdev_type, "start": "auto" if autostart else "manual", "attrs": attrs or []}


def remove_file(local_path):
    try:
        os.unlink(local_path)
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise


def set_driver_override(fs, bus, device, driver, name):
    """Make ``driver`` the only one that may bind a device of ``bus`` (css, pci); None clears the
    override (a newline: drivers/base/driver.c driver_set_override). ``name`` is the device in messages."""
    write_attr(fs, "/sys/bus/%s/devices/%s/driver_override" % (bus, device), (driver or "") + "\n",
               "set driver_override of %s" % name)


def reprobe(fs, bus, device, current_driver, name):
    """Unbind a device from its driver, if it has one, and let the bus probe it again (drivers_probe,
    drivers/base/bus.c): the driver its override names, or else the one its IDs match, binds."""
    if current_driver:
        write_attr(fs, "/sys/bus/%s/devices/%s/driver/unbind" % (bus, device), device,
                   "unbind %s from %s" % (name, current_driver))
    write_attr(fs, "/sys/bus/%s/drivers_probe" % bus, device, "probe %s" % name)


def mdev_owners(fs):
    """{uuid: [parent, ...]} of every mediated device on the host, active (/sys/bus/mdev/devices,
    whose links end in <parent>/<uuid>) or defined for mdevctl (/etc/mdevctl.d/<parent>/<uuid>)."""
    owners = {}
    for name in fs.listdir("/sys/bus/mdev/devices"):
        target = fs.readlink("/sys/bus/mdev/devices/" + name) or ""
        parts = target.rstrip("/").split("/")
        owners.setdefault(name.lower(), set()).add(parts[-2] if len(parts) > 1 else "?")
    for parent in fs.listdir(MDEVCTL_DIR):
        for name in fs.listdir("%s/%s" % (MDEVCTL_DIR, parent)):
            if is_uuid(name):
                owners.setdefault(name, set()).add(parent)
    return dict((k, sorted(v)) for k, v in owners.items())


def file_text(fs, host_path):
    """Exact content of a persistence file, or None when there is none."""
    try:
        with open(fs.path(host_path)) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def restore_file(fs, host_path, text):
    """Put a persistence file back as :func:`file_text` read it (None: there was none)."""
    if text is None:
        remove_file(fs.path(host_path))
    else:
        atomic_write(fs.path(host_path), text)


def wait_for(predicate, timeout, interval=0.05):
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)
