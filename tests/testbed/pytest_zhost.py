"""pytest plugin: the emulated IBM Z host of the test bed (tests/testbed/zhost).

Registered by ``tests/conftest.py``. Fixture:

``zhost`` (session)
    Brings the host up with ``tests/testbed/zhost/up.sh`` (minutes when nothing is cached, ~15 s
    warm) and yields a :class:`ZHost`: ``inventory`` (path), ``port``, ``devices`` (what QEMU was
    configured with: ``{"ccw": [...], "zpci": [...]}``), ``ssh(cmd)``, ``read_sysfs(path)``,
    ``sysfs_tree(paths)``, ``module(name, **args)`` (an ad-hoc Ansible module run, parsed
    result) and ``ansible(name, args)``. Stopped at the end of the session only if this session
    started it and ``S390X_KVM_KEEP_TESTBED`` is unset.

Tests using it are marked ``@pytest.mark.zhost``.
"""

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.testbed.playbook import ansible_command
from tests.testbed.prereq import prerequisite
from tests.testbed.sharing import last_out, take_down_if_started

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZHOST_SCRIPTS = os.path.join(ROOT, "tests", "testbed", "zhost")
TB_CACHE = os.path.join(os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"), "testbed")
ZHOST_DIR = os.path.join(TB_CACHE, "zhost")
HOSTKEY_ALIAS = "s390x-kvm-zhost"     # as in tests/testbed/zhost/common.sh
USERS_LOCK = os.path.join(TB_CACHE, ".zhost-users.lock")
START_LOCK = os.path.join(TB_CACHE, ".zhost-start.lock")          # one up.sh at a time
STARTED_MARK = os.path.join(TB_CACHE, ".zhost-started-by-pytest")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "zhost: needs the emulated IBM Z host of the test bed (tests/testbed/zhost, qemu-system-s390x)")


# Runs on the host with its own python3: {path: content | "-> target" | {"dir": [...]} | None}.
_SYSFS_READER = r"""
import glob, json, os, sys
out = {}
for pattern in sys.argv[1:]:
    for p in sorted(glob.glob(pattern)) or ([pattern] if os.path.lexists(pattern) else []):
        if os.path.islink(p) and not os.path.isfile(p):
            out[p] = "-> " + os.readlink(p)
        elif os.path.isdir(p):
            out[p] = {"dir": sorted(os.listdir(p))}
        else:
            try:
                with open(p, "rb") as f:
                    v = f.read().decode("utf-8", "replace")
                out[p] = v[:-1] if v.endswith("\n") else v
            except OSError:
                out[p] = None
json.dump(out, sys.stdout)
"""


class ZHost:
    """Handle on the running emulated Z host."""

    def __init__(self, directory=ZHOST_DIR):
        self.dir = directory
        self.inventory = os.path.join(directory, "inventory.yml")
        self.run_dir = os.path.join(directory, "run")
        self.console_log = os.path.join(self.run_dir, "console.log")
        with open(os.path.join(self.run_dir, "port")) as f:
            self.port = int(f.read().strip())
        with open(os.path.join(self.run_dir, "devices.json")) as f:
            self.devices = json.load(f)
        self.key = os.path.join(directory, "ssh", "id_ed25519")
        self.known_hosts = os.path.join(directory, "ssh", "known_hosts")

    # ------------------------------------------------------------------ ssh
    def ssh_argv(self):
        return ["ssh", "-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "HostKeyAlias=" + HOSTKEY_ALIAS, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
                # one multiplexed connection: every new ssh handshake costs ~1 s under TCG
                "-o", "ControlMaster=auto", "-o", "ControlPath=" + os.path.join(self.run_dir, "ssh-mux-%C"),
                "-o", "ControlPersist=120", "-p", str(self.port), "root@127.0.0.1"]

    def ssh(self, cmd, check=False, timeout=120, input=None):
        """Run a shell command on the host as root; a CompletedProcess with text output."""
        proc = subprocess.run(self.ssh_argv() + [cmd], capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError("zhost: %r failed (rc %d): %s%s" % (cmd, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def read_sysfs(self, path):
        """Content of one file on the host, trailing newline stripped; None if it cannot be read."""
        proc = self.ssh("cat %s" % shlex.quote(path))
        if proc.returncode != 0:
            return None
        return proc.stdout[:-1] if proc.stdout.endswith("\n") else proc.stdout

    def sysfs_tree(self, *globs):
        """Read many sysfs entries in one ssh round trip (under TCG every round trip costs).

        Each glob is expanded on the host. Returns {path: value}: a file's content (trailing
        newline stripped), ``"-> TARGET"`` for a symlink (``readlink``), ``{"dir": [names]}`` for
        a directory, None when unreadable."""
        proc = self.ssh("python3 - " + " ".join(shlex.quote(g) for g in globs), check=True, input=_SYSFS_READER)
        return json.loads(proc.stdout)

    # ------------------------------------------------------------------ ansible
    def ansible(self, module, args=None, timeout=300, check=True, options=(), controller=None):
        """Run ``ansible -i INV zhost -m MODULE -a ARGS [OPTIONS]`` on ``controller`` (see
        tests/testbed/playbook.py ansible_command); returns the host's result dict. ``options`` are
        extra command-line options such as ``("--check", "--diff")``."""
        tree = tempfile.mkdtemp(prefix="zhost-ansible-")
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                   ANSIBLE_CALLBACK_TREE_DIR=tree, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
                   ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_HOST_KEY_CHECKING="1", ANSIBLE_NOCOLOR="1")
        argv = ansible_command("ansible", controller) + ["-i", self.inventory, "zhost", "-m", module] + list(options)
        if args:
            argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
            path = os.path.join(tree, "zhost")
            if not os.path.exists(path):
                raise AssertionError("ansible produced no result (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
            with open(path) as f:
                result = json.load(f)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        if check and (result.get("failed") or result.get("unreachable")):
            raise AssertionError("%s failed on zhost: %s" % (module, json.dumps(result, indent=1)[:4000]))
        return result

    def module(self, name, **args):
        """``ansible(name, args)`` with keyword arguments; the module's parsed result."""
        return self.ansible(name, args or None)


def _up():
    proc = subprocess.run(["bash", os.path.join(ZHOST_SCRIPTS, "up.sh")], capture_output=True, text=True,
                          timeout=1800)
    return proc


def _running():
    proc = subprocess.run(["bash", os.path.join(ZHOST_SCRIPTS, "status.sh")], capture_output=True, text=True,
                          timeout=120)
    return proc.returncode == 0


@pytest.fixture(scope="session")
def zhost():
    prerequisite(os.geteuid() == 0, "the emulated Z host needs root (netns, tap, apt)")
    if not os.path.exists("/dev/net/tun"):
        # a fresh machine may not have loaded it yet (up.sh's dev_ensure does the same)
        subprocess.run(["modprobe", "tun"], capture_output=True, check=False)
    prerequisite(os.path.exists("/dev/net/tun"),
                 "no /dev/net/tun and 'modprobe tun' did not provide it (the Z host's network is a tap device)")
    os.makedirs(TB_CACHE, exist_ok=True)
    users = open(USERS_LOCK, "a")
    fcntl.flock(users, fcntl.LOCK_SH)
    try:
        with open(START_LOCK, "a") as start:
            fcntl.flock(start, fcntl.LOCK_EX)
            was_running = _running()
            t0 = time.monotonic()
            proc = _up()
            took = time.monotonic() - t0
            if proc.returncode == 0 and not was_running:
                open(STARTED_MARK, "w").close()
        if proc.returncode != 0:
            pytest.fail("tests/testbed/zhost/up.sh failed (rc %d) after %.0f s:\n%s\n%s"
                        % (proc.returncode, took, proc.stdout[-3000:], proc.stderr[-6000:]), pytrace=False)
        print("\nzhost: up.sh took %.1f s (%s)" % (took, "was running" if was_running else "started"))
        yield ZHost()
    finally:
        _down_if_last(users)
        users.close()


def _down_if_last(users):
    """The last session out stops the host, if a session started it."""
    if last_out(users):
        take_down_if_started(STARTED_MARK, lambda: subprocess.run(
            ["bash", os.path.join(ZHOST_SCRIPTS, "down.sh")], capture_output=True, timeout=120))
