# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option specs and helpers shared by the collection's host modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, HostFS, check_host_root

HOST_ROOT_SPEC = dict(host_root=dict(type="path", default="/"))

NOT_S390X_MSG = ("%s is not an IBM Z (s390x) Linux host: %s does not exist. "
                 "Nothing to discover; the result is empty.")


def open_host(module):
    """HostFS for the module's ``host_root``, or fail_json naming the bad value."""
    error = check_host_root(module.params["host_root"])
    if error:
        module.fail_json(msg=error)
    return HostFS(module.params["host_root"])


def not_s390x(module, fs, marker, **empty):
    """Finish a discovery module on a host that is not s390x (documented behaviour)."""
    message = NOT_S390X_MSG % (module.params["host_root"] if fs.root != "/" else "This machine", marker)
    if module.params.get("require_s390x"):
        module.fail_json(msg=message, s390x_host=False)
    module.exit_json(changed=False, s390x_host=False, msg=message, **empty)


def run_host_module(module_class, argument_spec, run, errors=(), **module_kwargs):
    """The main() of a host module: ``host_root`` added to the spec, ``run(module)`` returns the
    result; an error of the given kinds (HostAccessError always) fails the task with its message
    and, when it has ``details`` (a dict), those as more return values.
    ``module_class`` is the module's own AnsibleModule import (ansible-test looks for it there)."""
    spec = dict(argument_spec)
    spec.update(HOST_ROOT_SPEC)
    module = module_class(argument_spec=spec, supports_check_mode=True, **module_kwargs)
    try:
        result = run(module)
    except (HostAccessError,) + tuple(errors) as err:
        details = getattr(err, "details", None)
        if details is not None:   # a refusal or a rolled-back failure: what it carries, no traceback
            module.fail_json(msg=str(err), **details)
        module.fail_json(msg=str(err), exception=traceback.format_exc())
    module.exit_json(**result)
