"""The current controller (scripts/current.sh: the newest ansible-core 2.2x on Python 3.13, from the
Debian 13 root) runs the discovery playbook against the emulated IBM Z host over ssh; its report
holds what the baseline controller's modules read there. (The Debian 13 lane runs the libvirt
playbooks on the same controller: scripts/integration.sh.)"""

import json

import pytest

from tests.testbed.playbook import run_playbook

pytestmark = [pytest.mark.zhost, pytest.mark.timeout(900)]


def devices_by_bus_id(ccw):
    return {d["bus_id"]: (d["kind"], d["cutype"], d["online"], d["in_use_by_host"], d["host_use"])
            for d in ccw["devices"]}


def test_discover_playbook_on_the_current_controller(zhost, tmp_path):
    run = run_playbook("s390x.kvm.discover", zhost.inventory, str(tmp_path / "record.jsonl"),
                       extra_vars={"report_dir": str(tmp_path / "reports")}, controller="current")
    assert run.rc == 0, run.failures()
    controller = run.controller()
    assert controller["ansible"].startswith("2.2") and controller["python"].startswith("3.13"), controller
    with open(tmp_path / "reports" / "zhost.json") as handle:
        report = json.load(handle)
    baseline = zhost.module("s390x.kvm.ccw_info")
    assert report["ccw"]["s390x_host"] is True
    assert devices_by_bus_id(report["ccw"]) == devices_by_bus_id(baseline)
    assert report["ccw"]["ipl"] == baseline["ipl"]
    assert [f["fid"] for f in report["zpci"]["functions"]] == [f["fid"] for f in zhost.module("s390x.kvm.zpci_info")["functions"]]
