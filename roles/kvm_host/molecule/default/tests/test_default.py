# -*- coding: utf-8 -*-
"""What the kvm_host role leaves in the container and in the fixture host at /hostroot."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

HOST_ROOT = "/hostroot"


def test_packages_installed(host):
    for name in ("libvirt-daemon-system", "qemu-system-misc", "mdevctl", "driverctl", "python3-libvirt"):
        assert host.package(name).is_installed, name


def test_libvirtd_enabled_and_running(host):
    libvirtd = host.service("libvirtd")
    assert libvirtd.is_enabled
    assert libvirtd.is_running
    assert host.run("virsh --connect qemu:///system uri").stdout.strip() == "qemu:///system"


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
