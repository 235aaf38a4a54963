"""module_utils/_vfio/ap.py: the udev rule chzdev's form, mdevctl definitions, the masks given back
to the host, the task's target and refusals; the drivers' sequences on the simulator are in
tests/unit/plugins/modules/test_vfio_pci_ap_sequences.py."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils.ap import format_mask
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.ap import (
    Matrix, apqns, definition_matrix, matrix_refusals, matrix_target, queues_leaving, udev_rules)
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError

from tests.unit.vfio_harness import small_sim

MINE = "62177883-f1bb-47f0-914d-32a22e3a8804"
sim = small_sim


def test_udev_rules_set_both_masks_and_load_vfio_ap():
    text = udev_rules("0xf7" + "f" * 62, "0xfe" + "f" * 62)
    assert 'ATTR{../../bus/ap/apmask}="0xf7%s"' % ("f" * 62) in text.splitlines()
    assert 'ATTR{../../bus/ap/aqmask}="0xfe%s"' % ("f" * 62) in text.splitlines()
    assert 'RUN{builtin}+="kmod load vfio_ap"' in text and text.endswith('LABEL="end_ap"\n')


def test_definition_matrix_replays_assign_and_unassign_in_order():
    config = {"attrs": [{"assign_adapter": "4"}, {"assign_domain": "0x7"}, {"assign_domain": "0x8"},
                        {"unassign_domain": "8"}, {"assign_control_domain": "0x7"}, {"assign_adapter": "junk"},
                        {"frobnicate_adapter": "5"}, "not a dict"]}
    assert definition_matrix(config) == {"adapters": [4], "domains": [7], "control_domains": [7]}
    assert definition_matrix(None) == {"adapters": [], "domains": [], "control_domains": []}


def test_giving_back_returns_released_apqns_without_handing_over_kept_ones():
    # the host has adapter 3 x domains 5, 6; 04.0007 was released, 04.0005 is kept by another matrix:
    # adding adapter 4 would hand 04.0005 to the host too, so domain 7 is added alone
    apm, aqm = Matrix.giving_back({3}, {5, 6}, {(4, 7)}, {(4, 5)})
    assert (apm, aqm) == ({3}, {5, 6, 7})
    assert Matrix.giving_back({3}, {5, 6}, {(4, 7)}, set()) == ({3, 4}, {5, 6, 7})


def params(**kwargs):
    base = {"state": "present", "adapters": [4], "domains": [7], "control_domains": [], "persist": True,
            "autostart": True}
    base.update(kwargs)
    return base


def test_matrix_target():
    assert matrix_target(params(adapters=["0x04", 4], domains=["7"], control_domains=[7])) == {
        "adapters": [4], "domains": [7], "control_domains": [7], "persist": True, "autostart": True}
    assert matrix_target(params(state="absent")) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"domains": []}, "adapters and domains: give at least one of each for state=present"),
    ({"adapters": [256]}, "adapters: 256 is not an AP number"),
])
def test_matrix_target_refusals(kwargs, message):
    with pytest.raises(VfioError, match=message):
        matrix_target(params(**kwargs))


def test_the_simulated_host_as_the_matrix_sees_it(sim):
    matrix = Matrix(sim)
    state = matrix.read(MINE)
    assert list(state.masks) == ["0xf7" + "f" * 62, "0xfe" + "f" * 62]
    assert matrix.queues() >= {(3, 5), (3, 6), (4, 5), (4, 6), (4, 7)}
    # the matrix is as asked; only the masks are not persisted yet (the fixture has no 41-ap.rules)
    steps = matrix.plan(state, matrix_target(params(control_domains=[7])))
    assert [(s.action, s.text) for s in steps] == [("udev", "write /etc/udev/rules.d/41-ap.rules")]
    assert steps[0].value == udev_rules(*state.masks)


def test_cover_clears_the_smaller_loss(sim):
    matrix = Matrix(sim)
    host_adapters, host_domains = set(range(64)) - {4}, set(range(85)) - {7}
    # 03.0005 for a guest: clearing adapter 3 takes 03.0006 too, clearing domain 5 takes 04.0005 (not
    # the host's, adapter 4 is out of apmask) and nothing else of the host's -> the domain goes
    assert matrix.cover(host_adapters, host_domains, {"adapters": [3], "domains": [5]}) == (set(), {5})
    assert matrix.cover(host_adapters, host_domains, {"adapters": [4], "domains": [7]}) == (set(), set())


def test_refusals_out_of_range_and_missing_cards(sim):
    matrix = Matrix(sim)
    refusals = matrix_refusals(matrix, MINE, {"adapters": [5, 64], "domains": [90], "control_domains": []})
    assert "adapters: 64 out of range; this machine allows 0-63" in refusals
    assert "domains: 90 out of range; this machine allows 0-84" in refusals
    assert "adapters: card05 does not exist on this host" in refusals


def test_queues_leaving_names_the_host_queues_a_mask_write_takes(sim):
    matrix = Matrix(sim)
    before = {"masks": (format_mask(set(range(64)) - {4}), format_mask(set(range(85)) - {7}))}
    after = {"masks": (format_mask(set(range(64)) - {4}), format_mask(set(range(85)) - {5, 7}))}
    assert queues_leaving(matrix, before, after, {"adapters": [3], "domains": [5]}) == []
    assert queues_leaving(matrix, before, after, {"adapters": [3], "domains": [6]}) == ["03.0005"]
    assert apqns([3], [5, 6]) == {(3, 5), (3, 6)}
