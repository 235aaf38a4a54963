"""module_utils/_libvirt/domain_lifecycle.py: DomainManager's decisions taken directly: which
actions take a domain from each libvirt state to each wanted state, the state check mode predicts
from them, timing, argument checks before any connection, and which disks count as its storage.
(The module run against a fake connection: tests/unit/plugins/modules/test_domain.py.)"""

from unittest import mock

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._libvirt import client as lc
from ansible_collections.s390x.kvm.plugins.module_utils._libvirt.domain_lifecycle import DomainManager

libvirt = pytest.importorskip("libvirt")


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, check_mode=False, diff=False, **params):
        self.params = dict(name="web1", xml=None, uri="qemu:///system", state="running", autostart=None,
                           shutdown_timeout=5, destroy_after_timeout=False, remove_storage=False, nvram="keep",
                           validate=True)
        self.params.update(params)
        self.check_mode, self._diff = check_mode, diff
        self.warnings = []

    def fail_json(self, **result):
        raise Failed(result["msg"])

    def warn(self, text):
        self.warnings.append(text)


def manager(check_mode=True, dom=True, **params):
    m = DomainManager(FakeModule(check_mode=check_mode, **params))
    m.name = "web1"
    m.dom = mock.Mock() if dom else None
    return m


@pytest.mark.parametrize("previous, wanted, actions", [
    ("shut_off", "running", ["start"]), ("crashed", "running", ["start"]), ("paused", "running", ["resume"]),
    ("pmsuspended", "running", ["wakeup"]), ("running", "running", []),
    ("shut_off", "paused", ["start_paused"]), ("running", "paused", ["suspend"]), ("paused", "paused", []),
    ("running", "destroyed", ["destroy"]), ("crashed", "destroyed", ["destroy"]), ("shut_off", "destroyed", []),
    ("running", "shut_off", ["shutdown"]), ("paused", "shut_off", ["resume", "shutdown"]),
    ("crashed", "shut_off", ["destroy"]), ("shut_off", "shut_off", []),
])
def test_run_state_actions_in_check_mode(previous, wanted, actions):
    m = manager()
    m.run_state(wanted, previous)
    assert m.actions == actions
    assert m.dom.method_calls == []          # check mode calls nothing on the domain


def test_a_domain_defined_in_this_run_starts_from_shut_off():
    m = manager(dom=False)
    m.actions.append("define")
    m.run_state("running", "absent")
    assert m.actions == ["define", "start"]


@pytest.mark.parametrize("previous, actions, final", [
    ("absent", ["define", "start"], "running"), ("absent", ["define"], "shut_off"),
    ("running", ["define"], "running"), ("paused", ["resume", "shutdown"], "shut_off"),
    ("shut_off", ["start_paused"], "paused"), ("running", ["destroy", "undefine"], "absent"),
    ("running", ["autostart"], "running"),
])
def test_check_mode_predicts_the_final_state(previous, actions, final):
    m = manager()
    m.actions = list(actions)
    assert m._final_state(previous) == final


def test_timed_records_actions_and_seconds_and_names_failures():
    m = manager(check_mode=False)
    assert m._timed("start", lambda: "started") == "started"
    assert m.actions == ["start"] and set(m.seconds) == {"start"} and m.seconds["start"] >= 0

    def broken():
        raise libvirt.libvirtError("Requested operation is not valid: domain is already running")
    with pytest.raises(lc.LibvirtFailure, match="^start of domain web1 failed: "):
        m._timed("start", broken)
    assert m.actions == ["start", "start"]


def test_check_mode_timed_does_not_call():
    m = manager()
    assert m._timed("destroy", mock.Mock(side_effect=AssertionError("called"))) is None
    assert m.actions == ["destroy"] and m.seconds == {}


@pytest.mark.parametrize("params, message", [
    ({"name": "  "}, "name is empty"),
    ({"xml": "<domain><name>db1</name></domain>"}, "name is web1 but the <name> in xml is db1"),
    ({"xml": "<network/>"}, "xml: "),
])
def test_argument_checks_before_connecting(params, message):
    m = DomainManager(FakeModule(**params))
    with mock.patch.object(lc, "connect", side_effect=AssertionError("connected")):
        with pytest.raises(Failed, match="^" + message):
            m.run()


def test_autostart_only_when_it_differs():
    m = manager()
    m.dom.autostart.return_value = 1
    m.autostart(True)
    assert m.actions == []
    m.autostart(False)
    assert m.actions == ["no_autostart"]


STORAGE_XML = """<domain><name>web1</name><devices>
<disk type='file' device='disk'><source file='/var/lib/libvirt/images/web1.qcow2'/><target dev='vda'/></disk>
<disk type='file' device='cdrom'><source file='/iso/install.iso'/><readonly/><target dev='sda'/></disk>
<disk type='file' device='disk'><source file='/shared/data.img'/><shareable/><target dev='vdb'/></disk>
<disk type='block' device='disk'><source dev='/dev/disk/by-path/ccw-0.0.0105'/><target dev='vdc'/></disk>
<disk type='volume' device='disk'><source pool='images' volume='web1-data'/><target dev='vdd'/></disk>
</devices></domain>"""


def test_storage_is_the_writable_file_and_volume_disks():
    m = manager(remove_storage=True)
    m.dom.XMLDesc.return_value = STORAGE_XML
    m.conn = mock.Mock()
    m.conn.storagePoolLookupByName.return_value.storageVolLookupByName.return_value.path.return_value = \
        "/var/lib/libvirt/images/web1-data.qcow2"
    m.result.update(kept_storage=[])
    assert m._storage() == ["/var/lib/libvirt/images/web1.qcow2", "/var/lib/libvirt/images/web1-data.qcow2"]
    m.conn.storagePoolLookupByName.assert_called_once_with("images")


def test_an_image_outside_any_pool_on_a_remote_host_is_kept():
    m = manager(uri="qemu+ssh://kvm2/system")
    m.conn = mock.Mock()
    m.conn.storageVolLookupByPath.side_effect = libvirt.libvirtError("Storage volume not found")
    m.result.update(removed_storage=[], kept_storage=[])
    m._remove_image("/var/lib/libvirt/images/web1.qcow2")
    assert m.result["kept_storage"] == [
        "/var/lib/libvirt/images/web1.qcow2: in no libvirt storage pool and the connection is remote"]
    assert m.actions == []
