# -*- coding: utf-8 -*-
"""What the kvm_host role leaves in the container and in the fixture host at /hostroot."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

HOST_ROOT = "/hostroot"
VARS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "vars", "main.yml")
# What each release must end up with, whatever the role's vars say (Debian 12's virtiofsd is QEMU's).
EXPECTED = {
    "12": ("libvirt-daemon-system", "qemu-system-misc", "mdevctl", "driverctl", "python3-libvirt"),
    "13": ("libvirt-daemon-system", "qemu-system-s390x", "mdevctl", "driverctl", "python3-libvirt", "virtiofsd"),
}


def test_packages_installed(host):
    release = host.system_info.release.split(".")[0]
    with open(VARS) as handle:
        wanted = yaml.safe_load(handle)["kvm_host__stacks"]["Debian-%s" % release]["packages"]
    assert set(EXPECTED[release]) <= set(wanted), release
    for name in wanted:
        assert host.package(name).is_installed, name


def test_virtiofsd_where_libvirt_finds_it(host):
    # the guest role finds it through the vhost-user descriptor (s390x.kvm.host_info)
    descriptors = host.run("grep -l '\"fs\"' /usr/share/qemu/vhost-user/*.json").stdout.split()
    assert descriptors, "no vhost-user descriptor of type fs"


def test_libvirtd_enabled_and_running(host):
    for socket in ("libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"):
        assert host.service(socket).is_running, socket
    # a client starts the daemon through its socket (it exits again after 120 s without one)
    assert host.run("virsh --connect qemu:///system uri").stdout.strip() == "qemu:///system"
    libvirtd = host.service("libvirtd")
    assert libvirtd.is_enabled
    assert libvirtd.is_running


def test_vfio_modules_at_boot(host):
    conf = host.file(HOST_ROOT + "/etc/modules-load.d/s390x-kvm.conf")
    assert conf.mode == 0o644
    lines = [ln for ln in conf.content_string.splitlines() if ln and not ln.startswith("#")]
    assert lines == ["vfio_ccw", "vfio_pci", "vfio_ap"]


def test_freed_devices_left_cio_ignore(host):
    ignored = host.file(HOST_ROOT + "/proc/cio_ignore").content_string.splitlines()
    assert "0.0.0104-0.0.f4ff" not in ignored
    assert "0.0.0106-0.0.f4ff" in ignored
    assert "0.0.000a-0.0.00ff" in ignored


def test_freed_devices_registered(host):
    # The simulated kernel registered the freed DASDs' subchannels and CCW devices.
    for bus_id in ("0.0.0104", "0.0.0105"):
        assert host.file(HOST_ROOT + "/sys/bus/ccw/devices/" + bus_id).is_symlink, bus_id
    assert not host.file(HOST_ROOT + "/sys/bus/ccw/devices/0.0.0106").exists
