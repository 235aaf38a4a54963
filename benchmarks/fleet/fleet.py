"""Fleet simulation: the collection's playbooks over N = 10, 50, 200 IBM Z KVM hosts on one machine.

Every host has its own fixture tree (tests/fixtures/sysfs_builder: the small KVM host plus 0 to 256
generated DASDs, cycling with period 5, so every fleet size holds the same mix) served by one
simulated kernel per host behind one FUSE mount (tests/fixtures/kernel_watch.py --fleet: sysfs
writes get the 6.12 kernel's reactions), and its own libvirt connection: libvirt's test driver
(test:///<host>.xml, three running guests per host). The hosts are ansible_connection=local, so what
is measured is the controller and the modules, as on a fleet whose links are not the bottleneck.

Stages, each one ansible-playbook run over the fleet, in this order:
  discover        the s390x.kvm.discover playbook (ccw_info, zpci_info, ap_info, tables, JSON reports)
  vfio_check      s390x.kvm.vfio_ccw, two DASDs per host, --check
  vfio_prepare    the same for real (unbind, vfio_ccw, mdev, persisted)
  deploy          the s390x.kvm.deploy_guests playbook: a new guest per host with both DASDs passed through
  evacuate_plan   the s390x.kvm.evacuate playbook --check for the first host (every other host a candidate)
  vfio_release    s390x.kvm.vfio_ccw state=absent (gives the DASDs back; the next fleet size starts clean)

Every stage but discover is followed by its baseline in the same run: a play of ansible.builtin.ping with, on each
host, as many task results as the stage produced there (counted by benchmarks/fleet/callback_plugins).
Printed per fleet size: seconds per host of each stage (its time less an empty play's, which is
ansible-playbook's start and end, divided by N), the ratio of its whole time to its ping baseline's,
the result bytes per host, and the slowest tasks; the flatness of seconds per host across the sizes.
Discovery is reported apart from the collection's ratio (it reads the hosts' channel subsystems;
its fair floor is benchmarks/bench_ccw_info.py's). With --large TREE the discover playbook also runs
on one host with 65,536 subchannels (the tree benchmarks/run.sh builds), reported on its own line.

One command (as root; builds what it needs): bash benchmarks/fleet/run.sh [--sizes 10,50,200]
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from tests.fixtures.sysfs_builder import _load, build_host  # noqa: E402  pylint: disable=wrong-import-position

EXTRA_DASDS = (0, 8, 32, 128, 256)       # generated DASDs per host, cycled: 14 to 270 subchannels
PREPARED = ["0.0.0104", "0.0.0105"]     # free DASDs of the small host, handed to vfio_ccw
GiB = 1024 * 1024                        # KiB
STAGES = ("discover", "vfio_check", "vfio_prepare", "deploy", "evacuate_plan", "vfio_release")

GUEST_XML = """  <domain type='kvm'>
    <name>{name}</name>
    <memory unit='KiB'>{memory}</memory>
    <vcpu>{vcpus}</vcpu>
    <os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os>
    <cpu mode='host-model'/>
    <devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/{name}.qcow2'/>
        <target dev='vda' bus='virtio'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
      <interface type='network'><source network='default'/><model type='virtio'/>
        <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></interface>{extra}
    </devices>
  </domain>
"""
VIRTIOFS = """
      <filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/srv/shared'/>
        <target dir='shared'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0002'/></filesystem>"""


def host_name(index):
    return "z%03d" % index


def host_description(index, base):
    """The small KVM host with this host's name, capacity and generated DASDs."""
    desc = json.loads(json.dumps(base))
    desc["hostname"] = host_name(index)
    desc["memory"] = {"total_kib": 64 * GiB, "free_kib": 40 * GiB, "available_kib": 48 * GiB}
    desc["cpus"] = {"online": 16, "possible": 32}
    desc["kvm"] = True
    extra = EXTRA_DASDS[index % len(EXTRA_DASDS)]
    if extra:
        desc["generate"] = [{"range": "0.0.4000-0.0.%04x" % (0x4000 + extra - 1), "kind": "dasd-eckd",
                             "online_every": 8, "chpids": ["40", "41"], "partitions": 1}]
    return desc


def libvirt_node(index):
    """The test driver's host: 16 CPUs, 64 GiB, three running guests (one with virtio-fs: it cannot move)."""
    name = host_name(index)
    guests = [GUEST_XML.format(name="%s-web" % name, memory=4 * GiB, vcpus=2, extra=""),
              GUEST_XML.format(name="%s-db" % name, memory=8 * GiB, vcpus=4, extra=""),
              GUEST_XML.format(name="%s-files" % name, memory=1 * GiB, vcpus=1, extra=VIRTIOFS)]
    return ("<node>\n  <cpu><nodes>1</nodes><sockets>1</sockets><cores>16</cores><threads>1</threads>"
            "<active>16</active><mhz>5200</mhz><model>s390x</model></cpu>\n  <memory>%d</memory>\n%s</node>\n"
            % (64 * GiB, "".join(guests)))


def kvm_guests(index):
    """One new guest per host, with both prepared DASDs passed through."""
    name = host_name(index)
    return [{"name": "%s-app" % name, "memory_mib": 2048, "vcpus": 2, "domain_type": "kvm",
             "disks": [{"name": "vda", "kind": "image", "path": "/var/lib/libvirt/images/%s-app.qcow2" % name}],
             "hostdevs": [{"kind": "vfio-ccw", "bus_id": bus_id} for bus_id in PREPARED]}]


class Fleet(object):
    """The fixture trees, libvirt XMLs and kernel server for up to ``size`` hosts under ``work``."""

    def __init__(self, work, size):
        self.work = work
        self.size = size
        self.trees = os.path.join(work, "trees")
        self.descs = os.path.join(work, "descriptions")
        self.nodes = os.path.join(work, "libvirt")
        self.mount = os.path.join(work, "hosts")
        self.state = os.path.join(work, "state")

    def build(self):
        for path in (self.trees, self.descs, self.nodes, self.mount, self.state):
            os.makedirs(path, exist_ok=True)
        base = _load(os.path.join(ROOT, "tests", "fixtures", "hosts", "small_kvm_host.yml"))
        start = time.perf_counter()
        for index in range(self.size):
            name = host_name(index)
            tree = os.path.join(self.trees, name)
            desc = host_description(index, base)
            with open(os.path.join(self.descs, name + ".json"), "w") as out:
                json.dump(desc, out)
            # A tree is kept while it was built from this description (the release stage leaves it as built).
            stamp = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()
            marker = os.path.join(tree, ".built")
            if not os.path.exists(marker) or open(marker).read() != stamp:
                build_host(desc, tree, force=True)
                with open(marker, "w") as out:
                    out.write(stamp)
            with open(os.path.join(self.nodes, name + ".xml"), "w") as out:
                out.write(libvirt_node(index))
            os.makedirs(os.path.join(self.state, name), exist_ok=True)
        return time.perf_counter() - start

    def serve(self):
        subprocess.run(["umount", self.mount], check=False, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "tests.fixtures.kernel_watch", self.trees, "--fleet", "--host", self.descs,
                        "--mount", self.mount, "--daemon", "--pidfile", os.path.join(self.work, "kernel.pid"),
                        "--delay", "0.05"], check=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")))

    def stop(self):
        subprocess.run(["umount", self.mount], check=False)

    def inventory(self, count):
        hosts = {}
        for index in range(count):
            name = host_name(index)
            uri = "test://" + os.path.join(self.nodes, name + ".xml")
            root = os.path.join(self.mount, name)
            hosts[name] = {"host_root": root, "libvirt_uri": uri, "guest_uri": uri, "guest_host_root": root,
                           "kvm_state_dir": os.path.join(self.state, name), "kvm_guests": kvm_guests(index)}
        return write_inventory(os.path.join(self.work, "inventory-%d.json" % count), hosts)


def write_inventory(path, hosts):
    """Group kvm_hosts of local-connection hosts running this interpreter."""
    with open(path, "w") as out:
        json.dump({"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                           "children": {"kvm_hosts": {"hosts": hosts}}}}, out)
    return path


class Runner(object):
    """ansible-playbook with the fleet's stats callback; returns wall time and the callback's counts."""

    def __init__(self, work, forks):
        self.work = work
        self.env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="fleet_stats",
                        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
                        ANSIBLE_FORKS=str(forks), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_HOST_KEY_CHECKING="False",
                        ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_DEPRECATION_WARNINGS="False")

    def run(self, inventory, playbook, *args):
        stats = os.path.join(self.work, "stats.json")
        log = os.path.join(self.work, "last-run.log")
        env = dict(self.env, S390X_KVM_FLEET_STATS=stats)
        start = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.run(["ansible-playbook", "-i", inventory, playbook] + list(args), env=env, cwd=self.work,
                                  stdout=out, stderr=subprocess.STDOUT, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode:
            with open(log) as text:
                tail = text.read()[-4000:]
            raise SystemExit("%s failed (rc %d):\n%s" % (playbook, proc.returncode, tail))
        with open(stats) as handle:
            return elapsed, json.load(handle)


def stage_args(stage, work):
    play = os.path.join(HERE, "plays", "vfio.yml")
    return {
        "discover": ["s390x.kvm.discover", "-e", "report_dir=" + os.path.join(work, "reports")],
        "vfio_check": [play, "--check", "-e", "fleet_vfio_state=present"],
        "vfio_prepare": [play, "-e", "fleet_vfio_state=present"],
        "deploy": ["s390x.kvm.deploy_guests"],
        "evacuate_plan": ["s390x.kvm.evacuate", "--check", "-e", "evacuate_host=" + host_name(0)],
        "vfio_release": [play, "-e", "fleet_vfio_state=absent"],
    }[stage] + ["-e", json.dumps({"fleet_devices": PREPARED})]


def measure(fleet, runner, count, stages):
    inventory = fleet.inventory(count)
    # ansible-playbook's start and end (inventory, plugins, the play over N hosts): per run, not per host
    start = statistics.median(runner.run(inventory, os.path.join(HERE, "plays", "empty.yml"))[0] for dummy in range(3))
    out = {"start_seconds": start}
    print("  N=%-4d an empty play takes %.2f s" % (count, start), flush=True)
    ping = os.path.join(HERE, "plays", "ping.yml")
    for stage in stages:
        args = stage_args(stage, fleet.work)
        elapsed, stats = runner.run(inventory, *args)
        counts = dict((host, data["results"]) for host, data in stats["hosts"].items())
        with open(os.path.join(fleet.work, "ping-counts.json"), "w") as handle:
            json.dump({"fleet_ping_counts": counts}, handle)
        ping_elapsed = None
        if stage != "discover":     # reported apart: its floor is benchmarks/bench_ccw_info.py's
            ping_elapsed = runner.run(inventory, ping, "-e", "@" + os.path.join(fleet.work, "ping-counts.json"))[0]
        hosts = stats["hosts"].values()
        out[stage] = {
            "seconds": elapsed, "ping_seconds": ping_elapsed, "ratio": elapsed / ping_elapsed if ping_elapsed else None,
            "seconds_per_host": (elapsed - start) / count, "results": sum(counts.values()),
            "result_bytes_per_host": sum(h["result_bytes"] for h in hosts) / count,
            "slowest_tasks": sorted(stats["tasks"], key=lambda t: -t["seconds"])[:4],
            "tasks": stats["tasks"],
            "evacuate_plans": stats.get("evacuate_plans") or {},
        }
        against = "ping %6.2f s  ratio %.2fx" % (ping_elapsed, elapsed / ping_elapsed) if ping_elapsed else "%24s" % ""
        print("  N=%-4d %-14s %7.2f s  %6.3f s/host  %s  results %5d  %8.0f B/host"
              % (count, stage, elapsed, out[stage]["seconds_per_host"], against, out[stage]["results"],
                 out[stage]["result_bytes_per_host"]), flush=True)
    return out


def discover_large(fleet, runner, tree):
    """The discover playbook on one host with 65,536 subchannels (read-only tree, no kernel server)."""
    inventory = write_inventory(os.path.join(fleet.work, "inventory-large.json"), {"bigz": {"host_root": tree}})
    elapsed, stats = runner.run(inventory, *stage_args("discover", fleet.work))
    host = stats["hosts"]["bigz"]
    print("  65,536-subchannel host: discover %.1f s, result %.1f MB" % (elapsed, host["result_bytes"] / 1e6), flush=True)
    return {"seconds": elapsed, "result_bytes": host["result_bytes"], "results": host["results"]}


def _growth(row):
    return max((v / row[0] - 1 for v in row), key=abs)


def report(figures, sizes):
    """Seconds per host by stage and size (and the same for the stage's ping baseline: the growth of
    ansible-core's own cost per host with N), the collection against ping, the slowest tasks."""
    print("\nseconds per host, after an empty play's time (flat = within +-20%% of N=%d);"
          " in brackets the same for the stage's ping baseline" % sizes[0])
    print("  %-14s" % "stage" + "".join("%20s" % ("N=%d" % n) for n in sizes) + "   growth (ping's)")
    flat = True
    for stage in [s for s in figures[sizes[0]] if isinstance(figures[sizes[0]][s], dict)]:
        row = [figures[n][stage]["seconds_per_host"] for n in sizes]
        pings = [((figures[n][stage]["ping_seconds"] - figures[n]["start_seconds"]) / n)
                 if figures[n][stage]["ping_seconds"] else None for n in sizes]
        for n, value in zip(sizes, pings):
            figures[n][stage]["ping_seconds_per_host"] = value
        flat = flat and (stage == "discover" or abs(_growth(row)) <= 0.2)
        cells = "".join("%20s" % ("%.3f" % v + (" (%.3f)" % p if p else "")) for v, p in zip(row, pings))
        print("  %-14s%s   %+.0f%%%s" % (stage, cells, 100 * _growth(row),
                                        " (%+.0f%%)" % (100 * _growth(pings)) if all(pings) else ""))
    print("\ncollection tasks against ansible.builtin.ping with the same results per host (target <= 1.20x)")
    ok = True
    for n in sizes:
        stages = [s for s in figures[n] if s != "discover" and isinstance(figures[n][s], dict)]
        seconds = sum(figures[n][s]["seconds"] for s in stages)
        ping = sum(figures[n][s]["ping_seconds"] for s in stages)
        if not ping:
            continue
        figures[n]["collection_ratio"] = seconds / ping
        ok = ok and seconds / ping <= 1.2
        print("  N=%-4d %8.2f s vs ping %8.2f s: %.2fx" % (n, seconds, ping, seconds / ping))
    print("\nslowest tasks at N=%d" % sizes[-1])
    for stage, data in figures[sizes[-1]].items():
        if isinstance(data, dict) and "slowest_tasks" in data:
            print("  %-14s %s" % (stage, "; ".join("%s %.2f s" % (t["name"], t["seconds"]) for t in data["slowest_tasks"])))
    return flat, ok


def give_back(fleet, runner, sizes):
    """Release the DASDs on every host, so the next run starts from the trees as they were built."""
    try:
        runner.run(fleet.inventory(max(sizes)), *stage_args("vfio_release", fleet.work))
    except (OSError, SystemExit) as err:
        print("could not give the DASDs back (the next run rebuilds the trees if you remove %s): %s"
              % (fleet.trees, str(err)[-500:]), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,200", help="fleet sizes (default 10,50,200)")
    parser.add_argument("--work", default=os.path.join(os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"),
                                                       "bench", "tmpfs", "fleet"))
    parser.add_argument("--forks", type=int, default=10,
                        help="default 10: it divides every fleet size, so no size pays for a half-used last round")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--large", help="host_root of the 65,536-subchannel tree: discover it once, reported apart")
    parser.add_argument("--report", help="print the report of a run's --json file again and stop")
    opts = parser.parse_args()
    if opts.report:
        with open(opts.report) as handle:
            saved = json.load(handle)
        report(dict((int(n), data) for n, data in saved["figures"].items() if n.isdigit()), saved["sizes"])
        return 0
    sizes = [int(n) for n in opts.sizes.split(",")]
    stages = opts.stages.split(",")
    fleet = Fleet(opts.work, max(sizes))
    print("building %d hosts under %s" % (fleet.size, fleet.work), flush=True)
    print("  built in %.1f s" % fleet.build(), flush=True)
    fleet.serve()
    runner = Runner(opts.work, opts.forks)
    figures = {}
    try:
        for count in sizes:
            figures[count] = measure(fleet, runner, count, stages)
    except BaseException:
        give_back(fleet, runner, sizes)
        raise
    else:
        if "vfio_prepare" in stages and "vfio_release" not in stages:
            give_back(fleet, runner, sizes)
    finally:
        fleet.stop()
    if opts.large:
        figures["large_host"] = discover_large(fleet, runner, opts.large)
    flat, ok = report(figures, sizes)
    if opts.json:
        with open(opts.json, "w") as out:
            json.dump({"sizes": sizes, "forks": opts.forks, "figures": figures, "flat": flat, "within_ratio": ok}, out,
                      indent=2)
    shutil.rmtree(os.path.join(opts.work, "reports"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
