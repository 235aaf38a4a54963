# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of s390x.kvm.domain_device: structured ``devices`` (the guest role's entries) are
rendered into device XML here, with the role's own model and templates, against the guest's current
XML (read with s390x.kvm.domain_info); the module on the host then attaches or detaches them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.s390x.kvm.plugins.plugin_utils._device_render import DeviceEntryError, render_devices


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        devices = args.pop("devices", None)
        if devices:
            info = self._execute_module(
                module_name="s390x.kvm.domain_info", task_vars=task_vars,
                module_args={"uri": args.get("uri", "qemu:///system"), "names": [args.get("name")], "xml": True})
            if info.get("failed"):
                result.update(info)
                return result
            if not info.get("domains"):
                result.update(failed=True, msg="domain %s is not defined on %s" % (
                    args.get("name"), args.get("uri", "qemu:///system")))
                return result
            domain = info["domains"][0]
            try:
                args["xml"] = list(args.get("xml") or []) + render_devices(
                    devices, domain["name"], domain["type"] if domain["type"] in ("kvm", "qemu") else "kvm",
                    domain["xml"])
            except DeviceEntryError as exc:
                result.update(failed=True, msg=str(exc))
                return result
        result.update(self._execute_module(module_name="s390x.kvm.domain_device", module_args=args,
                                           task_vars=task_vars))
        return result
