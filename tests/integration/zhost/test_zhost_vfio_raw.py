"""Raw vfio on the real s390x kernel of the emulated Z host (no collection code): the sysfs
sequences the vfio modules automate, proven step by step, each undone afterwards.

vfio_ccw: set the CCW device offline -> driver_override=vfio_ccw -> unbind io_subchannel ->
drivers_probe -> mdev type vfio_ccw-io -> create/duplicate/second/remove -> restore.
vfio-pci: driver_override=vfio-pci -> unbind -> drivers_probe -> /dev/vfio/<group> -> restore."""

import time
import uuid

import pytest

pytestmark = pytest.mark.zhost


def write(zhost, path, value):
    """echo VALUE > PATH on the host; (ok, error message)."""
    proc = zhost.ssh("echo %s > %s" % (value, path))
    return proc.returncode == 0, proc.stderr.strip()


def wait_for(zhost, path, want, timeout=20):
    end = time.monotonic() + timeout
    value = None
    while time.monotonic() < end:
        value = zhost.read_sysfs(path)
        if value == want:
            return value
        time.sleep(0.5)
    return value


@pytest.fixture
def data_disk(zhost):
    """The last spare data disk (never the root disk or the ssh NIC) and its subchannel; put back
    on io_subchannel and online afterwards whatever the test did."""
    bus_id = [c["bus_id"] for c in zhost.devices["ccw"] if c["role"] == "data"][-1]
    link = zhost.ssh("readlink -f /sys/bus/ccw/devices/%s" % bus_id, check=True).stdout.strip()
    sch = link.split("/")[-2]
    yield bus_id, sch
    zhost.ssh("""
        d=/sys/bus/css/devices/{sch}
        for u in $(ls $d | grep -E '^[0-9a-f]{{8}}-'); do echo 1 > $d/$u/remove; done
        echo > $d/driver_override
        [ "$(basename "$(readlink $d/driver)")" = io_subchannel ] || {{
            [ -e $d/driver ] && echo {sch} > $d/driver/unbind; echo {sch} > /sys/bus/css/drivers_probe; }}
        for i in $(seq 40); do [ -e /sys/bus/ccw/devices/{bus_id}/online ] && break; sleep 0.25; done
        echo 1 > /sys/bus/ccw/devices/{bus_id}/online
    """.format(sch=sch, bus_id=bus_id))


def test_vfio_ccw_bind_mdev_and_restore(zhost, data_disk):
    bus_id, sch = data_disk
    css = "/sys/bus/css/devices/" + sch
    assert zhost.read_sysfs(css + "/driver_override") == "(null)"
    assert zhost.ssh("basename $(readlink %s/driver)" % css).stdout.strip() == "io_subchannel"

    # 1. offline, override, unbind, reprobe: vfio_ccw takes the subchannel
    assert write(zhost, "/sys/bus/ccw/devices/%s/online" % bus_id, 0)[0]
    assert write(zhost, css + "/driver_override", "vfio_ccw")[0]
    assert zhost.read_sysfs(css + "/driver_override") == "vfio_ccw"
    assert write(zhost, css + "/driver/unbind", sch)[0]
    assert write(zhost, "/sys/bus/css/drivers_probe", sch)[0]
    assert zhost.ssh("basename $(readlink %s/driver)" % css).stdout.strip() == "vfio_ccw"

    # 2. the mdev type the subchannel offers
    mt = css + "/mdev_supported_types/vfio_ccw-io"
    tree = zhost.sysfs_tree(mt + "/available_instances", mt + "/device_api", mt + "/name")
    assert tree[mt + "/available_instances"] == "1"
    assert tree[mt + "/device_api"] == "vfio-ccw"
    assert tree[mt + "/name"] == "I/O subchannel (Non-QDIO)"

    # 3. create: bad UUID -> EINVAL; the UUID -> mdev; again -> EEXIST; a second -> EUSERS
    ok, err = write(zhost, mt + "/create", "not-a-uuid")
    assert not ok and "Invalid argument" in err
    u = str(uuid.uuid4())
    assert write(zhost, mt + "/create", u)[0]
    assert zhost.ssh("readlink -f /sys/bus/mdev/devices/%s" % u).stdout.strip() == "/sys/devices/css0/%s/%s" % (sch, u)
    assert zhost.read_sysfs(mt + "/available_instances") == "0"
    ok, err = write(zhost, mt + "/create", u)
    assert not ok and "File exists" in err
    ok, err = write(zhost, mt + "/create", str(uuid.uuid4()))
    assert not ok and "Too many users" in err

    # 4. ccw_info sees the subchannel on vfio_ccw (the collection's view of the same state)
    result = zhost.module("s390x.kvm.ccw_info")
    assert {s["bus_id"]: s["driver"] for s in result["subchannels"]}[sch] == "vfio_ccw"

    # 5. remove the mdev, restore io_subchannel; the CCW device comes back and goes online
    assert write(zhost, "/sys/bus/mdev/devices/%s/remove" % u, 1)[0]
    assert zhost.ssh("test -e /sys/bus/mdev/devices/%s" % u).returncode != 0
    assert write(zhost, css + "/driver_override", "''")[0]
    assert zhost.read_sysfs(css + "/driver_override") == "(null)"
    assert write(zhost, css + "/driver/unbind", sch)[0]
    assert write(zhost, "/sys/bus/css/drivers_probe", sch)[0]
    assert zhost.ssh("basename $(readlink %s/driver)" % css).stdout.strip() == "io_subchannel"
    online = wait_for(zhost, "/sys/bus/ccw/devices/%s/online" % bus_id, "1", timeout=10)
    if online != "1":
        assert write(zhost, "/sys/bus/ccw/devices/%s/online" % bus_id, 1)[0]
    assert wait_for(zhost, "/sys/bus/ccw/devices/%s/online" % bus_id, "1") == "1"


def test_vfio_ccw_unbind_removes_unused_mdev(zhost, data_disk):
    bus_id, sch = data_disk
    css = "/sys/bus/css/devices/" + sch
    u = str(uuid.uuid4())
    zhost.ssh("""set -e
        echo 0 > /sys/bus/ccw/devices/{bus_id}/online
        echo vfio_ccw > {css}/driver_override
        echo {sch} > {css}/driver/unbind
        echo {sch} > /sys/bus/css/drivers_probe
        echo {u} > {css}/mdev_supported_types/vfio_ccw-io/create""".format(bus_id=bus_id, css=css, sch=sch, u=u),
              check=True)
    assert zhost.ssh("test -e /sys/bus/mdev/devices/%s" % u).returncode == 0
    assert write(zhost, css + "/driver/unbind", sch)[0]
    assert zhost.ssh("test -e /sys/bus/mdev/devices/%s" % u).returncode != 0


@pytest.fixture
def spare_pci(zhost):
    """The zPCI function nothing on the host uses (the virtio-rng one); rebound to virtio-pci after."""
    address = [f["address"] for f in zhost.devices["zpci"] if f["kind"] == "rng"][0]
    yield address
    zhost.ssh("""
        d=/sys/bus/pci/devices/{a}
        echo > $d/driver_override
        [ "$(basename "$(readlink $d/driver)")" = virtio-pci ] || {{
            [ -e $d/driver ] && echo {a} > $d/driver/unbind; echo {a} > /sys/bus/pci/drivers_probe; }}
    """.format(a=address))


def test_vfio_pci_bind_and_restore(zhost, spare_pci):
    a = spare_pci
    d = "/sys/bus/pci/devices/" + a
    group = zhost.ssh("basename $(readlink %s/iommu_group)" % d, check=True).stdout.strip()
    assert zhost.ssh("test -e /dev/vfio/%s" % group).returncode != 0
    assert write(zhost, d + "/driver_override", "vfio-pci")[0]
    assert write(zhost, d + "/driver/unbind", a)[0]
    assert write(zhost, "/sys/bus/pci/drivers_probe", a)[0]
    assert zhost.ssh("basename $(readlink %s/driver)" % d).stdout.strip() == "vfio-pci"
    assert zhost.ssh("test -c /dev/vfio/%s" % group).returncode == 0

    result = zhost.module("s390x.kvm.zpci_info")
    assert {f["address"]: f["driver"] for f in result["functions"]}[a] == "vfio-pci"

    assert write(zhost, d + "/driver_override", "''")[0]
    assert write(zhost, d + "/driver/unbind", a)[0]
    assert write(zhost, "/sys/bus/pci/drivers_probe", a)[0]
    assert zhost.ssh("basename $(readlink %s/driver)" % d).stdout.strip() == "virtio-pci"
    assert zhost.ssh("test -e /dev/vfio/%s" % group).returncode != 0
