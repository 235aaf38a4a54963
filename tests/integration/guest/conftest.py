"""Fixtures of the guest role's integration tests: a private work directory under the test bed's
image directory (same path on both libvirt hosts), a Linux bridge and a veth pair (the lower
device of macvtap: this kernel has no dummy driver) inside kvmhost1's network namespace, and a
helper that runs ansible-playbook against an inventory written by the test."""

import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.testbed.playbook import Run
from tests.testbed.prereq import prerequisite

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TB_CACHE = os.path.join(os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"), "testbed")
WORKDIR = os.path.join(TB_CACHE, "libvirt", "images", "guest-role")
NETNS = "s390xkvm-h1"          # kvmhost1's network namespace (tests/testbed/libvirt/common.sh)
BRIDGE = "gxbr0"
VETH = ("gxv0", "gxv1")
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


def _ip(*args):
    return subprocess.run(["ip", "-n", NETNS] + list(args), capture_output=True, text=True)


@pytest.fixture(scope="module")
def guest_workdir():
    shutil.rmtree(WORKDIR, ignore_errors=True)
    os.makedirs(WORKDIR)
    return WORKDIR


@pytest.fixture(scope="module")
def guest_net(libvirt_hosts):
    """A bridge and a veth pair in kvmhost1's namespace (removed afterwards)."""
    for name, kind in ((BRIDGE, ["type", "bridge"]), (VETH[0], ["type", "veth", "peer", "name", VETH[1]])):
        _ip("link", "del", name)
        result = _ip("link", "add", name, *kind)
        prerequisite(result.returncode == 0, "cannot create %s %s in %s: %s" % (kind[1], name, NETNS, result.stderr))
    for name in (BRIDGE,) + VETH:
        _ip("link", "set", name, "up")
    yield {"bridge": BRIDGE, "macvtap_lower": VETH[0]}
    for name in (BRIDGE, VETH[0]):
        _ip("link", "del", name)


class Playbook:
    """ansible-playbook runs against an inventory of kvmhost1 (connection local)."""

    def __init__(self, workdir, uri):
        self.workdir = workdir
        self.uri = uri
        self.runs = []

    def inventory(self, guests, **host_vars):
        host = {"ansible_connection": "local", "ansible_python_interpreter": shutil.which("python") or "python3",
                "guest_uri": self.uri, "kvm_guests": guests}
        host.update(host_vars)
        path = os.path.join(self.workdir, "inventory-%d.yml" % len(self.runs))
        with open(path, "w") as handle:
            yaml.safe_dump({"all": {"children": {"kvm_hosts": {"hosts": {"kvmhost1": host}}}}}, handle)
        return path

    def run(self, guests, *args, **host_vars):
        """Run deploy_guests.yml; returns a Run (rc, text, records, changed, seconds)."""
        exe = shutil.which("ansible-playbook")
        prerequisite(exe is not None, "ansible-playbook is not on PATH (source scripts/lib.sh; base_setup)")
        record = os.path.join(self.workdir, "record-%d.jsonl" % len(self.runs))
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "testbed", "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="record_results", S390X_KVM_RECORD=record)
        cmd = [exe, "-i", self.inventory(guests, **host_vars),
               os.path.join(ROOT, "playbooks", "deploy_guests.yml")] + list(args)
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        seconds = time.monotonic() - started
        self.runs.append((cmd, proc.returncode, seconds))
        records = []
        if os.path.exists(record):
            with open(record) as handle:
                records = [json.loads(line) for line in handle if line.strip()]
        return Run(proc.returncode, proc.stdout + proc.stderr, records, seconds)


@pytest.fixture(scope="module")
def playbook(libvirt_hosts, guest_workdir):
    return Playbook(guest_workdir, libvirt_hosts["kvmhost1"].uri)

