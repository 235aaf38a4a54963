"""Fixtures of the execution environment's jobs against the test beds: the image (built or found up
to date by ``scripts/ee.sh build``) and a directory for the jobs' private data dirs."""

import os
import subprocess
import time

import pytest

from tests.testbed import ee
from tests.testbed.prereq import prerequisite
from tests.testbed.sharing import session_dir

EE_SH = os.path.join(ee.ROOT, "scripts", "ee.sh")


@pytest.fixture(scope="session")
def ee_image():
    """The execution environment's image, tagged with the collection's version. ``scripts/ee.sh
    build`` runs every session: it builds only when the definition, the collection or the base image
    changed (a few seconds otherwise), so the jobs never run an image of older code."""
    prerequisite(os.geteuid() == 0, "building the execution environment needs root (apt, podman)")
    started = time.monotonic()
    proc = subprocess.run(["bash", EE_SH, "build"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail("scripts/ee.sh build failed (rc %d) after %.0f s:\n%s\n%s" % (
            proc.returncode, time.monotonic() - started, proc.stdout[-3000:], proc.stderr[-6000:]), pytrace=False)
    with open(os.path.join(ee.ROOT, "galaxy.yml")) as handle:
        version = [line.split(":", 1)[1].strip() for line in handle if line.startswith("version:")][0]
    print("\nee: scripts/ee.sh build took %.1f s (%s)" % (
        time.monotonic() - started, "built" if "ansible-builder build" in proc.stderr else "up to date"))
    return "%s:%s" % (ee.IMAGE_REPO, version)


@pytest.fixture(scope="session")
def ee_jobs():
    """$S390X_KVM_CACHE/ee/jobs/pytest-<pid>: the private data dirs of this session's jobs (artifacts,
    events, reports), kept for inspection until a later session removes it."""
    return session_dir(os.path.join(ee.EE_CACHE, "jobs"))
