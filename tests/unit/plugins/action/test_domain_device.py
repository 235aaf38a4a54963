"""action/domain_device.py: structured ``devices`` are rendered against the guest's XML read with
domain_info, then the module runs with the rendered ``xml``; without ``devices`` the module runs
with the task's arguments as they are. No connection: ActionBase.run and _execute_module are
replaced by recorders."""

from unittest import mock

import pytest

from ansible.plugins.action import ActionBase

from ansible_collections.s390x.kvm.plugins.action import domain_device
from ansible_collections.s390x.kvm.plugins.plugin_utils._device_render import DeviceEntryError

GUEST_XML = "<domain type='kvm'><name>web1</name><devices/></domain>"


def action(args, module_results):
    """An ActionModule for a task with ``args`` whose _execute_module returns ``module_results``
    by module name; returns (plugin, list of (module name, module args))."""
    plugin = object.__new__(domain_device.ActionModule)
    plugin._task = mock.Mock(args=args)
    calls = []

    def execute(module_name, module_args=None, task_vars=None, **_kwargs):
        calls.append((module_name, module_args))
        return dict(module_results[module_name])
    plugin._execute_module = execute
    return plugin, calls


@pytest.fixture(autouse=True)
def no_base_run():
    with mock.patch.object(ActionBase, "run", return_value={}):
        yield


def test_without_devices_the_module_gets_the_arguments_as_given():
    args = {"name": "web1", "xml": ["<disk/>"], "state": "present"}
    plugin, calls = action(args, {"s390x.kvm.domain_device": {"changed": True}})
    assert plugin.run(task_vars={}) == {"changed": True}
    assert calls == [("s390x.kvm.domain_device", args)]


def test_devices_are_rendered_against_the_guest_xml():
    info = {"domains": [{"name": "web1", "type": "qemu", "xml": GUEST_XML}]}
    plugin, calls = action({"name": "web1", "uri": "qemu+ssh://kvm2/system", "xml": ["<rng/>"], "devices": [{"dasd": "0.0.0105"}]},
                           {"s390x.kvm.domain_info": info, "s390x.kvm.domain_device": {"changed": True}})
    with mock.patch.object(domain_device, "render_devices", return_value=["<disk type='block'/>"]) as render:
        assert plugin.run(task_vars={}) == {"changed": True}
    render.assert_called_once_with([{"dasd": "0.0.0105"}], "web1", "qemu", GUEST_XML)
    assert calls == [
        ("s390x.kvm.domain_info", {"uri": "qemu+ssh://kvm2/system", "names": ["web1"], "xml": True}),
        ("s390x.kvm.domain_device", {"name": "web1", "uri": "qemu+ssh://kvm2/system",
                                     "xml": ["<rng/>", "<disk type='block'/>"]})]


def test_an_unknown_domain_type_renders_as_kvm_and_the_uri_defaults():
    info = {"domains": [{"name": "web1", "type": "xen", "xml": GUEST_XML}]}
    plugin, calls = action({"name": "web1", "devices": [{}]},
                           {"s390x.kvm.domain_info": info, "s390x.kvm.domain_device": {}})
    with mock.patch.object(domain_device, "render_devices", return_value=[]) as render:
        plugin.run(task_vars={})
    assert render.call_args[0][2] == "kvm"
    assert calls[0][1]["uri"] == "qemu:///system"


@pytest.mark.parametrize("info, message", [
    ({"domains": []}, "domain web1 is not defined on qemu:///system"),
    ({"failed": True, "msg": "cannot connect to qemu:///system"}, "cannot connect to qemu:///system"),
])
def test_domain_info_failures_stop_before_the_module(info, message):
    plugin, calls = action({"name": "web1", "devices": [{}]}, {"s390x.kvm.domain_info": info})
    result = plugin.run(task_vars={})
    assert result["failed"] is True and result["msg"] == message
    assert [name for name, _args in calls] == ["s390x.kvm.domain_info"]


def test_a_bad_device_entry_fails_the_task():
    info = {"domains": [{"name": "web1", "type": "kvm", "xml": GUEST_XML}]}
    plugin, calls = action({"name": "web1", "devices": [{"bogus": 1}]}, {"s390x.kvm.domain_info": info})
    with mock.patch.object(domain_device, "render_devices", side_effect=DeviceEntryError("devices[0]: unknown key bogus")):
        result = plugin.run(task_vars={})
    assert result == {"failed": True, "msg": "devices[0]: unknown key bogus"}
    assert len(calls) == 1
