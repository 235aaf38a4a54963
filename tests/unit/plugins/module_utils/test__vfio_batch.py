"""The one batch runner of the VFIO modules, driven by a driver that keeps its devices in memory:
lock order, re-reading under the lock, roll-back newest first, check mode, diff."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio import batch
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.batch import BatchFailed, Driver, Step, batch_diff, run_batch
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS


class MemoryDriver(Driver):
    """Devices whose state is one word; a target is the word. ``fail_on`` devices fail their step,
    ``restore_fails`` devices cannot be restored."""

    def __init__(self, fs, words, fail_on=(), restore_fails=()):
        super(MemoryDriver, self).__init__(fs)
        self.words, self.fail_on, self.restore_fails = dict(words), set(fail_on), set(restore_fails)
        self.log = []

    def lock_name(self, device):
        return "mem-" + device

    def read(self, device):
        self.log.append(("read", device))
        return {"item": device, "word": self.words[device]}

    def plan(self, state, target):
        if state["word"] == target:
            return []
        return [Step("set", "set %s to %s" % (state["item"], target), target)]

    def apply(self, state, target, steps):
        for step in steps:
            self.log.append(("apply", state["item"], step.value))
            self.words[state["item"]] = step.value
            if state["item"] in self.fail_on:
                raise VfioError("write failed")

    def restore(self, device, snapshot):
        self.log.append(("restore", device))
        if device in self.restore_fails:
            raise VfioError("cannot restore")
        self.words[device] = snapshot["word"]

    def describe(self, state):
        return {"word": state["word"]}

    def predict(self, before, target, steps):
        return {"word": target} if steps else dict(before)


class RecordingLock(object):
    taken = []

    def __init__(self, fs, name, timeout):
        self.name = name

    def __enter__(self):
        RecordingLock.taken.append(("lock", self.name))
        return self

    def __exit__(self, *exc):
        RecordingLock.taken.append(("unlock", self.name))
        return False


@pytest.fixture
def locks(monkeypatch):
    RecordingLock.taken = []
    monkeypatch.setattr(batch, "DeviceLock", RecordingLock)
    return RecordingLock.taken


def driver(tmp_path, **kwargs):
    return MemoryDriver(HostFS(str(tmp_path)), {"c": "old", "a": "old", "b": "new"}, **kwargs)


def test_changes_each_device_under_locks_taken_in_sorted_order(tmp_path, locks):
    drv = driver(tmp_path)
    entries = run_batch(drv, ["c", "a", "b"], {"c": "new", "a": "new", "b": "new"}, False, 5, None)
    assert [lock for lock in locks if lock[0] == "lock"] == [("lock", "mem-a"), ("lock", "mem-b"), ("lock", "mem-c")]
    assert locks[-3:] == [("unlock", "mem-c"), ("unlock", "mem-b"), ("unlock", "mem-a")]
    assert [(e.item, e.changed, e.step_texts) for e in entries] == [
        ("c", True, ["set c to new"]), ("a", True, ["set a to new"]), ("b", False, [])]
    assert entries[0].before == {"word": "old"} and entries[0].after == {"word": "new"}
    assert drv.words == {"a": "new", "b": "new", "c": "new"}


def test_a_failed_step_rolls_back_every_changed_device_newest_first(tmp_path, locks):
    drv = driver(tmp_path, fail_on=["b"])
    drv.words["b"] = "old"
    with pytest.raises(BatchFailed) as err:
        run_batch(drv, ["a", "c", "b"], {"a": "new", "b": "new", "c": "new"}, False, 5, None)
    assert err.value.item == "b" and err.value.rolled_back == ["b", "c", "a"]
    assert str(err.value) == "b: write failed; rolled back: b, c, a"
    assert err.value.details == {"rolled_back": ["b", "c", "a"]} and err.value.steps == ["set b to new"]
    assert drv.words == {"a": "old", "b": "old", "c": "old"}
    assert locks[-1] == ("unlock", "mem-a"), "the locks are held through the roll-back"


def test_a_device_that_cannot_be_restored_is_warned_about_and_not_reported_rolled_back(tmp_path, locks):
    drv = driver(tmp_path, fail_on=["c"], restore_fails=["a"])
    warnings = []
    with pytest.raises(BatchFailed) as err:
        run_batch(drv, ["a", "c"], {"a": "new", "c": "new"}, False, 5, warnings.append)
    assert err.value.rolled_back == ["c"] and warnings == ["roll-back of a failed: cannot restore"]


def test_a_failure_before_any_change_has_nothing_to_roll_back(tmp_path, locks):
    drv = driver(tmp_path, fail_on=["a"], restore_fails=["a"])
    warnings = []
    with pytest.raises(BatchFailed) as err:
        run_batch(drv, ["b", "a"], {"a": "new", "b": "new"}, False, 5, warnings.append)
    assert str(err.value) == "a: write failed; nothing to roll back"


def test_unchanged_devices_are_not_rolled_back(tmp_path, locks):
    drv = driver(tmp_path, fail_on=["c"])
    with pytest.raises(BatchFailed) as err:
        run_batch(drv, ["b", "c"], {"b": "new", "c": "new"}, False, 5, None)
    assert err.value.rolled_back == ["c"] and ("restore", "b") not in drv.log


def test_each_device_is_read_again_under_its_lock(tmp_path, locks):
    drv = driver(tmp_path)
    drv.words["a"] = "new"   # changed by another run between the module's checks and the batch
    entries = run_batch(drv, ["a"], {"a": "new"}, False, 5, None)
    assert not entries[0].changed and ("apply", "a", "new") not in drv.log


def test_check_mode_takes_no_lock_changes_nothing_and_predicts(tmp_path, locks):
    drv = driver(tmp_path, fail_on=["a", "b", "c"])
    entries = run_batch(drv, ["a", "b"], {"a": "new", "b": "new"}, True, 5, None)
    assert locks == [] and not [e for e in drv.log if e[0] != "read"]
    assert [(e.item, e.changed, e.after) for e in entries] == [("a", True, {"word": "new"}), ("b", False, {"word": "new"})]


def test_diff_holds_the_devices_that_changed(tmp_path, locks):
    entries = run_batch(driver(tmp_path), ["a", "b"], {"a": "new", "b": "new"}, False, 5, None)
    assert batch_diff(entries) == {"before": {"a": {"word": "old"}}, "after": {"a": {"word": "new"}}}


def test_the_real_lock_is_taken_in_the_host_tree(tmp_path):
    (tmp_path / "run").mkdir()
    run_batch(driver(tmp_path), ["a"], {"a": "new"}, False, 5, None)
    assert (tmp_path / "run" / "lock" / "s390x-kvm" / "mem-a.lock").exists()


def test_steps_default_to_no_value():
    assert Step("bind", "probe it") == ("bind", "probe it", None)
