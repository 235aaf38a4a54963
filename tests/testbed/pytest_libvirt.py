"""pytest plugin: the two libvirt hosts and the s390x guest image of the test bed.

Registered by ``tests/conftest.py``. Fixtures:

``libvirt_hosts`` (session)
    Brings both hosts up with ``tests/testbed/libvirt/up.sh`` and yields a :class:`LibvirtHosts`
    (``hosts[0]``, ``hosts["kvmhost2"]``, iteration). Each :class:`LibvirtHost` has ``name``,
    ``uri``, ``migration_address``, ``migration_uri`` and ``conn()`` (a libvirt connection opened
    after the default event loop was registered, so domain events work). Taken down again at the
    end of the session if this session brought them up, unless ``S390X_KVM_KEEP_TESTBED`` is set.
``s390x_guest_image`` (session)
    Builds (or reuses) the guest with ``tests/testbed/guest/build.sh``; a :class:`GuestImage`.
``testbed_results`` (session)
    A dict tests put measurements in; printed and written as JSON under
    ``$TB_CACHE/results/`` at the end of the session.

Helpers: :func:`domain_xml` renders a minimal s390x domain, :class:`GuestConsole` waits for and
parses the ``TB ...`` lines the guest prints. Waiting for libvirt's domain events is the
collection's own job (``module_utils/_libvirt/waiter.py``): the tests use it as the modules do.
"""

import fcntl
import json
import os
import subprocess
import time
import uuid as uuidlib
from xml.sax.saxutils import escape, quoteattr

import pytest

from tests.testbed.prereq import prerequisite
from tests.testbed.sharing import last_out, session_dir, take_down_if_started

try:
    import libvirt
except ImportError:  # pragma: no cover - reported by the fixtures
    libvirt = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TB_CACHE = os.path.join(os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"), "testbed")
LIBVIRT_DIR = os.path.join(TB_CACHE, "libvirt")
IMAGE_DIR = os.path.join(LIBVIRT_DIR, "images")
SCRIPTS = os.path.join(ROOT, "tests", "testbed", "libvirt")
BUILD_SH = os.path.join(ROOT, "tests", "testbed", "guest", "build.sh")
KERNEL_SH = os.path.join(ROOT, "tests", "testbed", "lib", "kernel.sh")
HOSTS = (("kvmhost1", "192.0.2.1"), ("kvmhost2", "192.0.2.2"))   # as in tests/testbed/libvirt/common.sh
# The libvirt stacks the two hosts run (tests/testbed/libvirt/common.sh): every test that uses
# libvirt_hosts runs on each, with the stack in its name (test_x[debian13]). S390X_KVM_STACKS
# picks some (comma-separated).
STACKS = ("debian12", "debian13")


def selected_stacks():
    wanted = [s for s in os.environ.get("S390X_KVM_STACKS", ",".join(STACKS)).split(",") if s]
    unknown = [s for s in wanted if s not in STACKS]
    if unknown:
        raise pytest.UsageError("S390X_KVM_STACKS: unknown stack %s (allowed: %s)" % (", ".join(unknown), ", ".join(STACKS)))
    return wanted


def stack_dir(stack):
    """Where a stack's hosts keep their directories."""
    return LIBVIRT_DIR if stack == "debian12" else os.path.join(LIBVIRT_DIR, stack)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "libvirt: needs the two real libvirtd hosts of the test bed (tests/testbed/libvirt)")
    config.addinivalue_line(
        "markers", "stacks(*names): run only on these libvirt stacks of the test bed (debian12, debian13)")


# --------------------------------------------------------------------------- event loop

def event_loop():
    """The collection's own event loop (one per process), started before any connection opens so
    that domain events reach the tests' connections as they reach the modules'."""
    from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.waiter import EventLoop
    EventLoop.start()
    # errors arrive as exceptions; do not also print them on stderr
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


# --------------------------------------------------------------------------- hosts

# Set-up times of this session (hosts up, guest image), added to testbed_results at the end.
SESSION_TIMINGS = {}


class LibvirtHost:
    def __init__(self, name, migration_address, stack="debian12"):
        self.name = name
        self.stack = stack
        self.dir = os.path.join(stack_dir(stack), name)
        self.socket = os.path.join(self.dir, "run", "libvirt-sock")
        self.uri = "qemu+unix:///system?socket=%s" % self.socket
        self.migration_address = migration_address
        self.migration_uri = "tcp://%s" % migration_address
        self._conn = None

    def conn(self):
        """A shared connection to this host (opened once, with the event loop registered)."""
        if self._conn is None or not self._conn.isAlive():
            event_loop()
            self._conn = libvirt.open(self.uri)
        return self._conn

    def open(self):
        """A new connection of the caller's own (close it yourself)."""
        event_loop()
        return libvirt.open(self.uri)

    def virsh(self, *args, check=True):
        return subprocess.run(["virsh", "-q", "-c", self.uri] + list(args), check=check,
                              capture_output=True, text=True)

    def domain_names(self, active_only=False):
        conn = self.conn()
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE if active_only else 0)
        return sorted(d.name() for d in doms)

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError:
                pass
            self._conn = None

    def __repr__(self):
        return "LibvirtHost(%s, %s, %s)" % (self.name, self.stack, self.uri)


class LibvirtHosts(list):
    """The hosts by position or by name."""

    def __getitem__(self, key):
        if isinstance(key, str):
            for host in self:
                if host.name == key:
                    return host
            raise KeyError(key)
        return list.__getitem__(self, key)


# Shared by several sessions (tests/testbed/sharing.py): USERS_LOCK for both stacks, a started mark per stack.
USERS_LOCK = os.path.join(TB_CACHE, ".libvirt-users.lock")


def _started_mark(stack):
    return os.path.join(TB_CACHE, ".libvirt-started-by-pytest" + ("" if stack == "debian12" else "-" + stack))


def bring_up(stack):
    """Both hosts of a stack up (tests/testbed/libvirt/up.sh); a LibvirtHosts with their connections.
    One session at a time checks and brings a stack up (two up.sh at once would race)."""
    with open(os.path.join(TB_CACHE, ".libvirt-start-%s.lock" % stack), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        were_up = _run(["bash", os.path.join(SCRIPTS, "status.sh")], 60, stack).returncode == 0
        started = time.monotonic()
        result = _run(["bash", os.path.join(SCRIPTS, "up.sh")], 1800, stack)
        prerequisite(result.returncode == 0, "tests/testbed/libvirt/up.sh --stack %s failed (exit %d): %s" % (
            stack, result.returncode, (result.stdout + result.stderr)[-2000:]))
        if not were_up:
            open(_started_mark(stack), "w").close()
    hosts = LibvirtHosts(LibvirtHost(name, addr, stack) for name, addr in HOSTS)
    for host in hosts:
        host.conn()
    hosts.stack = stack
    hosts.up_seconds = time.monotonic() - started
    hosts.were_up = were_up
    SESSION_TIMINGS.setdefault(stack, {}).update(hosts_up_s=round(hosts.up_seconds, 3), hosts_were_up=were_up)
    return hosts


def take_down_if_last(users, stacks):
    """At the end of a session: the stacks a fixture brought up go down, if no other session uses them."""
    if not last_out(users):
        return
    for stack in stacks:
        take_down_if_started(_started_mark(stack), lambda: _run(["bash", os.path.join(SCRIPTS, "down.sh")], 300, stack))


def _run(cmd, timeout, stack=None):
    env = dict(os.environ, TB_STACK=stack) if stack else None
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _prerequisites():
    prerequisite(os.geteuid() == 0, "the libvirt test bed needs root (network and mount namespaces)")
    prerequisite(libvirt is not None and hasattr(libvirt, "open"),
                 "libvirt-python is not installed (pip install -r requirements-dev.txt)")
    os.makedirs(TB_CACHE, exist_ok=True)


def pytest_generate_tests(metafunc):
    # Session-scoped and parametrized here, so the stack is in every test's name. A test marked
    # stacks("debian12") runs on those only.
    if "libvirt_hosts" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("stacks")
        stacks = [s for s in selected_stacks() if marker is None or s in marker.args]
        metafunc.parametrize("libvirt_hosts", stacks, indirect=True, scope="session")


@pytest.fixture(scope="session")
def libvirt_hosts(request):
    """The two hosts of one stack (the test's parameter). The playbooks' inventory
    (tests/testbed/libvirt/inventory.yml) follows S390X_KVM_TESTBED_STACK, set here."""
    _prerequisites()
    stack = getattr(request, "param", "debian12")
    users = open(USERS_LOCK, "a")
    fcntl.flock(users, fcntl.LOCK_SH)
    try:
        hosts = bring_up(stack)
        os.environ["S390X_KVM_TESTBED_STACK"] = stack
        yield hosts
        for host in hosts:
            host.close()
    finally:
        take_down_if_last(users, [stack])
        users.close()


@pytest.fixture(scope="session")
def stack_pair():
    """kvmhost1 of Debian 12's stack and kvmhost2 of Debian 13's: both stacks up at once, for
    migrating between libvirt 9.0 and 11."""
    _prerequisites()
    prerequisite(set(STACKS) <= set(selected_stacks()), "S390X_KVM_STACKS leaves out a stack")
    users = open(USERS_LOCK, "a")
    fcntl.flock(users, fcntl.LOCK_SH)
    try:
        old, new = bring_up("debian12"), bring_up("debian13")
        yield old["kvmhost1"], new["kvmhost2"]
        for host in list(old) + list(new):
            host.close()
    finally:
        take_down_if_last(users, STACKS)
        users.close()


# --------------------------------------------------------------------------- guest image

class GuestImage:
    def __init__(self, info):
        self.kernel = info["kernel"]
        self.initrd = info["initrd"]
        self.version = info["version"]
        self.cmdline = info["cmdline"]
        self.info = info

    def __repr__(self):
        return "GuestImage(%s, %s)" % (self.kernel, self.initrd)


@pytest.fixture(scope="session")
def s390x_guest_image():
    prerequisite(os.geteuid() == 0, "building the s390x guest needs root (apt, mknod)")
    prerequisite(os.path.exists(KERNEL_SH), "tests/testbed/lib/kernel.sh (the 6.12 s390x kernel) is missing")
    started = time.monotonic()
    result = _run(["bash", BUILD_SH], 1800)
    prerequisite(result.returncode == 0, "tests/testbed/guest/build.sh failed (exit %d): %s" % (
        result.returncode, (result.stdout + result.stderr)[-2000:]))
    with open(os.path.join(TB_CACHE, "guest", "image.json")) as f:
        image = GuestImage(json.load(f))
    image.prepare_seconds = time.monotonic() - started
    SESSION_TIMINGS["guest_image_s"] = round(image.prepare_seconds, 3)
    SESSION_TIMINGS["guest_image_built"] = "building guest initramfs" in result.stderr
    return image


# --------------------------------------------------------------------------- results

@pytest.fixture(scope="session")
def testbed_results():
    results = {}
    yield results
    if not results:
        return
    results["setup"] = dict(SESSION_TIMINGS)
    outdir = os.path.join(TB_CACHE, "results")
    os.makedirs(outdir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = os.path.join(outdir, "libvirt-%s.json" % stamp)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    with open(os.path.join(outdir, "libvirt-latest.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    print("\ntest-bed timings (%s):\n%s" % (path, json.dumps(results, indent=2, sort_keys=True)))


# --------------------------------------------------------------------------- domain XML

def ccw_address(devno):
    """CCW address element for devno (int or '0x0001'); QEMU's css 0xfe is the guest's css 0."""
    if isinstance(devno, str):
        devno = int(devno, 16)
    return "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x%04x'/>" % devno


def bus_id(devno):
    """The bus ID the guest sees for a CCW devno: 0x0001 -> '0.0.0001'."""
    if isinstance(devno, str):
        devno = int(devno, 16)
    return "0.0.%04x" % devno


def disk_xml(path, target="vda", devno=None, fmt="qcow2", alias=None):
    return ("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file=%s/>"
            "<target dev='%s' bus='virtio'/>%s%s</disk>") % (
        fmt, quoteattr(path), target, "<alias name='%s'/>" % alias if alias else "",
        ccw_address(devno) if devno is not None else "")


def interface_xml(mac, devno=None, alias=None):
    return ("<interface type='ethernet'><mac address='%s'/><model type='virtio'/>%s%s</interface>") % (
        mac, "<alias name='%s'/>" % alias if alias else "", ccw_address(devno) if devno is not None else "")


def zpci_address(uid, fid, slot=1):
    """PCI address with zPCI uid/fid: the guest sees PCI domain ``uid`` (0005:00:00.0 for uid 5)."""
    return ("<address type='pci' domain='0x0000' bus='0x00' slot='0x%02x' function='0x0'>"
            "<zpci uid='0x%04x' fid='0x%08x'/></address>") % (slot, uid, fid)


def zpci_interface_xml(mac, uid, fid, slot=1, alias=None):
    """virtio-net-pci on zPCI (no option ROM: efi-virtio.rom is not installed on Debian)."""
    return ("<interface type='ethernet'><mac address='%s'/><model type='virtio'/><rom enabled='no'/>%s%s"
            "</interface>") % (mac, "<alias name='%s'/>" % alias if alias else "", zpci_address(uid, fid, slot))


def virtiofs_xml(source_dir, tag, devno=None):
    """A virtio-fs share (libvirt starts /usr/lib/qemu/virtiofsd); needs ``shared_memory=True``."""
    return ("<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/>"
            "<binary path='/usr/lib/qemu/virtiofsd'/><source dir=%s/><target dir=%s/>%s</filesystem>") % (
        quoteattr(source_dir), quoteattr(tag), ccw_address(devno) if devno is not None else "")


def domain_xml(name, image, console_log, disks=(), interfaces=(), extra_devices=(), memory_mib=384,
               vcpus=1, cmdline_extra="", uuid=None, balloon_devno=None, shared_memory=False):
    """A minimal s390x domain: type qemu (TCG), s390-ccw-virtio, direct kernel boot of ``image``,
    the sclp console logged to ``console_log``, devices given as XML strings (see
    :func:`disk_xml`, :func:`interface_xml`, :func:`zpci_interface_xml`, :func:`virtiofs_xml`)
    with explicit addresses. ``shared_memory`` (memfd, shared) is what virtio-fs needs."""
    cmdline = " ".join(p for p in (image.cmdline, cmdline_extra) if p)
    balloon = ("<memballoon model='virtio'>%s</memballoon>" % ccw_address(balloon_devno)
               if balloon_devno is not None else "<memballoon model='none'/>")
    return """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory}</memory>
  {memory_backing}
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='s390x' machine='s390-ccw-virtio'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    {devices}
    <serial type='pty'>
      <log file={log} append='on'/>
      <target type='sclp-serial'/>
    </serial>
    {balloon}
  </devices>
</domain>
""".format(name=escape(name), uuid=uuid or uuidlib.uuid4(), memory=memory_mib, vcpus=vcpus,
           kernel=escape(image.kernel), initrd=escape(image.initrd), cmdline=escape(cmdline),
           devices="\n    ".join(list(disks) + list(interfaces) + list(extra_devices)),
           log=quoteattr(console_log), balloon=balloon,
           memory_backing=("<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
                           if shared_memory else ""))


def create_disk(path, size="64M", fmt="qcow2"):
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, size], check=True)
    return path


# --------------------------------------------------------------------------- guest console

def parse_line(line):
    """'TB CCW busid=0.0.0001 cutype=3832/02' -> {'kind': 'CCW', 'busid': '0.0.0001', ...}; None if not a TB line."""
    line = line.strip()
    if not line.startswith("TB "):
        idx = line.find("TB ")   # tolerate console noise before the marker
        if idx < 0:
            return None
        line = line[idx:]
    words = line.split()
    if len(words) < 2:
        return None
    rec = {"kind": words[1]}
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if sep and key != "kind":
            rec[key] = value.strip('"')
    return rec


class ConsoleTimeout(AssertionError):
    pass


class GuestConsole:
    """The guest's sclp console log (written by QEMU through libvirt's ``<log file=...>``)."""

    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def mark(self):
        """The current end of the log: pass it as ``since`` to see only newer lines."""
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def records(self, since=0, kind=None):
        with_offsets = []
        try:
            with open(self.path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        for raw in data.decode("utf-8", "replace").splitlines():
            rec = parse_line(raw)
            if rec is not None and (kind is None or rec["kind"] == kind):
                with_offsets.append(rec)
        return with_offsets

    FATAL = ("Kernel panic", "Failed to execute /init")

    def wait(self, kind, timeout=60, since=0, **match):
        """Wait until a ``TB <kind> ...`` line whose fields equal ``match`` appears after offset
        ``since``; returns the parsed record. Raises ConsoleTimeout with the log's tail (at once
        when the guest kernel panics)."""
        deadline = time.monotonic() + timeout
        while True:
            for rec in self.records(since, kind):
                if all(rec.get(k) == str(v) for k, v in match.items()):
                    return rec
            text = self.text()
            fatal = [f for f in self.FATAL if f in text]
            if fatal or time.monotonic() > deadline:
                tail = "\n".join(text.splitlines()[-25:])
                raise ConsoleTimeout("no 'TB %s %s' on %s %s; last lines:\n%s" % (
                    kind, " ".join("%s=%s" % kv for kv in sorted(match.items())), self.path,
                    "(guest: %s)" % fatal[0] if fatal else "within %ss" % timeout, tail))
            time.sleep(0.1)

    def wait_line(self, text, timeout=60, since=0):
        """Wait for any line containing ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.path, "rb") as f:
                    f.seek(since)
                    for raw in f.read().decode("utf-8", "replace").splitlines():
                        if text in raw:
                            return raw
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise ConsoleTimeout("no line with %r on %s within %ss" % (text, self.path, timeout))
            time.sleep(0.1)


def wait_for_console(path, kind, timeout=60, since=0, **match):
    """Functional form of :meth:`GuestConsole.wait`."""
    return GuestConsole(path).wait(kind, timeout=timeout, since=since, **match)


# --------------------------------------------------------------------------- domains of a test

class TestDomains:
    """Defines and starts domains for a test; removes them from every host afterwards."""

    __test__ = False

    def __init__(self, hosts, image, workdir):
        self.hosts = hosts
        self.image = image
        self.workdir = workdir
        self.names = []

    def start(self, host, name, disks=(), interfaces=(), **kw):
        """Define and start ``name`` with a per-session suffix (``dom.name()`` is ``name-<pid>``, so
        sessions that share the hosts do not collide); returns (domain, GuestConsole, start time)."""
        name = "%s-%d" % (name, os.getpid())
        console = os.path.join(self.workdir, "%s.console.log" % name)
        if os.path.exists(console):
            os.unlink(console)
        xml = domain_xml(name, self.image, console, disks=disks, interfaces=interfaces, **kw)
        self._remove(name)
        self.names.append(name)
        conn = host.conn()
        dom = conn.defineXML(xml)
        started = time.monotonic()
        dom.create()
        return dom, GuestConsole(console), started

    def start_migratable(self, name, ccw_mac, pci_mac):
        """A running guest on kvmhost1 for the migration tests: virtio-blk and virtio-net on CCW, a
        virtio-net-pci on zPCI (uid 5, fid 10) that migrate unplugs and replugs, a heartbeat on its
        console; returns (domain name, GuestConsole) once the heartbeat runs."""
        disk = create_disk(os.path.join(self.workdir, "%s-vda.qcow2" % name))
        dom, console, _ = self.start(
            self.hosts["kvmhost1"], name, disks=[disk_xml(disk, "vda", devno=0x0001)],
            interfaces=[interface_xml(ccw_mac, devno=0x0002), zpci_interface_xml(pci_mac, uid=5, fid=10)],
            balloon_devno=0x0003, cmdline_extra="tb.heartbeat=1")
        console.wait("READY", timeout=240)
        console.wait("HEARTBEAT", timeout=30)
        return dom.name(), console

    def _remove(self, name):
        for host in self.hosts:
            try:
                dom = host.conn().lookupByName(name)
            except libvirt.libvirtError:
                continue
            try:
                if dom.isActive():
                    dom.destroy()
            except libvirt.libvirtError:
                pass
            try:
                dom.undefine()
            except libvirt.libvirtError:
                pass

    def cleanup(self):
        for name in self.names:
            self._remove(name)


@pytest.fixture(scope="session")
def testbed_workdir():
    """$TB_CACHE/libvirt/images/pytest-<pid>: console logs and disks of this session, kept afterwards
    for inspection until a later session removes it. Same path on both hosts."""
    return session_dir(IMAGE_DIR)


@pytest.fixture
def s390x_domains(libvirt_hosts, s390x_guest_image, testbed_workdir):
    """Factory for guests on the test bed, removed from both hosts after the test."""
    domains = TestDomains(libvirt_hosts, s390x_guest_image, testbed_workdir)
    yield domains
    domains.cleanup()
