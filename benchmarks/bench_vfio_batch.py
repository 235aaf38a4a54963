"""vfio_ccw: one task for 256 DASDs against 256 single-device tasks, both through ansible-playbook.

The host is a fixture tree with 256 ECKD DASDs served by tests/fixtures/kernel_watch.py (FUSE):
every sysfs write the module makes gets the kernel's reaction (offline, unbind, probe, mdev
create) as the unit tests' simulator models it, so the module runs its real sequences. Both
plays prepare the same 256 devices on fresh trees; the ratio is measured in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH = """
- hosts: localhost
  gather_facts: false
  tasks:
    - s390x.kvm.vfio_ccw:
        devices: ["0.0.1000-0.0.{last}"]
        host_root: "{{{{ tree }}}}"
"""


def serve(description, workdir, name):
    """Build the tree and mount it with a reacting kernel; returns (mountpoint, stop function)."""
    sys.path.insert(0, ROOT)
    from tests.fixtures.sysfs_builder import build_host
    tree = os.path.join(workdir, name + "-tree")
    mount = os.path.join(workdir, name)
    os.makedirs(mount)
    build_host(description, tree)
    desc_file = os.path.join(workdir, name + ".json")
    with open(desc_file, "w") as handle:
        json.dump(description, handle)
    subprocess.run([sys.executable, "-m", "tests.fixtures.kernel_watch", tree, "--mount", mount, "--host", desc_file,
                    "--daemon", "--pidfile", os.path.join(workdir, name + ".pid")], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=os.environ.get("S390X_KVM_COLLECTIONS", "")))
    return mount, lambda: subprocess.run(["umount", mount], check=False)


def play(text, workdir, name, tree):
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w") as handle:
        handle.write(text)
    start = time.perf_counter()
    proc = subprocess.run(["ansible-playbook", path, "-e", "tree=" + tree], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit("%s failed:\n%s" % (name, proc.stdout.decode()[-3000:]))
    return elapsed


def _roomy(path, need=512 << 20):
    """A writable directory with at least ``need`` bytes free (podman's /dev/shm has 64 MB)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return os.access(path, os.W_OK) and st.f_bavail * st.f_frsize >= need


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=256)
    parser.add_argument("--json")
    opts = parser.parse_args()
    n = opts.devices
    description = {"arch": "s390x", "hostname": "kvm-many",
                   "generate": [{"range": "0.0.1000-0.0.%04x" % (0x1000 + n - 1), "kind": "dasd-eckd", "online_every": 2}]}
    workdir = tempfile.mkdtemp(prefix="vfio-batch-", dir="/dev/shm" if _roomy("/dev/shm") else None)
    stops = []
    try:
        batch_tree, stop = serve(description, workdir, "batch")
        stops.append(stop)
        single_tree, stop = serve(description, workdir, "single")
        stops.append(stop)
        t_batch = play(BATCH.format(last="%04x" % (0x1000 + n - 1)), workdir, "batch-play", batch_tree)
        single = "\n".join([
            "- hosts: localhost", "  gather_facts: false", "  tasks:",
            "    - s390x.kvm.vfio_ccw:", "        devices: ['{{ item }}']", "        host_root: '{{ tree }}'",
            "      loop: %s" % json.dumps(["0.0.%04x" % (0x1000 + i) for i in range(n)]), ""])
        t_single = play(single, workdir, "single-play", single_tree)
    finally:
        for stop in stops:
            stop()
    fig = {"devices": n, "batch_s": t_batch, "single_tasks_s": t_single, "ratio": t_single / t_batch}
    print("vfio_ccw present on %(devices)d DASDs through ansible-playbook: one task %(batch_s).1f s, "
          "%(devices)d single-device tasks %(single_tasks_s).1f s: the batch is %(ratio).1fx faster" % fig)
    if opts.json:
        with open(opts.json, "w") as out:
            json.dump(fig, out, indent=2)


if __name__ == "__main__":
    main()
