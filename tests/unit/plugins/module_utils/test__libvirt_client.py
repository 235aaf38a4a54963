# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_libvirt.client: error messages carry libvirt's error code names; connection failures name the URI."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc

libvirt = pytest.importorskip("libvirt")


def FakeError(code, domain, message):
    """A libvirtError as libvirt raises it (its err tuple: code, domain, message, level, ...)."""
    exc = libvirt.libvirtError(message)
    exc.err = (code, domain, message, 2, None, None, None, 0, 0)
    return exc


def test_error_code_names_are_codes_not_levels():
    assert lc.error_code_name(libvirt.VIR_ERR_NO_DOMAIN) == "VIR_ERR_NO_DOMAIN"
    assert lc.error_code_name(2) == "VIR_ERR_NO_MEMORY"          # not the level VIR_ERR_ERROR
    assert lc.error_code_name(55) == "VIR_ERR_OPERATION_INVALID"
    assert lc.error_code_name(99999) == "VIR_ERR_99999"
    assert lc.error_domain_name(libvirt.VIR_FROM_QEMU) == "VIR_FROM_QEMU"


def test_failure_message_and_result():
    exc = FakeError(55, 10, "Requested operation is not valid: cannot migrate domain: non-migratable device: zpci")
    failure = lc.failure("migrate of web1 failed", exc)
    assert failure.msg == ("migrate of web1 failed: Requested operation is not valid: cannot migrate domain: "
                           "non-migratable device: zpci (VIR_ERR_OPERATION_INVALID, code 55)")
    result = failure.result()
    assert result["libvirt_error"]["code_name"] == "VIR_ERR_OPERATION_INVALID"
    assert result["libvirt_error"]["domain_name"] == "VIR_FROM_QEMU"
    assert lc.is_error(exc, "VIR_ERR_OPERATION_INVALID") and not lc.is_error(exc, "VIR_ERR_NO_DOMAIN")


def test_connect_failure_names_the_uri():
    with pytest.raises(lc.LibvirtFailure) as info:
        lc.connect("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    assert "cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/libvirt-sock" in info.value.msg
    assert "VIR_ERR_SYSTEM_ERROR" in info.value.msg


def test_version_text():
    assert lc.version_text(9000000) == "9.0.0"
    assert lc.version_text(7002013) == "7.2.13"


def test_local_uris():
    assert lc.is_local_uri("qemu:///system")
    assert lc.is_local_uri("qemu+unix:///system?socket=/run/x")
    assert not lc.is_local_uri("qemu+ssh://root@kvmhost2/system")
