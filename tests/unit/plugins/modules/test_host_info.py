"""host_info on host trees: an LPAR with KVM, a KVM guest without SIE, a machine that is not s390x."""

import os

import pytest

from tests.fixtures.sysinfo import z16_lpar


def tree(tmp_path, sysinfo=None, sie=True, dev_kvm=True):
    files = {
        "proc/meminfo": "MemTotal:       16384000 kB\nMemFree:        9000000 kB\nMemAvailable:   12000000 kB\n"
                        "HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       1024 kB\n",
        "proc/cpuinfo": "vendor_id       : IBM/S390\n# processors    : 12\n"
                        "features\t: esan3 zarch stfle msa ldisp eimm dfp edat etf3eh highgprs te vx%s\n"
                        % (" sie" if sie else ""),
        "proc/sys/kernel/osrelease": "6.12.95+deb12-s390x\n",
        "sys/devices/system/cpu/online": "0-11\n", "sys/devices/system/cpu/possible": "0-15\n",
        "sys/devices/system/cpu/smt/active": "1\n", "sys/devices/system/cpu/smt/control": "on\n",
        "sys/devices/system/cpu/cpu0/topology/thread_siblings_list": "0-1\n",
    }
    if sysinfo:
        files["proc/sysinfo"] = sysinfo
    if dev_kvm:
        files["dev/kvm"] = ""
    for path, content in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return str(tmp_path)


def test_lpar_with_kvm(run_module, tmp_path):
    rc, res = run_module("host_info", host_root=tree(tmp_path, z16_lpar()))
    assert rc == 0 and res["s390x_host"] is True and res["changed"] is False
    assert res["machine"]["type_name"] == "IBM z16" and res["lpar"]["name"] == "KVMLP05" and res["runs_in"] == "lpar"
    assert res["kvm"] == {"available": True, "dev_kvm": True, "sie": True, "reason": None}
    assert res["cpus"] == {"online": 12, "possible": 16, "configured": 12, "standby": 4,
                           "smt": {"active": True, "control": "on", "threads_per_core": 2}}
    assert res["memory"]["available_kib"] == 12000000 and res["kernel"] == "6.12.95+deb12-s390x"
    assert "libvirt" not in res


def test_guest_without_sie_says_why(run_module, tmp_path):
    guest = z16_lpar() + "\nVM00 Name:            guest1  \nVM00 Control Program: KVM/Linux       \n"
    rc, res = run_module("host_info", host_root=tree(tmp_path, guest, sie=False, dev_kvm=False))
    assert rc == 0 and res["runs_in"] == "kvm" and res["kvm"]["available"] is False
    assert "nested virtualization is off" in res["kvm"]["reason"]


@pytest.mark.parametrize("require", [False, True])
def test_not_s390x(run_module, tmp_path, require):
    rc, res = run_module("host_info", host_root=tree(tmp_path), require_s390x=require)
    assert res["s390x_host"] is False and "/proc/sysinfo does not exist" in res["msg"]
    assert (rc != 0) is require
    if not require:
        assert res["memory"]["total_kib"] == 16384000 and res["cpus"]["online"] == 12


def test_libvirt_facts_against_the_test_driver(run_module, tmp_path):
    pytest.importorskip("libvirt")
    rc, res = run_module("host_info", host_root=tree(tmp_path, z16_lpar()), uri="test:///default")
    assert rc == 0, res
    facts = res["libvirt"]
    assert facts["running"] == 1 and [g["name"] for g in facts["guests"]] == ["test"]
    assert facts["running_memory_kib"] == facts["guests"][0]["memory_kib"] > 0
    assert facts["running_vcpus"] == facts["guests"][0]["vcpus"] >= 1
    assert os.path.isdir(tmp_path / "proc")


def descriptor(binary, kind="fs"):
    # QEMU docs/interop/vhost-user.json; what Debian 12's qemu-system-common installs as
    # /usr/share/qemu/vhost-user/50-qemu-virtiofsd.json
    return '{\n  "description": "QEMU virtiofsd vhost-user-fs",\n  "type": "%s",\n  "binary": "%s"\n}\n' % (kind, binary)


@pytest.mark.parametrize("files, found", [
    ({}, None),
    ({"usr/share/qemu/vhost-user/50-qemu-virtiofsd.json": descriptor("/usr/lib/qemu/virtiofsd"),
      "usr/lib/qemu/virtiofsd": ""}, "/usr/lib/qemu/virtiofsd"),
    # Debian 13's virtiofsd package; a GPU backend sorts first and is not virtiofsd
    ({"usr/share/qemu/vhost-user/50-virtiofsd.json": descriptor("/usr/libexec/virtiofsd"),
      "usr/share/qemu/vhost-user/10-gpu.json": descriptor("/usr/libexec/vhost-user-gpu", "gpu"),
      "usr/libexec/virtiofsd": "", "usr/libexec/vhost-user-gpu": ""}, "/usr/libexec/virtiofsd"),
    # /etc overrides the file of the same name; an empty one hides it
    ({"usr/share/qemu/vhost-user/50-virtiofsd.json": descriptor("/usr/libexec/virtiofsd"),
      "etc/qemu/vhost-user/50-virtiofsd.json": descriptor("/opt/virtiofsd/bin/virtiofsd"),
      "usr/libexec/virtiofsd": "", "opt/virtiofsd/bin/virtiofsd": ""}, "/opt/virtiofsd/bin/virtiofsd"),
    ({"usr/share/qemu/vhost-user/50-virtiofsd.json": descriptor("/usr/libexec/virtiofsd"),
      "etc/qemu/vhost-user/50-virtiofsd.json": "", "usr/libexec/virtiofsd": ""}, None),
    # a descriptor whose binary is not installed, a broken one
    ({"usr/share/qemu/vhost-user/50-virtiofsd.json": descriptor("/usr/libexec/virtiofsd"),
      "usr/share/qemu/vhost-user/40-broken.json": "{"}, None),
])
def test_virtiofsd_from_the_vhost_user_descriptors(run_module, tmp_path, files, found):
    root = tree(tmp_path)
    for path, content in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    rc, res = run_module("host_info", host_root=root)
    assert rc == 0 and res["virtiofsd"] == found
