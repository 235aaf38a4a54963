"""Helpers shared by the unit tests: private fixture trees, running guests, tree snapshots and
refused module runs. Test modules import these from here, never from each other."""

import os

from tests.fixtures.sysfs_builder import build_host

HOSTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "hosts")

RUNNING_GUEST = """<domstatus state='running' reason='booted' pid='4242'>
  <domain type='kvm' id='3'>
    <name>{name}</name>
    <devices>
      {devices}
    </devices>
  </domain>
</domstatus>
"""


def private_host(name, tmp_path):
    """A private tree of a fixture host, so tests can add guests to it. (Built, not copied:
    /dev nodes are sparse files of the devices' real sizes, which a copy would fill in.)"""
    return str(build_host(os.path.join(HOSTS, name + ".yml"), tmp_path / "host"))


def add_running_guest(root, name, devices):
    """Write the libvirt status file (/run/libvirt/qemu/<name>.xml) of a running guest whose
    <devices> element holds ``devices``."""
    path = os.path.join(root, "run/libvirt/qemu")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name + ".xml"), "w") as handle:
        handle.write(RUNNING_GUEST.format(name=name, devices=devices))


def snapshot(root):
    """{path: (size, mtime_ns, mode)} of every file under ``root``: cheap proof that nothing was
    written (see vfio_harness.tree_snapshot for a content snapshot)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            state[path] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def refused(run_module, module, root, fragments, **args):
    """Run ``module`` on ``root``; assert it failed, that its message holds every fragment and
    that the tree is unchanged; return the result."""
    before = snapshot(root)
    rc, res = run_module(module, host_root=root, **args)
    assert rc != 0 and res.get("failed"), res
    for fragment in fragments:
        assert fragment in res["msg"], res["msg"]
    assert snapshot(root) == before, "a refused run changed the tree"
    return res
