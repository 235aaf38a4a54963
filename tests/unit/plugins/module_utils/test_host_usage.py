"""module_utils/host_usage.py: what the host uses, and failing closed where that cannot be told.

Trees are the small KVM host (tests/fixtures/hosts/small_kvm_host.yml) broken as a partial or
damaged host view breaks (tests/fixtures/degraded.py)."""

import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage, also_unknown_reason, unknown_reason

from tests.fixtures.degraded import GONE_SWAP, degrade
from tests.fixtures.sysfs_builder import build_host
from tests.unit.helpers import HOSTS

NO_CLASS_BLOCK = ("/sys/class/block is missing (so mounts, swap and device-mapper stacks cannot be traced to their "
                  "devices)")
NO_MOUNT_TABLE = ("/proc/self/mountinfo is missing and /proc/mounts is missing, so mounted file systems cannot be "
                  "traced to their devices")
ROOT_UNKNOWN = "the root file system's device is unknown: /dev/root mounted at / resolves to no block device"

# The small host's devices, by what they are: which may hold a block device and which cannot.
ONLINE_DASDS = ("0.0.0100", "0.0.0101", "0.0.0102", "0.0.0103", "0.0.0105", "0.0.0200")
CANNOT_HOLD = {"0.0.0104": "offline DASD", "0.0.01ff": "PAV alias", "0.0.0106": "bound to vfio_ccw",
               "0.0.f601": "member of an offline qeth group", "0.0.f501": "member of a qeth group"}
NVME, NIC = "0020:00:00.0", "0010:00:00.0"


@pytest.fixture
def small(tmp_path):
    return str(build_host(os.path.join(HOSTS, "small_kvm_host.yml"), tmp_path / "host"))


def usage_of(root, *breaks):
    degrade(root, *breaks)
    return HostUsage(HostFS(root), probe_labels=False)


def test_a_whole_tree_has_nothing_unknown(small):
    usage = usage_of(small)
    assert usage.unknown == [] and usage.warnings == []
    assert usage.ccw_use("0.0.0100") == {"in_use_by_host": True, "host_use": usage.for_ccw("0.0.0100"),
                                         "host_use_unknown": [], "host_use_state": "used"}
    assert usage.ccw_use("0.0.0105") == {"in_use_by_host": False, "host_use": [], "host_use_unknown": [],
                                         "host_use_state": "free"}
    assert usage.pci_use(NVME)["host_use_state"] == "used"     # /srv/nvme
    assert usage.pci_use(NIC)["host_use_state"] == "free"


@pytest.mark.parametrize("breaks, cause, source", [
    (("no_class_block",), NO_CLASS_BLOCK, "/sys/class/block"),
    (("no_mount_table",), NO_MOUNT_TABLE, "/proc/self/mountinfo"),
    (("no_swaps",), "/proc/swaps is missing, so active swap cannot be ruled out", "/proc/swaps"),
    (("unresolved_swap",), "swap device %s resolves to no block device" % GONE_SWAP, GONE_SWAP),
    (("root_unknown",), ROOT_UNKNOWN, "/dev/root"),
])
def test_each_cause_makes_every_device_that_may_hold_a_block_device_unknown(small, breaks, cause, source):
    usage = usage_of(small, *breaks)
    assert usage.unknown == [{"source": source, "reason": cause}]
    assert usage.warnings == ["cannot tell the host's use of its block devices: %s; devices that may hold a block device "
                              "are reported as not free (host_use_state unknown)" % cause]
    for bus_id in ONLINE_DASDS + ("0.0.1900",):      # and the FCP adapter: its LUNs are block devices
        use = usage.ccw_use(bus_id)
        assert use["in_use_by_host"] is True and use["host_use_unknown"] == [cause], bus_id
        assert use["host_use_state"] == ("used" if use["host_use"] else "unknown"), bus_id
    for bus_id, what in CANNOT_HOLD.items():
        assert usage.ccw_use(bus_id)["host_use_unknown"] == [], what
    assert usage.pci_use(NVME)["host_use_unknown"] == [cause]
    assert usage.pci_use(NIC) == {"in_use_by_host": False, "host_use": [], "host_use_unknown": [], "host_use_state": "free"}
    # a free online DASD is not free any more; what is proven stays proven
    assert usage.ccw_use("0.0.0105")["host_use_state"] == "unknown"
    assert usage.ccw_use("0.0.0100")["host_use"][0] == "IPL device (ccw)"


def test_without_class_block_nothing_else_is_listed(small):
    """Every mount and swap device would "resolve to nothing": the one cause says it."""
    usage = usage_of(small, "no_class_block", "root_unknown", "unresolved_swap")
    assert [u["source"] for u in usage.unknown] == ["/sys/class/block"]
    usage = usage_of(small, "no_mount_table", "no_swaps")
    assert [u["source"] for u in usage.unknown] == ["/sys/class/block", "/proc/self/mountinfo", "/proc/swaps"]


def test_the_swapped_dasd_is_unknown_not_free_when_its_swap_device_resolves_to_nothing(small):
    usage = usage_of(small, "unresolved_swap")
    assert usage.ccw_use("0.0.0101")["host_use"] == []
    assert usage.ccw_use("0.0.0101")["host_use_state"] == "unknown"


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def mountinfo(*entries):
    """proc(5) mountinfo lines: (device number, mount point, fs type, source)."""
    return "".join("%d 1 %s / %s rw,relatime shared:%d - %s %s rw\n" % (20 + i, devnum, point, i, fstype, source)
                   for i, (devnum, point, fstype, source) in enumerate(entries))


def test_mountinfo_device_numbers_resolve_what_the_source_does_not(small):
    """/dev/root is the root device's name when no initramfs mounted it; mountinfo's MAJOR:MINOR finds it."""
    os.remove(os.path.join(small, "proc/mounts"))
    write(small, "/proc/self/mountinfo", mountinfo(("94:1", "/", "ext4", "/dev/root"), ("0:22", "/proc", "proc", "proc"),
                                                   ("0:5", "/dev", "devtmpfs", "udev")))
    usage = usage_of(small)
    assert usage.unknown == []
    assert "/dev/dasda1: mounted at /" in usage.for_ccw("0.0.0100")
    # the same number unknown to /sys/dev/block: the root file system's device is unknown
    write(small, "/proc/self/mountinfo", mountinfo(("98:0", "/", "ext4", "/dev/root")))
    usage = usage_of(small)
    assert usage.unknown == [{"source": "/dev/root", "reason": ROOT_UNKNOWN + " (nor does its device number 98:0)"}]
    assert usage.ccw_use("0.0.0105")["host_use_state"] == "unknown"


@pytest.mark.parametrize("entry", [
    ("0:30", "/run", "tmpfs", "tmpfs"),
    ("0:31", "/var/lib/libvirt/images", "nfs4", "nfs.example.com:/images"),
    ("0:32", "/var/lib/containers/x/merged", "overlay", "overlay"),
    ("0:33", "/mnt/fuse", "fuse", "/dev/fuse"),                 # FUSE: the source is the mounter's free text
    ("0:34", "/mnt/sshfs", "fuse.sshfs", "/dev/whatever"),
])
def test_mounts_on_no_block_device_are_not_unknown(small, entry):
    write(small, "/proc/self/mountinfo", mountinfo(("94:1", "/", "ext4", "/dev/dasda1"), entry))
    assert usage_of(small).unknown == []


def test_btrfs_anonymous_device_number_resolves_by_its_source(small):
    """btrfs mounts show an anonymous device number (0:n) and the /dev source of one of its devices."""
    write(small, "/proc/self/mountinfo", mountinfo(("94:1", "/", "ext4", "/dev/dasda1"),
                                                   ("0:40", "/srv/b", "btrfs", "/dev/disk/by-path/ccw-0.0.0100-part1")))
    usage = usage_of(small)
    assert usage.unknown == [] and "/dev/dasda1: mounted at /srv/b" in usage.for_ccw("0.0.0100")
    write(small, "/proc/self/mountinfo", mountinfo(("94:1", "/", "ext4", "/dev/dasda1"),
                                                   ("0:40", "/srv/b", "btrfs", "/dev/disk/by-uuid/gone")))
    assert usage_of(small).unknown == [{"source": "/dev/disk/by-uuid/gone",
                                        "reason": "/dev/disk/by-uuid/gone mounted at /srv/b resolves to no block device"}]


def test_a_block_mount_that_resolves_to_nothing_is_unknown(small):
    write(small, "/proc/self/mountinfo", mountinfo(("94:1", "/", "ext4", "/dev/dasda1"),
                                                   ("99:9", "/data", "xfs", "/dev/mapper/gone")))
    assert usage_of(small).unknown == [{"source": "/dev/mapper/gone", "reason": "/dev/mapper/gone mounted at /data "
                                        "resolves to no block device (nor does its device number 99:9)"}]


def test_a_mount_table_without_root_is_unknown(small):
    """A kernel's table always has / (fixture trees get the initial rootfs); a chroot below a mount point
    hides the mounts outside it (fs/proc_namespace.c show_mountinfo skips what seq_path_root cannot reach)."""
    write(small, "/proc/self/mountinfo", mountinfo(("0:22", "/proc", "proc", "proc")))
    os.remove(os.path.join(small, "proc/mounts"))
    reason = "the mount table has no entry for /, so the root file system's device is unknown"
    assert usage_of(small).unknown == [{"source": "/proc/self/mountinfo", "reason": reason}]


def test_root_in_ram_is_not_unknown(small):
    write(small, "/proc/self/mountinfo", mountinfo(("0:1", "/", "rootfs", "rootfs")))
    os.remove(os.path.join(small, "proc/mounts"))
    assert usage_of(small).unknown == []


def test_swap_files_and_deleted_nodes(small):
    """A swap file lives in a mounted file system; a deleted node (d_path's " (deleted)") resolves to nothing."""
    write(small, "/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/swapfile                               file\t\t1024\t0\t-3\n")
    assert usage_of(small).unknown == []
    write(small, "/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/dasdx1\\040(deleted)   partition\t1024\t0\t-3\n")
    assert usage_of(small).unknown[0]["reason"] == "swap device /dev/dasdx1 resolves to no block device"


def test_an_unreadable_source_names_why(small):
    """A directory where /proc/swaps should be: read(2) fails with EISDIR."""
    os.remove(os.path.join(small, "proc/swaps"))
    os.mkdir(os.path.join(small, "proc/swaps"))
    (cause,) = usage_of(small).unknown
    assert cause["reason"] == "cannot read /proc/swaps: is a directory, not a file, so active swap cannot be ruled out"


def test_an_unreadable_lvm_label_is_unknown_not_proven_used(small):
    """Existing behaviour (the reason in host_use, in_use_by_host true) with the state telling it apart."""
    usage = HostUsage(HostFS(small))
    os.remove(os.path.join(small, "dev/dasde"))
    os.mkdir(os.path.join(small, "dev/dasde"))
    usage.probe_ccw_device("0.0.0105")
    use = usage.ccw_use("0.0.0105")
    assert use["in_use_by_host"] is True and use["host_use_state"] == "unknown" and use["host_use_unknown"] == []
    assert use["host_use"][0].startswith("unknown: cannot read /dev/dasde")


def test_refusal_texts():
    assert unknown_reason(["a", "b"]) == "cannot prove the host does not use it: a; b"
    assert also_unknown_reason([]) == ""
    assert also_unknown_reason(["a"]) == " (and cannot prove there is no other use: a)"
