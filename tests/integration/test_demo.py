"""The README's main job, ``scripts/demo.sh``, end to end on the test bed: the example host's tables,
the emulated Z host's real subchannels (root disk and ssh NIC marked as the host's), and an s390x guest
deployed on real libvirt from inventory variables that sees its devices, then is removed; a guest with a
zPCI device live-migrated there and back, the guest seeing the device go and come.

The zhost and libvirt fixtures bring the test bed up first, so the demo finds it running and leaves it
to them (it stops only what it started itself)."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [pytest.mark.zhost, pytest.mark.libvirt, pytest.mark.stacks("debian12"), pytest.mark.timeout(900)]


def test_demo_runs_every_part(zhost, libvirt_hosts, s390x_guest_image, tmp_path):
    env = dict(os.environ, S390X_KVM_DEMO_ROOT=str(tmp_path / "example-zhost"))
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")], capture_output=True, text=True,
                          env=env, timeout=800, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # part 1: the example host's DASD table and its JSON report
    assert "full report:" in out and '"dasds"' in out, out[-4000:]
    # part 2: the real kernel's root disk and ssh NIC, marked as the host's
    assert "0.0.0001  0.0.0000    virtio  3832/02" in out and "mounted at /" in out, out[-4000:]
    assert "carries the host's" in out
    # part 3: what the guest's kernel saw, and domain_info's view of the same devices
    for line in ("TB CCW busid=0.0.1000 cutype=3832/02", "TB CCW busid=0.0.2000 cutype=3832/01",
                 "TB CCW busid=0.0.3000 cutype=3832/1a", "TB CCW busid=0.0.4000 cutype=3832/08",
                 "TB CCW busid=0.0.5000 cutype=3832/10", "TB BLOCK name=vda", "TB BLOCK name=sr0"):
        assert line in out, (line, out[-4000:])
    assert "migration_blockers" in out and "filesystem[share]" in out
    # ... and the guest is gone again
    assert "demo-guest" not in libvirt_hosts["kvmhost1"].domain_names()
    # part 4: there and back with the zPCI device unplugged and replugged, seen by the guest
    assert out.count("TB HOTPLUG action=remove dev=pci addr=0005:00:00.0") == 2, out[-4000:]
    assert out.count("TB HOTPLUG action=add dev=pci addr=0005:00:00.0") == 2
    assert out.count("zpci  replugged") == 2 and "last_heartbeat" in out
    assert "demo-mig" not in libvirt_hosts["kvmhost1"].domain_names() + libvirt_hosts["kvmhost2"].domain_names()
