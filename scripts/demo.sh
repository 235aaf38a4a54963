#!/usr/bin/env bash
# The main job: discovery of the bundled example IBM Z KVM host, as tables and JSON.
# Installs what it needs (Debian packages, a virtualenv, the collection) on first use.
source "$(dirname "$0")/lib.sh"
base_setup

demo_root=${S390X_KVM_DEMO_ROOT:-$S390X_KVM_CACHE/demo/example-zhost}
export S390X_KVM_DEMO_ROOT=$demo_root
log "building the example Z host tree at $demo_root"
(cd "$S390X_KVM_ROOT" && python -m tests.fixtures.sysfs_builder tests/fixtures/hosts/small_kvm_host.yml "$demo_root" --force)

report_dir=$S390X_KVM_CACHE/demo/reports
log "discovering it with s390x.kvm.discover"
ansible-playbook -i "$S390X_KVM_ROOT/playbooks/inventory/demo.yml" "$S390X_KVM_ROOT/playbooks/discover.yml" \
    -e report_dir="$report_dir"
log "JSON report: $report_dir/example-zhost.json"
python - "$report_dir/example-zhost.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for section in ("ccw", "zpci", "ap"):
    report[section].pop("invocation", None)
print(json.dumps({"summary": report["ccw"]["summary"], "ipl": report["ccw"].get("ipl"),
                  "dasds": [d for d in report["ccw"]["devices"] if d["kind"] == "dasd"][:3],
                  "zpci": report["zpci"]["functions"][:2]}, indent=2))
print("... full report: %s" % sys.argv[1])
PY
