#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cio_ignore
short_description: Free CCW devices from, or add them to, the cio_ignore list of an IBM Z host
version_added: 0.1.0
description:
  - Devices on the C(cio_ignore) list are invisible to Linux (no subchannel is registered for them).
    O(state=absent) frees the given devices (writes C(free <range>) to C(/proc/cio_ignore), then
    C(1) to C(/proc/cio_settle) so they are registered before the task ends, as C(cio_ignore -r)
    does); O(state=present) adds them (C(add <range>)).
  - Only what is not already in the wanted state is written, so a second run reports C(changed=false).
  - The change lasts until the next boot. Where the kernel command line has a C(cio_ignore=)
    parameter that would hide freed devices again, the module warns and returns
    RV(boot_cmdline_cio_ignore); make the change persistent in the boot configuration
    (for example with C(chzdev) or the C(zipl) parameters).
author:
  - s390x.kvm developers (@s390x-kvm)
extends_documentation_fragment:
  - s390x.kvm.host_root
  - s390x.kvm.attributes.actiongroup_host
options:
  devices:
    description:
      - Bus IDs, device numbers or ranges (V(0.0.0200-0.0.02ff)), in subchannel sets 0-3 of channel subsystem 0.
      - Write each item as a string (quoted in YAML). An unquoted V(0x2b09) is the number 11017 to YAML
        and V(0100) is 64, so the module refuses numbers instead of freeing another device.
    type: list
    elements: raw
    required: true
  state:
    description: V(absent) frees the devices from the list; V(present) puts them on it.
    type: str
    choices: [present, absent]
    default: absent
attributes:
  check_mode:
    support: full
    description: Reports the ranges it would write; changes nothing.
  diff_mode:
    support: full
    description: The cio_ignore list before and after.
  idempotent:
    support: full
    description: Writes only ranges not yet in the wanted state.
seealso:
  - module: s390x.kvm.ccw_info
  - name: cio_ignore(8)
    description: The s390-tools command this module mirrors.
    link: https://www.ibm.com/docs/en/linux-on-systems?topic=commands-cio-ignore
"""

EXAMPLES = r"""
- name: Make the DASDs for guests visible
  s390x.kvm.cio_ignore:
    devices: [0.0.0200-0.0.02ff]
    state: absent
"""

RETURN = r"""
written:
  description: The commands written to /proc/cio_ignore.
  returned: always
  type: list
  elements: str
  sample: ["free 0.0.0200-0.0.02ff"]
ignored:
  description: The cio_ignore list after the change (in check mode, as it would be).
  returned: always
  type: list
  elements: str
boot_cmdline_cio_ignore:
  description: The cio_ignore= parameter of the running kernel's command line, if any.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.s390x.kvm.plugins.module_utils._cio_ignore import CIO_IGNORE, CioIgnore
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import (
    DeviceIdError, gaps, overlap, parse_range, ranges_to_text, require_text, subtract)
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import open_host, run_host_module


def run(module):
    try:
        wanted = [parse_range(d) for d in require_text(module.params["devices"], "devices")]
    except DeviceIdError as err:
        message = str(err)
        module.fail_json(msg=message if message.startswith("devices:") else "devices: %s" % message)
    fs = open_host(module)
    proc = "%s%s" % (module.params["host_root"].rstrip("/"), CIO_IGNORE)
    if not fs.exists(CIO_IGNORE):
        module.fail_json(msg="%s does not exist: not an IBM Z (s390x) host" % proc)
    if not fs.isfile(CIO_IGNORE):
        # procfs files are regular files; anything else would read as an empty list (or block)
        module.fail_json(msg="%s is not a regular file: is %s a live /proc?" % (proc, module.params["host_root"]))
    ignore = CioIgnore(fs)
    try:
        current = ignore.ranges()
    except DeviceIdError as err:
        module.fail_json(msg="%s does not read as a cio_ignore list (%s): is %s a live /proc?"
                         % (proc, err, module.params["host_root"]))
    before = ranges_to_text(current)
    commands, after = [], list(current)
    for first, last in wanted:
        if module.params["state"] == "absent":
            parts = overlap(after, first, last)
            commands.extend("free %s" % t for t in ranges_to_text(parts))
            for a, b in parts:
                after = subtract(after, a, b)
        else:
            parts = gaps(after, first, last)
            commands.extend("add %s" % t for t in ranges_to_text(parts))
            after = sorted(after + parts)
    if commands and not module.check_mode:
        ignore.write(commands)
        if module.params["state"] == "absent":
            ignore.settle()
        try:
            after = ignore.ranges()
        except DeviceIdError as err:
            module.fail_json(msg="/proc/cio_ignore reads back as no cio_ignore list (%s): is %s a live /proc?"
                             % (err, module.params["host_root"]), written=commands)
    cmdline = fs.read("/proc/cmdline", default="")
    boot = [arg.split("=", 1)[1] for arg in cmdline.split() if arg.startswith("cio_ignore=")]
    if boot and commands and module.params["state"] == "absent":
        module.warn("the kernel command line has cio_ignore=%s: freed devices may be ignored again after a reboot; "
                    "make the change persistent in the boot configuration" % boot[-1])
    result = dict(changed=bool(commands), written=commands, ignored=ranges_to_text(sorted(after)),
                  boot_cmdline_cio_ignore=boot[-1] if boot else None)
    if module._diff:
        result["diff"] = {"before": "\n".join(before) + "\n", "after": "\n".join(result["ignored"]) + "\n"}
    return result


def main():
    argument_spec = dict(devices=dict(type="list", elements="raw", required=True),
                         state=dict(type="str", choices=["present", "absent"], default="absent"))
    run_host_module(AnsibleModule, argument_spec, run)


if __name__ == "__main__":
    main()
