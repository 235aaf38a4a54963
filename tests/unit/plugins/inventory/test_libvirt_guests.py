"""libvirt_guests inventory plugin through ansible-inventory, against libvirt's own test driver
(test:///default: one running guest called "test"): groups, host variables, keyed groups, a host
that cannot be reached, and Ansible's inventory cache."""

import json
import os
import shutil
import subprocess

import pytest

pytest.importorskip("libvirt")


def inventory(tmp_path, body, *args):
    path = tmp_path / "fleet.libvirt_guests.yml"
    path.write_text(body)
    env = dict(os.environ, ANSIBLE_INVENTORY_ENABLED="s390x.kvm.libvirt_guests", ANSIBLE_NOCOLOR="1")
    exe = shutil.which("ansible-inventory")
    if exe is None:
        pytest.skip("ansible-inventory is not on PATH")
    proc = subprocess.run([exe, "-i", str(path), "--list"] + list(args), capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout, object_hook=plain), proc.stderr


def plain(value):
    """ansible-inventory writes values from inventory plugins as {"__ansible_unsafe": value}."""
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) and len(value) == 1 else value


CONFIG = """plugin: s390x.kvm.libvirt_guests
hosts:
  kvmhost1: test:///default
  gone: qemu+unix:///system?socket=/nonexistent/sock
keyed_groups:
  - key: kvm_vcpus | string
    prefix: vcpus
"""


def test_groups_and_variables(tmp_path):
    data, stderr = inventory(tmp_path, CONFIG + "cache: false\n")
    assert data["kvm_host_kvmhost1"]["hosts"] == ["test"] and data["state_running"]["hosts"] == ["test"]
    assert "test" in data["vcpus_2"]["hosts"]
    hostvars = data["_meta"]["hostvars"]["test"]
    assert hostvars["kvm_host"] == "kvmhost1" and hostvars["libvirt_uri"] == "test:///default"
    assert hostvars["kvm_memory_kib"] > 0 and hostvars["kvm_state"] == "running"
    assert "skipping gone" in stderr


def test_strict_hosts_fail(tmp_path):
    path = tmp_path / "fleet.libvirt_guests.yml"
    path.write_text(CONFIG + "strict_hosts: true\n")
    env = dict(os.environ, ANSIBLE_INVENTORY_ENABLED="s390x.kvm.libvirt_guests", ANSIBLE_INVENTORY_UNPARSED_FAILED="1")
    proc = subprocess.run([shutil.which("ansible-inventory"), "-i", str(path), "--list"], capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode != 0 and "gone" in proc.stderr


def test_cache_is_used(tmp_path):
    cache = "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % (tmp_path / "cache")
    first = inventory(tmp_path, CONFIG + cache)[0]
    assert first["_meta"]["hostvars"]["test"]["kvm_host"] == "kvmhost1"
    # the same inventory file, now naming a host that does not answer: the cache still serves the guests
    unreachable = "plugin: s390x.kvm.libvirt_guests\nhosts:\n  gone: qemu+unix:///system?socket=/nonexistent/sock\n"
    second, stderr = inventory(tmp_path, unreachable + cache)
    assert second["_meta"]["hostvars"]["test"]["kvm_host"] == "kvmhost1" and "skipping gone" not in stderr
    flushed, stderr = inventory(tmp_path, unreachable + cache, "--flush-cache")
    assert "test" not in flushed["_meta"]["hostvars"] and "skipping gone" in stderr
