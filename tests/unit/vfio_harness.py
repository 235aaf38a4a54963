"""Run a collection module's ``main()`` in this process against a :class:`SimulatedKernel`.

``run_module_inprocess("vfio_ccw", {"devices": ["0.0.0105"]}, sim)`` patches the module's
``open_host`` (``ansible_collections.s390x.kvm.plugins.modules.<name>.open_host``) to return
the simulator, passes the arguments with ansible-core's ``patch_module_args`` (2.19; older
releases: ``ansible.module_utils.basic._ANSIBLE_ARGS``) and returns ``(exit code, result)``
from the JSON the module prints and the ``SystemExit`` it raises.
"""

import contextlib
import importlib
import io
import json
import os
from unittest import mock

import pytest

from ansible.module_utils import basic

from tests.unit.helpers import HOSTS

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    patch_module_args = None


@contextlib.contextmanager
def _module_args(args):
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
        yield


def _reset_warnings():
    """AnsibleModule keeps warnings/deprecations in module-level state; start each run clean."""
    from ansible.module_utils.common import warnings as _warnings
    for name in ("_global_warnings", "_global_deprecations"):
        store = getattr(_warnings, name, None)
        if hasattr(store, "clear"):
            store.clear()


def run_module_inprocess(module_name, args, sim, check_mode=False, diff=False):
    """Run ``plugins/modules/<module_name>.py`` main() with ``args`` on ``sim``; (rc, result)."""
    mod = importlib.import_module("ansible_collections.s390x.kvm.plugins.modules." + module_name)
    args = dict(args)
    args.setdefault("host_root", sim.root)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    _reset_warnings()
    out = io.StringIO()
    code = 0
    with _module_args(args), mock.patch.object(mod, "open_host", lambda module: sim), contextlib.redirect_stdout(out):
        try:
            mod.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    text = out.getvalue().strip()
    try:
        result = json.loads(text.splitlines()[-1]) if text else {}
    except ValueError:
        raise AssertionError("module %s printed no JSON: %r" % (module_name, text))
    return code, result


def tree_snapshot(root, exclude=("run/",)):
    """{relative path: ("f", content, mode) | ("l", target) | ("d",)} of a host tree, to compare
    a tree before and after a sequence; paths starting with one of ``exclude`` are left out
    (locks under run/), and so are empty directories outside sys/ (persistence dirs)."""
    import os
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for name in list(dirnames):
            rel = rel_dir + name
            full = os.path.join(dirpath, name)
            if any(rel.startswith(e.rstrip("/")) for e in exclude):
                dirnames.remove(name)
                continue
            if os.path.islink(full):
                snap[rel] = ("l", os.readlink(full))
                dirnames.remove(name)
            elif rel.startswith("sys/") or os.listdir(full):
                snap[rel] = ("d",)
        for name in filenames:
            rel = rel_dir + name
            full = os.path.join(dirpath, name)
            if any(rel.startswith(e) for e in exclude):
                continue
            if os.path.islink(full):
                snap[rel] = ("l", os.readlink(full))
            else:
                st = os.stat(full)
                if st.st_size > 65536:   # sparse /dev nodes: size and the first sectors
                    with open(full, "rb") as handle:
                        snap[rel] = ("f", st.st_size, handle.read(8192), st.st_mode)
                else:
                    with open(full, "rb") as handle:
                        snap[rel] = ("f", handle.read(), st.st_mode)
    return snap


def snapshot_diff(before, after):
    """Readable difference of two tree snapshots ([] when equal)."""
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out.append("%s: %r -> %r" % (key, (before.get(key) or ("missing",))[:2], (after.get(key) or ("missing",))[:2]))
    return out


SMALL = os.path.join(HOSTS, "small_kvm_host.yml")


def simulated(description):
    """A fixture: the host ``description`` under the kernel simulator, reactions at once."""
    @pytest.fixture
    def fixture(tmp_path):
        from tests.fixtures.kernel_sim import sim_host
        sim = sim_host(description, tmp_path / "host", delay=0)
        yield sim
        sim.close()
    return fixture


small_sim = simulated(SMALL)


def module_runner(module_name):
    """``run(sim, check=False, **args)`` for one module, with diff on (what Ansible does with --diff)."""
    def run(sim, check=False, **args):
        return run_module_inprocess(module_name, args, sim, check_mode=check, diff=True)
    return run
