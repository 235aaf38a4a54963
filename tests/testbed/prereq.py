"""Prerequisites of tests that need real parts (libvirtd, qemu, the emulated Z host, podman).

Outside CI a missing prerequisite skips the test with the exact reason; in CI
(``CI=true``) it fails the test, so nothing is skipped silently where the
README's test command promises to run it.
"""

import os

import pytest


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def prerequisite(ok, reason):
    """Skip (locally) or fail (in CI) the calling test/fixture when ``ok`` is false."""
    if ok:
        return
    if in_ci():
        pytest.fail("missing prerequisite in CI: %s" % reason, pytrace=False)
    pytest.skip(reason)
