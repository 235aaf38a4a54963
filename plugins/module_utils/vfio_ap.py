# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crypto pass-through: AP masks and vfio_ap matrix mediated devices.

Kernel interface (Linux Documentation/arch/s390/vfio-ap.rst, drivers/s390/crypto
ap_bus.c and vfio_ap_ops.c): an APQN (adapter, domain) belongs to the host's
default zcrypt drivers while its adapter is set in ``/sys/bus/ap/apmask`` AND
its domain in ``/sys/bus/ap/aqmask``; clearing either hands the queue to
vfio_ap. A matrix mdev is created under
``/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create``
and given adapters, domains and control domains through ``assign_*`` /
``unassign_*``; it reports ``matrix`` ("%02lx.%04lx" per APQN) and
``control_domains`` ("%04lx"). A mask write that would take an APQN away from
an mdev fails with EBUSY.

Persistence: the masks in ``/etc/udev/rules.d/41-ap.rules`` in the form
chzdev writes (s390-tools include/lib/ap.h AP_UDEV_FILE; zdev/src/ap.c), the
mdev in ``/etc/mdevctl.d/matrix/<uuid>`` with its attributes in order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.s390x.kvm.plugins.module_utils.ap import format_mask, parse_apqns, parse_mask
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError
from ansible_collections.s390x.kvm.plugins.module_utils.vfio import Persistence, VfioError, wait_for

MATRIX = "/sys/devices/vfio_ap/matrix"
MDEV_TYPE = "vfio_ap-passthrough"
AP_UDEV_RULES = "/etc/udev/rules.d/41-ap.rules"


def udev_rules(apmask, aqmask):
    """The AP mask rule, in the shape chzdev gives /etc/udev/rules.d/41-ap.rules."""
    return "\n".join([
        "# Written by s390x.kvm.vfio_ap: AP masks for vfio_ap (same form as chzdev's AP rule)",
        'ACTION=="change", SUBSYSTEM=="ap", DEVPATH=="/devices/ap", ENV{BINDINGS}=="complete", '
        'ENV{COMPLETECOUNT}=="1", GOTO="cfg_ap"',
        'GOTO="end_ap"',
        "",
        'LABEL="cfg_ap"',
        "",
        'ATTR{../../bus/ap/apmask}="%s"' % apmask,
        'ATTR{../../bus/ap/aqmask}="%s"' % aqmask,
        'RUN{builtin}+="kmod load vfio_ap"',
        "",
        'LABEL="end_ap"',
        "",
    ])


class Matrix(object):
    """State of the AP bus masks and one matrix mdev."""

    def __init__(self, fs, settle_timeout=15.0):
        self.fs = fs
        self.persistence = Persistence(fs)
        self.settle_timeout = settle_timeout

    def masks(self):
        return self.fs.read("/sys/bus/ap/apmask"), self.fs.read("/sys/bus/ap/aqmask")

    def mdev(self, mdev_uuid):
        base = "%s/%s/" % (MATRIX, mdev_uuid)
        if not self.fs.isdir(base):
            return None
        apqns = parse_apqns(self.fs.read(base + "matrix", default=""))
        return {
            "adapters": sorted(set(a["adapter"] for a in apqns if a["adapter"] is not None)),
            "domains": sorted(set(a["domain"] for a in apqns if a["domain"] is not None)),
            "control_domains": sorted(int(x, 16) for x in self.fs.read(base + "control_domains", default="").split()),
        }

    def other_mdevs(self, mdev_uuid):
        """{uuid: (adapters, domains)} of the other matrix mdevs."""
        result = {}
        for name in self.fs.listdir(MATRIX):
            if name != mdev_uuid and self.fs.isdir("%s/%s/" % (MATRIX, name)) and name.count("-") == 4:
                state = self.mdev(name)
                result[name] = (state["adapters"], state["domains"])
        return result

    def plan(self, mdev_uuid, target):
        """target: adapters, domains, control_domains, persist, autostart (present) or None (absent)."""
        steps = []
        apmask, aqmask = self.masks()
        current = self.mdev(mdev_uuid)
        if target is None:
            if current is not None:
                steps.append(("remove", "remove matrix mdev %s" % mdev_uuid))
            if mdev_uuid in self.persistence.mdev_definitions("matrix"):
                steps.append(("undefine", "remove /etc/mdevctl.d/matrix/%s" % mdev_uuid))
            new_apmask, new_aqmask = self.masks_returning(mdev_uuid, current, apmask, aqmask)
            if new_apmask != apmask or new_aqmask != aqmask:
                steps.append(("masks", "set apmask %s, aqmask %s (give the adapters/domains back to the host)"
                              % (new_apmask, new_aqmask)))
                if self.fs.exists(AP_UDEV_RULES):
                    steps.append(("udev", "write %s" % AP_UDEV_RULES))
            return steps
        new_apmask, new_aqmask = self.masks_for(apmask, aqmask, target)
        if new_apmask != apmask or new_aqmask != aqmask:
            steps.append(("masks", "set apmask %s, aqmask %s (give the guest's adapters/domains to vfio_ap)"
                          % (new_apmask, new_aqmask)))
        if current is None:
            steps.append(("create", "create matrix mdev %s" % mdev_uuid))
            current = {"adapters": [], "domains": [], "control_domains": []}
        for kind, attr in (("adapters", "adapter"), ("domains", "domain"), ("control_domains", "control_domain")):
            for value in sorted(set(current[kind]) - set(target[kind])):
                steps.append(("unassign_%s:%d" % (attr, value), "unassign %s 0x%02x" % (attr.replace("_", " "), value)))
            for value in sorted(set(target[kind]) - set(current[kind])):
                steps.append(("assign_%s:%d" % (attr, value), "assign %s 0x%02x" % (attr.replace("_", " "), value)))
        if target.get("persist"):
            want = self.definition(target)
            config = self.persistence.mdev_definitions("matrix").get(mdev_uuid)
            if config != want:
                steps.append(("define", "write /etc/mdevctl.d/matrix/%s" % mdev_uuid))
            rules = udev_rules(new_apmask, new_aqmask)
            if self.fs.read(AP_UDEV_RULES, default="") != rules.rstrip("\n"):
                steps.append(("udev", "write %s" % AP_UDEV_RULES))
        return steps

    @staticmethod
    def masks_for(apmask, aqmask, target):
        """Masks that give the target's adapters and domains to vfio_ap, the host keeping the rest."""
        host_adapters = [a for a in parse_mask(apmask) if a not in target["adapters"]]
        host_domains = [d for d in parse_mask(aqmask) if d not in target["domains"]]
        return format_mask(host_adapters), format_mask(host_domains)

    def masks_returning(self, mdev_uuid, current, apmask, aqmask):
        """Masks that give an mdev's adapters and domains back to the host, except those another
        matrix mdev still uses (the kernel would refuse those with EBUSY)."""
        if current is None:
            attrs = self.persistence.mdev_definitions("matrix").get(mdev_uuid, {}).get("attrs", [])
            current = {"adapters": [int(a["assign_adapter"], 0) for a in attrs if "assign_adapter" in a],
                       "domains": [int(a["assign_domain"], 0) for a in attrs if "assign_domain" in a]}
        others = self.other_mdevs(mdev_uuid).values()
        used_adapters = set(a for adapters, _domains in others for a in adapters)
        used_domains = set(d for _adapters, domains in others for d in domains)
        adapters = set(parse_mask(apmask)) | (set(current["adapters"]) - used_adapters)
        domains = set(parse_mask(aqmask)) | (set(current["domains"]) - used_domains)
        return format_mask(sorted(adapters)), format_mask(sorted(domains))

    @staticmethod
    def definition(target):
        attrs = [{"assign_adapter": "%d" % a} for a in target["adapters"]]
        attrs += [{"assign_domain": "0x%x" % d} for d in target["domains"]]
        attrs += [{"assign_control_domain": "0x%x" % d} for d in target["control_domains"]]
        return {"mdev_type": MDEV_TYPE, "start": "auto" if target.get("autostart", True) else "manual", "attrs": attrs}

    def apply(self, mdev_uuid, target):
        base = "%s/%s/" % (MATRIX, mdev_uuid)
        steps = self.plan(mdev_uuid, target)
        # Decide the masks before the steps change what they are computed from.
        if target is None:
            new_masks = self.masks_returning(mdev_uuid, self.mdev(mdev_uuid), *self.masks())
        else:
            new_masks = self.masks_for(*(self.masks() + (target,)))
        for key, text in steps:
            if key == "masks":
                self._write("/sys/bus/ap/apmask", new_masks[0], text)
                self._write("/sys/bus/ap/aqmask", new_masks[1], text)
            elif key == "create":
                self._write("%s/mdev_supported_types/%s/create" % (MATRIX, MDEV_TYPE), mdev_uuid, text)
                if not wait_for(lambda: self.fs.isdir(base), self.settle_timeout):
                    raise VfioError("matrix mdev %s did not appear" % mdev_uuid)
            elif ":" in key:
                action, value = key.split(":")
                self._write(base + action, "0x%x" % int(value), text)
            elif key == "remove":
                self._write(base + "remove", "1", text)
            elif key == "undefine":
                self.persistence.undefine_mdev("matrix", mdev_uuid)
            elif key == "define":
                definition = self.definition(target)
                self.persistence.define_mdev("matrix", mdev_uuid, MDEV_TYPE, definition["start"] == "auto", definition["attrs"])
            elif key == "udev":
                apmask, aqmask = self.masks()
                path = self.fs.path(AP_UDEV_RULES)
                if not os.path.isdir(os.path.dirname(path)):
                    os.makedirs(os.path.dirname(path), 0o755)
                with open(path, "w") as handle:
                    handle.write(udev_rules(apmask, aqmask))

    def _write(self, path, value, what):
        try:
            self.fs.write(path, value)
        except HostAccessError as err:
            raise VfioError("%s: %s" % (what, err))
