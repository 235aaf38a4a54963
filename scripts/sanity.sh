#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at .../ansible_collections/s390x/kvm (where
# ansible-test requires it), with the pip bootstrap served locally (see ansible_test_get_pip.py).
source "$(dirname "$0")/lib.sh"
base_setup
apt_ensure git   # the copy takes git's file list; ansible-test lists the copy's files through git

pip_version=$("$S390X_KVM_VENV/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
mkdir -p "$HOME/.ansible/test/cache"
cp "$S390X_KVM_ROOT/scripts/ansible_test_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

work=$S390X_KVM_CACHE/sanity/ansible_collections/s390x/kvm
rm -rf "$work" && mkdir -p "$work"
# What the released collection contains: every file, less galaxy.yml's build_ignore.
mapfile -t ignored < <("$S390X_KVM_VENV/bin/python" -c '
import yaml, sys
for pattern in yaml.safe_load(open(sys.argv[1])).get("build_ignore", []):
    print(pattern)' "$S390X_KVM_ROOT/galaxy.yml")
(cd "$S390X_KVM_ROOT" && git ls-files -co --exclude-standard -z | python3 -c '
import fnmatch, sys
patterns = sys.argv[1:]
for path in sys.stdin.read().split("\0"):
    if path and not any(path == p or path.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(path, p) for p in patterns):
        sys.stdout.write(path + "\0")' "${ignored[@]}" | rsync -a --from0 --files-from=- ./ "$work/")
cd "$work"
git init -q && git add -A >/dev/null   # ansible-test lists a collection's files through git when it can
log "ansible-test sanity (python 3.11)"
ansible-test sanity --local --python 3.11 --requirements --color no "$@"
