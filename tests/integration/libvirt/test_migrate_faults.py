"""Fault-injection matrix of s390x.kvm.migrate on the two real libvirt hosts.

One running s390x guest (virtio-blk and virtio-net on CCW, a virtio-net-pci on zPCI attached to a
bridge) goes back and forth between the hosts while each case breaks one phase: the destination's
libvirtd stopped or killed, the migration link cut in its network namespace, the migration aborted
or timed out, the guest not answering an unplug (paused at that moment), DEVICE_REMOVAL_FAILED
(injected: QEMU never reports it on s390x), the replug refused (the bridge missing on the
destination), the run killed in each phase (a real SIGKILL of the module while libvirtd migrates;
elsewhere the run stops at the module's own checkpoints, which is what a kill there leaves behind,
since every state lives in libvirt). After each case the invariants must hold: the guest runs on
exactly one host, is defined on exactly one host, has every device (or the run reported
``degraded``), nothing is left on the other host, and a second run succeeds with every device.

``scripts/fault-matrix.sh`` runs this file and prints the matrix."""

import os
import signal
import subprocess
import sys
import threading
import time

import libvirt
import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import _migration as migration
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops as ops
from ansible_collections.s390x.kvm.plugins.module_utils._migration_journal import Journal
from tests.testbed.fault_matrix import matrix_table
from tests.testbed.playbook import ROOT, run_module
from tests.testbed.pytest_libvirt import (
    SCRIPTS, TestDomains, create_disk, disk_xml, interface_xml, zpci_address)

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(1200)]

BRIDGE = "fmbr0"
CCW_MAC = "52:54:00:5a:39:61"
PCI_MAC = "52:54:00:5a:39:62"
KEYS = ("disk[vda]", "interface[%s]" % CCW_MAC, "interface[%s]" % PCI_MAC)
PCI_KEY = "interface[%s]" % PCI_MAC
SLOW = 2            # MiB/s: a migration of the guest's memory then takes 10 s or more
ROWS = []


def netns(host):
    return "s390xkvm-h%s" % host.name[-1]


def ip(host, *args):
    return subprocess.run(["ip", "-n", netns(host)] + list(args), capture_output=True, text=True)


class Crash(BaseException):
    """Ends an in-process run where a killed Ansible would have stopped (no rollback runs)."""


class Guest:
    def __init__(self, hosts, domains, name, console):
        self.hosts = hosts
        self.domains = domains
        self.name = name
        self.console = console

    def where(self):
        """(hosts it runs on, hosts it is defined on, hosts that know it at all)."""
        active, persistent, known = [], [], []
        for host in self.hosts:
            try:
                dom = host.conn().lookupByName(self.name)
                is_active, is_persistent = dom.isActive(), dom.isPersistent()
            except libvirt.libvirtError:
                continue        # not there (or gone while we looked)
            known.append(host)
            if is_active:
                active.append(host)
            if is_persistent:
                persistent.append(host)
        return active, persistent, known

    def host(self):
        active = self.where()[0]
        assert len(active) == 1, "the guest runs on %s" % [h.name for h in active]
        return active[0]

    def other(self):
        return [h for h in self.hosts if h is not self.host()][0]

    def dom(self, host=None):
        return (host or self.host()).conn().lookupByName(self.name)

    def params(self, dst, src=None, **overrides):
        src = src or self.host()
        params = dict((k, v.get("default")) for k, v in migration.ARGUMENT_SPEC.items())
        params.update(name=self.name, uri=src.uri, dest_uri=dst.uri, migrate_uri=dst.migration_uri,
                      listen_address=dst.migration_address, unsafe=True, wait_timeout=20)
        params.update(overrides)
        return params

    def migrate(self, dst, src=None, **overrides):
        """The real module, in its own process, as Ansible runs it (from ``src``, by default where it runs)."""
        return run_module("migrate", **self.params(dst, src, **overrides))


def invariants(guest, all_devices=True, journal=False):
    """{invariant: bool}: runs and defined on exactly one host, nothing on the other, every device
    there, the journal gone (or kept, when ``journal``), the guest never restarted."""
    active, persistent, known = guest.where()
    out = {"runs_on_one_host": len(active) == 1, "defined_on_one_host": len(persistent) == 1
           and persistent == active, "nothing_left_behind": known == active}
    if len(active) == 1:
        dom = guest.dom(active[0])
        live = ops.xml_of(dom)
        have = [k for k in KEYS if ops.find_device(live, k) is not None]
        duplicates = [k for k in KEYS if sum(1 for d in ops.devices(live) if ops.domain_xml.device_key(d) == k) > 1]
        out["every_device" if all_devices else "devices_as_reported"] = (
            (have == list(KEYS)) if all_devices else bool(have)) and not duplicates
        out["journal_as_expected"] = (Journal.load(dom) is not None) == journal
    out["not_restarted"] = len(guest.console.records(kind="BOOT")) == 1
    return out


@pytest.fixture(scope="module")
def guest(libvirt_hosts, s390x_guest_image, testbed_workdir, testbed_results):
    for host in libvirt_hosts:
        ip(host, "link", "del", BRIDGE)
        assert ip(host, "link", "add", BRIDGE, "type", "bridge").returncode == 0
        ip(host, "link", "set", BRIDGE, "up")
    domains = TestDomains(libvirt_hosts, s390x_guest_image, testbed_workdir)
    disk = create_disk(os.path.join(testbed_workdir, "tb-faults-vda.qcow2"))
    pci_nic = ("<interface type='bridge'><mac address='%s'/><source bridge='%s'/><model type='virtio'/>"
               "<rom enabled='no'/>%s</interface>" % (PCI_MAC, BRIDGE, zpci_address(5, 10)))
    dom, console, _ = domains.start(libvirt_hosts["kvmhost1"], "tb-faults", disks=[disk_xml(disk, "vda", devno=1)],
                                    interfaces=[interface_xml(CCW_MAC, devno=2), pci_nic], balloon_devno=3,
                                    cmdline_extra="tb.heartbeat=1")
    console.wait("READY", timeout=240)
    yield Guest(libvirt_hosts, domains, dom.name(), console)
    domains.cleanup()
    for host in libvirt_hosts:
        ip(host, "link", "del", BRIDGE)
    if ROWS:
        testbed_results["fault_matrix"] = list(ROWS)
        print("\n" + matrix_table(ROWS))


def record(phase, fault, how, result, after_fault, after_rerun, started):
    row = {"phase": phase, "fault": fault, "how": how, "outcome": result.get("outcome") if result else None,
           "failed": bool(result and result.get("failed")), "after_fault": after_fault, "after_rerun": after_rerun,
           "invariants_hold": all(after_fault.values()), "second_run_ok": all(after_rerun.values()),
           "seconds": round(time.monotonic() - started, 1)}
    ROWS.append(row)
    print("\n%s" % matrix_table([row]))
    assert row["invariants_hold"], after_fault
    assert row["second_run_ok"], after_rerun


def rerun(guest, src, dst):
    """The second run, the same task again (from ``src`` to ``dst``): it must succeed, leaving the
    guest on ``dst`` with every device."""
    result = guest.migrate(dst, src)
    ok = not result.get("failed") and result["outcome"] in ("migrated", "already_there")
    checks = invariants(guest)
    checks["second_run_succeeded"] = ok and guest.host() is dst
    if not ok:
        print("second run: %s" % result.get("msg"))
    return checks


def in_process(guest, dst, crash_at=None, hook=None, **overrides):
    """Run the state machine in this process; ``crash_at`` (a checkpoint) stops it there like a
    kill, ``hook(where, job)`` is called at every checkpoint. Returns the result dict."""

    class Job(migration.Migration):
        def checkpoint(self, where):
            if hook:
                hook(where, self)
            if where == crash_at:
                raise Crash(where)

    job = Job(guest.params(dst, **overrides), warn=lambda text: None)
    try:
        return job.run()
    except migration.MigrationFailed as exc:
        return dict(exc.result, failed=True, msg=exc.msg)
    except Crash:
        return {"crashed_at": crash_at, "outcome": "killed"}


def when_migrating(guest, action, delay=1.5):
    """Run ``action()`` ``delay`` seconds after the journal on the current host says the migration started."""
    src = guest.host()
    dom = guest.dom(src)

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                journal = Journal.load(dom)
            except client.LibvirtFailure:
                journal = None
            if journal is not None and journal.phase == "migrate":
                time.sleep(delay)
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def libvirtd_pid(host):
    with open(os.path.join(host.dir, "libvirtd.pid")) as handle:
        return int(handle.read().strip())


def restart_hosts(guest):
    subprocess.run(["bash", os.path.join(SCRIPTS, "up.sh")], check=True, capture_output=True, timeout=300,
                   env=dict(os.environ, TB_STACK=guest.hosts[0].stack))
    for host in guest.hosts:
        host.close()


# ------------------------------------------------------------------------------------ cases

def test_preflight_destination_libvirtd_stopped(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    os.kill(libvirtd_pid(dst), signal.SIGTERM)
    time.sleep(1)
    try:
        result = guest.migrate(dst)
        assert result.get("failed") and "preflight refused" in result["msg"] and "cannot connect" in result["msg"]
        assert result["changed"] is False
    finally:
        restart_hosts(guest)
    record("preflight", "destination libvirtd stopped", "real", result, invariants(guest), rerun(guest, src, dst),
           started)


def test_preflight_device_map_names_nothing(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    result = guest.migrate(dst, device_map={"0.0.0100": "0.0.0200"})
    assert result.get("failed") and "'0.0.0100' names no pass-through device" in result["msg"]
    record("preflight", "device_map names no device of the guest", "real", result, invariants(guest),
           rerun(guest, src, dst), started)


def test_unplug_guest_does_not_acknowledge(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    dom = guest.dom(src)

    def pause_the_guest(where, _job):
        if where == "unplug:requesting":
            dom.suspend()       # a guest that cannot answer at the moment of the request

    result = in_process(guest, dst, hook=pause_the_guest, wait_timeout=3)
    assert result.get("failed") and "did not acknowledge the removal of %s within 3 s" % PCI_KEY in result["msg"]
    assert "still pending" in result["msg"]
    after = invariants(guest, all_devices=True, journal=True)     # paused: the device is still there
    dom.resume()
    # the guest answers now: the device leaves; the journal knows it was asked to go
    gone, _ = ops.waiter.wait_until(lambda: ops.find_device(ops.xml_of(dom), PCI_KEY) is None, 30)
    assert gone
    record("unplug", "guest does not acknowledge (paused at the request)", "real", result, after,
           rerun(guest, src, dst), started)


def test_unplug_removal_failed(guest, monkeypatch):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()

    def refused(conn, dom, device, timeout):
        raise ops.DeviceWaitFailure("the guest refused to release %s (libvirt: DEVICE_REMOVAL_FAILED)"
                                    % ops.domain_xml.device_key(device), "removal_failed",
                                    ops.domain_xml.device_key(device))

    monkeypatch.setattr(ops, "detach_live", refused)
    result = in_process(guest, dst)
    monkeypatch.undo()
    assert result.get("failed") and result["outcome"] == "rolled_back" and "refused to release" in result["msg"]
    record("unplug", "DEVICE_REMOVAL_FAILED", "injected", result, invariants(guest), rerun(guest, src, dst), started)


def test_migrate_link_cut_then_timeout_abort(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    veth = "tbveth%s" % src.name[-1]
    watcher = when_migrating(guest, lambda: ip(src, "link", "set", veth, "down"))
    try:
        result = guest.migrate(dst, bandwidth=SLOW, timeout=6, timeout_action="abort")
    finally:
        watcher.join(5)
        ip(src, "link", "set", veth, "up")
    assert result.get("failed") and result["outcome"] == "rolled_back", result.get("msg")
    assert "timeout_action abort" in result["msg"]
    record("migrate", "migration link cut (veth down), timeout -> abort", "real", result, invariants(guest),
           rerun(guest, src, dst), started)


def test_migrate_aborted_by_the_operator(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    dom = guest.dom()
    watcher = when_migrating(guest, dom.abortJob)
    result = guest.migrate(dst, bandwidth=SLOW)
    watcher.join(5)
    assert result.get("failed") and result["outcome"] == "rolled_back", result.get("msg")
    record("migrate", "virsh domjobabort during the migration", "real", result, invariants(guest),
           rerun(guest, src, dst), started)


def test_migrate_timeout_suspend_completes(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    result = guest.migrate(dst, bandwidth=SLOW, timeout=3, timeout_action="suspend")
    assert not result.get("failed"), result.get("msg")
    assert result["outcome"] == "migrated" and result["job"]["timeout_action"] == "suspend"
    assert guest.dom(dst).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    record("migrate", "too slow, timeout -> suspend (completes paused)", "real", result, invariants(guest),
           rerun(guest, src, dst), started)


def test_migrate_destination_libvirtd_killed(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    watcher = when_migrating(guest, lambda: os.kill(libvirtd_pid(dst), signal.SIGKILL))
    try:
        result = guest.migrate(dst, bandwidth=SLOW)
    finally:
        watcher.join(5)
        restart_hosts(guest)
    assert result.get("failed") and result["outcome"] == "rolled_back", result.get("msg")
    # the restarted daemon finds the half-received guest and cleans it up
    ops.waiter.wait_until(lambda: guest.where()[2] == guest.where()[0], 30)
    record("migrate", "destination libvirtd killed mid-migration", "real", result, invariants(guest),
           rerun(guest, src, dst), started)


def test_replug_refused_on_the_destination(guest):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    ip(dst, "link", "del", BRIDGE)
    try:
        result = guest.migrate(dst)
        assert result.get("failed") and result["outcome"] == "degraded", result.get("msg")
        assert "runs on %s without %s" % (dst.uri, PCI_KEY) in result["msg"]
        after = invariants(guest, all_devices=False, journal=True)
        after["runs_on_destination"] = guest.host() is dst
    finally:
        ip(dst, "link", "add", BRIDGE, "type", "bridge")
        ip(dst, "link", "set", BRIDGE, "up")
    record("replug", "replug refused (bridge missing on the destination)", "real", result, after,
           rerun(guest, src, dst), started)


@pytest.mark.parametrize("where", ["unplug:requesting", "unplug:confirmed", "migrate:starting",
                                   "replug:requesting", "replug:confirmed"])
def test_killed_at_a_checkpoint_then_rerun(guest, where):
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    result = in_process(guest, dst, crash_at=where)
    assert result == {"crashed_at": where, "outcome": "killed"}
    after = invariants(guest, all_devices=where.startswith("unplug:requesting"), journal=True)
    record(where.split(":")[0], "run killed at %s" % where, "crash", result, after, rerun(guest, src, dst), started)


def test_killed_while_libvirtd_migrates(guest):
    """A real SIGKILL of the module's process during a peer-to-peer migration: libvirtd finishes
    it alone; the re-run waits for it and plugs the zPCI device in on the destination."""
    started = time.monotonic()
    src, dst = guest.host(), guest.other()
    dom = guest.dom()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("ANSIBLE_COLLECTIONS_PATH", ""),
                                                    env.get("PYTHONPATH", "")) if p)
    import json
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": guest.params(dst, bandwidth=SLOW)})
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "plugins", "modules", "migrate.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdin.write(payload.encode())
    proc.stdin.close()
    killed = threading.Event()

    def kill():
        proc.kill()
        killed.set()
        dom.migrateSetMaxSpeed(8192, 0)        # the operator lets it finish faster

    watcher = when_migrating(guest, kill, delay=1.0)
    proc.wait(120)
    watcher.join(5)
    assert killed.is_set(), "the module finished before it could be killed"
    # libvirtd goes on alone; once it is done the guest runs on one host, the journal says what to plug in
    def settled():
        active = guest.where()[0]
        try:
            return len(active) == 1 and not migration._job_running(guest.dom(active[0]))
        except libvirt.libvirtError:
            return False

    assert ops.waiter.wait_until(settled, 120, interval=0.5)[0], "libvirtd did not finish the migration alone"
    after = invariants(guest, all_devices=False, journal=True)
    result = {"outcome": "killed"}
    record("migrate", "module process killed (SIGKILL) mid-migration", "real", result, after,
           rerun(guest, src, dst), started)
