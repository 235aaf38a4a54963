"""Prints the pip version the installed ansible-test bootstraps (scripts/sanity.sh serves its
get-pip.py from the local cache, as ansible-test would download it)."""

import os
import re

import ansible_test

SOURCE = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
with open(SOURCE) as handle:
    print(re.search(r"pip='([0-9.]+)'", handle.read()).group(1))
