"""The libvirt_guests inventory plugin over the two real libvirt hosts: a running guest on kvmhost1
and, on kvmhost2, a defined guest holding a vfio-ccw mdev (it defines on this x86 machine; it could
not start without the device), grouped by host, state and pass-through kind."""

import json
import os
import subprocess
import uuid as uuidlib

import pytest

from tests.testbed.playbook import ansible_command
from tests.testbed.pytest_libvirt import create_disk, disk_xml, domain_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(300)]


def test_guests_grouped_by_host_state_and_passthrough(basic_guest, libvirt_hosts, s390x_guest_image, testbed_workdir):
    host1, host2 = libvirt_hosts["kvmhost1"], libvirt_hosts["kvmhost2"]
    _host, running, _console, _started = basic_guest("tb-inv")
    mdev = ("<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='%s'/></source>"
            "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0009'/></hostdev>" % uuidlib.uuid4())
    name = "tb-inv-dasd-%d" % os.getpid()
    disk = create_disk(os.path.join(testbed_workdir, "%s.qcow2" % name))
    defined = host2.conn().defineXML(domain_xml(name, s390x_guest_image, os.path.join(testbed_workdir, "x.log"),
                                                disks=[disk_xml(disk, "vda", devno=1)], extra_devices=[mdev]))
    try:
        config = os.path.join(testbed_workdir, "fleet.libvirt_guests.yml")
        with open(config, "w") as handle:
            handle.write("plugin: s390x.kvm.libvirt_guests\nhosts:\n  kvmhost1: %s\n  kvmhost2: %s\n" % (
                host1.uri, host2.uri))
        env = dict(os.environ, ANSIBLE_INVENTORY_ENABLED="s390x.kvm.libvirt_guests")
        proc = subprocess.run(ansible_command("ansible-inventory") + ["-i", config, "--list"], capture_output=True,
                              text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert running.name() in data["kvm_host_kvmhost1"]["hosts"] and running.name() in data["state_running"]["hosts"]
        assert data["passthrough_vfio_ccw"]["hosts"] == [name] and name in data["state_shut_off"]["hosts"]
        assert name in data["not_migratable"]["hosts"] and name in data["kvm_host_kvmhost2"]["hosts"]
    finally:
        defined.undefine()
