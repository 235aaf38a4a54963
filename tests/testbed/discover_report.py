"""The report of ``s390x.kvm.discover`` on a fixture host checked against the host's description:
every device the description gives is found, and nothing else. Used by the artifact stage
(scripts/artifact.sh) and the execution environment's jobs (tests/testbed/ee.py).

    python -m tests.testbed.discover_report REPORT [DESCRIPTION]   prints a one-line summary"""

import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_HOST = os.path.join(ROOT, "tests", "fixtures", "hosts", "small_kvm_host.yml")


def expected_devices(description=EXAMPLE_HOST):
    """What discovery must find on a fixture host, from its description (tests/fixtures/README.md):
    the CCW devices (DASDs not handed to vfio_ccw, FCP, every qeth device), zPCI function ids, AP
    queues (card x domain) and vfio_ap matrix mdevs."""
    with open(description) as handle:
        host = yaml.safe_load(handle)
    ccw = {d["busid"] for d in host.get("dasd", []) if not d.get("vfio_ccw")}
    ccw |= {z["busid"] for z in host.get("zfcp", [])}
    ccw |= {busid for q in host.get("qeth", []) for busid in q["devices"]}
    ap = host.get("ap", {})
    return {
        "ccw": ccw,
        "zpci": {int(p["fid"], 16) for p in host.get("pci", [])},
        "apqns": {"%02x.%04x" % (card["id"], dom) for card in ap.get("cards", []) for dom in card["domains"]},
        "matrix_mdevs": {m["uuid"] for m in ap.get("vfio_ap", {}).get("mdevs", [])},
    }


def check_report(report, expected):
    """A report of s390x.kvm.discover against :func:`expected_devices`; a one-line summary."""
    ccw = {d["bus_id"] for d in report["ccw"]["devices"]}
    zpci = {f["fid"] for f in report["zpci"]["functions"]}
    apqns = {q["apqn"] for q in report["ap"]["queues"]}
    mdevs = {m["uuid"] for m in report["ap"]["matrix_mdevs"]}
    for what, found in (("ccw", ccw), ("zpci", zpci), ("apqns", apqns), ("matrix_mdevs", mdevs)):
        assert found == expected[what], "%s: the report has %s, the host %s" % (what, sorted(found),
                                                                               sorted(expected[what]))
    dasds = [d for d in report["ccw"]["devices"] if d["kind"] == "dasd"]
    return "%d CCW devices (%d DASDs), %d zPCI functions, %d AP queues, %d vfio_ap matrix mdevs" % (
        len(ccw), len(dasds), len(zpci), len(apqns), len(mdevs))


def check_report_file(path, description=EXAMPLE_HOST):
    with open(path) as handle:
        return check_report(json.load(handle), expected_devices(description))


if __name__ == "__main__":
    print("report: " + check_report_file(*sys.argv[1:3]))
