"""The per-device lock keeps two runs apart: a second holder waits, then times out with a message."""

import multiprocessing
import time

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import DeviceLock, VfioError


def hold(root, name, seconds, ready):
    with DeviceLock(HostFS(root), name, timeout=5):
        ready.set()
        time.sleep(seconds)


def test_second_run_waits_for_the_first(tmp_path):
    (tmp_path / "sys").mkdir()
    ready = multiprocessing.Event()
    other = multiprocessing.Process(target=hold, args=(str(tmp_path), "css-0.0.0004", 1.0, ready))
    other.start()
    try:
        assert ready.wait(10)
        start = time.monotonic()
        with DeviceLock(HostFS(str(tmp_path)), "css-0.0.0004", timeout=10):
            waited = time.monotonic() - start
        assert waited >= 0.5, "the lock did not make the second run wait"
    finally:
        other.join(10)


def test_lock_timeout_names_the_device_and_file(tmp_path):
    (tmp_path / "sys").mkdir()
    ready = multiprocessing.Event()
    other = multiprocessing.Process(target=hold, args=(str(tmp_path), "css-0.0.0005", 2.0, ready))
    other.start()
    try:
        assert ready.wait(10)
        with pytest.raises(VfioError) as err:
            with DeviceLock(HostFS(str(tmp_path)), "css-0.0.0005", timeout=0.3):
                pass
        assert "css-0.0.0005 is locked by another run" in str(err.value)
        assert "/run/lock/s390x-kvm/css-0.0.0005.lock" in str(err.value)
    finally:
        other.join(10)


def test_different_devices_do_not_block(tmp_path):
    (tmp_path / "sys").mkdir()
    fs = HostFS(str(tmp_path))
    with DeviceLock(fs, "css-0.0.0004", timeout=0.1):
        with DeviceLock(fs, "css-0.0.0005", timeout=0.1):
            pass
