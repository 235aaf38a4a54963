"""s390x.kvm.vfio_ccw from states the previous tests do not start from: persistence files without
sysfs state and the reverse, mdevs with other UUIDs, UUIDs other devices have, guests that are only
defined, devices behind cio_ignore; and check mode against the real run from each of them."""

import errno
import json
import os

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import derive_mdev_uuid

from tests.fixtures.kernel_sim import copy_description, sim_host
from tests.unit.helpers import private_host
from tests.unit.vfio_harness import HOSTS, SMALL, module_runner, simulated, small_sim, snapshot_diff, tree_snapshot

BUS, SCH = "0.0.0105", "0.0.0005"
CSS = "/sys/bus/css/devices/" + SCH
OTHER_UUID = "3d2f4c8a-1b6e-4e0a-9f5d-0c7a2b3e4f51"      # 0.0.0106's mdev (subchannel 0.0.0010)
MINE = "7e270a25-e163-4922-af60-757fc8ed48c6"


sim = small_sim   # the harness fixture, under the name these tests use
run = module_runner("vfio_ccw")


def define(sim, parent, uuid, mdev_type="vfio_ccw-io"):
    path = sim.path("/etc/mdevctl.d/%s/%s" % (parent, uuid))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"mdev_type": mdev_type, "start": "auto", "attrs": []}, handle)


def add_guest(sim, name, devices, running):
    directory = sim.path("/run/libvirt/qemu" if running else "/etc/libvirt/qemu")
    os.makedirs(directory, exist_ok=True)
    domain = "<domain type='kvm'><name>%s</name><devices>%s</devices></domain>" % (name, devices)
    with open(os.path.join(directory, name + ".xml"), "w", encoding="utf-8") as handle:
        handle.write("<domstatus state='running'>%s</domstatus>" % domain if running else domain)


class FixtureTree(object):
    """Just ``path()`` of a built tree, for the helpers that write files into it."""

    def __init__(self, root):
        self.root = root

    def path(self, host_path):
        return self.root + host_path


def mdev_hostdev(uuid):
    return "<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='%s'/></source></hostdev>" % uuid


def by_hand(sim, uuid=None):
    """Bound to vfio_ccw (and with an mdev) by hand, nothing persisted."""
    sim.write("/sys/bus/ccw/devices/%s/online" % BUS, "0")
    sim.write(CSS + "/driver_override", "vfio_ccw\n")
    sim.write(CSS + "/driver/unbind", SCH)
    sim.write("/sys/bus/css/drivers_probe", SCH)
    if uuid:
        sim.write(CSS + "/mdev_supported_types/vfio_ccw-io/create", uuid)


def driverctl_only(sim):
    path = sim.path("/etc/driverctl.d/css-" + SCH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("vfio_ccw\n")


STATES = {
    "fresh": lambda sim: None,
    "driverctl file, nothing in sysfs": driverctl_only,
    "mdevctl file, no mdev": lambda sim: define(sim, SCH, MINE),
    "bound by hand, no mdev": by_hand,
    "bound by hand with the derived mdev": lambda sim: by_hand(sim, derive_mdev_uuid(sim, BUS)),
    "bound by hand with another mdev": lambda sim: by_hand(sim, MINE),
    "override set, still io_subchannel": lambda sim: sim.write(CSS + "/driver_override", "vfio_ccw\n"),
}


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("start", sorted(STATES))
def test_check_mode_matches_the_real_run_and_the_second_run_is_quiet(sim, start, state):
    STATES[start](sim)
    rc, planned = run(sim, check=True, devices=[BUS], state=state)
    assert rc == 0, planned
    assert [w for w in sim.log if not w[0].startswith("/sys/bus/ccw")] == [] or start != "fresh"
    done_before = len(sim.log)
    rc, done = run(sim, devices=[BUS], state=state)
    assert rc == 0, done
    assert planned["devices"][0]["steps"] == done["devices"][0]["steps"]
    assert planned["changed"] is done["changed"]
    real_after = dict(done["devices"][0]["after"])
    if state == "present":
        assert planned["devices"][0]["after"] == real_after
        assert sim.link_name(CSS + "/driver") == "vfio_ccw" and sim.isdir(CSS + "/" + done["devices"][0]["uuid"])
    else:
        assert sim.link_name(CSS + "/driver") == "io_subchannel" and sim.read("/sys/bus/ccw/devices/%s/online" % BUS) == "1"
        assert not sim.exists("/etc/driverctl.d/css-" + SCH) and not sim.exists("/etc/mdevctl.d/" + SCH)
    assert len(sim.log) >= done_before
    mark = len(sim.log)
    rc, again = run(sim, devices=[BUS], state=state)
    assert rc == 0 and again["changed"] is False and sim.log[mark:] == [], again


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("start", sorted(STATES))
def test_check_mode_writes_nothing_from_any_start_state(sim, start, state):
    STATES[start](sim)
    mark, files = len(sim.log), tree_snapshot(sim.root)
    rc, planned = run(sim, check=True, devices=[BUS], state=state)
    assert rc == 0, planned
    assert sim.log[mark:] == [] and snapshot_diff(files, tree_snapshot(sim.root)) == []


def test_the_uuid_of_the_own_mdevctl_definition_is_kept(sim):
    """After a reboot without mdevctl's autostart the definition is all that is left; guests refer
    to its UUID, so it is not replaced by the derived one."""
    define(sim, SCH, MINE)
    rc, res = run(sim, devices=[BUS])
    assert rc == 0 and res["map"][BUS]["uuid"] == MINE, res
    assert sim.isdir(CSS + "/" + MINE) and sim.listdir("/etc/mdevctl.d/" + SCH) == [MINE]


def test_a_uuid_another_subchannel_has_is_refused(sim):
    before = tree_snapshot(sim.root)
    rc, res = run(sim, devices=[BUS], uuids={BUS: OTHER_UUID})
    assert rc == 1 and "0.0.0105: mdev UUID %s is already used by subchannel 0.0.0010" % OTHER_UUID in res["msg"], res
    assert snapshot_diff(before, tree_snapshot(sim.root)) == [] and sim.log == []


def test_a_uuid_only_defined_for_another_subchannel_is_refused(sim):
    define(sim, "0.0.0004", MINE)
    rc, res = run(sim, devices=[BUS], uuids={BUS: MINE})
    assert rc == 1 and "mdev UUID %s is already used by subchannel 0.0.0004" % MINE in res["msg"], res
    assert sim.log == []


def test_a_uuid_of_the_vfio_ap_matrix_is_refused(sim):
    rc, res = run(sim, devices=[BUS], uuids={BUS: "62177883-f1bb-47f0-914d-32a22e3a8804"})
    assert rc == 1 and "is already used by the vfio_ap matrix" in res["msg"], res


@pytest.mark.parametrize("uuids, fragment", [
    ({"0.0.0104": MINE, "0.0.0105": MINE.upper()}, "uuids: %s is given to 0.0.0104 and 0.0.0105; one mdev UUID serves one device" % MINE),
    ({"0.0.0999": MINE}, "uuids: 0.0.0999 is not one of the devices selected by devices"),
])
def test_uuids_that_cannot_be_right(sim, uuids, fragment):
    rc, res = run(sim, devices=["0.0.0104", BUS], uuids=uuids)
    assert rc == 1 and fragment in res["msg"], res
    assert sim.log == []


@pytest.mark.parametrize("args, fragment", [
    ({"devices": [0x105]}, "devices: 261 is a number, not text"),          # YAML's unquoted 0x105 (0.0.0261 as text)
    # dict keys reach the module as JSON text ("261"): the device it names is not among devices
    ({"devices": [BUS], "uuids": {0x105: MINE}}, "uuids: 0.0.0261 is not one of the devices selected by devices"),
])
def test_numbers_are_not_taken_for_device_numbers(sim, args, fragment):
    rc, res = run(sim, **args)
    assert rc == 1 and fragment in res["msg"], res
    assert sim.log == []


@pytest.mark.parametrize("option", ["settle_timeout", "lock_timeout"])
def test_timeouts_must_be_positive(sim, option):
    rc, res = run(sim, devices=[BUS], **{option: 0})
    assert rc == 1 and "%s: 0.0 is not allowed; give a number of seconds above 0" % option in res["msg"], res


def test_a_defined_guests_mdev_is_neither_removed_nor_replaced(sim):
    add_guest(sim, "db1", mdev_hostdev(OTHER_UUID), running=False)
    before = tree_snapshot(sim.root)
    rc, res = run(sim, devices=["0.0.0106"], state="absent")
    assert rc == 1 and "0.0.0106: used by defined guest db1 (mdev %s)" % OTHER_UUID in res["msg"], res
    rc, res = run(sim, devices=["0.0.0106"], uuids={"0.0.0106": MINE})
    assert rc == 1 and "used by defined guest db1" in res["msg"], res
    assert snapshot_diff(before, tree_snapshot(sim.root)) == [] and sim.log == []
    # keeping it is fine (the prebuilt device lacks its driverctl file: that is all it writes)
    rc, res = run(sim, devices=["0.0.0106"])
    assert rc == 0 and res["map"]["0.0.0106"]["uuid"] == OTHER_UUID, res
    assert res["devices"][0]["steps"] == ["write /etc/driverctl.d/css-0.0.0010"]


def test_a_defined_guests_disk_gives_a_warning(run_module, tmp_path):
    """Check mode in a module process of its own, as Ansible runs it (in-process runs share
    ansible-core's warning state with whatever ran before)."""
    root = private_host("small_kvm_host", tmp_path)
    add_guest(FixtureTree(root), "web1", "<disk type='block' device='disk'><source dev='/dev/disk/by-path/ccw-%s'/></disk>"
              % BUS, running=False)
    rc, res = run_module("vfio_ccw", host_root=root, devices=[BUS], _ansible_check_mode=True)
    # ansible-core 2.19 returns warnings as structured events: look at their text
    assert rc == 0 and "defined guest web1 has it as a disk" in json.dumps(res.get("warnings")), res


def test_hostdev_uses_the_subchannel_set_of_the_device(tmp_path):
    desc = copy_description(SMALL)
    desc["dasd"].append({"busid": "0.1.0300", "online": False})
    sim = sim_host(desc, tmp_path / "ssid1", delay=0)
    try:
        rc, res = run(sim, check=True, devices=["0.1.0300"])
        assert rc == 0, res
        assert "<address type='ccw' cssid='0xfe' ssid='0x1' devno='0x0300'/>" in res["devices"][0]["hostdev_xml"]
    finally:
        sim.close()


# -- cio_ignore ---------------------------------------------------------------------------------
ignoring = simulated(os.path.join(HOSTS, "cio_ignore_host.yml"))


def ignore_list(sim):
    return sim.read("/proc/cio_ignore").split()


def test_a_range_frees_only_what_it_finds(ignoring):
    before = ignore_list(ignoring)
    rc, planned = run(ignoring, check=True, devices=["0.0.0104-0.0.0107"], free_ignored=True)
    assert rc == 0 and planned["changed"] is True and planned["freed_from_cio_ignore"] == ["0.0.0104-0.0.0107"], planned
    assert ignore_list(ignoring) == before
    rc, res = run(ignoring, devices=["0.0.0104-0.0.0107"], free_ignored=True)
    assert rc == 0, res
    assert sorted(res["map"]) == ["0.0.0104", "0.0.0105"] and res["freed_from_cio_ignore"] == ["0.0.0104-0.0.0105"]
    # 0.0.0106-0.0.0107 hide no device: back on the list
    for bus_id in ("0.0.0106", "0.0.0107"):
        assert any(_covers(line, bus_id) for line in ignore_list(ignoring)), ignore_list(ignoring)
    for bus_id in ("0.0.0104", "0.0.0105"):
        assert not any(_covers(line, bus_id) for line in ignore_list(ignoring))


def _key(bus_id):
    return tuple(int(x, 16) for x in bus_id.split("."))


def _covers(line, bus_id):
    first, _sep, last = line.partition("-")
    return _key(first) <= _key(bus_id) <= _key(last or first)


def test_a_failed_run_puts_freed_ids_back_on_the_list(ignoring):
    before = ignore_list(ignoring)
    ignoring.fail_on("/sys/bus/css/drivers_probe", errno.ENOMEM)
    rc, res = run(ignoring, devices=["0.0.0104"], free_ignored=True)
    assert rc == 1 and "put back on the cio_ignore list: 0.0.0104" in res["msg"], res
    assert ignore_list(ignoring) == before


def test_cio_ignore_items_stay_within_a_subchannel_set():
    from ansible_collections.s390x.kvm.plugins.module_utils.bus_id import id_ranges
    assert id_ranges(["0.1.0000", "0.0.ffff", "0.0.0002", "0x1", "0.0.0002"]) == ["0.0.0001-0.0.0002", "0.0.ffff", "0.1.0000"]


def test_a_subchannel_vfio_ccw_refuses_is_named_so_and_rolled_back(sim):
    """An OSA subchannel unbound by hand has no CCW device to show its control unit: the module cannot
    tell it is QDIO beforehand, vfio_ccw's probe refuses it (-ENODEV, ignored by drivers_probe)."""
    sch = sim.readlink("/sys/bus/ccw/devices/0.0.f600").rstrip("/").split("/")[-2]
    sim.write("/sys/bus/css/devices/%s/driver/unbind" % sch, sch)
    rc, res = run(sim, devices=["0.0.f600"], allow_non_dasd=True, settle_timeout=0.3)
    assert rc == 1 and "did not bind to vfio_ccw" in res["msg"] and "vfio_ccw refused it" in res["msg"], res
    assert res["rolled_back"] == ["0.0.f600"] and sim.read("/sys/bus/css/devices/%s/driver_override" % sch) == "(null)"


def test_files_that_are_not_mdevctl_definitions_are_left_alone(sim):
    define(sim, SCH, MINE)
    stray = sim.path("/etc/mdevctl.d/%s/%s.swp" % (SCH, MINE))
    with open(stray, "w", encoding="utf-8") as handle:
        handle.write("an editor's file\n")
    rc, res = run(sim, devices=[BUS])
    assert rc == 0 and res["map"][BUS]["uuid"] == MINE and os.path.exists(stray), res
    assert res["devices"][0]["after"]["persistent_mdevs"] == [MINE]
    rc, res = run(sim, devices=[BUS], state="absent")
    assert rc == 0 and os.path.exists(stray) and not os.path.exists(sim.path("/etc/mdevctl.d/%s/%s" % (SCH, MINE)))


def test_a_given_uuid_replaces_another_unused_mdev(sim):
    by_hand(sim, MINE)
    wanted = derive_mdev_uuid(sim, BUS)
    mark = len(sim.log)
    rc, res = run(sim, devices=[BUS], uuids={BUS: wanted})
    assert rc == 0 and res["map"][BUS]["uuid"] == wanted, res
    assert [w[0].rsplit("/", 2)[-2:] for w in sim.log[mark:]] == [[MINE, "remove"], ["vfio_ccw-io", "create"]]
    assert not sim.isdir(CSS + "/" + MINE) and sim.listdir("/etc/mdevctl.d/" + SCH) == [wanted]
    mark = len(sim.log)
    assert run(sim, devices=[BUS], uuids={BUS: wanted})[1]["changed"] is False and sim.log[mark:] == []
