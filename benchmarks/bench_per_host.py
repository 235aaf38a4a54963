"""Cost per host of discovery vs. ansible.builtin.setup (gather_subset: min), same run, same machine.

Both plays run against the same N inventory hosts (local connection, each host reading the
example Z host tree through host_root), so what differs is only the module's own work and result.
Each play runs --repeat times, alternating; the medians are compared.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

PLAY_DISCOVERY = """
- hosts: all
  gather_facts: false
  tasks:
    - s390x.kvm.ccw_info:
        host_root: "{{ tree }}"
"""
PLAY_SETUP = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.setup:
        gather_subset: [min]
"""


def run_play(play, inventory, extra):
    start = time.perf_counter()
    subprocess.run(["ansible-playbook", "-i", inventory, play, "-e", extra], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default"))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", help="host_root of the example host")
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="s390x-kvm-bench-")
    inventory = os.path.join(work, "inventory.ini")
    with open(inventory, "w") as inv:
        inv.write("[all]\n")
        for i in range(opts.hosts):
            inv.write("zhost%02d ansible_connection=local ansible_python_interpreter=%s\n" % (i, "/usr/bin/python3"))
    plays = {}
    for name, text in (("discovery", PLAY_DISCOVERY), ("setup", PLAY_SETUP)):
        plays[name] = os.path.join(work, name + ".yml")
        with open(plays[name], "w") as out:
            out.write(text)
    extra = "tree=%s" % opts.tree
    times = {"discovery": [], "setup": []}
    run_play(plays["setup"], inventory, extra)  # warm-up (plugin caches, page cache)
    for dummy in range(opts.repeat):
        for name in ("discovery", "setup"):
            times[name].append(run_play(plays[name], inventory, extra))
    fig = {name: statistics.median(values) for name, values in times.items()}
    fig["hosts"] = opts.hosts
    fig["ratio"] = fig["discovery"] / fig["setup"]
    print("cost per host over %d hosts: ccw_info %.3f s/host, setup(min) %.3f s/host, ratio %.2fx (target <= 1.00)"
          % (opts.hosts, fig["discovery"] / opts.hosts, fig["setup"] / opts.hosts, fig["ratio"]))
    if opts.json:
        with open(opts.json, "w") as out:
            json.dump(fig, out, indent=2)


if __name__ == "__main__":
    main()
