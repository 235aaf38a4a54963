import os

import pytest

from tests.fixtures.sysfs_builder import build_host
from tests.unit.helpers import HOSTS


@pytest.fixture
def host(tmp_path):
    return str(build_host(os.path.join(HOSTS, "cio_ignore_host.yml"), tmp_path / "host"))


def ignore_list(root):
    with open(os.path.join(root, "proc/cio_ignore")) as handle:
        return [line.strip() for line in handle if line.strip()]


def test_free_writes_only_what_is_ignored(run_module, host):
    rc, res = run_module("cio_ignore", host_root=host, devices=["0.0.0100-0.0.0105"], _ansible_check_mode=True)
    # 0.0.0100-0.0.0103 are not ignored on this host; 0.0.0104-0.0.f4ff is
    assert rc == 0 and res["changed"] and res["written"] == ["free 0.0.0104-0.0.0105"]
    assert "0.0.0106-0.0.f4ff" in res["ignored"] and res["boot_cmdline_cio_ignore"].startswith("all,")


def test_add_writes_only_gaps(run_module, host):
    rc, res = run_module("cio_ignore", host_root=host, devices=["0.0.0008-0.0.000b"], state="present", _ansible_check_mode=True)
    assert res["written"] == ["add 0.0.0009"]


def test_nothing_to_do_is_unchanged(run_module, host):
    before = ignore_list(host)
    rc, res = run_module("cio_ignore", host_root=host, devices=["0.0.0100"], state="absent")
    assert rc == 0 and res["changed"] is False and res["written"] == [] and ignore_list(host) == before


def test_bad_range(run_module, host):
    rc, res = run_module("cio_ignore", host_root=host, devices=["0.0.0200-0.0.0100"])
    assert rc != 0 and "comes after" in res["msg"]


def test_check_apply_check(tmp_path):
    """check mode predicts the real run exactly (on a kernel that applies the writes); the run
    after it changes nothing; state=present puts back exactly what was freed."""
    from tests.fixtures.kernel_sim import sim_host
    from tests.unit.vfio_harness import run_module_inprocess
    sim = sim_host(os.path.join(HOSTS, "cio_ignore_host.yml"), str(tmp_path / "sim"), delay=0)
    try:
        args = dict(devices=["0.0.0104-0.0.0105", "0.0.f600-0.0.f602"], state="absent")
        before = ignore_list(sim.root)
        rc, check = run_module_inprocess("cio_ignore", args, sim, check_mode=True, diff=True)
        assert rc == 0 and check["changed"] is True and ignore_list(sim.root) == before
        assert check["written"] == ["free 0.0.0104-0.0.0105", "free 0.0.f600-0.0.f602"]
        assert check["diff"]["before"] == "\n".join(before) + "\n"
        rc, real = run_module_inprocess("cio_ignore", args, sim, diff=True)
        assert rc == 0 and real["changed"] is True, real.get("msg")
        assert real["written"] == check["written"] and real["ignored"] == check["ignored"]
        assert real["diff"] == check["diff"]
        assert ignore_list(sim.root) == real["ignored"]
        assert "0.0.0104-0.0.f4ff" not in real["ignored"] and "0.0.0106-0.0.f4ff" in real["ignored"]
        rc, again = run_module_inprocess("cio_ignore", args, sim, check_mode=True)
        assert rc == 0 and again["changed"] is False and again["written"] == []
        rc, again = run_module_inprocess("cio_ignore", args, sim)
        assert rc == 0 and again["changed"] is False and again["written"] == []
        rc, added = run_module_inprocess("cio_ignore", dict(args, state="present"), sim)
        assert added["written"] == ["add 0.0.0104-0.0.0105", "add 0.0.f600-0.0.f602"]
        assert ignore_list(sim.root) == before
    finally:
        sim.close()


@pytest.mark.parametrize("devices, fragment", [
    # YAML reads an unquoted 0x0104 as 260 and 0100 as 64: another device, so numbers are refused
    ([260], "devices: 260 is a number, not text: YAML reads an unquoted 0x104 as 260"),
    ([{"a": 1}], "devices: {'a': 1} is not a bus ID"),
    (["1.0.0104"], "channel subsystem 1 does not exist for Linux"),
    (["0.4.0104"], "subchannel set 4 is out of range 0-3"),
])
def test_bad_devices_name_the_value(run_module, host, devices, fragment):
    before = ignore_list(host)
    rc, res = run_module("cio_ignore", host_root=host, devices=devices)
    assert rc != 0 and fragment in res["msg"] and "devices: devices:" not in res["msg"]
    assert ignore_list(host) == before


@pytest.mark.parametrize("make", ["fifo", "dir", "garbage"])
def test_proc_cio_ignore_that_is_not_a_list(run_module, host, make):
    path = os.path.join(host, "proc/cio_ignore")
    os.remove(path)
    if make == "fifo":
        os.mkfifo(path)     # would read as an empty list, or block
    elif make == "dir":
        os.mkdir(path)
    else:
        with open(path, "w") as handle:
            handle.write("not a list\n")
    rc, res = run_module("cio_ignore", host_root=host, devices=["0.0.0104"], _ansible_check_mode=True)
    assert rc != 0 and "/proc/cio_ignore" in res["msg"] and "live /proc" in res["msg"]
    assert not res["msg"].startswith("devices:")
