"""A job in the execution environment against the emulated IBM Z host (a real s390x kernel under
qemu-system-s390x): s390x.kvm.discover over ssh, run by ansible-runner as AWX runs it. The host's ssh
is a loopback port, so the job's container shares the machine's network; the test bed's key and
known_hosts are mounted read-only where the inventory names them."""

import json
import os

import pytest

from tests.testbed import ee
from tests.testbed.pytest_zhost import ZHOST_DIR

pytestmark = [pytest.mark.zhost, pytest.mark.timeout(900)]


def test_discover_over_ssh_in_the_execution_environment(ee_image, zhost, ee_jobs):
    ssh_dir = os.path.join(ZHOST_DIR, "ssh")
    job = ee.run_job(os.path.join(ee_jobs, "zhost-discover"), "discover.yml",
                     {"discover.yml": ee.import_playbook("s390x.kvm.discover")}, zhost.inventory, image=ee_image,
                     extravars={"report_dir": "/runner/reports"}, mounts=["%s:%s:ro" % (ssh_dir, ssh_dir)],
                     options=["--network=host"])
    assert job.ok, "%r: %s" % (job, job.failures())
    # every module ran on the Z host, over ssh, with its python3
    modules = [e for e in job.events if e["event"] == "runner_on_ok" and e["event_data"]["task"].startswith("Read ")]
    assert len(modules) == 3 and {e["event_data"]["host"] for e in modules} == {"zhost"}
    assert job.result("Read the channel subsystem")["s390x_host"] is True

    with open(os.path.join(job.data_dir, "reports", "zhost.json")) as handle:
        report = json.load(handle)
    # what QEMU was configured with, as the kernel shows it. The Z host lane may have a data disk on
    # vfio_ccw meanwhile (its CCW device is unregistered then); every other device is there.
    devices = {d["bus_id"]: d for d in report["ccw"]["devices"]}
    configured = {c["bus_id"]: c for c in zhost.devices["ccw"]}
    assert set(devices) <= set(configured)
    assert {b for b, c in configured.items() if c["role"] != "data"} <= set(devices)
    for bus_id, d in devices.items():
        assert d["cutype"] == configured[bus_id]["cutype"], bus_id
    assert {f["fid"] for f in report["zpci"]["functions"]} == {z["fid"] for z in zhost.devices["zpci"]}
    # the root disk and the NIC the job came in through are the host's own
    roles = {c["role"]: c["bus_id"] for c in zhost.devices["ccw"]}
    assert devices[roles["root"]]["in_use_by_host"] and devices[roles["ssh"]]["in_use_by_host"]
    assert not any(d["in_use_by_host"] for b, d in devices.items() if configured[b]["role"] == "data")
    print("\nee job on the Z host: %.1f s, %d CCW devices, %d zPCI functions" % (
        job.seconds, len(devices), len(report["zpci"]["functions"])))
