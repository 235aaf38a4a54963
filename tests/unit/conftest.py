"""Fixtures for unit tests: fixture host trees and running modules as Ansible runs them."""

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures.sysfs_builder import build_host
from tests.unit.helpers import HOSTS


@pytest.fixture(scope="session")
def host_tree(tmp_path_factory):
    """Build (once per session) the named fixture host and return its root path as str."""
    built = {}

    def build(name):
        if name not in built:
            dest = tmp_path_factory.mktemp(name)
            built[name] = str(build_host(os.path.join(HOSTS, name + ".yml"), dest, force=True))
        return built[name]
    return build


def _collections_path():
    """The directory holding ansible_collections/ (where this checkout is installed)."""
    import ansible_collections.s390x.kvm.plugins.module_utils.bus_id as probe
    return probe.__file__.split(os.sep + "ansible_collections" + os.sep, maxsplit=1)[0]


@pytest.fixture(scope="session")
def run_module(tmp_path_factory):
    """Run a module of this collection in a new interpreter with an arguments file, as AnsiballZ
    does on a host; returns (exit code, parsed JSON result)."""
    workdir = tmp_path_factory.mktemp("module-args")
    env = dict(os.environ, PYTHONPATH=_collections_path())

    def run(name, **args):
        path = workdir / ("%s.json" % name)
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.s390x.kvm.plugins.modules." + name, str(path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        try:
            result = json.loads(proc.stdout.decode())
        except ValueError:
            raise AssertionError("module %s printed no JSON: %s %s" % (name, proc.stdout, proc.stderr))
        return proc.returncode, result
    return run
