"""Filters a NUL-separated file list (stdin) to what `ansible-galaxy collection build` ships: every
file less galaxy.yml's build_ignore patterns (argv[1] is galaxy.yml). Used by scripts/sanity.sh."""

import fnmatch
import sys

import yaml


def shipped(path, patterns):
    return not any(path == p or path.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(path, p) for p in patterns)


def main():
    with open(sys.argv[1]) as handle:
        patterns = yaml.safe_load(handle).get("build_ignore", [])
    for path in sys.stdin.read().split("\0"):
        if path and shipped(path, patterns):
            sys.stdout.write(path + "\0")


if __name__ == "__main__":
    main()
