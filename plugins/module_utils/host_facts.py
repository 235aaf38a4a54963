# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a KVM host on IBM Z is, read from its own files under a host root: the machine and the
LPAR and virtualization levels it runs in (``/proc/sysinfo``), its CPUs, memory and hugepages, and
whether it can run KVM guests. Standard library only.

``/proc/sysinfo`` is written by the kernel's ``arch/s390/kernel/sysinfo.c`` from the STSI
instruction: ``stsi_1_1_1`` (``Manufacturer:``, ``Type:``, ``Model:`` with the model capacity
identifier then the model, ``Sequence Code:``, ``Plant:``, ``Model Capacity:`` ...), ``stsi_15_1_x``
(``CPU Topology HW/SW:``), ``stsi_1_2_2`` (``CPUs Total/Configured/Standby/Reserved:``),
``stsi_2_2_2`` (``LPAR Number:``, ``LPAR Characteristics:``, ``LPAR Name:``, ``LPAR CPUs ...:``)
and ``stsi_3_2_2`` (per level of virtualization, innermost first: ``VM00 Name:``,
``VM00 Control Program:``, ``VM00 CPUs ...:``, ``VM00 Extended Name:``, ``VM00 UUID:``). Each line
is a label padded to column 22 and a value; fields can be blank-padded (``%-16.16s``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import int_or_none

# Machine type -> name. s390-tools include/lib/util_arch.h (enum util_arch_machine_type) and
# libutil/util_arch.c (util_arch_machine_type_to_str); 9175/9176 (z17) as ../shared/data/sysinfo/README.md
# records them. IBM Z and LinuxONE share the machine types.
MACHINE_TYPES = {
    2097: "IBM System z10 EC", 2098: "IBM System z10 BC", 2817: "IBM zEnterprise 196", 2818: "IBM zEnterprise 114",
    2827: "IBM zEnterprise EC12", 2828: "IBM zEnterprise BC12", 2964: "IBM z13", 2965: "IBM z13s",
    3906: "IBM z14", 3907: "IBM z14 ZR1", 8561: "IBM z15", 8562: "IBM z15", 3931: "IBM z16", 3932: "IBM z16",
    9175: "IBM z17", 9176: "IBM z17",
}

_LEVEL = re.compile(r"^VM(\d\d) (.+)$")
_CPU_KEYS = {"CPUs Total": "cpus_total", "CPUs Configured": "cpus_configured", "CPUs Standby": "cpus_standby",
             "CPUs Reserved": "cpus_reserved", "CPUs Dedicated": "cpus_dedicated", "CPUs Shared": "cpus_shared"}


def parse_sysinfo(text):
    """{machine, lpar, levels} from the text of /proc/sysinfo (see the module docstring)."""
    fields, levels = {}, {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if not sep:
            continue
        label, value = label.strip(), value.strip()
        match = _LEVEL.match(label)
        if match:
            levels.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            fields.setdefault(label, value)      # the first of a label (1.1.1 before 1.2.2)
    model = fields.get("Model", "").split()
    machine = {
        "manufacturer": fields.get("Manufacturer") or None,
        "type": fields.get("Type") or None,
        "type_name": MACHINE_TYPES.get(int_or_none(fields.get("Type")), None),
        "model": model[1] if len(model) > 1 else (model[0] if model else None),
        "model_capacity": model[0] if len(model) > 1 else None,
        "sequence_code": fields.get("Sequence Code") or None,
        "plant": fields.get("Plant") or None,
    }
    for label, key in _CPU_KEYS.items():
        if label in fields:
            machine[key] = int_or_none(fields[label])
    lpar = None
    if "LPAR Number" in fields or "LPAR Name" in fields:
        lpar = {"number": int_or_none(fields.get("LPAR Number")), "name": fields.get("LPAR Name") or None,
                "characteristics": fields.get("LPAR Characteristics", "").split()}
        for label, key in _CPU_KEYS.items():
            if "LPAR " + label in fields:
                lpar[key] = int_or_none(fields["LPAR " + label])
    out_levels = []
    for number in sorted(levels):
        level = levels[number]
        entry = {"level": number, "name": level.get("Name") or None, "control_program":
                 " ".join(level.get("Control Program", "").split()) or None}
        for label, key in _CPU_KEYS.items():
            if label in level:
                entry[key] = int_or_none(level[label])
        if level.get("Extended Name"):
            entry["extended_name"] = level["Extended Name"]
        if level.get("UUID"):
            entry["uuid"] = level["UUID"]
        out_levels.append(entry)
    return {"machine": machine, "lpar": lpar, "levels": out_levels}


def runs_in(sysinfo):
    """Where Linux runs: ``lpar``, ``kvm`` (a KVM guest), ``zvm`` (a z/VM guest) or the control program's name."""
    if not sysinfo["levels"]:
        return "lpar" if sysinfo["lpar"] else None
    program = sysinfo["levels"][0].get("control_program") or ""
    if program.startswith("KVM"):
        return "kvm"
    if program.startswith("z/VM"):
        return "zvm"
    return program or None


def parse_cpu_list(text):
    """``0-3,8`` (the kernel's cpulist format) -> [0, 1, 2, 3, 8]; None when unreadable."""
    if text is None:
        return None
    out = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _sep, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            return None
        out.extend(range(int(first), int(last or first) + 1))
    return out


def parse_meminfo(text):
    """The /proc/meminfo values this collection uses, in KiB (HugePages_* are page counts)."""
    values = {}
    for line in (text or "").splitlines():
        label, sep, value = line.partition(":")
        if sep:
            values[label.strip()] = int_or_none(value.split()[0]) if value.split() else None
    return {"total_kib": values.get("MemTotal"), "free_kib": values.get("MemFree"),
            "available_kib": values.get("MemAvailable"),
            "hugepages": {"size_kib": values.get("Hugepagesize"), "total": values.get("HugePages_Total"),
                          "free": values.get("HugePages_Free")}}


def cpu_features(cpuinfo):
    """The ``features`` line of s390x /proc/cpuinfo (the kernel's hwcap names, ``sie`` among them)."""
    for line in (cpuinfo or "").splitlines():
        label, sep, value = line.partition(":")
        if sep and label.strip() == "features":
            return value.split()
    return []


def kvm_facts(fs, features, sysinfo):
    """Whether this host can run KVM guests, and why not. The ``sie`` hwcap says the CPU offers the
    SIE (start interpretive execution) facility to this Linux (arch/s390/kernel/processor.c sets
    HWCAP_SIE when SCLP reports it); /dev/kvm says the kvm module is loaded."""
    dev_kvm = fs.exists("/dev/kvm")
    sie = "sie" in features
    if dev_kvm and sie:
        reason = None
    elif not sie and sysinfo and sysinfo["levels"]:
        reason = ("the CPU does not offer SIE to this Linux, a %s guest: nested virtualization is off"
                  % (runs_in(sysinfo) or "virtual machine"))
    elif not sie:
        reason = "the CPU does not offer SIE (no 'sie' in the features of /proc/cpuinfo)"
    else:
        reason = "/dev/kvm does not exist: load the kvm module"
    return {"available": dev_kvm and sie, "dev_kvm": dev_kvm, "sie": sie, "reason": reason}


def read_or_none(fs, path):
    """A host file's content, or None when it does not exist or cannot be read."""
    text = fs.read(path, "")
    return text if text != "" else None


def cpu_facts(fs, sysinfo):
    online = parse_cpu_list(read_or_none(fs, "/sys/devices/system/cpu/online"))
    possible = parse_cpu_list(read_or_none(fs, "/sys/devices/system/cpu/possible"))
    # SMT: the generic sysfs of kernel/cpu.c (smt/active, smt/control); threads per core from the
    # CPU's topology (thread_siblings_list of cpu0).
    smt_active = read_or_none(fs, "/sys/devices/system/cpu/smt/active")
    siblings = parse_cpu_list(read_or_none(fs, "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list"))
    out = {"online": len(online) if online is not None else None,
           "possible": len(possible) if possible is not None else None,
           "smt": {"active": smt_active == "1" if smt_active is not None else None,
                   "control": read_or_none(fs, "/sys/devices/system/cpu/smt/control"),
                   "threads_per_core": len(siblings) if siblings else None}}
    source = sysinfo["levels"][0] if sysinfo and sysinfo["levels"] else (sysinfo or {}).get("lpar") or {}
    for key in ("cpus_configured", "cpus_standby"):
        out[key.replace("cpus_", "")] = source.get(key)
    return out


# Where QEMU's vhost-user backends describe themselves (QEMU docs/interop/vhost-user.json,
# "Search paths"): a file in /etc overrides one of the same name in /usr/share, an empty one
# hides it, and the files are taken in the order of their names. libvirt picks virtiofsd the same
# way when a <filesystem> names no <binary path> (src/qemu/qemu_vhost_user.c). Distributions put
# virtiofsd in different places (Debian 12: /usr/lib/qemu/virtiofsd from qemu-system-common;
# Debian 13, Ubuntu 24.04, RHEL 9/10 and SLES: /usr/libexec/virtiofsd, package virtiofsd), and
# each package installs such a descriptor for it.
VHOST_USER_DIRS = ("/etc/qemu/vhost-user", "/usr/share/qemu/vhost-user")


def vhost_user_backends(fs, backend_type):
    """The vhost-user backends of a type (``fs`` is virtiofsd) the host describes, in the order
    QEMU and libvirt take them: dicts with ``binary``, ``descriptor`` and whether the binary exists."""
    chosen = {}
    for directory in reversed(VHOST_USER_DIRS):             # /etc last, so its files win
        for name in fs.listdir(directory):
            if name.endswith(".json"):
                chosen[name] = directory + "/" + name
    backends = []
    for name in sorted(chosen):
        text = fs.read(chosen[name], "")
        if not text.strip():
            continue                                        # an empty file hides the one it overrides
        try:
            descriptor = json.loads(text)
        except ValueError:
            continue
        if not isinstance(descriptor, dict) or descriptor.get("type") != backend_type:
            continue
        binary = descriptor.get("binary")
        if isinstance(binary, str) and binary.startswith("/"):
            backends.append({"binary": binary, "descriptor": chosen[name], "exists": fs.isfile(binary)})
    return backends
