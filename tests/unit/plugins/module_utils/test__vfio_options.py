"""The options every VFIO module shares."""

import pytest

from ansible_collections.s390x.kvm.plugins.module_utils._vfio.host import VfioError
from ansible_collections.s390x.kvm.plugins.module_utils._vfio.options import VFIO_OPTIONS, check_timeouts, vfio_spec


def test_the_module_spec_adds_the_shared_options():
    spec = vfio_spec(devices=dict(type="list"))
    assert set(spec) == {"devices", "persist", "settle_timeout", "lock_timeout"}
    assert spec["persist"] == {"type": "bool", "default": True} and VFIO_OPTIONS["lock_timeout"]["default"] == 60.0


@pytest.mark.parametrize("settle, lock, message", [
    (0.0, 60.0, "settle_timeout: 0.0 is not allowed; give a number of seconds above 0"),
    (15.0, -1.0, "lock_timeout: -1.0 is not allowed; give a number of seconds above 0"),
    (0.0, 0.0, "settle_timeout: 0.0 is not allowed; give a number of seconds above 0; "
               "lock_timeout: 0.0 is not allowed; give a number of seconds above 0"),
])
def test_timeouts_must_be_above_zero(settle, lock, message):
    with pytest.raises(VfioError) as err:
        check_timeouts({"settle_timeout": settle, "lock_timeout": lock})
    assert str(err.value) == message


def test_positive_timeouts_pass():
    check_timeouts({"settle_timeout": 0.5, "lock_timeout": 1})
