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
``control_domains`` ("%04lx"). A mask write that would give the host an APQN
of an mdev fails with EBUSY; assigning an APQN the host still owns fails with
EADDRNOTAVAIL.

Which bits to clear: a guest's matrix is adapters x domains, so its APQNs the
host still owns are either all covered by clearing those adapters in apmask or
by clearing those domains in aqmask (anything less leaves one APQN with the
host). Of the two, the one that takes fewer other queues from the host is used,
and never one that takes a queue of the host's default domain (``ap_domain``).
Giving back (a smaller matrix, or absent) sets the bits again, except where
that would hand the host an APQN another matrix holds.

Persistence: the masks in ``/etc/udev/rules.d/41-ap.rules`` in the form
chzdev writes (s390-tools include/lib/ap.h AP_UDEV_FILE; zdev/src/ap.c), the
mdev in ``/etc/mdevctl.d/matrix/<uuid>`` with its attributes in order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import Driver, Step
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import (
    VfioError, atomic_write, file_text, mdev_config, restore_file, wait_for, write_attr)
from ansible_collections.s390x.kvm.plugins.module_utils.ap import VFIO_AP_MIN_HWTYPE, format_mask, parse_apqns, parse_ids, parse_mask
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import DeviceIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import int_or_none, is_uuid
from ansible_collections.s390x.kvm.plugins.module_utils.guest_usage import device_users

MATRIX = "/sys/devices/vfio_ap/matrix"
MDEV_TYPE = "vfio_ap-passthrough"
AP_UDEV_RULES = "/etc/udev/rules.d/41-ap.rules"
LOCK_NAME = "vfio_ap-matrix"   # one lock: the masks are shared by every matrix device
_KINDS = (("adapters", "adapter"), ("domains", "domain"), ("control_domains", "control_domain"))


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


def apqns(adapters, domains):
    return set((a, d) for a in adapters for d in domains)


def definition_matrix(config):
    """Adapters, domains and control domains an mdevctl definition assigns (attrs in order)."""
    out = {"adapters": set(), "domains": set(), "control_domains": set()}
    for attr in (config or {}).get("attrs") or []:
        if not isinstance(attr, dict):
            continue
        for name, value in attr.items():
            verb, _sep, what = name.partition("_")
            key = {"adapter": "adapters", "domain": "domains", "control_domain": "control_domains"}.get(what)
            number = int_or_none(str(value), 0)
            if key is None or number is None or verb not in ("assign", "unassign"):
                continue
            (out[key].add if verb == "assign" else out[key].discard)(number)
    return dict((k, sorted(v)) for k, v in out.items())


class ApState(namedtuple("ApState", "uuid masks matrix")):
    """The AP masks (apmask, aqmask as the kernel prints them) and the matrix of mdev ``uuid``
    (None when it does not exist)."""

    __slots__ = ()


class Matrix(Driver):
    """The vfio_ap driver: the AP bus masks and one matrix mdev, named by its UUID. A target is
    the matrix (adapters, domains, control_domains, persist, autostart), or None to remove it."""

    def lock_name(self, device):
        return LOCK_NAME

    def read(self, device):
        return ApState(device, list(self.masks()), self.mdev(device))

    def describe(self, state):
        return {"masks": list(state.masks), "matrix": state.matrix}

    def predict(self, before, target, steps):
        masks = list(before["masks"])
        for step in steps:
            if step.action in ("apmask", "aqmask"):
                masks[0 if step.action == "apmask" else 1] = step.value
        matrix = None if target is None else dict((k, target[k]) for k in ("adapters", "domains", "control_domains"))
        return {"masks": masks, "matrix": matrix}

    def masks(self):
        return self.fs.read("/sys/bus/ap/apmask"), self.fs.read("/sys/bus/ap/aqmask")

    def mdev(self, mdev_uuid):
        base = "%s/%s/" % (MATRIX, mdev_uuid)
        if not self.fs.isdir(base):
            return None
        found = parse_apqns(self.fs.read(base + "matrix", default=""))
        return {
            "adapters": sorted(set(a["adapter"] for a in found if a["adapter"] is not None)),
            "domains": sorted(set(a["domain"] for a in found if a["domain"] is not None)),
            "control_domains": sorted(int(x, 16) for x in self.fs.read(base + "control_domains", default="").split()),
        }

    def definitions(self):
        return self.persistence.mdev_definitions("matrix")

    def queues(self):
        """(adapter, domain) of every AP queue device."""
        out = set()
        for name in self.fs.listdir("/sys/bus/ap/devices"):
            card, dot, dom = name.partition(".")
            if dot:
                try:
                    out.add((int(card, 16), int(dom, 16)))
                except ValueError:
                    pass
        return out

    def host_domain(self):
        """The host's default AP domain (ap_bus.c ap_domain_show: -1 when none)."""
        value = int_or_none(self.fs.read("/sys/bus/ap/ap_domain", default=""), 0)
        return value if value is not None and value >= 0 else None

    def held_by_others(self, mdev_uuid):
        """{uuid: set of APQNs} of the other matrix mdevs, active or only defined (mdevctl starts
        those at boot, so their APQNs are as taken as an active device's)."""
        held = {}
        for name in self.fs.listdir(MATRIX):
            if name != mdev_uuid and is_uuid(name):
                state = self.mdev(name)
                if state is not None:
                    held.setdefault(name, set()).update(apqns(state["adapters"], state["domains"]))
        for name, config in self.definitions().items():
            if name != mdev_uuid and is_uuid(name) and config.get("mdev_type", MDEV_TYPE) == MDEV_TYPE:
                state = definition_matrix(config)
                held.setdefault(name, set()).update(apqns(state["adapters"], state["domains"]))
        return held

    # -- masks ----------------------------------------------------------------
    def cover(self, apm, aqm, target):
        """Bits to clear so that every APQN of ``target`` leaves the host: (adapters, domains)."""
        adapters = set(a for a in target["adapters"] if a in apm)
        domains = set(d for d in target["domains"] if d in aqm)
        if not adapters or not domains:
            return set(), set()
        wanted = apqns(target["adapters"], target["domains"])
        host = set(q for q in self.queues() if q[0] in apm and q[1] in aqm) - wanted
        lose_by_adapter = set(q for q in host if q[0] in adapters)
        lose_by_domain = set(q for q in host if q[1] in domains)
        default = self.host_domain()
        if any(q[1] == default for q in lose_by_adapter) or len(lose_by_domain) <= len(lose_by_adapter):
            return set(), domains
        return adapters, set()

    @staticmethod
    def giving_back(apm, aqm, released, keep):
        """Masks that return the ``released`` APQNs to the host without handing it any APQN in
        ``keep`` (the kernel refuses such a write with EBUSY)."""
        add_a = set(a for a, _d in released) - apm
        add_d = set(d for _a, d in released) - aqm
        while True:
            clash = sorted(q for q in keep if q[0] in (apm | add_a) and q[1] in (aqm | add_d)
                           and (q[0] in add_a or q[1] in add_d))
            if not clash:
                return apm | add_a, aqm | add_d
            a, d = clash[0]
            if d in add_d:
                add_d.discard(d)
            else:
                add_a.discard(a)

    # -- plan and apply ----------------------------------------------------------
    def plan(self, state, target):
        """Steps that take the host to ``target`` (adapters, domains, control_domains, persist,
        autostart) or, with ``target`` None, remove the matrix device and give its APQNs back."""
        mdev_uuid, (apmask, aqmask), current = state.uuid, state.masks, state.matrix
        apm, aqm = set(parse_mask(apmask)), set(parse_mask(aqmask))
        config = self.definitions().get(mdev_uuid)
        others = set().union(*self.held_by_others(mdev_uuid).values())
        steps = []
        if target is None:
            held = current if current is not None else (definition_matrix(config) if config is not None else None)
            if current is not None:
                steps.append(Step("remove", "remove matrix mdev %s" % mdev_uuid, None))
            if config is not None:
                steps.append(Step("undefine", "remove /etc/mdevctl.d/matrix/%s" % mdev_uuid, None))
            released = apqns(held["adapters"], held["domains"]) if held else set()
            new_apm, new_aqm = self.giving_back(apm, aqm, released, others)
            steps += self._mask_steps(apmask, aqmask, new_apm, new_aqm, "give the matrix's APQNs back to the host")
            if self.fs.exists(AP_UDEV_RULES):
                steps += self._udev_step(new_apm, new_aqm)
            return steps
        take_a, take_d = self.cover(apm, aqm, target)
        apm1, aqm1 = apm - take_a, aqm - take_d
        steps += self._mask_steps(apmask, aqmask, apm1, aqm1, "give the guest's APQNs to vfio_ap")
        if current is None:
            steps.append(Step("create", "create matrix mdev %s" % mdev_uuid, None))
            current = {"adapters": [], "domains": [], "control_domains": []}
        for kind, attr in _KINDS:
            for value in sorted(set(current[kind]) - set(target[kind])):
                steps.append(Step("unassign_" + attr, "unassign %s 0x%02x" % (attr.replace("_", " "), value), value))
        for kind, attr in _KINDS:
            for value in sorted(set(target[kind]) - set(current[kind])):
                steps.append(Step("assign_" + attr, "assign %s 0x%02x" % (attr.replace("_", " "), value), value))
        wanted = apqns(target["adapters"], target["domains"])
        released = apqns(current["adapters"], current["domains"]) - wanted
        apm2, aqm2 = self.giving_back(apm1, aqm1, released, others | wanted)
        steps += self._mask_steps(format_mask(sorted(apm1)), format_mask(sorted(aqm1)), apm2, aqm2,
                                  "give the APQNs the matrix no longer has back to the host")
        if target.get("persist"):
            want = self.definition(target)
            if config != want:
                steps.append(Step("define", "write /etc/mdevctl.d/matrix/%s" % mdev_uuid, want))
            steps += self._udev_step(apm2, aqm2)
        return steps

    @staticmethod
    def _mask_steps(apmask, aqmask, new_apm, new_aqm, why):
        steps = []
        for name, old, new in (("apmask", apmask, new_apm), ("aqmask", aqmask, new_aqm)):
            text = format_mask(sorted(new))
            if set(parse_mask(old)) != set(new):
                steps.append(Step(name, "set %s %s (%s)" % (name, text, why), text))
        return steps

    def _udev_step(self, apm, aqm):
        rules = udev_rules(format_mask(sorted(apm)), format_mask(sorted(aqm)))
        if self.fs.read(AP_UDEV_RULES, default="") != rules.rstrip("\n"):
            return [Step("udev", "write %s" % AP_UDEV_RULES, rules)]
        return []

    @staticmethod
    def definition(target):
        attrs = [{"assign_adapter": "%d" % a} for a in target["adapters"]]
        attrs += [{"assign_domain": "0x%x" % d} for d in target["domains"]]
        attrs += [{"assign_control_domain": "0x%x" % d} for d in target["control_domains"]]
        return mdev_config(MDEV_TYPE, target.get("autostart", True), attrs)

    def apply(self, state, target, steps):
        self._run(state.uuid, steps)

    def _run(self, mdev_uuid, steps):
        """Run steps in order."""
        base = "%s/%s/" % (MATRIX, mdev_uuid)
        for key, text, value in steps:
            if key in ("apmask", "aqmask"):
                write_attr(self.fs, "/sys/bus/ap/" + key, value, text)
            elif key == "create":
                write_attr(self.fs, "%s/mdev_supported_types/%s/create" % (MATRIX, MDEV_TYPE), mdev_uuid, text)
                if not wait_for(lambda: self.fs.isdir(base), self.settle_timeout):
                    raise VfioError("matrix mdev %s did not appear" % mdev_uuid)
            elif key.startswith(("assign_", "unassign_")):
                write_attr(self.fs, base + key, "0x%x" % value, text)
            elif key == "remove":
                write_attr(self.fs, base + "remove", "1", text)
            elif key == "undefine":
                self.persistence.undefine_mdev("matrix", mdev_uuid)
            elif key == "define":
                self.persistence.define_mdev("matrix", mdev_uuid, MDEV_TYPE, value["start"] == "auto", value["attrs"])
            elif key == "udev":
                atomic_write(self.fs.path(AP_UDEV_RULES), value)

    def snapshot(self, device):
        """What :meth:`restore` needs to return to this moment."""
        return {"masks": self.masks(), "matrix": self.mdev(device),
                "definition": file_text(self.fs, self.persistence.mdev_path("matrix", device)),
                "udev": file_text(self.fs, AP_UDEV_RULES)}

    def restore(self, device, snapshot):
        """Back to a snapshot: shrink the matrix to within the snapshot's (so its masks cannot hit
        EBUSY), set its masks, assign the rest, and put the files back as they were."""
        current = self.mdev(device)
        steps = []
        if current is not None and snapshot["matrix"] is None:
            steps.append(Step("remove", "remove matrix mdev %s" % device, None))
        elif current is not None:
            for kind, attr in _KINDS:
                for value in sorted(set(current[kind]) - set(snapshot["matrix"][kind])):
                    steps.append(Step("unassign_" + attr, "unassign %s 0x%02x" % (attr, value), value))
        for name, now, old in zip(("apmask", "aqmask"), self.masks(), snapshot["masks"]):
            if now != old:
                steps.append(Step(name, "set %s back to %s" % (name, old), old))
        if snapshot["matrix"] is not None:
            if current is None:
                steps.append(Step("create", "create matrix mdev %s" % device, None))
                current = {"adapters": [], "domains": [], "control_domains": []}
            for kind, attr in _KINDS:
                for value in sorted(set(snapshot["matrix"][kind]) - set(current[kind])):
                    steps.append(Step("assign_" + attr, "assign %s 0x%02x" % (attr, value), value))
        self._run(device, steps)
        restore_file(self.fs, self.persistence.mdev_path("matrix", device), snapshot["definition"])
        restore_file(self.fs, AP_UDEV_RULES, snapshot["udev"])


def matrix_target(params):
    """The matrix the task asks for (None: remove it); bad IDs fail naming the option."""
    if params["state"] != "present":
        return None
    try:
        target = dict((name, sorted(set(parse_ids(params[name], name)))) for name in ("adapters", "domains", "control_domains"))
    except DeviceIdError as err:
        raise VfioError(str(err))
    if not target["adapters"] or not target["domains"]:
        raise VfioError("adapters and domains: give at least one of each for state=present")
    target.update(persist=params["persist"], autostart=params["autostart"])
    return target


def matrix_refusals(matrix, mdev_uuid, target):
    """Why the matrix device must not become ``target``: IDs this machine does not have, the host's
    own domain, APQNs another matrix holds, or a guest that uses it."""
    refusals = _target_refusals(matrix, mdev_uuid, target) if target is not None else []
    # Removing an mdev a guest holds open blocks in the kernel until the guest lets go
    # (vfio_unregister_group_dev), and IBM advises against changing crypto under a running guest.
    guests = device_users(matrix.fs).get("mdev:" + mdev_uuid, [])
    running = [u["guest"] for u in guests if u["running"]]
    defined = [u["guest"] for u in guests if not u["running"]]
    if running and matrix.plan(matrix.read(mdev_uuid), target):
        refusals.append("matrix device %s is used by running guest %s; shut it down before changing its crypto"
                        % (mdev_uuid, ", ".join(running)))
    elif defined and target is None and (matrix.mdev(mdev_uuid) is not None or mdev_uuid in matrix.definitions()):
        refusals.append("matrix device %s is a hostdev of defined guest %s; it could not start without it"
                        % (mdev_uuid, ", ".join(defined)))
    return refusals


def _target_refusals(matrix, mdev_uuid, target):
    fs, refusals = matrix.fs, []
    max_domain = int_or_none(fs.read("/sys/bus/ap/ap_max_domain_id", default=""), 0)
    for name, maximum in (("adapters", int_or_none(fs.read("/sys/bus/ap/ap_max_adapter_id", default=""), 0)),
                          ("domains", max_domain), ("control_domains", max_domain)):
        maximum = 255 if maximum is None else maximum   # AP ids are 8 bits (ap_bus.h AP_DEVICES/AP_DOMAINS)
        bad = [v for v in target[name] if v > maximum]
        if bad:
            refusals.append("%s: %s out of range; this machine allows 0-%d" % (name, ", ".join(str(b) for b in bad), maximum))
    host_domain = matrix.host_domain()
    if host_domain is not None and host_domain in target["domains"]:
        refusals.append("domains: %d is the host's default AP domain (ap_domain); the host's crypto needs it" % host_domain)
    for adapter in target["adapters"]:
        hwtype = int_or_none(fs.read("/sys/bus/ap/devices/card%02x/hwtype" % adapter, default=""), 0)
        if hwtype is None:
            refusals.append("adapters: card%02x does not exist on this host" % adapter)
        elif hwtype < VFIO_AP_MIN_HWTYPE:
            refusals.append("adapters: card%02x has hwtype %d; vfio_ap needs CEX4 (10) or later" % (adapter, hwtype))
    wanted = apqns(target["adapters"], target["domains"])
    for other, held in sorted(matrix.held_by_others(mdev_uuid).items()):
        clash = sorted(wanted & held)
        if clash:
            refusals.append("APQNs %s are held by matrix device %s" % (", ".join("%02x.%04x" % q for q in clash), other))
    return refusals


def queues_leaving(matrix, before, after, target):
    """The queues other than the matrix's that leave the host's default drivers: the masks work on
    whole adapters and whole domains (a queue stays with the host only while its adapter is in apmask
    AND its domain in aqmask)."""
    host_before = apqns(parse_mask(before["masks"][0]), parse_mask(before["masks"][1]))
    host_after = apqns(parse_mask(after["masks"][0]), parse_mask(after["masks"][1]))
    wanted = apqns(target["adapters"], target["domains"]) if target else set()
    return sorted("%02x.%04x" % q for q in (matrix.queues() & host_before) - host_after - wanted)
