"""Fixtures of the guest role's integration tests: a private work directory under the test bed's
image directory (same path on both libvirt hosts), a Linux bridge and a veth pair (the lower
device of macvtap: this kernel has no dummy driver) inside kvmhost1's network namespace, and a
helper that runs ansible-playbook against an inventory written by the test."""

import os
import shutil
import subprocess

import pytest
import yaml

from tests.testbed.playbook import run_playbook
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
        # The controller's own Python runs the modules (local connection), whichever controller it is.
        host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "guest_uri": self.uri, "kvm_guests": guests}
        host.update(host_vars)
        path = os.path.join(self.workdir, "inventory-%d.yml" % len(self.runs))
        with open(path, "w") as handle:
            yaml.safe_dump({"all": {"children": {"kvm_hosts": {"hosts": {"kvmhost1": host}}}}}, handle)
        return path

    def run(self, guests, *args, env=None, **host_vars):
        """Run deploy_guests.yml; returns a Run (rc, text, records, changed, seconds)."""
        record = os.path.join(self.workdir, "record-%d.jsonl" % len(self.runs))
        run = run_playbook(os.path.join(ROOT, "playbooks", "deploy_guests.yml"), self.inventory(guests, **host_vars),
                           record, options=args, timeout=600, env=env)
        self.runs.append((args, run.rc, run.seconds))
        return run


@pytest.fixture(scope="module")
def playbook(libvirt_hosts, guest_workdir):
    return Playbook(guest_workdir, libvirt_hosts["kvmhost1"].uri)

