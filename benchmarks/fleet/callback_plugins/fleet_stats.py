# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counts for the fleet benchmark, written as JSON to $S390X_KVM_FLEET_STATS at the end of a run:
per host the results it produced (loop items one by one, skipped ones left out: they run no
module; includes, set_fact and assert count, as tasks a user sees) and their JSON size; per task
its wall time (from its first start to its last result); the evacuation plans the run made."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_stats
type: aggregate
short_description: Per-host result counts and per-task times for benchmarks/fleet
description: Writes JSON to the file named by the S390X_KVM_FLEET_STATS environment variable.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet_stats"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.hosts = {}
        self.tasks = {}     # task uuid -> name, first start, last result
        self.plans = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        # The free strategy announces a task once per host: its time runs from the first start
        # to the last result of any host.
        now = time.perf_counter()
        self.tasks.setdefault(task._uuid, {"name": task.get_name(), "start": now, "end": now})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _ended(self, result):
        entry = self.tasks.get(result._task._uuid)
        if entry is not None:
            entry["end"] = time.perf_counter()

    def v2_runner_on_skipped(self, result):
        self._ended(result)

    def v2_runner_on_unreachable(self, result):
        self._ended(result)

    def _count(self, result):
        self._ended(result)
        host = self.hosts.setdefault(result._host.get_name(), {"results": 0, "result_bytes": 0})
        host["results"] += 1
        try:
            host["result_bytes"] += len(json.dumps(result._result, default=str))
        except (TypeError, ValueError):
            pass

    def v2_runner_on_ok(self, result):
        if not result._result.get("results"):     # a loop's items were counted one by one
            self._count(result)
        plan = (result._result.get("ansible_facts") or {}).get("evacuate_plan")
        if plan is not None:                      # the evacuate stage's plan, for its check
            self.plans[result._host.get_name()] = plan

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not result._result.get("results"):
            self._count(result)

    def v2_runner_item_on_ok(self, result):
        self._count(result)

    def v2_runner_item_on_failed(self, result):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        tasks = [{"name": t["name"], "seconds": t["end"] - t["start"]}
                 for t in sorted(self.tasks.values(), key=lambda t: t["start"])]
        with open(os.environ["S390X_KVM_FLEET_STATS"], "w") as out:
            json.dump({"hosts": self.hosts, "tasks": tasks, "evacuate_plans": self.plans}, out)
