"""A zPCI function and a virtio-fs share as the s390x guest sees them (what the tests of
pass-through and share modules build on), and the migration blocker a zPCI device is."""

import os

import libvirt
import pytest

from tests.testbed.pytest_libvirt import create_disk, disk_xml, virtiofs_xml, zpci_interface_xml

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(600)]

MIGRATE_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
                 | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE | libvirt.VIR_MIGRATE_UNSAFE)


def test_guest_sees_zpci_function(s390x_domains, testbed_workdir, testbed_results):
    host = s390x_domains.hosts["kvmhost1"]
    disk = create_disk(os.path.join(testbed_workdir, "tb-zpci-vda.qcow2"))
    dom, console, _ = s390x_domains.start(
        host, "tb-zpci",
        disks=[disk_xml(disk, "vda", devno=0x0001)],
        interfaces=[zpci_interface_xml("52:54:00:5a:39:21", uid=5, fid=10)])
    ready = console.wait("READY", timeout=240)
    pci = {r["addr"]: r for r in console.records(kind="PCI")}
    assert "0005:00:00.0" in pci, pci          # zPCI uid 5 -> PCI domain 0005
    assert pci["0005:00:00.0"]["vendor"] == "0x1af4"
    assert int(pci["0005:00:00.0"]["uid"], 16) == 5
    assert int(pci["0005:00:00.0"]["fid"], 16) == 10
    assert pci["0005:00:00.0"]["driver"] == "virtio-pci"
    nets = {r["mac"]: r for r in console.records(kind="NET")}
    assert nets["52:54:00:5a:39:21"]["bus"] == "pci:0005:00:00.0", nets

    # QEMU 7.2 marks every zPCI device unmigratable: live migration is refused up front and the
    # guest stays where it is (the unplug -> migrate -> replug workflow has to handle it).
    dst = s390x_domains.hosts["kvmhost2"]
    with pytest.raises(libvirt.libvirtError) as err:
        dom.migrateToURI3(dst.uri, {libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri}, MIGRATE_FLAGS)
    assert err.value.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, err.value
    assert "non-migratable device" in str(err.value) and "zpci" in str(err.value), err.value
    assert dom.isActive() and dom.name() not in dst.domain_names()
    testbed_results["zpci"] = {"guest_uptime_at_ready": float(ready["uptime"]), "pci": sorted(pci),
                               "migration_refused": str(err.value)}


def test_guest_sees_virtiofs_share(s390x_domains, testbed_workdir, testbed_results):
    host = s390x_domains.hosts["kvmhost1"]
    share = os.path.join(testbed_workdir, "share")
    os.makedirs(share, exist_ok=True)
    with open(os.path.join(share, "hello"), "w") as f:
        f.write("hello-from-kvmhost1\n")
    disk = create_disk(os.path.join(testbed_workdir, "tb-fs-vda.qcow2"))
    dom, console, _ = s390x_domains.start(
        host, "tb-virtiofs",
        disks=[disk_xml(disk, "vda", devno=0x0001)],
        extra_devices=[virtiofs_xml(share, "tbshare", devno=0x0004)],
        shared_memory=True, cmdline_extra="tb.virtiofs=tbshare")
    console.wait("READY", timeout=240)
    ccw = {r["busid"]: r["cutype"] for r in console.records(kind="CCW")}
    assert ccw.get("0.0.0004") == "3832/1a", ccw   # vhost-user-fs-ccw (virtio device id 26)
    fs = [r for r in console.records(kind="VIRTIOFS") if r.get("tag") == "tbshare"]
    assert fs and fs[0]["result"] in ("ok", "unreadable"), fs   # the tag is found and mount(2) succeeds
    testbed_results["virtiofs"] = fs[0]
    if fs[0]["result"] != "ok":
        # Seen here: the big-endian s390x guest sends FUSE headers in its own byte order and the
        # x86_64 virtiofsd (QEMU 7.2's C daemon, run with -d) logs "opcode: ??? (436207616)" =
        # 0x1a000000, i.e. FUSE_INIT (26) byte-swapped, and answers EIO; the guest's mount(2)
        # still succeeds and the first access fails with ECONNREFUSED. Cross-endian virtio-fs does
        # not work on this test bed (it needs an s390x host); the device and tag still show up.
        pytest.xfail("virtio-fs cross-endian (s390x guest, x86_64 virtiofsd): %s" % fs[0])
    assert any(r.get("hello") == "hello-from-kvmhost1" for r in fs), fs
