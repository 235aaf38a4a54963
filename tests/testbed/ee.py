"""The execution environment (``ee/``, ``scripts/ee.sh``): what its build depends on, what the image
holds, and jobs run in it the way AWX/AAP run them: ``ansible-runner run --process-isolation`` with a
private data dir (project, inventory, env), the image as the only Ansible, results read back from the
job's events.

Used by ``scripts/ee.sh`` (``python -m tests.testbed.ee COMMAND ...``) and ``tests/integration/ee``.
Only the standard library and PyYAML: it runs in the controller's virtualenv; ansible-runner itself
comes from the execution environment's own virtualenv (``$S390X_KVM_CACHE/venv-ee``).
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import yaml

from tests.testbed.discover_report import EXAMPLE_HOST, check_report_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("S390X_KVM_CACHE", "/var/cache/s390x-kvm")
EE_CACHE = os.path.join(CACHE, "ee")
EE_VENV = os.path.join(CACHE, "venv-ee")
IMAGE_REPO = "localhost/s390x-kvm-ee"
IMAGE = IMAGE_REPO + ":latest"
# The label ``scripts/ee.sh build`` puts on the image: the hash of what it was built from.
INPUTS_LABEL = "s390x-kvm.ee-inputs"
# Where ansible-builder installs the galaxy requirements.
COLLECTIONS_DIR = "/usr/share/ansible/collections/ansible_collections"
COLLECTION_DIR = COLLECTIONS_DIR + "/s390x/kvm"
# Podman's settings for this machine (runc, rlimits): the same file as the molecule scenarios'.
CONTAINERS_CONF = os.path.join(ROOT, "tests", "molecule", "containers.conf")


def podman_env(env=None):
    """The environment podman (and ansible-runner, which calls it) needs on this machine."""
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("CONTAINERS_CONF", CONTAINERS_CONF)
    return run_env


def podman(*args, check=True, timeout=300):
    proc = subprocess.run(["podman"] + list(args), capture_output=True, text=True, env=podman_env(),
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError("podman %s failed (rc %d): %s" % (" ".join(args), proc.returncode, proc.stderr.strip()))
    return proc


def image_label(image, label=INPUTS_LABEL):
    """A label of a local image; None when the image is missing."""
    proc = podman("image", "inspect", "--format", "{{index .Config.Labels \"%s\"}}" % label, image, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


# --------------------------------------------------------------------------- build inputs

def _tar_member(tarball, name):
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == name:
                return tar.extractfile(member).read()
    raise ValueError("%s holds no %s" % (tarball, name))


def tarball_identity(tarball):
    """What a collection tarball holds, independent of when it was built: its version and the
    sha256 of its FILES.json (which lists the sha256 of every file). The gzip header and the
    members' mtimes differ between two builds of the same checkout; these do not."""
    manifest = json.loads(_tar_member(tarball, "MANIFEST.json"))
    files = _tar_member(tarball, "FILES.json")
    info = manifest["collection_info"]
    return {"name": "%s.%s" % (info["namespace"], info["name"]), "version": info["version"],
            "files_json_sha256": hashlib.sha256(files).hexdigest()}


def inputs_hash(context, tarball, base_image_id):
    """The hash of everything an image build reads: the build context ansible-builder created (its
    Containerfile, requirement files and scripts: the definition and the builder's version), the
    collection by content (not the tarball's bytes) and the base image's id."""
    digest = hashlib.sha256()
    tarballs = set()
    for path in glob.glob(os.path.join(context, "_build", "collections", "*.tar.gz")):
        tarballs.add(os.path.realpath(path))
    for top, dirs, files in os.walk(context):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, context)
            if os.path.realpath(path) in tarballs:
                continue
            with open(path, "rb") as handle:
                digest.update(("%s\0" % rel).encode() + handle.read() + b"\0")
    digest.update(json.dumps(tarball_identity(tarball), sort_keys=True).encode())
    digest.update(base_image_id.encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- what the image holds

def image_facts(image):
    """What the image runs: ansible-core, ansible-runner, the libvirt binding, and where s390x.kvm is
    installed with the sha256 of its FILES.json. One container, run as ansible-runner runs it."""
    script = ("ansible-galaxy collection list s390x.kvm --format json 2>/dev/null; echo '#'; "
              "sha256sum %s/FILES.json; echo '#'; test -e %s/galaxy.yml && echo checkout || echo release; echo '#'; "
              "python3 -c 'import ansible, ansible_runner, libvirt; from importlib.metadata import version; "
              "print(version(\"ansible-core\"), version(\"ansible-runner\"), libvirt.getVersion())'"
              % (COLLECTION_DIR, COLLECTION_DIR))
    proc = podman("run", "--rm", "--user=0", image, "/bin/sh", "-c", script)
    listing, files_sum, kind, versions = proc.stdout.split("#\n")
    core, runner, libvirt_version = versions.split()
    return {"collections": json.loads(listing), "files_json_sha256": files_sum.split()[0], "kind": kind.strip(),
            "ansible_core": core, "ansible_runner": runner, "libvirt": int(libvirt_version)}


def check_image(image, tarball):
    """The collection in the image is the tarball's (same version, same FILES.json, installed as a
    release: no galaxy.yml of a checkout), and only there; ansible-core, ansible-runner and the
    libvirt binding import. Returns the facts; raises AssertionError otherwise."""
    facts = image_facts(image)
    want = tarball_identity(tarball)
    where = {path: found["s390x.kvm"]["version"]
             for path, found in facts["collections"].items() if "s390x.kvm" in found}
    assert where == {COLLECTIONS_DIR: want["version"]}, "s390x.kvm in the image: %s (want %s in %s)" % (
        where, want["version"], COLLECTIONS_DIR)
    assert facts["files_json_sha256"] == want["files_json_sha256"], \
        "the image's s390x.kvm is not the tarball's (FILES.json differs)"
    assert facts["kind"] == "release", "the image's s390x.kvm has a galaxy.yml: a checkout, not the tarball"
    return facts


# --------------------------------------------------------------------------- jobs

class Job:
    """One ansible-runner job: status (``successful``, ``failed``, ``timeout``...), rc, its events,
    the text Ansible printed, seconds, and the private data dir it ran in."""

    def __init__(self, data_dir, ident, seconds, runner_output):
        self.data_dir = data_dir
        self.seconds = seconds
        artifacts = os.path.join(data_dir, "artifacts", ident)
        self.artifacts = artifacts
        self.status = _read(os.path.join(artifacts, "status"), "missing").strip()
        self.rc = int(_read(os.path.join(artifacts, "rc"), "-1").strip() or -1)
        self.stdout = _read(os.path.join(artifacts, "stdout"), "")
        self.runner_output = runner_output
        self.events = []
        for path in glob.glob(os.path.join(artifacts, "job_events", "*.json")):
            with open(path) as handle:
                self.events.append(json.load(handle))
        self.events.sort(key=lambda e: e.get("counter", 0))

    @property
    def ok(self):
        return self.status == "successful" and self.rc == 0

    def task_events(self, task_part, host=None):
        """The result events (ok, failed, unreachable; a loop's items) of the tasks whose name
        contains ``task_part``."""
        kinds = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_item_on_ok",
                 "runner_item_on_failed")
        return [e for e in self.events if e.get("event") in kinds and task_part in e["event_data"].get("task", "")
                and (host is None or e["event_data"].get("host") == host)]

    def result(self, task_part, host=None):
        """The one result of the task whose name contains ``task_part`` (on ``host``)."""
        found = [e for e in self.task_events(task_part, host) if not e["event"].startswith("runner_item")]
        assert len(found) == 1, "%d results for task %r%s:\n%s" % (
            len(found), task_part, " on %s" % host if host else "", self.text()[-3000:])
        return found[0]["event_data"]["res"]

    def changed(self):
        return sum(1 for e in self.events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed"))

    def failures(self):
        msgs = [e["event_data"]["res"].get("msg", "") for e in self.events
                if e.get("event") in ("runner_on_failed", "runner_on_unreachable")]
        return msgs or [self.text()[-3000:]]

    def text(self):
        return self.stdout or self.runner_output

    def __repr__(self):
        return "Job(%s, rc %d, %.1f s, %s)" % (self.status, self.rc, self.seconds, self.data_dir)


def _read(path, default):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return default


def _write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        if isinstance(content, str):
            handle.write(content)
        else:
            yaml.safe_dump(content, handle, default_flow_style=False, sort_keys=False)


def import_playbook(name):
    """A project playbook that runs a collection's playbook, as an AWX project would."""
    return [{"name": "Run %s" % name, "ansible.builtin.import_playbook": name}]


def run_job(data_dir, playbook, project, inventory, image=IMAGE, extravars=None, envvars=None, mounts=(),
            options=(), ident="job", timeout=900):
    """Run ``playbook`` of ``project`` ({file name: YAML data or text}) in the image with
    ansible-runner, as AWX runs a job: the private data dir ``data_dir`` (created; mounted at
    /runner), ``inventory`` (data or the path of an inventory file to copy), extra vars and
    environment variables of the job, bind mounts (``SRC:DEST[:OPTIONS]``) and podman options.
    Returns a :class:`Job`."""
    os.makedirs(data_dir, exist_ok=True)
    for name, content in project.items():
        _write(os.path.join(data_dir, "project", name), content)
    if isinstance(inventory, str):
        os.makedirs(os.path.join(data_dir, "inventory"), exist_ok=True)
        shutil.copy(inventory, os.path.join(data_dir, "inventory", os.path.basename(inventory)))
    else:
        _write(os.path.join(data_dir, "inventory", "hosts.yml"), inventory)
    if extravars:
        _write(os.path.join(data_dir, "env", "extravars"), extravars)
    if envvars:
        _write(os.path.join(data_dir, "env", "envvars"), envvars)
    runner = os.path.join(EE_VENV, "bin", "ansible-runner")
    if not os.access(runner, os.X_OK):
        raise RuntimeError("%s is missing (bash scripts/ee.sh build installs it)" % runner)
    # The image runs as user 1000 by default; the private data dir belongs to root here (podman as
    # root, no user namespace): the job runs as root in the container.
    argv = [runner, "run", data_dir, "-p", playbook, "--ident", ident, "--process-isolation",
            "--process-isolation-executable", "podman", "--container-image", image, "--container-option=--user=0"]
    argv += ["--container-option=%s" % option for option in options]
    for mount in mounts:
        argv += ["--container-volume-mount", mount]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=podman_env(), timeout=timeout)
    return Job(data_dir, ident, time.monotonic() - started, proc.stdout + proc.stderr)


# --------------------------------------------------------------------------- the example host

def example_job(work, image=IMAGE, description=EXAMPLE_HOST):
    """s390x.kvm.discover in the image on the example host (a fixture sysfs tree built from
    ``description``, bind-mounted read-only), the report written to the private data dir. Returns
    (job, report path)."""
    tree = os.path.join(work, "example-zhost")
    subprocess.run([sys.executable, "-m", "tests.fixtures.sysfs_builder", description, tree, "--force"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    host_root = "/hosts/example-zhost"
    inventory = {"all": {"hosts": {"example-zhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3", "host_root": host_root}}}}
    data_dir = os.path.join(work, "job")
    job = run_job(data_dir, "discover.yml", {"discover.yml": import_playbook("s390x.kvm.discover")}, inventory,
                  image=image, extravars={"report_dir": "/runner/reports"}, mounts=["%s:%s:ro" % (tree, host_root)])
    return job, os.path.join(data_dir, "reports", "example-zhost.json")


# --------------------------------------------------------------------------- command line (scripts/ee.sh)

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.ee", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inputs", help="print the hash of a build's inputs")
    p.add_argument("context")
    p.add_argument("tarball")
    p.add_argument("base_image_id")
    p = sub.add_parser("check-image", help="the image holds the tarball's collection and runs ansible")
    p.add_argument("image")
    p.add_argument("tarball")
    p = sub.add_parser("example-job", help="s390x.kvm.discover in the image on the example host, checked")
    p.add_argument("image")
    p.add_argument("work", help="a new directory for the fixture tree and the private data dir")
    args = parser.parse_args(argv)

    if args.command == "inputs":
        print(inputs_hash(args.context, args.tarball, args.base_image_id))
    elif args.command == "check-image":
        facts = check_image(args.image, args.tarball)
        print("%s: s390x.kvm %s from the tarball in %s; ansible-core %s, ansible-runner %s, libvirt client %d" % (
            args.image, tarball_identity(args.tarball)["version"], COLLECTIONS_DIR, facts["ansible_core"],
            facts["ansible_runner"], facts["libvirt"]))
    elif args.command == "example-job":
        job, report = example_job(args.work, args.image)
        if not job.ok:
            sys.stderr.write(job.text()[-6000:] + "\n")
            raise SystemExit("the job ended %s (rc %d): %s" % (job.status, job.rc, "; ".join(job.failures())[:2000]))
        summary = check_report_file(report)
        print("job %s in %.1f s; report: %s" % (job.status, job.seconds, summary))


if __name__ == "__main__":
    main()
