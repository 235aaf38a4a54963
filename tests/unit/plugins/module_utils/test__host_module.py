"""module_utils/host_module.py: the host modules' scaffold (host_root checks, the non-s390x
finish, run_host_module's failures) with a stand-in for AnsibleModule."""

import errno

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostAccessError, HostFS
from ansible_collections.s390x.kvm.plugins.module_utils._host_module import (
    HOST_ROOT_SPEC, NOT_S390X_MSG, not_s390x, open_host, run_host_module)


class Finished(Exception):
    def __init__(self, how, result):
        super(Finished, self).__init__(how)
        self.how, self.result = how, result


class FakeModule(object):
    """What run_host_module uses of AnsibleModule: params, exit_json and fail_json (which end the run)."""
    created = []

    def __init__(self, argument_spec=None, supports_check_mode=False, **kwargs):
        self.argument_spec, self.supports_check_mode, self.kwargs = argument_spec, supports_check_mode, kwargs
        self.params = dict((k, v.get("default")) for k, v in (argument_spec or {}).items())
        FakeModule.created.append(self)

    def exit_json(self, **result):
        raise Finished("exit", result)

    def fail_json(self, **result):
        raise Finished("fail", result)


def finish(call, *args, **kwargs):
    with pytest.raises(Finished) as end:
        call(*args, **kwargs)
    return end.value.how, end.value.result


def module_with(**params):
    module = FakeModule()
    module.params = params
    return module


def test_open_host_on_a_tree(tmp_path):
    (tmp_path / "sys").mkdir()
    fs = open_host(module_with(host_root=str(tmp_path)))
    assert fs.root == str(tmp_path) and fs.path("/sys/bus/css") == str(tmp_path) + "/sys/bus/css"


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: "relative/path", "host_root must be an absolute path, got 'relative/path'"),
    (lambda tmp: str(tmp / "missing"), "does not exist or is not a directory"),
    (str, "has neither sys/ nor proc/"),
])
def test_open_host_fails_naming_the_bad_value(tmp_path, make, fragment):
    how, result = finish(open_host, module_with(host_root=make(tmp_path)))
    assert how == "fail" and fragment in result["msg"]


def test_not_s390x_exits_empty(tmp_path):
    module = module_with(host_root=str(tmp_path), require_s390x=False)
    fs = HostFS(str(tmp_path))
    how, result = finish(not_s390x, module, fs, "/sys/bus/css", devices=[])
    assert how == "exit"
    assert result == {"changed": False, "s390x_host": False, "devices": [],
                      "msg": NOT_S390X_MSG % (str(tmp_path), "/sys/bus/css")}
    assert result["msg"].startswith(str(tmp_path) + " is not an IBM Z (s390x) Linux host: /sys/bus/css does not exist.")


def test_not_s390x_on_this_machine_and_required(tmp_path):
    module = module_with(host_root="/", require_s390x=True)
    fs = HostFS("/")
    how, result = finish(not_s390x, module, fs, "/sys/bus/ap")
    assert how == "fail" and result["s390x_host"] is False
    assert result["msg"].startswith("This machine is not an IBM Z (s390x) Linux host: /sys/bus/ap does not exist.")


def test_run_host_module_adds_host_root_and_exits_with_the_result():
    FakeModule.created[:] = []
    how, result = finish(run_host_module, FakeModule, {"kinds": {"type": "list"}}, lambda module: {"changed": True, "n": 1},
                         mutually_exclusive=[["a", "b"]])
    module = FakeModule.created[-1]
    assert (how, result) == ("exit", {"changed": True, "n": 1})
    assert module.argument_spec == dict(kinds={"type": "list"}, **HOST_ROOT_SPEC)
    assert module.supports_check_mode is True and module.kwargs == {"mutually_exclusive": [["a", "b"]]}


class Refusal(Exception):
    def __init__(self, message, details=None):
        super(Refusal, self).__init__(message)
        if details is not None:
            self.details = details


def raising(error):
    def run(module):
        raise error
    return run


def test_an_error_with_details_returns_them_as_fields_without_traceback():
    how, result = finish(run_host_module, FakeModule, {}, raising(Refusal("0.0.0101: used by the host",
                                                                          {"refusals": ["0.0.0101: used by the host"]})),
                         errors=(Refusal,))
    assert how == "fail"
    assert result == {"msg": "0.0.0101: used by the host", "refusals": ["0.0.0101: used by the host"]}


def test_an_error_without_details_carries_a_traceback():
    how, result = finish(run_host_module, FakeModule, {}, raising(HostAccessError("/sys/bus/css", OSError(errno.EIO, "Input/output error"))))
    assert how == "fail" and result["msg"].startswith("cannot read /sys/bus/css: ")
    assert "Traceback" in result["exception"] and "HostAccessError" in result["exception"]


def test_errors_not_listed_propagate():
    with pytest.raises(Refusal):
        run_host_module(FakeModule, {}, raising(Refusal("boom", {"x": 1})))
