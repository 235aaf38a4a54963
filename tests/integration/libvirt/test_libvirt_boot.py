"""(a) An s390x guest boots on kvmhost1 and sees its CCW devices at the expected bus IDs."""

import time
import xml.etree.ElementTree as ET

import pytest

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(600)]


def test_guest_boots_and_sees_ccw_devices(basic_guest, testbed_results):
    host, dom, console, started = basic_guest("tb-boot")
    ready = console.wait("READY", timeout=240)
    boot_s = time.monotonic() - started

    ccw = {r["busid"]: r for r in console.records(kind="CCW")}
    # devno 0x0001 -> bus ID 0.0.0001 (QEMU's cssid 0xfe is the guest's css 0)
    assert ccw["0.0.0001"]["cutype"] == "3832/02", ccw   # virtio-blk
    assert ccw["0.0.0002"]["cutype"] == "3832/01", ccw   # virtio-net
    assert ccw["0.0.0003"]["cutype"] == "3832/05", ccw   # virtio-balloon
    assert all(r["online"] == "1" and r["driver"] == "virtio_ccw" for r in ccw.values()), ccw

    blocks = {r["name"]: r for r in console.records(kind="BLOCK")}
    assert blocks["vda"]["bus"] == "ccw:0.0.0001", blocks
    assert blocks["vda"]["size"] == str(64 * 1024 * 1024 // 512)
    nets = [r for r in console.records(kind="NET") if r["bus"] == "ccw:0.0.0002"]
    assert nets and nets[0]["mac"] == "52:54:00:5a:39:01", console.records(kind="NET")

    # libvirt's live XML has the same addresses
    live = ET.fromstring(dom.XMLDesc(0))
    devnos = sorted(a.get("devno") for a in live.iter("address") if a.get("type") == "ccw")
    assert devnos == ["0x0001", "0x0002", "0x0003"], devnos

    testbed_results["boot"] = {"seconds_to_ready": round(boot_s, 2), "guest_uptime_at_ready": float(ready["uptime"]),
                               "ccw": sorted(ccw)}
    print("\nboot: READY after %.2f s (guest uptime %s s), CCW %s" % (boot_s, ready["uptime"], sorted(ccw)))
