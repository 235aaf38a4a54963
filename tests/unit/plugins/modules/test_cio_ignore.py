import os

import pytest

from tests.fixtures.sysfs_builder import build_host
from tests.unit.conftest import HOSTS


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
