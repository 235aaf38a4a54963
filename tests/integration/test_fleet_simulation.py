"""benchmarks/fleet on two hosts: the collection's fleet playbooks (discover, vfio_ccw in check mode
and for real, deploy_guests, the evacuate plan, vfio_ccw absent) over hosts that are fixture trees
with a simulated kernel each (one FUSE mount) and libvirt test-driver connections, so the benchmark
keeps running and its stages keep doing what they say. Needs root and /dev/fuse."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0, reason="needs root and /dev/fuse")]


def test_fleet_of_two(tmp_path):
    figures_file = tmp_path / "fleet.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "fleet", "fleet.py"), "--sizes", "2",
                           "--work", str(tmp_path / "work"), "--forks", "2", "--json", str(figures_file)],
                          capture_output=True, text=True, timeout=800, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    figures = json.loads(figures_file.read_text())["figures"]["2"]
    assert set(figures) >= {"discover", "vfio_check", "vfio_prepare", "deploy", "evacuate_plan", "vfio_release"}
    for stage in ("vfio_check", "vfio_prepare", "vfio_release"):
        assert figures[stage]["results"] == 2, stage          # one vfio_ccw task per host
    # deploy: per host the maintenance stat, vfio_ccw and the guest role (it ran to the end on both)
    assert figures["deploy"]["results"] >= 2 * (2 + 6)
    # the plan of z000: its two guests go to z001, the one with virtio-fs cannot move
    plan = figures["evacuate_plan"]["evacuate_plans"]["z000"]
    assert sorted((m["guest"], m["destination"]) for m in plan["moves"]) == [("z000-db", "z001"), ("z000-web", "z001")]
    assert [u["guest"] for u in plan["unmovable"]] == ["z000-files"] and "virtio-fs" in plan["unmovable"][0]["reason"]
    # the release gave the DASDs back: their subchannels are io_subchannel's again, with the CCW device on them
    for host in ("z000", "z001"):
        ccw = tmp_path / "work" / "trees" / host / "sys" / "bus" / "ccw" / "devices"
        for bus_id in ("0.0.0104", "0.0.0105"):
            device = os.path.realpath(str(ccw / bus_id))
            assert os.path.basename(os.readlink(os.path.join(os.path.dirname(device), "driver"))) == "io_subchannel"
    assert "ratio" in proc.stdout and "s/host" in proc.stdout
