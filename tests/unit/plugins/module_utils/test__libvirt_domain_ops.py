# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_libvirt.domain_ops: what a connection's capabilities say for the comparison (the machines and
what each alias stands for, the user-NIC backends), read once and only when asked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import domain_ops

libvirt = pytest.importorskip("libvirt")

# `virsh capabilities` of libvirt 9.0 with QEMU 7.2 on x86_64 (Debian 12, the test bed), the s390x part
CAPS_DEBIAN12 = """<capabilities><host><cpu><arch>x86_64</arch></cpu></host>
<guest><os_type>hvm</os_type><arch name='s390x'><wordsize>64</wordsize><emulator>/usr/bin/qemu-system-s390x</emulator>
<machine maxCpus='248'>s390-ccw-virtio-7.2</machine>
<machine canonical='s390-ccw-virtio-7.2' maxCpus='248'>s390-ccw-virtio</machine>
<machine maxCpus='248'>s390-ccw-virtio-7.1</machine>
<domain type='qemu'/></arch></guest>
<guest><os_type>hvm</os_type><arch name='x86_64'><machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
<domain type='qemu'/></arch></guest></capabilities>"""

# `virsh domcapabilities` of libvirt 11 whose QEMU has no SLIRP (libvirt docs/formatdomaincaps.rst, "interface")
DOMCAPS_NO_SLIRP = """<domainCapabilities><path>/usr/libexec/qemu-kvm</path><domain>kvm</domain>
<machine>s390-ccw-virtio-rhel9.6.0</machine><arch>s390x</arch><devices>
<interface supported='yes'><enum name='backendType'><value>passt</value></enum></interface>
</devices></domainCapabilities>"""


class Conn(object):
    def __init__(self, caps=CAPS_DEBIAN12, domcaps=DOMCAPS_NO_SLIRP, fail=False):
        self.caps, self.domcaps, self.fail = caps, domcaps, fail
        self.asked = []

    def getCapabilities(self):
        self.asked.append("capabilities")
        if self.fail:
            raise libvirt.libvirtError("this libvirt reads no capabilities")
        return self.caps

    def getDomainCapabilities(self, emulator, arch, machine, virttype, flags):
        self.asked.append(("domcapabilities", arch, machine, virttype))
        if self.fail:
            raise libvirt.libvirtError("no domain capabilities")
        return self.domcaps


def test_machines_of_an_arch_with_the_version_each_alias_stands_for():
    caps = ET.fromstring(CAPS_DEBIAN12)
    assert domain_ops.machines_of(caps, "s390x") == {
        "s390-ccw-virtio-7.2": None, "s390-ccw-virtio": "s390-ccw-virtio-7.2", "s390-ccw-virtio-7.1": None}
    assert domain_ops.machines_of(caps, "x86_64") == {"q35": "pc-q35-7.2", "pc-q35-7.2": None}
    assert domain_ops.machines_of(caps, "aarch64") == {}


def test_connection_defaults_ask_libvirt_once_each():
    conn = Conn()
    defaults = domain_ops.ConnectionDefaults(conn)
    assert defaults.machines("s390x")["s390-ccw-virtio"] == "s390-ccw-virtio-7.2"
    assert defaults.machines("s390x") and defaults.machines("ppc64") is None
    assert defaults.user_net_backends("s390x", "s390-ccw-virtio-rhel9.6.0", "kvm") == {"passt"}
    assert defaults.user_net_backends("s390x", "s390-ccw-virtio-rhel9.6.0", "kvm") == {"passt"}
    assert conn.asked == ["capabilities", ("domcapabilities", "s390x", "s390-ccw-virtio-rhel9.6.0", "kvm")]


def test_what_libvirt_cannot_say_is_unknown():
    defaults = domain_ops.ConnectionDefaults(Conn(fail=True))
    assert defaults.machines("s390x") is None
    assert defaults.user_net_backends("s390x", None, "kvm") is None
    # libvirt 9.0's domain capabilities list no interface backends
    old = domain_ops.ConnectionDefaults(Conn(domcaps="<domainCapabilities><devices/></domainCapabilities>"))
    assert old.user_net_backends("s390x", "s390-ccw-virtio-7.2", "qemu") is None
