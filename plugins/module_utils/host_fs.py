# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host access relative to a ``host_root``.

Every module that looks at or changes a KVM host reads ``<host_root>/sys``,
``<host_root>/proc``, ``<host_root>/etc`` and ``<host_root>/dev`` through this
class, so the same code runs on a real host (``host_root=/``), on the emulated
s390x kernel and on a fixture tree.

Reads use ``os.open``/``os.read``: at 65,536 subchannels the Python file object,
not the kernel, is the cost (measured on tmpfs: 7 s with ``open().read()`` vs.
3.3 s with raw reads for 9 attributes per subchannel).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat

_READ_SIZE = 65536
# O_NONBLOCK: a FIFO where a file is expected (a broken or hostile host tree) would otherwise block
# open(2) forever; on regular, sysfs, procfs and block-device files the flag changes nothing.
_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
# Errors that make one attribute unreadable without making the host unreadable: write-only or
# state-dependent attributes (chp "configure" reads EIO under some hypervisors), a directory or a
# FIFO without writer where a file is expected.
_UNREADABLE = (errno.EACCES, errno.EPERM, errno.EIO, errno.EINVAL, errno.ENODEV, errno.EISDIR, errno.EAGAIN)
# A sysfs attribute's show() fills at most one page (fs/sysfs/file.c sysfs_kf_seq_show: PAGE_SIZE);
# asking for exactly that avoids allocating and shrinking a larger buffer on every one of the
# ~900,000 reads of a 65,536-subchannel host.
_ATTR_SIZE = 4096

_ERRNO_HINTS = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "permission denied (run as root, become: true)",
    errno.EPERM: "operation not permitted (the kernel refuses it in the device's current state)",
    errno.EBUSY: "device or resource busy",
    errno.EINVAL: "the kernel rejected the value (invalid argument)",
    errno.ENODEV: "no such device (the driver refused the device)",
    errno.EEXIST: "already exists",
    errno.EAGAIN: "the device is in transition; try again",
    errno.EIO: "input/output error",
    errno.EUSERS: "no more instances available",
    errno.EADDRINUSE: "already in use by another device",
    errno.EADDRNOTAVAIL: "not available (not reserved for this driver)",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a directory, not a file",
    errno.ENOTBLK: "is neither a device nor a file",
}


def int_or_none(text, base=10):
    """A number read from a host file (``base`` 16 also takes a ``0x`` prefix); None when the text is
    missing or not a number, so one odd attribute never fails a whole discovery."""
    try:
        return int(text, base)
    except (TypeError, ValueError):
        return None


# How the kernel prints a UUID (mdev names, mdevctl file names): lower-case 8-4-4-4-12 hex.
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_uuid(name):
    return bool(UUID_RE.match(name))


def override_or_none(text):
    """A ``driver_override`` attribute: the driver name, or None when unset (its show function
    prints the NULL pointer with %s, which lib/vsprintf.c writes as ``(null)``; a missing file reads "")."""
    return None if text in ("", "(null)") else text


def _is_data(mode):
    """A block or character device or a regular file (fixture trees hold /dev nodes as files)."""
    return stat.S_ISBLK(mode) or stat.S_ISREG(mode) or stat.S_ISCHR(mode)


class HostAccessError(Exception):
    """A host file could not be read or written; ``str()`` is a message for users."""

    def __init__(self, path, err, action="read"):
        self.path = path
        self.errno = getattr(err, "errno", None)
        hint = _ERRNO_HINTS.get(self.errno) or getattr(err, "strerror", None) or str(err)
        super(HostAccessError, self).__init__("cannot %s %s: %s" % (action, path, hint))


def describe_os_error(err):
    """A short text for an OSError, with the errno name (``EBUSY``) users can search for."""
    name = errno.errorcode.get(getattr(err, "errno", None), "")
    hint = _ERRNO_HINTS.get(getattr(err, "errno", None)) or getattr(err, "strerror", "") or str(err)
    return "%s (%s)" % (hint, name) if name else hint


class HostFS(object):
    """Read and write files of a host mounted (or laid out) under ``root``."""

    def __init__(self, root="/"):
        self.root = os.path.abspath(root or "/")
        # Joining strings is measurably cheaper than os.path.join on hot paths.
        self._prefix = "" if self.root == "/" else self.root

    # -- paths -----------------------------------------------------------
    def path(self, host_path):
        """The local path of an absolute host path such as ``/sys/bus/css``."""
        return self._prefix + host_path

    def host_path(self, local_path):
        """The host path (as the host sees it) of a local path under root."""
        if self._prefix and local_path.startswith(self._prefix):
            return local_path[len(self._prefix):] or "/"
        return local_path

    def exists(self, host_path):
        return os.path.exists(self._prefix + host_path)

    def isdir(self, host_path):
        return os.path.isdir(self._prefix + host_path)

    def isfile(self, host_path):
        """A regular file (sysfs and procfs attributes are); not a directory, FIFO or socket."""
        return os.path.isfile(self._prefix + host_path)

    def resolve(self, host_path):
        """Resolve symlinks as the host would, never leaving ``root``.

        Absolute link targets (``/dev/disk/by-path/... -> /dev/dasda1``) are
        re-rooted; relative ones are resolved against their directory.
        """
        parts = [p for p in host_path.split("/") if p]
        resolved = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            try:
                target = os.readlink(self._prefix + candidate)
            except OSError:
                resolved.append(part)
                continue
            hops += 1
            if hops > 40:
                raise HostAccessError(host_path, OSError(errno.ELOOP, "too many levels of symbolic links"), "resolve")
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
        return "/" + "/".join(resolved)

    # -- reads -----------------------------------------------------------
    def read(self, host_path, default=None):
        """Content of a host file with the trailing newline stripped.

        ``default`` is returned when the file does not exist or cannot be read
        (absent attributes are normal: older kernels lack some, some exist only
        in some states, some are write-only); with ``default=None`` a missing or
        unreadable file raises HostAccessError.
        """
        local = self._prefix + host_path
        try:
            fd = os.open(local, _O_READ)
        except OSError as err:
            if default is not None and (err.errno in (errno.ENOENT, errno.ENOTDIR) or err.errno in _UNREADABLE):
                return default
            raise HostAccessError(host_path, err)
        try:
            data = os.read(fd, _READ_SIZE)
            if len(data) == _READ_SIZE:
                chunks = [data]
                while True:
                    more = os.read(fd, _READ_SIZE)
                    if not more:
                        break
                    chunks.append(more)
                data = b"".join(chunks)
        except OSError as err:
            if default is not None and err.errno in _UNREADABLE:
                return default
            raise HostAccessError(host_path, err)
        finally:
            os.close(fd)
        return data.decode("utf-8", "replace").rstrip("\n")

    def read_abs(self, local_path, default=""):
        """A sysfs attribute (at most one page) by already-local path; missing/unreadable -> default. Hot path."""
        try:
            fd = os.open(local_path, _O_READ)
        except OSError:
            return default
        try:
            data = os.read(fd, _ATTR_SIZE)
        except OSError:
            return default
        finally:
            os.close(fd)
        return data.decode("utf-8", "replace").rstrip("\n")

    def read_bytes(self, host_path, size, offset=0, strict=False):
        """Raw bytes (e.g. an on-disk label); missing or unreadable -> b'', or with ``strict``
        HostAccessError (callers that must not take "unreadable" for "empty")."""
        try:
            fd = os.open(self._prefix + host_path, _O_READ)
        except OSError as err:
            if strict:
                raise HostAccessError(host_path, err)
            return b""
        try:
            mode = os.fstat(fd).st_mode if strict else None
            if strict and not _is_data(mode):
                raise HostAccessError(host_path, OSError(errno.EISDIR if stat.S_ISDIR(mode) else errno.ENOTBLK, ""))
            if offset:
                os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, size)
        except OSError as err:
            if strict:
                raise HostAccessError(host_path, err)
            return b""
        finally:
            os.close(fd)

    def lines(self, host_path):
        """Lines of a host file; a missing file is an empty list."""
        text = self.read(host_path, default="")
        return text.splitlines() if text else []

    def link_name(self, host_path):
        """Basename of a symlink's target (``driver`` -> ``io_subchannel``), or None."""
        try:
            return os.path.basename(os.readlink(self._prefix + host_path))
        except OSError:
            return None

    def readlink(self, host_path):
        try:
            return os.readlink(self._prefix + host_path)
        except OSError:
            return None

    def listdir(self, host_path):
        """Sorted entry names of a host directory; a missing directory is empty."""
        try:
            return sorted(os.listdir(self._prefix + host_path))
        except OSError:
            return []

    def scandir(self, host_path):
        """``os.DirEntry`` objects of a host directory (unsorted); missing -> []."""
        try:
            with os.scandir(self._prefix + host_path) as it:
                return list(it)
        except OSError:
            return []

    # -- writes ----------------------------------------------------------
    def write(self, host_path, value):
        """Write ``value`` to a sysfs/procfs attribute in one write(2), as the kernel expects."""
        local = self._prefix + host_path
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        try:
            fd = os.open(local, os.O_WRONLY)
        except OSError as err:
            raise HostAccessError(host_path, err, "open for writing")
        try:
            os.write(fd, data)
        except OSError as err:
            raise HostAccessError(host_path, err, "write %r to" % data.decode("utf-8", "replace").strip())
        finally:
            os.close(fd)


def check_host_root(path):
    """Validate the ``host_root`` option; returns an error text or None."""
    if not path or not os.path.isabs(path):
        return "host_root must be an absolute path, got %r" % (path,)
    if not os.path.isdir(path):
        return "host_root %r does not exist or is not a directory; give the directory that holds the host's sys/, proc/, dev/ and etc/" % (path,)
    if not os.path.isdir(os.path.join(path, "sys")) and not os.path.isdir(os.path.join(path, "proc")):
        return "host_root %r has neither sys/ nor proc/; give the directory that holds the host's sys/, proc/, dev/ and etc/" % (path,)
    return None
