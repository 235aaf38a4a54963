"""Picks the ansible-core release of the current controller (scripts/current.sh): the newest final
release in requirements-current.txt's range whose ansible-test can install its sanity tests from
PyPI, the only index this machine and CI reach.

ansible-core 2.22.0's ansible-test pins pylint's ``dill`` to a GitHub archive
(``dill @ https://github.com/uqfoundation/dill/archive/...zip``), which cannot be fetched here; a
release that pins PyPI versions again is taken as soon as it exists.

    python scripts/current_core.py REQUIREMENTS DOWNLOAD_DIR    prints the version (e.g. 2.21.5)

Runs with the current controller's Python and pip (in the Debian 13 root)."""

import os
import re
import subprocess
import sys
import zipfile

REQUIREMENTS_PREFIX = "ansible_test/_data/requirements/"


def core_range(requirements):
    """The specifier of ansible-core in the requirements file, e.g. '>=2.21,<2.30'."""
    with open(requirements) as handle:
        for line in handle:
            match = re.match(r"\s*ansible-core\s*([<>=!~][^#;]*)", line)
            if match:
                return match.group(1).strip()
    raise SystemExit("%s names no ansible-core range" % requirements)


def version_key(version):
    return tuple(int(part) for part in version.split("."))


def in_range(version, specifier):
    for clause in specifier.split(","):
        op, bound = re.match(r"\s*(>=|<=|==|<|>)\s*([0-9.]+)", clause).groups()
        left, right = version_key(version), version_key(bound)
        if not {">=": left >= right, "<=": left <= right, "==": left == right,
                "<": left < right, ">": left > right}[op]:
            return False
    return True


def finals(specifier):
    """Final releases of ansible-core on the index within the range, newest first."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "ansible-core"],
                         capture_output=True, text=True, check=True).stdout
    listed = re.search(r"Available versions:\s*(.*)", out).group(1).split(", ")
    return sorted((v for v in listed if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", v) and in_range(v, specifier)),
                  key=version_key, reverse=True)


def off_index_requirements(wheel):
    """The sanity requirements of a wheel's ansible-test that name a URL instead of an index version."""
    with zipfile.ZipFile(wheel) as archive:
        return [line.strip() for name in archive.namelist() if name.startswith(REQUIREMENTS_PREFIX)
                for line in archive.read(name).decode().splitlines() if " @ " in line and not line.startswith("#")]


def main():
    requirements, download_dir = sys.argv[1:3]
    specifier = core_range(requirements)
    for version in finals(specifier):
        wheel = os.path.join(download_dir, "ansible_core-%s-py3-none-any.whl" % version)
        if not os.path.exists(wheel):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", download_dir, "ansible-core==%s" % version], check=True)
        skipped = off_index_requirements(wheel)
        if not skipped:
            print(version)
            return
        sys.stderr.write("ansible-core %s: its ansible-test installs %s from outside PyPI; trying an older release\n"
                         % (version, skipped[0].split(" @ ")[0]))
    raise SystemExit("no ansible-core release in %s installs its sanity tests from PyPI" % specifier)


if __name__ == "__main__":
    main()
