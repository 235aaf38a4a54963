"""The one reader and writer of /proc/cio_ignore (blacklist.c formats; cio_settle as cio_ignore(8) uses it)."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._cio_ignore import CioIgnore
from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import BusIdError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS


class RecordingFS(HostFS):
    def __init__(self, root):
        super(RecordingFS, self).__init__(root)
        self.written = []

    def write(self, host_path, value):
        self.written.append((host_path, value))


def host(tmp_path, listing, settle=True):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cio_ignore").write_text(listing)
    if settle:
        (tmp_path / "proc" / "cio_settle").write_text("")
    return RecordingFS(str(tmp_path))


def test_reads_ids_and_ranges_as_sorted_keys(tmp_path):
    ignore = CioIgnore(host(tmp_path, "0.1.0000-0.1.00ff\n0.0.0100\n"))
    assert ignore.ranges() == [(0x100, 0x100), (0x10000, 0x100ff)]
    assert "0.1.0080" in ignore and "0.0.0100" in ignore and "0.0.0101" not in ignore


def test_an_empty_list_ignores_nothing(tmp_path):
    assert "0.0.0100" not in CioIgnore(host(tmp_path, ""))


def test_a_line_that_is_no_bus_id_is_an_error(tmp_path):
    with pytest.raises(BusIdError):
        CioIgnore(host(tmp_path, "garbage\n")).ranges()


def test_free_writes_one_command_per_run_of_ids_then_settles(tmp_path):
    fs = host(tmp_path, "")
    CioIgnore(fs).free(["0.0.0102", "0.0.0100", "0.0.0101", "0.0.0200", "0.0.ffff", "0.1.0000"])
    assert fs.written == [("/proc/cio_ignore", "free 0.0.0100-0.0.0102"), ("/proc/cio_ignore", "free 0.0.0200"),
                          ("/proc/cio_ignore", "free 0.0.ffff"), ("/proc/cio_ignore", "free 0.1.0000"),
                          ("/proc/cio_settle", "1")]


def test_add_does_not_settle_and_no_cio_settle_is_no_error(tmp_path):
    fs = host(tmp_path, "", settle=False)
    ignore = CioIgnore(fs)
    ignore.add(["0.0.0100"])
    ignore.settle()
    assert fs.written == [("/proc/cio_ignore", "add 0.0.0100")]


def test_the_list_is_read_again_after_a_write(tmp_path):
    fs = host(tmp_path, "0.0.0100\n")
    ignore = CioIgnore(fs)
    assert "0.0.0100" in ignore
    ignore.write(["free 0.0.0100"])
    (tmp_path / "proc" / "cio_ignore").write_text("")   # what the kernel would show now
    assert "0.0.0100" not in ignore and ignore.ranges() == []
