# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kvm_host role's packages and libvirt units per distribution (roles/kvm_host/vars/main.yml)
against the package indexes and documentation they were read from. Debian 12 and 13 are also
installed for real by the role's molecule scenario; the RHEL, SLES and Ubuntu archives are not
reachable from the test machines, so their names are checked against what SOURCES records."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
with open(os.path.join(ROOT, "roles", "kvm_host", "vars", "main.yml")) as _handle:
    STACKS = yaml.safe_load(_handle)["kvm_host__stacks"]

# What each package is for, and where its name was read, per distribution.
SOURCES = {
    "Debian-12": {
        "libvirt-daemon-system": ("daemon", "https://packages.debian.org/bookworm/libvirt-daemon-system"),
        "libvirt-clients": ("client", "https://packages.debian.org/bookworm/libvirt-clients"),
        "qemu-system-misc": ("qemu", "https://packages.debian.org/bookworm/qemu-system-s390x"),
        "python3-libvirt": ("python", "https://packages.debian.org/bookworm/python3-libvirt"),
        "mdevctl": ("mdevctl", "https://packages.debian.org/bookworm/s390x/mdevctl/filelist"),
        "driverctl": ("driverctl", "https://packages.debian.org/source/bookworm/driverctl"),
        "s390-tools": ("s390-tools", "https://packages.debian.org/src:s390-tools"),
    },
    "Debian-13": {
        "libvirt-daemon-system": ("daemon", "https://packages.debian.org/trixie/s390x/libvirt-daemon-system/filelist"),
        "libvirt-clients": ("client", "https://packages.debian.org/trixie/libvirt-clients"),
        "qemu-system-s390x": ("qemu", "https://packages.debian.org/trixie/s390x/qemu-system-s390x/filelist"),
        "python3-libvirt": ("python", "https://packages.debian.org/trixie/python3-libvirt"),
        "mdevctl": ("mdevctl", "https://packages.debian.org/trixie/s390x/mdevctl/filelist"),
        "driverctl": ("driverctl", "https://packages.debian.org/source/sid/driverctl"),
        "virtiofsd": ("virtiofsd", "https://packages.debian.org/trixie/s390x/virtiofsd/filelist"),
        "s390-tools": ("s390-tools", "https://packages.debian.org/src:s390-tools"),
    },
    "Debian-24": {
        "libvirt-daemon-system": ("daemon", "https://packages.ubuntu.com/noble/all/libvirt-daemon-system/filelist"),
        "libvirt-clients": ("client", "https://packages.ubuntu.com/noble/libvirt-clients"),
        "qemu-system-s390x": ("qemu", "https://packages.ubuntu.com/noble-updates/qemu-system-s390x"),
        "python3-libvirt": ("python", "https://packages.ubuntu.com/noble/s390x/python3-libvirt"),
        "mdevctl": ("mdevctl", "https://packages.ubuntu.com/noble/s390x/mdevctl/filelist"),
        "driverctl": ("driverctl", "https://packages.ubuntu.com/noble/driverctl"),
        "virtiofsd": ("virtiofsd", "https://packages.ubuntu.com/noble-updates/virtiofsd"),
        "s390-tools": ("s390-tools", "https://packages.ubuntu.com/noble/s390-tools"),
    },
    "RedHat-9": {
        "libvirt-daemon-kvm": ("daemon", "https://gitlab.com/libvirt/libvirt/-/blob/master/docs/kbase/rpm-deployment.rst"),
        "libvirt-client": ("client", "https://gitlab.com/libvirt/libvirt/-/blob/master/docs/kbase/rpm-deployment.rst"),
        "qemu-kvm": ("qemu", "https://gitlab.com/libvirt/libvirt/-/blob/master/docs/kbase/rpm-deployment.rst"),
        "python3-libvirt": ("python", "https://gitlab.com/redhat/centos-stream/rpms/libvirt-python"),
        "mdevctl": ("mdevctl", "https://gitlab.com/redhat/centos-stream/rpms/mdevctl"),
        "driverctl": ("driverctl", "https://gitlab.com/redhat/centos-stream/rpms/driverctl"),
        "virtiofsd": ("virtiofsd", "https://gitlab.com/redhat/centos-stream/rpms/virtiofsd"),
        "s390utils-base": ("s390-tools", "https://packages.fedoraproject.org/pkgs/s390utils/s390utils-base/"),
    },
    "Suse-15": {
        "libvirt-daemon-driver-qemu": ("daemon",
                                       "https://documentation.suse.com/sles/15-SP6/html/SLES-all/cha-libvirt-overview.html"),
        "libvirt-client": ("client", "https://build.opensuse.org/package/show/SUSE:SLE-15-SP6:GA/libvirt"),
        "qemu-s390x": ("qemu", "https://build.opensuse.org/package/show/SUSE:SLE-15-SP6:GA/qemu"),
        "python3-libvirt-python": ("python", "https://software.opensuse.org/package/python-libvirt-python"),
        "mdevctl": ("mdevctl", "https://build.opensuse.org/package/show/openSUSE:Leap:15.6:Update/mdevctl"),
        "driverctl": ("driverctl", "https://build.opensuse.org/projects/SUSE:SLE-15-SP5:GA/packages/driverctl/meta"),
        "virtiofsd": ("virtiofsd", "https://build.opensuse.org/projects/SUSE:SLE-15-SP6:GA/packages/virtiofsd/files/virtiofsd.spec"),
        "s390-tools": ("s390-tools", "https://build.opensuse.org/package/show/SUSE:SLE-15-SP6:GA/s390-tools"),
    },
}
SOURCES["RedHat-10"] = SOURCES["RedHat-9"]
SOURCES["Suse-16"] = SOURCES["Suse-15"]

# Every host needs each of these; Debian 12's virtiofsd comes with QEMU (qemu-system-common).
NEEDED = {"daemon", "client", "qemu", "python", "mdevctl", "driverctl", "virtiofsd"}
MODULAR = {"virt%sd%s.socket" % (driver, kind) for driver in ("qemu", "network", "nodedev", "nwfilter", "secret",
                                                              "storage", "interface") for kind in ("", "-ro", "-admin")}


def test_the_role_knows_the_distributions_it_names():
    assert sorted(STACKS) == sorted(SOURCES)


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_every_package_has_a_source_and_every_need_a_package(key):
    stack, sources = STACKS[key], SOURCES[key]
    for name in stack["packages"] + stack["s390_tools"]:
        assert name in sources, "%s: %s has no source" % (key, name)
        assert sources[name][1].startswith("https://")
    needs = set(sources[name][0] for name in stack["packages"])
    assert needs == NEEDED - ({"virtiofsd"} if key == "Debian-12" else set()), key
    assert [sources[name][0] for name in stack["s390_tools"]] == ["s390-tools"]


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_the_libvirt_daemon_is_started_as_the_distribution_does(key):
    units = set(STACKS[key]["libvirt_units"])
    if key.startswith("Debian-"):           # Debian and Ubuntu package the monolithic libvirtd, socket activated
        assert units == {"libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"}
        assert STACKS[key]["libvirt_enabled"] == ["libvirtd.service"]
    else:                                   # RHEL 9+, SLES 15 SP6+: the modular daemons, socket activated
        assert units == MODULAR and not STACKS[key].get("libvirt_enabled")
