# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: writes every task result of a playbook run as one JSON line to the file named by
S390X_KVM_RECORD (ansible-core 2.19 no longer ships a JSON stdout callback)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: Record task results as JSON lines (s390x.kvm integration tests)
description:
  - Appends one JSON object per task result (task name, host, status, result) to the file named by
    the environment variable C(S390X_KVM_RECORD); a loop's items too (status C(item_ok), C(item_failed),
    C(item_skipped)) beside the loop's result. The first line says which controller ran the playbook
    (status C(controller), with the ansible-core and Python versions).
"""

import json
import os
import platform

from ansible import __version__ as ansible_version
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get("S390X_KVM_RECORD")
        if not path:
            return
        record = {"task": result.task_name, "host": result.host.get_name(), "status": status,
                  "result": result.result}
        with open(path, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_playbook_on_start(self, playbook):
        path = os.environ.get("S390X_KVM_RECORD")
        if path:
            with open(path, "a") as handle:
                handle.write(json.dumps({"task": "", "host": "", "status": "controller",
                                         "result": {"ansible": ansible_version,
                                                    "python": platform.python_version()}}) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")

    def v2_runner_item_on_ok(self, result):
        self._write(result, "item_ok")

    def v2_runner_item_on_failed(self, result):
        self._write(result, "item_failed")

    def v2_runner_item_on_skipped(self, result):
        self._write(result, "item_skipped")
