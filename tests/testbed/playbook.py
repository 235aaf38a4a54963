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


def run_playbook(playbook, inventory, record, extra_vars=None, options=(), timeout=900, env=None):
    """Run ``ansible-playbook -i INVENTORY PLAYBOOK`` (a path or a collection playbook name such as
    ``s390x.kvm.migrate``); ``record`` is the JSON-lines file the results go to (truncated first)."""
    exe = shutil.which("ansible-playbook")
    prerequisite(exe is not None, "ansible-playbook is not on PATH (source scripts/lib.sh; base_setup)")
    if os.path.exists(record):
        os.unlink(record)
    run_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="record_results",
                   S390X_KVM_RECORD=record, ANSIBLE_DEPRECATION_WARNINGS="0")
    run_env.update(env or {})
    cmd = [exe, "-i", inventory, playbook] + list(options)
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=timeout, cwd=ROOT)
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
