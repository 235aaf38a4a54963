"""ccw_info against fixture trees that mirror the kernel's sysfs (tests/fixtures/hosts)."""

import json
import os

import pytest

from tests.unit.helpers import snapshot


@pytest.fixture(scope="module")
def small(host_tree):
    return host_tree("small_kvm_host")


def by_id(items, key="bus_id"):
    return dict((i[key], i) for i in items)


def test_small_host_devices_and_subchannels(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, subchannels="all")
    assert rc == 0 and res["s390x_host"] is True and res["changed"] is False
    devices = by_id(res["devices"])
    # DASD 0.0.0100 is the first device created: subchannel 0.0.0000 (creation order, like the kernel)
    root = devices["0.0.0100"]
    assert root["subchannel"] == "0.0.0000"
    assert root["kind"] == "dasd" and root["driver"] == "dasd-eckd"
    assert root["cutype"] == "3990/e9" and root["devtype"] == "3390/0c"
    assert root["online"] is True and root["availability"] == "good"
    assert root["dasd"]["type"] == "ECKD" and root["dasd"]["block_device"] == "dasda"
    assert root["dasd"]["partitions"] == ["dasda1"]
    assert devices["0.0.0200"]["dasd"]["type"] == "FBA"
    assert devices["0.0.01ff"]["dasd"]["alias"] is True
    offline = devices["0.0.0104"]
    assert offline["online"] is False and offline["dasd"]["block_device"] is None
    assert devices["0.0.1900"]["kind"] == "zfcp"
    assert devices["0.0.f500"]["kind"] == "qeth" and devices["0.0.7000"]["kind"] == "qeth"
    subchannels = by_id(res["subchannels"])
    sch = subchannels[root["subchannel"]]
    assert sch["type"] == 0 and sch["type_name"] == "io" and sch["driver"] == "io_subchannel"
    assert sch["dev_busid"] == "0.0.0100" and sch["driver_override"] is None
    assert sch["pim"] != "00" and sch["chpids"] and all(len(c) == 2 for c in sch["chpids"])
    # every device sits on a subchannel that names it
    for dev in res["devices"]:
        assert subchannels[dev["subchannel"]]["dev_busid"] == dev["bus_id"]


def test_default_subchannels_leave_out_what_device_records_say(run_module, small):
    """A device's own subchannel (io_subchannel, no override, all paths available) is named by the
    device record; the default result does not ship it twice. Every other subchannel is listed."""
    rc, full = run_module("ccw_info", host_root=small, subchannels="all")
    rc, res = run_module("ccw_info", host_root=small)
    devices = by_id(res["devices"])
    listed = by_id(res["subchannels"])
    assert res["summary"]["subchannels"] == len(full["subchannels"]) > len(listed) > 0
    for sch in full["subchannels"]:
        plain = (sch["type"] == 0 and sch["dev_busid"] in devices and sch["driver"] == "io_subchannel"
                 and sch["driver_override"] is None and sch["pam"] == sch["pim"]
                 and int(sch["pom"], 16) & int(sch["pim"], 16) == int(sch["pim"], 16))
        assert (sch["bus_id"] in listed) is not plain, sch["bus_id"]
        if not plain:
            assert listed[sch["bus_id"]] == sch     # listed ones keep every field
    # the vfio_ccw-bound DASD is not a device of the host: its subchannel is listed
    assert listed["0.0.0010"]["driver"] == "vfio_ccw" and "0.0.0106" not in devices
    # without devices gathered, nothing stands for a subchannel: all are listed
    rc, only = run_module("ccw_info", host_root=small, gather=["subchannels"])
    assert only["subchannels"] == full["subchannels"]


def test_subchannels_option_is_validated(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, subchannels="some")
    assert rc != 0 and "subchannels" in res["msg"] and "compact" in res["msg"]


def test_vfio_ccw_subchannel_reports_its_mdev(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, gather=["subchannels"])
    sch = by_id(res["subchannels"])["0.0.0010"]
    assert sch["driver"] == "vfio_ccw" and sch["driver_override"] == "vfio_ccw"
    assert sch["dev_busid"] == "0.0.0106"
    assert sch["mdevs"] == ["3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"]


def test_host_usage_reasons(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, kinds=["dasd"])
    devices = by_id(res["devices"])
    assert any("IPL device" in r for r in devices["0.0.0100"]["host_use"])
    assert any("mounted at /" in r for r in devices["0.0.0100"]["host_use"])
    assert any("swap" in r for r in devices["0.0.0101"]["host_use"])
    assert any("LVM physical volume" in r and "vg_images" in r for r in devices["0.0.0102"]["host_use"])
    assert any("through dm-" in r and "/var/lib/libvirt/images" in r for r in devices["0.0.0102"]["host_use"])
    # inactive volume group: only the on-disk LVM2 label tells
    assert devices["0.0.0103"]["host_use"] == ["LVM physical volume (LVM2 label on /dev/dasdd1)"]
    for free in ("0.0.0104", "0.0.0105", "0.0.0200"):
        assert devices[free]["in_use_by_host"] is False and devices[free]["host_use"] == []
    assert res["ipl"] == {"type": "ccw", "device": "0.0.0100"}
    assert res["summary"]["in_use_by_host"] == sum(1 for d in res["devices"] if d["in_use_by_host"])


def test_qeth_groups_and_ip_carrying(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, kinds=["qeth"])
    groups = by_id(res["qeth"])
    osa = groups["0.0.f500"]
    assert osa["devices"] == ["0.0.f500", "0.0.f501", "0.0.f502"]
    assert osa["card_type"] == "OSD_10GIG" and osa["layer2"] is True and osa["if_name"] == "encf500"
    assert osa["carries_host_ip"] is True and osa["online"] is True
    idle = groups["0.0.f600"]
    assert idle["carries_host_ip"] is False and idle["if_name"] is None and idle["online"] is False
    assert groups["0.0.7000"]["card_type"] == "HiperSockets" and groups["0.0.7000"]["carries_host_ip"] is True
    members = by_id(res["devices"])
    assert members["0.0.f501"]["in_use_by_host"] is True
    assert members["0.0.f601"]["in_use_by_host"] is False


def test_zfcp_ports_and_luns(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, gather=["devices", "zfcp"])
    adapter = by_id(res["zfcp"])["0.0.1900"]
    assert adapter["ports"] == [{"wwpn": "0x500507630300c562", "luns": ["0x4010400000000000"]}]


def test_channel_paths(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, gather=["channel_paths"])
    paths = by_id(res["channel_paths"], "id")
    assert paths["0.40"]["type"] == "1a" and paths["0.40"]["status"] == "online" and paths["0.40"]["chid"] == "0140"
    assert set(res) >= {"channel_paths", "summary"} and "devices" not in res


def test_filters_by_range_devno_and_kind(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, bus_ids=["0.0.0100-0.0.0103", "0x200"], gather=["devices"])
    assert [d["bus_id"] for d in res["devices"]] == ["0.0.0100", "0.0.0101", "0.0.0102", "0.0.0103", "0.0.0200"]
    rc, res = run_module("ccw_info", host_root=small, kinds=["zfcp"], gather=["devices", "subchannels"], subchannels="all")
    assert [d["bus_id"] for d in res["devices"]] == ["0.0.1900"]
    assert [s["dev_busid"] for s in res["subchannels"]] == ["0.0.1900"]


@pytest.mark.parametrize("args, fragment", [
    ({"bus_ids": ["0.0.zzzz"]}, "invalid bus ID '0.0.zzzz'"),
    ({"bus_ids": ["0.0.10000"]}, "out of range"),
    ({"bus_ids": ["0.0.0200-0.0.0100"]}, "comes after"),
    ({"kinds": ["floppy"]}, "floppy"),
    # YAML numbers: an unquoted 0x100 is 256, which Ansible would turn into devno 0x0256
    ({"bus_ids": [0x100]}, "bus_ids: 256 is a number, not text: YAML reads an unquoted 0x100 as 256"),
    ({"bus_ids": ["1.0.0100"]}, "bus_ids: invalid bus ID '1.0.0100': channel subsystem 1 does not exist for Linux"),
    ({"bus_ids": "0.0.0100,0.4.0100"}, "subchannel set 4 is out of range 0-3"),
    ({"gather": ["disks"]}, "disks"),
    ({"host_usage": "maybe"}, "maybe"),
])
def test_bad_input_names_the_value(run_module, small, args, fragment):
    rc, res = run_module("ccw_info", host_root=small, **args)
    assert rc != 0 and res.get("failed") is True
    assert fragment in res["msg"]


def test_missing_host_root(run_module, tmp_path):
    rc, res = run_module("ccw_info", host_root=str(tmp_path / "nope"))
    assert rc != 0 and "host_root" in res["msg"] and "does not exist" in res["msg"]


def test_not_an_s390x_host(run_module, host_tree):
    root = host_tree("non_s390x_host")
    rc, res = run_module("ccw_info", host_root=root)
    assert rc == 0 and res["s390x_host"] is False and res["devices"] == [] and "not an IBM Z" in res["msg"]
    rc, res = run_module("ccw_info", host_root=root, require_s390x=True)
    assert rc != 0 and "not an IBM Z" in res["msg"]


def test_cio_ignore_host(run_module, host_tree):
    root = host_tree("cio_ignore_host")
    rc, res = run_module("ccw_info", host_root=root, gather=["devices", "cio_ignore"])
    assert res["cio_ignore"], "the cio_ignore host has ignored ranges"
    with open(os.path.join(root, "proc/cio_ignore")) as handle:
        lines = [line.strip() for line in handle if line.strip()]
    assert [r["start"] if r["start"] == r["end"] else "%s-%s" % (r["start"], r["end"]) for r in res["cio_ignore"]] == lines
    # no visible device is inside an ignored range
    from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdSet
    ignored = BusIdSet(lines)
    assert not [d["bus_id"] for d in res["devices"] if d["bus_id"] in ignored]


@pytest.mark.parametrize("host", ["small_kvm_host", "lpar_mixed", "kvm_guest"])
@pytest.mark.parametrize("check_mode", [False, True])
def test_read_only(run_module, host_tree, host, check_mode):
    root = host_tree(host)
    before = snapshot(root)
    for name in ("ccw_info", "zpci_info", "ap_info"):
        rc, res = run_module(name, host_root=root, _ansible_check_mode=check_mode)
        assert rc == 0 and res["changed"] is False, res.get("msg")
    assert snapshot(root) == before


@pytest.mark.parametrize("make", ["dir", "fifo"])
def test_unreadable_dasd_is_not_reported_free(run_module, tmp_path, make):
    """Without root /dev/dasd* cannot be read (emulated here, as root, by a directory or a FIFO
    where the device node is): a PV of an inactive volume group must not look free."""
    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    root = str(build_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "host"))
    node = os.path.join(root, "dev/dasdd1")
    os.remove(node)
    os.mkdir(node) if make == "dir" else os.mkfifo(node)
    rc, res = run_module("ccw_info", host_root=root, kinds=["dasd"], gather=["devices"])
    assert rc == 0, res.get("msg")
    devices = by_id(res["devices"])
    pv = devices["0.0.0103"]
    assert pv["in_use_by_host"] is True
    assert len(pv["host_use"]) == 1 and pv["host_use"][0].startswith("unknown: cannot read /dev/dasdd1")
    # ansible-core 2.19 returns warnings as structured events: look at their text
    warnings = json.dumps(res.get("warnings", []))
    assert "cannot read /dev/dasdd1" in warnings and "become: true" in warnings
    # the readable free DASD stays free
    assert devices["0.0.0105"]["in_use_by_host"] is False


@pytest.fixture(scope="module")
def lpar(host_tree):
    return host_tree("lpar_mixed")


def test_subchannels_without_ccw_device(run_module, lpar):
    rc, res = run_module("ccw_info", host_root=lpar, gather=["subchannels"], host_usage=False)
    assert rc == 0
    subchannels = by_id(res["subchannels"])
    assert (subchannels["0.0.ff00"]["type_name"], subchannels["0.0.ff00"]["driver"]) == ("chsc", "chsc_subchannel")
    assert (subchannels["0.0.ff01"]["type_name"], subchannels["0.0.ff01"]["driver"]) == ("message", None)
    assert (subchannels["0.0.ff02"]["type_name"], subchannels["0.0.ff02"]["driver"]) == ("adm", "eadm_subchannel")
    # io_subchannel_type_attrs exist only on I/O subchannels
    assert "chpids" not in subchannels["0.0.ff00"] and "dev_busid" not in subchannels["0.0.ff01"]
    gone = subchannels["0.0.ff03"]
    assert gone["type_name"] == "io" and gone["dev_busid"] is None and gone["chpids"] == ["40"]
    # no device record stands for any of them: the default (compact) list beside the devices keeps them all
    rc, res = run_module("ccw_info", host_root=lpar, gather=["subchannels", "devices"], host_usage=False)
    assert set(["0.0.ff00", "0.0.ff01", "0.0.ff02", "0.0.ff03"]) <= set(by_id(res["subchannels"]))
    # a filter on the subchannel's own ID finds it; a kinds filter drops subchannels without a device
    rc, res = run_module("ccw_info", host_root=lpar, gather=["subchannels"], bus_ids=["0.0.ff00-0.0.ff03"])
    assert [s["bus_id"] for s in res["subchannels"]] == ["0.0.ff00", "0.0.ff01", "0.0.ff02", "0.0.ff03"]
    rc, res = run_module("ccw_info", host_root=lpar, gather=["subchannels"], bus_ids=["0.0.ff00-0.0.ff03"], kinds=["dasd"])
    assert res["subchannels"] == []


def test_orphaned_boxed_offline_and_ssid1_dasds(run_module, lpar):
    rc, res = run_module("ccw_info", host_root=lpar, kinds=["dasd"], gather=["devices"])
    devices = by_id(res["devices"])
    # the orphan lives below css0/defunct: no subchannel, "no device", but still the host's /data
    orphan = devices["0.0.0150"]
    assert orphan["subchannel"] is None and orphan["availability"] == "no device"
    assert orphan["dasd"]["block_device"] == "dasdc" and orphan["online"] is True
    assert orphan["in_use_by_host"] is True and "/dev/dasdc1: mounted at /data" in orphan["host_use"]
    boxed = devices["0.0.0140"]
    assert boxed["availability"] == "boxed" and boxed["online"] is False and boxed["dasd"]["block_device"] is None
    fba = devices["0.0.0151"]
    assert fba["dasd"]["type"] == "FBA" and fba["dasd"]["block_device"] is None and fba["dasd"]["uid"] is None
    root = devices["0.1.0100"]
    assert root["subchannel"] == "0.1.0000" and root["host_use"] == ["IPL device (eckd)", "/dev/dasda1: mounted at /"]
    assert devices["0.1.01fe"]["dasd"]["alias"] is True and devices["0.1.01fe"]["dasd"]["uid"].endswith(".fe")
    assert devices["0.1.0101"]["in_use_by_host"] is False
    # the orphan answers to bus ID filters like any device
    rc, res = run_module("ccw_info", host_root=lpar, bus_ids=["0.0.0150"], gather=["devices"])
    assert [d["bus_id"] for d in res["devices"]] == ["0.0.0150"]


def test_stacked_interfaces_mark_every_group_member(run_module, lpar):
    rc, res = run_module("ccw_info", host_root=lpar)
    devices = by_id(res["devices"])
    groups = by_id(res["qeth"])
    # an address on a bond, a VLAN or a bridge is carried by the OSA below it
    for group, via in (("0.0.f500", "bond0"), ("0.0.f600", "bond0"), ("0.0.f700", "encf700.100"), ("0.0.f800", "br0")):
        assert groups[group]["carries_host_ip"] is True and "(interface %s)" % via in groups[group]["host_use"][0]
        for member in groups[group]["devices"]:
            assert devices[member]["in_use_by_host"] is True
    assert groups["0.0.f500"]["layer2"] is False and groups["0.0.f900"]["carries_host_ip"] is False
    assert groups["0.0.7100"]["card_type"] == "HiperSockets" and groups["0.0.7100"]["layer2"] is False
    # CTC and LCS are ccwgroup devices too, but not qeth
    assert set(groups) == {"0.0.f500", "0.0.f600", "0.0.f700", "0.0.f800", "0.0.f900", "0.0.7100"}
    assert devices["0.0.0600"]["kind"] == "ctc" and devices["0.0.0700"]["kind"] == "lcs"
    # both CTC subchannels carry ctc0, not only the one the group is named after
    for member in ("0.0.0600", "0.0.0601"):
        assert devices[member]["host_use"] == ["ctcm group 0.0.0600: carries the host's IPv4 routes (interface ctc0)"]
    assert devices["0.0.0701"]["in_use_by_host"] is False


def test_channel_paths_of_many_types(run_module, lpar):
    rc, res = run_module("ccw_info", host_root=lpar, gather=["channel_paths", "subchannels"], bus_ids=["0.1.0100"])
    paths = by_id(res["channel_paths"], "id")
    assert {p["type"] for p in paths.values()} == {"1a", "11", "24", "25"}
    assert paths["0.42"]["status"] == "offline" and paths["0.42"]["shared"] == 0
    assert paths["0.f1"]["chid"] is None
    (sch,) = res["subchannels"]
    assert sch["chpids"] == ["40", "41", "42"] and sch["pim"] == "e0"


def test_missing_optional_attributes_do_not_break_discovery(run_module, tmp_path):
    """Older kernels lack attributes (driver_override before 5.3, availability, chid, ...)."""
    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    root = str(build_host(os.path.join(HOSTS, "lpar_mixed.yml"), tmp_path / "old"))
    removed = 0
    for dirpath, _dirs, files in os.walk(os.path.join(root, "sys/devices")):
        for name in files:
            if name in ("driver_override", "availability", "chid", "cmg", "shared", "pimpampom", "chpids",
                        "type", "uid", "alias", "card_type", "layer2", "if_name", "status", "cutype"):
                os.remove(os.path.join(dirpath, name))
                removed += 1
    assert removed > 100
    rc, res = run_module("ccw_info", host_root=root, subchannels="all")
    assert rc == 0, res.get("msg")
    devices = by_id(res["devices"])
    assert devices["0.1.0100"]["availability"] is None and devices["0.1.0100"]["dasd"]["uid"] is None
    assert devices["0.1.0100"]["kind"] == "dasd"   # by its driver when cutype is gone
    assert by_id(res["channel_paths"], "id")["0.40"]["type"] is None
    assert by_id(res["subchannels"])["0.1.0000"]["chpids"] == []


def test_devices_as_a_table_and_bad_table_arguments(run_module, lpar):
    """The main job prints ccw_info's devices with to_table: real output, and wrong arguments."""
    from ansible.errors import AnsibleFilterError

    from ansible_collections.s390x.kvm.plugins.filter.to_table import to_table
    rc, res = run_module("ccw_info", host_root=lpar, kinds=["dasd"], gather=["devices"])
    lines = to_table(res["devices"], ["bus_id", "subchannel", "dasd.type=type", "availability", "in_use_by_host=host uses",
                                      "host_use"], max_width=40)
    assert lines[0].split() == ["bus_id", "subchannel", "type", "availability", "host", "uses", "host_use"]
    orphan = [line for line in lines if line.startswith("0.0.0150")][0]
    assert orphan.split()[:5] == ["0.0.0150", "-", "ECKD", "no", "device"]
    assert len(lines) == 2 + len(res["devices"]) and all(len(line) < 200 for line in lines)
    # a value with a line break stays on its row
    assert len(to_table([{"a": "one\ntwo"}], ["a"])) == 3
    for args, fragment in ((([{"a": 1}], "a"), "columns must be a list"),
                           (([{"a": 1}], ["a"], -1), "max_width must be a whole number >= 0"),
                           ((["0.0.0100"], ["a"]), "item 0 is str '0.0.0100'"),
                           (({"a": 1}, ["a"]), "expects a list of dictionaries")):
        with pytest.raises(AnsibleFilterError, match=fragment):
            to_table(*args)


def test_kvm_guest_view(run_module, host_tree):
    """What a KVM guest sees (the real 6.12 dump): CHPID 00 of type 32 on every subchannel,
    virtio-ccw devices without a device type; the disk and the interface the guest runs on
    are its own, the second disk and the zPCI NIC without address are free, the zPCI disk is mounted."""
    root = host_tree("kvm_guest")
    rc, res = run_module("ccw_info", host_root=root, subchannels="all")
    assert rc == 0 and res["s390x_host"] is True
    devices = by_id(res["devices"])
    assert all(d["kind"] == "virtio" and d["devtype"] is None and d["driver"] == "virtio_ccw" for d in devices.values())
    assert by_id(res["subchannels"])["0.0.0001"]["chpids"] == ["00"]   # "00" is a real CHPID here (PIM 80)
    assert by_id(res["channel_paths"], "id")["0.00"]["type"] == "32"
    assert devices["0.0.0001"]["host_use"] == ["IPL device (ccw)", "/dev/vda1: mounted at /"]
    assert devices["0.0.0002"]["host_use"] == ["carries the host's IPv4 routes (interface eth0)"]
    assert devices["0.0.0003"]["in_use_by_host"] is False and devices["0.0.0000"]["in_use_by_host"] is False
    rc, res = run_module("zpci_info", host_root=root)
    nic, disk = res["functions"]
    # a virtio-pci function's interface and disk are found below its virtio device
    assert nic["address"] == "0005:00:00.0" and nic["netdevs"] == ["eth1"] and nic["in_use_by_host"] is False
    assert disk["address"] == "0006:00:00.0" and disk["block_devices"] == ["vdc"] and disk["netdevs"] == []
    assert disk["host_use"] == ["/dev/vdc: mounted at /srv"]


def test_md_members_and_every_btrfs_device_are_used(run_module, lpar):
    """/proc/mounts names one device of a multi-device btrfs, and an assembled md array holds
    its members even unmounted: all of them belong to the host."""
    rc, res = run_module("ccw_info", host_root=lpar, kinds=["dasd"], gather=["devices"])
    devices = by_id(res["devices"])
    for member in ("0.1.0102", "0.1.0103"):
        assert devices[member]["host_use"] == ["/dev/%s1: member of RAID array md0" % devices[member]["dasd"]["block_device"]]
    fsid = "6d1c5a3e-0b1f-4a55-9c2e-2a4b8f0d7e11"
    assert "/dev/dasdg1: device of mounted btrfs file system %s" % fsid in devices["0.1.0105"]["host_use"]
    assert set(devices["0.1.0104"]["host_use"]) == {"/dev/dasdf1: mounted at /srv/btrfs",
                                                    "/dev/dasdf1: device of mounted btrfs file system %s" % fsid}
    assert devices["0.1.0101"]["in_use_by_host"] is False


# -- failing closed: the host's use cannot be determined (issue 11, part 5) ------------------------

UNKNOWN_CAUSES = {
    "no_class_block": "/sys/class/block is missing (so mounts, swap and device-mapper stacks cannot be traced to their devices)",
    "no_mount_table": "/proc/self/mountinfo is missing and /proc/mounts is missing, so mounted file systems cannot be "
                      "traced to their devices",
    "unresolved_swap": "swap device /dev/disk/by-id/ccw-IBM.750000000ABC12.0101.01-part1 resolves to no block device",
    "root_unknown": "the root file system's device is unknown: /dev/root mounted at / resolves to no block device",
}


def degraded_small(tmp_path, *breaks):
    from tests.fixtures.degraded import degrade
    from tests.fixtures.sysfs_builder import build_host
    from tests.unit.helpers import HOSTS
    return degrade(str(build_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "host")), *breaks)


def test_a_whole_host_reports_every_device_proven(run_module, small):
    rc, res = run_module("ccw_info", host_root=small, gather=["devices", "zfcp"])
    assert res["host_usage_unknown"] == [] and res["summary"]["host_use_unknown"] == 0
    for dev in res["devices"] + res["zfcp"]:
        assert dev["host_use_unknown"] == []
        assert dev["host_use_state"] == ("used" if dev["host_use"] else "free"), dev["bus_id"]


@pytest.mark.parametrize("brk", sorted(UNKNOWN_CAUSES))
def test_devices_whose_use_cannot_be_told_are_not_reported_free(run_module, tmp_path, brk):
    root = degraded_small(tmp_path, brk)
    cause = UNKNOWN_CAUSES[brk]
    rc, res = run_module("ccw_info", host_root=root, gather=["devices", "zfcp"])
    assert rc == 0, res.get("msg")
    devices = by_id(res["devices"])
    # said per device: the free online DASD and the FCP adapter (its LUNs) may be in use
    for bus_id in ("0.0.0105", "0.0.0200", "0.0.1900"):
        dev = devices[bus_id]
        assert (dev["in_use_by_host"], dev["host_use"], dev["host_use_unknown"], dev["host_use_state"]) == \
            (True, [], [cause], "unknown"), bus_id
    assert by_id(res["zfcp"])["0.0.1900"]["host_use_state"] == "unknown"
    # a device with a proven use stays used, and says what else could not be told
    assert devices["0.0.0100"]["host_use_state"] == "used" and devices["0.0.0100"]["host_use_unknown"] == [cause]
    # devices that cannot hold a block device stay free: offline, PAV alias, qeth members
    for bus_id in ("0.0.0104", "0.0.01ff", "0.0.f601"):
        assert devices[bus_id]["host_use_state"] == "free" and devices[bus_id]["in_use_by_host"] is False, bus_id
    assert res["host_usage_unknown"] == [dict(source=res["host_usage_unknown"][0]["source"], reason=cause)]
    assert res["summary"]["host_use_unknown"] == sum(1 for d in res["devices"] if d["host_use_state"] == "unknown") >= 3
    assert res["summary"]["in_use_by_host"] == sum(1 for d in res["devices"] if d["in_use_by_host"])
    warnings = json.dumps(res.get("warnings", []))
    assert json.dumps("cannot tell the host's use of its block devices: " + cause)[1:-1] in warnings
    # the filter of the module's example takes no device that is not proven free
    assert "0.0.0105" not in [d["bus_id"] for d in res["devices"] if not d["in_use_by_host"]]
