"""The vfio_passthrough and kvm_host roles through ansible-playbook on a fixture tree: inventory
mistakes fail before anything changes and name the variable; in check mode the exported facts have
the shapes the guest role reads (guest_hostdevs, guest_vfio_ccw_map, guest_zpci_functions)."""

import json
import os
import subprocess
import sys

import pytest

from tests.unit.conftest import _collections_path
from tests.unit.helpers import private_host, snapshot

PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The role under test
      ansible.builtin.include_role:
        name: s390x.kvm.{role}
    - name: Keep the facts for the test
      ansible.builtin.copy:
        content: "{{{{ {{'devices': vfio_passthrough_devices | default(none), 'ccw_map': vfio_passthrough_ccw_map | default(none),
                  'zpci': vfio_passthrough_zpci_functions | default(none)}} | to_json }}}}"
        dest: "{facts}"
        mode: "0644"
      check_mode: false
"""


def playbook(tmp_path, role, extra, check=False):
    """(exit code, output, facts or None) of the role run by ansible-playbook on localhost."""
    facts = tmp_path / "facts.json"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(role=role, facts=facts))
    varsfile = tmp_path / "vars.json"
    varsfile.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(play), "-e", "@" + str(varsfile)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=300)
    out = proc.stdout.decode()
    return proc.returncode, out, json.loads(facts.read_text()) if facts.exists() else None


@pytest.mark.parametrize("guests, fragment", [
    ({"db1": ["0.0.0104"]}, "vfio_passthrough_guests.db1 must be a mapping with dasd, zpci and/or ap"),
    ({"db1": {"disk": ["0.0.0104"]}}, "vfio_passthrough_guests.db1.disk is not known; allowed: dasd, zpci, ap"),
    ({"db1": {"dasd": "0.0.0104"}}, "vfio_passthrough_guests.db1.dasd must be a list"),
    ({"db1": {"dasd": ["0.0.zz04"]}}, "vfio_passthrough_guests.db1.dasd: 0.0.zz04 is not a bus ID"),
    ({"db1": {"zpci": ["0xzz"]}}, "vfio_passthrough_guests.db1.zpci: 0xzz is not a function ID"),
    ({"db1": {"ap": {"adapters": [3]}}}, "vfio_passthrough_guests.db1.ap.domains must list at least one number"),
    ({"db1": {"ap": {"adapters": [3], "domains": ["0x100"]}}}, "vfio_passthrough_guests.db1.ap.domains: 0x100 is not a number 0-255"),
    ({"db1": {"zpci": [16]}}, "vfio_passthrough_guests.db1.zpci: 16 is not a function ID as hex text"),
    ({"db1": {"zpci": ["10"]}, "web1": {"zpci": ["0x10"]}}, "(a zPCI fid twice)"),
    ({"db1": {"ap": {"adapters": [3], "domains": [6]}}, "web1": {"ap": {"adapters": ["0x3"], "domains": ["6"]}}},
     "(APQNs for two guests: 03.0006 (db1, web1))"),
])
def test_vfio_passthrough_bad_inventory_fails_early(tmp_path, guests, fragment):
    root = private_host("small_kvm_host", tmp_path)
    before = snapshot(root)
    rc, out, _facts = playbook(tmp_path, "vfio_passthrough", {"vfio_passthrough_guests": guests, "vfio_passthrough_host_root": root})
    assert rc != 0 and fragment in out, out
    failed_task = out.split("fatal:")[0].rsplit("TASK [", 1)[-1]
    assert failed_task.startswith(("s390x.kvm.vfio_passthrough : Check vfio_passthrough_guests",
                                   "s390x.kvm.vfio_passthrough : Refuse a device listed for two guests")), out
    assert snapshot(root) == before


def test_vfio_passthrough_exports_what_the_guest_role_reads(tmp_path):
    root = private_host("small_kvm_host", tmp_path)
    guests = {"db1": {"dasd": ["0.0.0104"], "zpci": ["0x10"], "ap": {"adapters": [3], "domains": ["0x6"]}},
              "web1": {"dasd": ["0.0.0105"]}}
    before = snapshot(root)
    rc, out, facts = playbook(tmp_path, "vfio_passthrough", {"vfio_passthrough_guests": guests, "vfio_passthrough_host_root": root},
                              check=True)
    assert rc == 0, out
    assert snapshot(root) == before
    db1 = facts["devices"]["db1"]
    assert [h["kind"] for h in db1["hostdevs"]] == ["vfio-ccw", "vfio-pci", "vfio-ap"]
    ccw, pci, ap = db1["hostdevs"]
    assert ccw["uuid"] == facts["ccw_map"]["0.0.0104"]["uuid"] == db1["ccw"][0]["uuid"]
    assert pci == {"kind": "vfio-pci", "address": "0010:00:00.0", "managed": False, "zpci_fid": 16, "zpci_uid": 16}
    assert ap["uuid"] == db1["ap"]["uuid"] and db1["ap"]["matrix"] == {"adapters": [3], "domains": [6], "control_domains": []}
    assert facts["zpci"] == [{"fid": 16, "uid": 16, "address": "0010:00:00.0"}]
    assert [h["kind"] for h in facts["devices"]["web1"]["hostdevs"]] == ["vfio-ccw"] and facts["devices"]["web1"]["ap"] is None


@pytest.mark.parametrize("extra, fragment", [
    ({"kvm_host_cio_ignore_free": [260]}, "kvm_host_cio_ignore_free: 260 is not a bus ID, device number or range as text"),
    ({"kvm_host_cio_ignore_free": ["0.0.zz00"]}, "kvm_host_cio_ignore_free: 0.0.zz00 is not a bus ID"),
    ({"kvm_host_load_modules": True}, "kvm_host_load_modules: true loads the modules into the running kernel, not the host under"),
    ({"kvm_host_libvirtd_service": " "}, "kvm_host_libvirtd_service must name the libvirt daemon service"),
])
def test_kvm_host_bad_inventory_fails_before_anything_is_installed(tmp_path, extra, fragment):
    root = private_host("small_kvm_host", tmp_path)
    before = snapshot(root)
    args = dict({"kvm_host_host_root": root, "kvm_host_load_modules": False, "kvm_host_install_packages": False}, **extra)
    rc, out, _facts = playbook(tmp_path, "kvm_host", args)
    assert rc != 0 and fragment in out, out
    assert out.split("fatal:")[0].rsplit("TASK [", 1)[-1].startswith("s390x.kvm.kvm_host : Check the role's variables"), out
    assert snapshot(root) == before
