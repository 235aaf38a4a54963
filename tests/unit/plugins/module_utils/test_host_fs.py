import errno
import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, HostFS, check_host_root


@pytest.fixture
def root(tmp_path):
    (tmp_path / "sys/bus/css/devices").mkdir(parents=True)
    (tmp_path / "dev/disk/by-path").mkdir(parents=True)
    (tmp_path / "sys/attr").write_text("3390/0c\n")
    (tmp_path / "dev/dasda1").write_text("")
    os.symlink("../../dasda1", str(tmp_path / "dev/disk/by-path/ccw-0.0.0100-part1"))
    os.symlink("/dev/dasda1", str(tmp_path / "dev/abs-link"))
    return tmp_path


def test_read_strips_newline_and_defaults(root):
    fs = HostFS(str(root))
    assert fs.read("/sys/attr") == "3390/0c"
    assert fs.read("/sys/missing", default="") == ""
    with pytest.raises(HostAccessError) as err:
        fs.read("/sys/missing")
    assert err.value.errno == errno.ENOENT
    assert "/sys/missing" in str(err.value) and "does not exist" in str(err.value)


def test_resolve_keeps_absolute_links_inside_root(root):
    fs = HostFS(str(root))
    assert fs.resolve("/dev/disk/by-path/ccw-0.0.0100-part1") == "/dev/dasda1"
    assert fs.resolve("/dev/abs-link") == "/dev/dasda1"


def test_resolve_loop_is_an_error(root):
    os.symlink("loop-b", str(root / "dev/loop-a"))
    os.symlink("loop-a", str(root / "dev/loop-b"))
    with pytest.raises(HostAccessError, match="too many levels"):
        HostFS(str(root)).resolve("/dev/loop-a")


def test_write_errors_name_the_value(root):
    fs = HostFS(str(root))
    with pytest.raises(HostAccessError) as err:
        fs.write("/sys/nope/attr", "1")
    assert "/sys/nope/attr" in str(err.value)


def test_host_root_validation(tmp_path, root):
    assert check_host_root(str(root)) is None
    assert "does not exist" in check_host_root(str(tmp_path / "absent"))
    assert "absolute path" in check_host_root("relative/dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "neither sys/ nor proc/" in check_host_root(str(empty))


def test_root_slash_means_no_prefix():
    fs = HostFS("/")
    assert fs.path("/sys/bus/css") == "/sys/bus/css"


def _in_thread(fn):
    """Run fn in a daemon thread; a read that blocks (the bug) fails the test instead of hanging it."""
    import threading
    result = {}

    def call():
        try:
            result["value"] = fn()
        except Exception as err:  # pylint: disable=broad-except
            result["error"] = err
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the read blocked"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_fifo_where_a_file_is_expected_does_not_block(root):
    # open(2) of a FIFO without writer blocks unless O_NONBLOCK; a host tree can hold one by mistake
    os.mkfifo(str(root / "sys/fifo"))
    fs = HostFS(str(root))
    assert _in_thread(lambda: fs.read("/sys/fifo", default="x")) in ("", "x")
    assert _in_thread(lambda: fs.read_abs(fs.path("/sys/fifo"), "x")) in ("", "x")
    assert _in_thread(lambda: fs.read_bytes("/sys/fifo", 2048)) == b""
    with pytest.raises(HostAccessError, match="neither a device nor a file"):
        _in_thread(lambda: fs.read_bytes("/sys/fifo", 2048, strict=True))
    assert fs.isfile("/sys/attr") and not fs.isfile("/sys/fifo")


def test_directory_where_a_file_is_expected(root):
    (root / "sys/dir_attr").mkdir()
    fs = HostFS(str(root))
    assert fs.read("/sys/dir_attr", default="") == ""
    assert fs.read_abs(fs.path("/sys/dir_attr"), "none") == "none"
    with pytest.raises(HostAccessError) as err:
        fs.read("/sys/dir_attr")
    assert "/sys/dir_attr" in str(err.value) and "is a directory" in str(err.value)
    # strict raw reads tell "unreadable" from "empty"
    assert fs.read_bytes("/sys/dir_attr", 512) == b""
    with pytest.raises(HostAccessError, match="is a directory"):
        fs.read_bytes("/sys/dir_attr", 512, strict=True)
    with pytest.raises(HostAccessError, match="does not exist"):
        fs.read_bytes("/dev/nope", 512, strict=True)
