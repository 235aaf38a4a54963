# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest role's variables are one list: what the guest model accepts (GUEST_KEYS, also the keys of a
guest_definition), the options meta/argument_specs.yml documents, defaults/main.yml and the host-wide
settings vars/main.yml hands the model. A setting the model takes but the spec does not document
(uuid and tablet once were) fails here, and so does a documented variable the model never sees."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.s390x.kvm.plugins.plugin_utils._guest_model import GUEST_KEYS, guest_model, guest_models

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "roles", "guest")
PREFIX = "guest_"
# Variables that carry guests rather than settings of one.
CARRIERS = {"main": ["guest_definition"], "guests": ["guest_definition", "guest_definitions"]}


def _load(*path):
    with open(os.path.join(ROLE, *path)) as handle:
        return yaml.safe_load(handle)


SPECS = _load("meta", "argument_specs.yml")["argument_specs"]
DEFAULTS = _load("defaults", "main.yml")
FROM_VARS = _load("vars", "main.yml")["guest__from_vars"]


@pytest.mark.parametrize("entry", sorted(CARRIERS))
def test_every_setting_the_model_accepts_is_a_documented_option(entry):
    options = SPECS[entry]["options"]
    settings = set(name for name in options if name not in CARRIERS[entry])
    assert all(name.startswith(PREFIX) for name in settings)
    assert sorted(name[len(PREFIX):] for name in settings) == sorted(GUEST_KEYS)
    assert set(CARRIERS[entry]) <= set(options)


@pytest.mark.parametrize("entry", sorted(CARRIERS))
def test_each_option_says_what_it_is_and_defaults_as_the_role_does(entry):
    for name, option in SPECS[entry]["options"].items():
        assert option.get("description"), name
        assert name in DEFAULTS, name
        assert option.get("default") == DEFAULTS[name], name


def test_the_host_wide_settings_hand_every_variable_to_the_model():
    assert sorted(FROM_VARS) == sorted(GUEST_KEYS)
    for key, value in FROM_VARS.items():
        assert value == "{{ %s%s }}" % (PREFIX, key), key


def test_the_role_defaults_are_a_valid_guest():
    settings = dict((key[len(PREFIX):], value) for key, value in DEFAULTS.items()
                    if key[len(PREFIX):] in GUEST_KEYS)
    model = guest_model(dict(settings, name="web1", tablet=True, uuid="5a390b1e-0000-4000-8000-000000000001"))
    assert model["uuid"] == "5a390b1e-0000-4000-8000-000000000001"
    assert [d for d in model["devices"] if d["partial"] == "input"] == [
        dict(partial="input", type="tablet", key="input[tablet]", var="guest_tablet", ssid="0x0", devno="0x5000")]


def test_a_uuid_for_two_guests_is_refused():
    defaults = {"uuid": "5a390b1e-0000-4000-8000-000000000001", "uri": "qemu:///system"}
    with pytest.raises(Exception, match=r"guest_definitions\[1\]\.uuid: 5a390b1e-0000-4000-8000-000000000001 is also "
                                        r"the UUID of guest_definitions\[0\] \(each guest needs its own"):
        guest_models([{"name": "web1"}, {"name": "web2"}], defaults)
    batch = guest_models([{"name": "web1"}, {"name": "web2", "uuid": "5a390b1e-0000-4000-8000-000000000002"}],
                         defaults)
    assert [g["model"]["uuid"][-1] for g in batch["guests"]] == ["1", "2"]
