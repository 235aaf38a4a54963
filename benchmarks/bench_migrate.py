"""s390x.kvm.migrate against bare ``virsh migrate --live --p2p`` of the same guest, in the same run,
on the test bed's two real libvirt hosts (qemu-system-s390x TCG, Debian's 6.12 s390x kernel).

1. No pass-through device: the guest (virtio-blk + virtio-net on CCW) goes back and forth
   ``--rounds`` times with each tool, alternating, so both see the same machine load. Wall time of
   the whole command (a new process each time: ``virsh`` as an operator runs it, the module as
   Ansible runs it, JSON arguments on stdin) -> median ratio.
2. The same guest plus a virtio-net-pci on zPCI (QEMU refuses to migrate it): ``virsh migrate``
   cannot move it at all; the module does (unplug, migrate, replug): its phases and the device's
   outage (from the moment the guest released it until the destination's guest had it back).

Usage: python benchmarks/bench_migrate.py [--rounds N] [--json FILE]   (benchmarks/run.sh runs it)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.environ.get("S390X_KVM_COLLECTIONS", ""))    # the collection (scripts/lib.sh)

from tests.testbed.playbook import run_module  # noqa: E402
from tests.testbed import pytest_libvirt as tb  # noqa: E402


def hosts():
    subprocess.run(["bash", os.path.join(tb.SCRIPTS, "up.sh")], check=True, capture_output=True)
    return [tb.LibvirtHost(name, addr) for name, addr in tb.HOSTS]


def image():
    subprocess.run(["bash", tb.BUILD_SH], check=True, capture_output=True)
    with open(os.path.join(tb.TB_CACHE, "guest", "image.json")) as handle:
        return tb.GuestImage(json.load(handle))


def start_guest(host, name, workdir, img, zpci):
    disk = tb.create_disk(os.path.join(workdir, "%s.qcow2" % name))
    console = os.path.join(workdir, "%s.console.log" % name)
    nics = [tb.interface_xml("52:54:00:5a:39:a1", devno=2)]
    if zpci:
        nics.append(tb.zpci_interface_xml("52:54:00:5a:39:a2", uid=5, fid=10))
    xml = tb.domain_xml(name, img, console, disks=[tb.disk_xml(disk, "vda", devno=1)], interfaces=nics,
                        balloon_devno=3, cmdline_extra="tb.heartbeat=1")
    dom = host.conn().defineXML(xml)
    dom.create()
    tb.GuestConsole(console).wait("READY", timeout=240)
    return dom


def remove(hosts_, name):
    for host in hosts_:
        try:
            dom = host.conn().lookupByName(name)
        except Exception:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def virsh_migrate(name, src, dst):
    started = time.monotonic()
    subprocess.run(["virsh", "-q", "-c", src.uri, "migrate", "--live", "--p2p", "--persistent", "--undefinesource",
                    "--unsafe", name, dst.uri, "--migrateuri", dst.migration_uri, "--listen-address",
                    dst.migration_address], check=True, capture_output=True)
    return time.monotonic() - started


def module_migrate(name, src, dst):
    started = time.monotonic()
    result = run_module("migrate", name=name, uri=src.uri, dest_uri=dst.uri, migrate_uri=dst.migration_uri,
                        listen_address=dst.migration_address, unsafe=True)
    seconds = time.monotonic() - started
    if result.get("failed") or result.get("outcome") != "migrated":
        raise SystemExit("migrate failed: %s" % result.get("msg"))
    return seconds, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="round trips per tool (default 5)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    tb.event_loop()
    h1, h2 = hosts()
    img = image()
    workdir = os.path.join(tb.IMAGE_DIR, "bench-migrate")
    os.makedirs(workdir, exist_ok=True)
    out = {"rounds": args.rounds}

    name = "bench-mig-%d" % os.getpid()
    remove((h1, h2), name)
    start_guest(h1, name, workdir, img, zpci=False)
    try:
        walls = {"virsh": [], "migrate": []}
        where = [h1, h2]
        for _ in range(args.rounds):
            for tool in ("virsh", "migrate"):
                for _leg in range(2):
                    src, dst = where
                    if tool == "virsh":
                        walls["virsh"].append(virsh_migrate(name, src, dst))
                    else:
                        walls["migrate"].append(module_migrate(name, src, dst)[0])
                    where.reverse()
        med = dict((k, statistics.median(v)) for k, v in walls.items())
        out["no_passthrough"] = {"virsh_wall_s": [round(x, 3) for x in walls["virsh"]],
                                 "migrate_wall_s": [round(x, 3) for x in walls["migrate"]],
                                 "virsh_median_s": round(med["virsh"], 3), "migrate_median_s": round(med["migrate"], 3),
                                 "ratio": round(med["migrate"] / med["virsh"], 3)}
    finally:
        remove((h1, h2), name)

    name = "bench-migz-%d" % os.getpid()
    start_guest(h1, name, workdir, img, zpci=True)
    try:
        refused = subprocess.run(["virsh", "-q", "-c", h1.uri, "migrate", "--live", "--p2p", "--persistent",
                                  "--undefinesource", "--unsafe", name, h2.uri, "--migrateuri", h2.migration_uri,
                                  "--listen-address", h2.migration_address], capture_output=True, text=True)
        runs = []
        where = [h1, h2]
        for _ in range(args.rounds):
            for _leg in range(2):
                src, dst = where
                seconds, result = module_migrate(name, src, dst)
                runs.append({"wall_s": round(seconds, 3), "phases": result["phases"],
                             "outage_s": result["devices"][0]["outage_s"], "downtime_ms": result["job"].get("downtime")})
                where.reverse()
        out["zpci"] = {"virsh_refused": refused.returncode != 0, "virsh_error": refused.stderr.strip()[:200],
                       "runs": runs, "wall_median_s": statistics.median(r["wall_s"] for r in runs),
                       "outage_median_s": statistics.median(r["outage_s"] for r in runs),
                       "phase_medians_s": dict((p, round(statistics.median(r["phases"][p] for r in runs), 3))
                                               for p in runs[0]["phases"])}
    finally:
        remove((h1, h2), name)

    npt = out["no_passthrough"]
    print("migrate vs. virsh migrate --live --p2p, %d round trips each (same guest, same run):" % args.rounds)
    print("  virsh   median %.3f s" % npt["virsh_median_s"])
    print("  migrate median %.3f s   ratio %.2fx (target <= 1.15x)" % (npt["migrate_median_s"], npt["ratio"]))
    z = out["zpci"]
    print("with a zPCI virtio-net: virsh %s; migrate median %.3f s, device outage median %.3f s, phases %s" % (
        "refuses (%s)" % z["virsh_error"] if z["virsh_refused"] else "migrated it", z["wall_median_s"],
        z["outage_median_s"], z["phase_medians_s"]))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main()
