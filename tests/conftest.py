"""Top-level pytest configuration: makes the collection importable as
``ansible_collections.s390x.kvm`` and registers the test-bed fixture plugins."""

import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scripts/lib.sh exports it; the fallback is the same per-checkout path it computes
COLLECTIONS = os.environ.get("S390X_KVM_COLLECTIONS") or os.path.join(
    os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm"), "collections", hashlib.sha256(ROOT.encode()).hexdigest()[:12])
if os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections")) and COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

pytest_plugins = [
    plugin for plugin in ("tests.testbed.pytest_zhost", "tests.testbed.pytest_libvirt")
    if os.path.exists(os.path.join(ROOT, *plugin.split(".")) + ".py")
]
