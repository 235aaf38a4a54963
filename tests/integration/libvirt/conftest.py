"""Shared pieces of the libvirt integration tests (fixtures come from tests/testbed/pytest_libvirt.py)."""

import os

import pytest

from tests.testbed.pytest_libvirt import create_disk, disk_xml, interface_xml


@pytest.fixture
def basic_guest(s390x_domains, testbed_workdir, request):
    """Start a guest on kvmhost1 (or ``host``): virtio-blk on CCW devno 0x0001, virtio-net on
    0x0002, balloon on 0x0003. Returns (host, domain, console, start time)."""

    def start(name, host=None, cmdline_extra=""):
        host = host or s390x_domains.hosts["kvmhost1"]
        disk = create_disk(os.path.join(testbed_workdir, "%s-vda.qcow2" % name))
        dom, console, started = s390x_domains.start(
            host, name,
            disks=[disk_xml(disk, "vda", devno=0x0001)],
            interfaces=[interface_xml("52:54:00:5a:39:01", devno=0x0002)],
            balloon_devno=0x0003, cmdline_extra=cmdline_extra)
        return host, dom, console, started

    return start
