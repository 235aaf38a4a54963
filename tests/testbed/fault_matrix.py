"""The fault-injection matrix of s390x.kvm.migrate as a table (tests/integration/libvirt/test_migrate_faults.py
writes its rows into the test bed's results; ``python -m tests.testbed.fault_matrix`` prints the latest)."""

import json
import os
import sys

RESULTS = os.path.join(os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"), "testbed", "results",
                       "libvirt-latest.json")
FORMAT = "%-9s %-52s %-9s %-12s %-10s %-10s %7s"


def matrix_table(rows):
    lines = [FORMAT % ("phase", "fault", "how", "outcome", "invariants", "second run", "seconds")]
    for row in rows:
        lines.append(FORMAT % (row["phase"], row["fault"], row["how"], row["outcome"] or "-",
                               "hold" if row["invariants_hold"] else "BROKEN",
                               "ok" if row["second_run_ok"] else "FAILED", row["seconds"]))
    return "\n".join(lines)


def main(path=RESULTS):
    with open(path) as handle:
        rows = json.load(handle).get("fault_matrix")
    if not rows:
        print("no fault matrix in %s" % path)
        return 1
    print(matrix_table(rows))
    broken = [r for r in rows if not (r["invariants_hold"] and r["second_run_ok"])]
    print("\n%d cases, %d hold every invariant and succeed on the second run" % (len(rows), len(rows) - len(broken)))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
