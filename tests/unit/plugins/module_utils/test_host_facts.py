# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_facts: /proc/sysinfo as the kernel writes it (arch/s390/kernel/sysinfo.c), checked against
four files captured on real machines (../shared/data/sysinfo, from util-linux's lscpu test dumps:
read there, never copied into the collection), plus cpulists and meminfo."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils import host_facts
from tests.fixtures.sysinfo import z16_lpar

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "sysinfo")


def shared(name):
    path = os.path.join(SHARED, name)
    if not os.path.exists(path):
        pytest.skip("%s is not here (the team's shared data lies beside the checkout)" % path)
    with open(path) as handle:
        return handle.read()


def test_kernel_format_lpar():
    info = host_facts.parse_sysinfo(z16_lpar())
    assert info["machine"] == {"manufacturer": "IBM", "type": "3931", "type_name": "IBM z16", "model": "A01",
                               "model_capacity": "710", "sequence_code": "00000000000A1B2C", "plant": "02",
                               "cpus_total": 200, "cpus_configured": 12, "cpus_standby": 4, "cpus_reserved": 184}
    assert info["lpar"] == {"number": 5, "name": "KVMLP05", "characteristics": ["Dedicated"], "cpus_total": 16,
                            "cpus_configured": 12, "cpus_standby": 4, "cpus_reserved": 0, "cpus_dedicated": 12,
                            "cpus_shared": 0}
    assert info["levels"] == [] and host_facts.runs_in(info) == "lpar"


def test_real_lpar_z13():
    info = host_facts.parse_sysinfo(shared("lpar_z13_2964-N96.txt"))
    assert (info["machine"]["type"], info["machine"]["type_name"], info["machine"]["model"],
            info["machine"]["model_capacity"]) == ("2964", "IBM z13", "N96", "703")
    assert info["lpar"]["name"] == "S35LP67" and info["lpar"]["number"] == 71
    assert host_facts.runs_in(info) == "lpar"


def test_real_kvm_guest_of_a_zvm_guest():
    info = host_facts.parse_sysinfo(shared("kvm_in_zvm_z13_2964-N63.txt"))
    assert info["lpar"]["name"] == "L16" and info["lpar"]["cpus_standby"] == 4
    first, second = info["levels"]
    assert (first["level"], first["name"], first["control_program"], first["uuid"]) == (
        0, "rhel8-1", "KVM/Linux", "209c8e3b-7191-4338-97a2-67685e5232be")
    assert (second["name"], second["control_program"], second["cpus_total"]) == ("OSHIFT5", "z/VM 6.4.0", 4)
    assert host_facts.runs_in(info) == "kvm"


def test_real_kvm_guest_and_lpar_z196():
    kvm = host_facts.parse_sysinfo(shared("kvm_z196_2817-M32.txt"))
    assert kvm["machine"]["type_name"] == "IBM zEnterprise 196" and kvm["lpar"]["name"] == "R17LP39"
    assert kvm["levels"][0]["name"] == "KVMguest" and host_facts.runs_in(kvm) == "kvm"
    lpar = host_facts.parse_sysinfo(shared("lpar_z196_2817-M49.txt"))
    assert lpar["lpar"]["cpus_standby"] == 2 and lpar["machine"]["model"] == "M49"


def test_lists_and_meminfo():
    assert host_facts.parse_cpu_list("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert host_facts.parse_cpu_list("x") is None and host_facts.parse_cpu_list(None) is None
    mem = host_facts.parse_meminfo("MemTotal:       16384000 kB\nMemFree:  1000 kB\nMemAvailable: 8000000 kB\n"
                                   "HugePages_Total:     512\nHugePages_Free:      500\nHugepagesize:       1024 kB\n")
    assert mem == {"total_kib": 16384000, "free_kib": 1000, "available_kib": 8000000,
                   "hugepages": {"size_kib": 1024, "total": 512, "free": 500}}
    assert host_facts.cpu_features("vendor_id : IBM/S390\nfeatures\t: esan3 zarch stfle sie\n")[-1] == "sie"
