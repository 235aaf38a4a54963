# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device XML from the guest role's structured entries, for s390x.kvm.domain_device: the entries go
through the same model as the role's (``guest_model``: validation, defaults, stable MACs, CCW device
numbers that avoid those the guest already has) and the same partial templates, so a device attached
with domain_device is exactly the device the role would have defined."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import GuestError, guest_model
from ansible_collections.s390x.kvm.plugins.module_utils import domain_xml as dx

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "roles", "guest", "templates")
# devices[].type -> the role's list of that kind
KINDS = {"disk": "disks", "interface": "interfaces", "filesystem": "filesystems", "hostdev": "hostdevs"}


class DeviceEntryError(ValueError):
    """A structured device entry the guest model refuses; the message names ``devices[N]``."""


def render_devices(entries, name, domain_type, existing_xml):
    """[device XML] for ``entries`` (each a guest role entry plus ``type``), for the guest ``name``
    whose current XML is ``existing_xml``."""
    import jinja2
    if not isinstance(entries, list):
        raise DeviceEntryError("devices must be a list of dictionaries")
    spec = dict((key, []) for key in KINDS.values())
    spec["name"] = name
    # disks get an iothread only when the guest has one (the role gives every guest one by default)
    iothreads = dx.parse(existing_xml).findtext("iothreads") if existing_xml else None
    spec["iothreads"] = int(iothreads) if iothreads and iothreads.strip().isdigit() else 0
    where = []          # (the role's variable path, index in devices)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DeviceEntryError("devices[%d] must be a dictionary, got %r" % (index, entry))
        entry = dict(entry)
        kind = entry.pop("type", None)
        if kind not in KINDS:
            raise DeviceEntryError("devices[%d].type must be one of %s, got %r" % (index, ", ".join(sorted(KINDS)), kind))
        items = spec[KINDS[kind]]
        where.append(("guest_%s[%d]" % (KINDS[kind], len(items)), index))
        items.append(entry)
    renames = dict((var, "devices[%d]" % index) for var, index in where)
    try:
        model = guest_model(spec, domain_type=domain_type, existing_xml=existing_xml or "")
    except GuestError as exc:
        raise DeviceEntryError(re.sub(r"guest_(disks|interfaces|filesystems|hostdevs)\[\d+\]",
                                      lambda m: renames.get(m.group(0), m.group(0)), str(exc.message)))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    by_var = dict((dev["var"], dev) for dev in model["devices"] if dev.get("var"))
    return [env.get_template("partials/%s.xml.j2" % by_var[var]["partial"]).render(dev=by_var[var]).strip()
            for var, _index in where]
