"""Running ansible-playbook from tests, with every task result recorded as a JSON line
(``callback_plugins/record_results.py``). Shared by the guest-role, migration and demo tests."""

import json
import os
import shutil
import subprocess
import sys
import time

from tests.testbed.prereq import prerequisite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLBACKS = os.path.join(ROOT, "tests", "testbed", "callback_plugins")
LIBVIRT_INVENTORY = os.path.join(ROOT, "tests", "testbed", "libvirt", "inventory.yml")


class Run:
    """One ansible-playbook run: rc, text (stdout + stderr), records (one per task result), seconds."""

    def __init__(self, rc, text, records, seconds):
        self.rc = rc
        self.text = text
        self.records = records
        self.seconds = seconds

    @property
    def changed(self):
        return sum(1 for r in self.records if r["status"] == "ok" and r["result"].get("changed"))

    def _found(self, name_part, host=None):
        """Results of the tasks whose name contains ``name_part``: a loop's per-item results (as a
        task without a loop gives its one result), else each task's; skipped ones left out."""
        records = [r for r in self.records if name_part in r["task"] and (host is None or r["host"] == host)]
        items = [r for r in records if r["status"] in ("item_ok", "item_failed")]
        return [r["result"] for r in (items or records) if r["status"] not in ("skipped", "item_skipped")]

    def controller(self):
        """The ansible-core and Python versions that ran the playbook ({"ansible": ..., "python": ...})."""
        found = [r["result"] for r in self.records if r["status"] == "controller"]
        assert found, "no controller record:\n%s" % self.text[-3000:]
        return found[0]

    def results(self, name_part):
        return self._found(name_part)

    def result(self, name_part, host=None):
        """The one result of the task whose name contains ``name_part`` (on ``host``)."""
        found = self._found(name_part, host)
        assert len(found) == 1, "%d results for task %r%s:\n%s" % (
            len(found), name_part, " on %s" % host if host else "", self.text[-3000:])
        return found[0]

    def failures(self):
        msgs = []
        for r in self.records:
            if r["status"] in ("failed", "item_failed"):
                msgs.append(r["result"].get("msg", ""))
                msgs.extend(i.get("msg", "") for i in r["result"].get("results", []) if i.get("failed"))
        return msgs or [self.text[-3000:]]


CONTROLLERS = ("baseline", "current")


def ansible_command(tool, controller=None):
    """The argv that runs an Ansible command-line tool (``ansible-playbook``, ``ansible``, ...) on a
    controller: ``baseline`` (ansible-core 2.19 on Python 3.11, the venv on PATH) or ``current`` (the
    newest ansible-core on Python 3.13, ``scripts/current.sh``). The default is S390X_KVM_CONTROLLER's,
    else the baseline; scripts/integration.sh runs the Debian 13 lane on the current one."""
    controller = controller or os.environ.get("S390X_KVM_CONTROLLER") or "baseline"
    if controller not in CONTROLLERS:
        raise ValueError("S390X_KVM_CONTROLLER=%s: allowed are %s" % (controller, ", ".join(CONTROLLERS)))
    if controller == "current":
        return ["bash", os.path.join(ROOT, "scripts", "current.sh"), "run", tool]
    exe = shutil.which(tool)
    prerequisite(exe is not None, "%s is not on PATH (source scripts/lib.sh; base_setup)" % tool)
    return [exe]


def recorded_env(record, env=None):
    """The environment of a recorded run: every task result goes to ``record`` as a JSON line."""
    run_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="record_results",
                   S390X_KVM_RECORD=record, ANSIBLE_DEPRECATION_WARNINGS="0")
    run_env.update(env or {})
    return run_env


def run_playbook(playbook, inventory, record, extra_vars=None, options=(), timeout=900, env=None, controller=None):
    """Run ``ansible-playbook -i INVENTORY PLAYBOOK`` (a path or a collection playbook name such as
    ``s390x.kvm.migrate``) on ``controller`` (see ansible_command); ``record`` is the JSON-lines file
    the results go to (truncated first)."""
    if os.path.exists(record):
        os.unlink(record)
    cmd = ansible_command("ansible-playbook", controller) + ["-i", inventory, playbook] + list(options)
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=recorded_env(record, env), timeout=timeout, cwd=ROOT)
    seconds = time.monotonic() - started
    records = []
    if os.path.exists(record):
        with open(record) as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    return Run(proc.returncode, proc.stdout + proc.stderr, records, seconds)


def run_module(module_name, check=False, diff=True, run_timeout=300, **args):
    """Run a module of this collection as Ansible would (JSON arguments on stdin); its result dict."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=diff)}
    env = dict(os.environ)
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (collections, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "plugins", "modules", module_name + ".py")],
                          input=json.dumps(payload), capture_output=True, text=True, env=env, timeout=run_timeout)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("%s did not return JSON: %s %s" % (module_name, proc.stdout, proc.stderr))
