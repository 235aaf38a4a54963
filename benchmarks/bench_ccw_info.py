"""ccw_info on a large host vs. the raw-read floor, measured in the same run.

floor  = a bare Python loop that reads exactly the files ccw_info reads (os.open/os.read/
         os.close, os.readlink, os.listdir) for every subchannel and device, and nothing else.
module = the discovery ccw_info performs (CcwDiscovery.scan + host usage + LVM label probe),
         in the same process, so the ratio shows the module's own overhead over the kernel reads.
full   = the module run as Ansible runs it on a host (a new Python process, arguments file,
         JSON result on stdout), against the floor plus json.dumps of the module's own result
         (the least any module must pay to hand that result to Ansible). The difference is
         ansible-core's exit_json (no_log scrubbing of every value, its JSON encoder).

playbook = ccw_info as a user runs it, one ansible-playbook task with register (default options;
         then gather=[devices] and subchannels=all beside it), against the floor of the issue that
         asked for a compact result: the bare read loop above plus moving one record per device
         through ansible-playbook (benchmarks/library/bench_records.py: a module that reads nothing
         and returns as many records of a device's shape).

Each figure is the median of --repeat runs; runs alternate floor/module so drift hits both.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
COLLECTIONS = os.environ["S390X_KVM_COLLECTIONS"]     # exported by scripts/lib.sh (benchmarks/run.sh)
sys.path.insert(0, COLLECTIONS)

from ansible_collections.s390x.kvm.plugins.module_utils.ccw import CcwDiscovery  # noqa: E402
from ansible_collections.s390x.kvm.plugins.module_utils.host_fs import HostFS  # noqa: E402
from ansible_collections.s390x.kvm.plugins.module_utils.host_usage import HostUsage  # noqa: E402

SCH_ATTRS = ("type", "driver_override", "dev_busid", "pimpampom", "chpids")
DEV_ATTRS = ("cutype", "devtype", "online", "availability")
DASD_ATTRS = ("status", "uid", "readonly", "alias", "use_diag")
QETH_ATTRS = ("layer2", "if_name", "online", "state", "card_type", "chpid", "portno")


def raw(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 4096)  # one page, as sysfs serves an attribute and as the module reads it
    except OSError:
        return b""
    finally:
        os.close(fd)


def floor(root):
    """The same files, read with no model around them."""
    count = 0
    css = root + "/sys/devices/css0/"
    for entry in os.scandir(css):
        name = entry.name
        if len(name) != 8 or name[1] != ".":
            continue
        base = css + name + "/"
        values = [raw(base + a) for a in SCH_ATTRS]
        try:
            os.readlink(base + "driver")
        except OSError:
            pass
        busid = values[2].strip().decode()
        if busid and busid != "none":
            dev = base + busid + "/"
            dvalues = [raw(dev + a) for a in DEV_ATTRS]
            try:
                driver = os.readlink(dev + "driver")
            except OSError:
                driver = ""
            if "dasd" in driver:
                for a in DASD_ATTRS:
                    raw(dev + a)
                try:
                    disks = os.listdir(dev + "block")
                except OSError:
                    disks = []
                for disk in disks:
                    parts = [p for p in os.listdir(dev + "block/" + disk) if p.startswith(disk)]
                    for block in [disk] + parts:
                        os.path.exists(root + "/dev/" + block) and raw(root + "/dev/" + block)
            count += 1 + len(dvalues) * 0
    # qeth groups (read for the host-usage marks of their member devices)
    groups = root + "/sys/bus/ccwgroup/devices/"
    for name in os.listdir(groups) if os.path.isdir(groups) else []:
        base = groups + name + "/"
        for i in range(8):
            try:
                os.readlink(base + "cdev%d" % i)
            except OSError:
                break
        try:
            os.readlink(base + "driver")
        except OSError:
            pass
        for attr in QETH_ATTRS:
            raw(base + attr)
        count += 1
    return count


def module_inprocess(root):
    """What ccw_info does for gather=[subchannels, devices] with host usage, minus exit_json."""
    fs = HostFS(root)
    discovery = CcwDiscovery(fs, usage=HostUsage(fs))
    subchannels, devices = discovery.scan()
    discovery.annotate_usage(devices)
    return subchannels, devices


def module_process(root):
    """Run the module file as AnsiballZ would: a fresh interpreter, args from a file, JSON out.
    Returns (seconds, the result as JSON text)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as args:
        json.dump({"ANSIBLE_MODULE_ARGS": {"host_root": root, "gather": ["subchannels", "devices"]}}, args)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    try:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "ansible_collections.s390x.kvm.plugins.modules.ccw_info", args.name],
                             env=env, stdout=subprocess.PIPE, check=True).stdout
        elapsed = time.perf_counter() - start
    finally:
        os.unlink(args.name)
    return elapsed, out


def floor_process(root, result_path):
    """A fresh interpreter that reads the same files and prints a result of the same content."""
    code = ("import sys, json; sys.path.insert(0, %r); import bench_ccw_info as b; "
            "result = json.load(open(%r)); import time; t = time.perf_counter(); b.floor(%r); "
            "sys.stdout.write(json.dumps(result)); sys.stderr.write(repr(time.perf_counter() - t))"
            ) % (os.path.dirname(os.path.abspath(__file__)), result_path, root)
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    # Loading the saved result is set-up, not work: time from the first read to the end of the dump.
    return float(proc.stderr.decode().strip().splitlines()[-1])


PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - {module}: {args}
      register: result
"""


class Playbooks(object):
    """ansible-playbook runs against this controller (local connection, this interpreter)."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="s390x-kvm-bench-")
        self.inventory = os.path.join(self.work, "inventory.ini")
        with open(self.inventory, "w") as inv:
            inv.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        self.env = dict(os.environ, ANSIBLE_LIBRARY=os.path.join(os.path.dirname(os.path.abspath(__file__)), "library"),
                        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="default")

    def run(self, module, args):
        play = os.path.join(self.work, "play.yml")
        with open(play, "w") as out:
            out.write(PLAY.format(module=module, args=json.dumps(args)))    # JSON is YAML: literal arguments
        start = time.perf_counter()
        subprocess.run(["ansible-playbook", "-i", self.inventory, play], check=True, stdout=subprocess.DEVNULL,
                       env=self.env)
        return time.perf_counter() - start


def playbook_figures(root, devices, floor_s, repeat):
    """ccw_info through ansible-playbook (three option sets) against read floor + moving the records."""
    books = Playbooks()
    sample = next((d for d in devices if d.get("dasd")), devices[0])
    variants = {
        "default": {"host_root": root},
        "devices_only": {"host_root": root, "gather": ["devices"]},
        "all_subchannels": {"host_root": root, "subchannels": "all"},
    }
    books.run("ansible.builtin.ping", {})     # warm-up: plugin loader caches, page cache
    moves, times = [], dict((name, []) for name in variants)
    for dummy in range(repeat):
        moves.append(books.run("bench_records", {"count": len(devices), "sample": sample}))
        for name, args in variants.items():
            times[name].append(books.run("s390x.kvm.ccw_info", args))
    fig = {"playbook_move_records_s": statistics.median(moves)}
    fig["playbook_floor_s"] = floor_s + fig["playbook_move_records_s"]
    for name in variants:
        fig["playbook_%s_s" % name] = statistics.median(times[name])
        fig["playbook_%s_ratio" % name] = fig["playbook_%s_s" % name] / fig["playbook_floor_s"]
    return fig


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root", help="host_root of the large fixture tree")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--no-playbook", action="store_true", help="skip the ansible-playbook comparison")
    opts = parser.parse_args()

    subchannels, devices = module_inprocess(opts.root)  # warm the page cache / dentries once
    floor(opts.root)
    floors, modules = [], []
    for dummy in range(opts.repeat):
        floors.append(timed(floor, opts.root))
        modules.append(timed(module_inprocess, opts.root))
    full_module, full_floor = [], []
    result_size = 0
    result_file = tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False)
    for dummy in range(max(1, opts.repeat - 1)):
        elapsed, out = module_process(opts.root)
        result_size = len(out)
        full_module.append(elapsed)
        with open(result_file.name, "wb") as handle:
            handle.write(out)
        full_floor.append(floor_process(opts.root, result_file.name))
    os.unlink(result_file.name)
    fig = {
        "subchannels": len(subchannels),
        "devices": len(devices),
        "floor_s": statistics.median(floors),
        "module_s": statistics.median(modules),
        "process_floor_s": statistics.median(full_floor),
        "process_module_s": statistics.median(full_module),
        "result_bytes": result_size,
    }
    if not opts.no_playbook:
        fig.update(playbook_figures(opts.root, devices, fig["floor_s"], opts.repeat))
    fig["ratio_inprocess"] = fig["module_s"] / fig["floor_s"]
    fig["ratio_process"] = fig["process_module_s"] / fig["process_floor_s"]
    print("ccw_info on %(subchannels)d subchannels / %(devices)d devices" % fig)
    print("  in process : floor %(floor_s).2f s   module %(module_s).2f s   ratio %(ratio_inprocess).2fx (target <= 1.30)" % fig)
    print("  as process : floor+json.dumps(%(result_bytes)d B) %(process_floor_s).2f s   module %(process_module_s).2f s"
          "   ratio %(ratio_process).2fx (the rest is ansible-core's exit_json)" % fig)
    if not opts.no_playbook:
        print("  playbook   : floor = read %(floor_s).2f s + moving %(devices)d device records %(playbook_move_records_s).2f s"
              " = %(playbook_floor_s).2f s" % fig)
        print("               default %(playbook_default_s).2f s  ratio %(playbook_default_ratio).2fx (target <= 1.30)" % fig)
        print("               gather=[devices] %(playbook_devices_only_s).2f s  ratio %(playbook_devices_only_ratio).2fx;"
              "  subchannels=all %(playbook_all_subchannels_s).2f s  ratio %(playbook_all_subchannels_ratio).2fx" % fig)
    if opts.json:
        with open(opts.json, "w") as out:
            json.dump(fig, out, indent=2)
    return fig


if __name__ == "__main__":
    main()
