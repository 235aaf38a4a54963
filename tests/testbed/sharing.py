"""Test beds that several pytest sessions use at once (two engineers' runs, the lanes of
scripts/integration.sh): each session holds a shared lock on the bed's users lock file while it runs;
the bed is taken down only by the last session out, and only if a session (not a person) brought it up,
which a started mark says."""

import fcntl
import os
import shutil


def keep_testbed():
    """S390X_KVM_KEEP_TESTBED set: leave every bed up."""
    return os.environ.get("S390X_KVM_KEEP_TESTBED", "") not in ("", "0", "false", "no")


def last_out(users):
    """Whether this session is the last user (``users``: its open users lock file, held shared)."""
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)   # fails while another session holds it
    except OSError:
        return False
    return True


def take_down_if_started(mark, take_down):
    """take_down() and the mark removed, when a session started the bed and it is not to be kept."""
    if os.path.exists(mark) and not keep_testbed():
        take_down()
        os.unlink(mark)


def session_dir(base):
    """BASE/pytest-<pid>: this session's directory, kept after it for inspection; the directories of
    earlier sessions (whose pid is gone) are removed, those of sessions still running are left."""
    os.makedirs(base, exist_ok=True)
    for old in os.listdir(base):
        pid = old[len("pytest-"):]
        if old.startswith("pytest-") and pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    path = os.path.join(base, "pytest-%d" % os.getpid())
    os.makedirs(path, exist_ok=True)
    return path
