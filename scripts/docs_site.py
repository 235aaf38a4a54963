#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the docs stage (scripts/docs.sh), run with the docs virtualenv's Python.

``docs_site.py inventory FILE``
    Writes a Sphinx (intersphinx) inventory of the few labels of Ansible's own documentation that
    the generated plugin pages refer to, with their docs.ansible.com addresses, so the site builds
    without the network and those links still lead to the right pages. A page that refers to a
    label missing here fails the build (``undefined label``); add it to ANSIBLE_LABELS.

``docs_site.py check HTML_DIR``
    Checks the built site: every module's page shows each of its own options, its examples and each
    return value; every other plugin has its page; every role's page shows each option of each entry
    point; the guides of docs/docsite/extra-docs.yml are there, and every playbook has its section
    in the playbooks guide.
"""

from __future__ import absolute_import, division, print_function

import ast
import glob
import os
import re
import sys
import zlib
from html.parser import HTMLParser

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "s390x.kvm"
PREFIX = "ansible_collections." + COLLECTION

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# label -> (Sphinx domain:role, page and anchor under ANSIBLE_DOCS, title)
ANSIBLE_LABELS = {
    "common_return_values": ("std:label", "reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
    "ansible_configuration_settings": ("std:label", "reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "action_plugins": ("std:label", "plugins/action.html#action-plugins", "Action plugins"),
}
# The inventory cache options of ansible.builtin.inventory_cache (the libvirt_guests inventory's page).
for _name in ("ANSIBLE_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION", "ANSIBLE_CACHE_PLUGIN_PREFIX",
              "ANSIBLE_CACHE_PLUGIN_TIMEOUT"):
    ANSIBLE_LABELS[_name] = ("std:envvar", "reference_appendices/config.html#envvar-" + _name, "-")


def write_inventory(path):
    lines = "".join("%s %s -1 %s %s\n" % (name, role, uri, title)
                    for name, (role, uri, title) in sorted(ANSIBLE_LABELS.items()))
    with open(path, "wb") as handle:
        handle.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
                     b"# The remainder of this file is compressed using zlib.\n")
        handle.write(zlib.compress(lines.encode("utf-8")))


# ------------------------------------------------------------------------------------- check

class _Page(HTMLParser):
    """The ids and the visible text of an HTML page."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.ids = set()
        self.chunks = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)

    def handle_data(self, data):
        self.chunks.append(data)


def read_page(path):
    page = _Page()
    with open(path, encoding="utf-8") as handle:
        page.feed(handle.read())
    page.text = re.sub(r"\s+", " ", "".join(page.chunks))
    return page


def html_id(label):
    """The HTML id docutils makes of a label."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _module_docs(path):
    """DOCUMENTATION, EXAMPLES and RETURN of a module, read without importing it."""
    docs = {}
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            docs[node.targets[0].id] = node.value.value
    return docs


def check_module(html, path, problems):
    name = os.path.basename(path)[:-3]
    page_path = os.path.join(html, "%s_module.html" % name)
    if not os.path.exists(page_path):
        problems.append("module %s: no page %s" % (name, page_path))
        return
    page = read_page(page_path)
    docs = _module_docs(path)
    for section in ("parameters", "examples", "return-values"):
        if section not in page.ids:
            problems.append("module %s: the page has no %s section" % (name, section))
    for option in sorted((yaml.safe_load(docs.get("DOCUMENTATION") or "{}") or {}).get("options") or {}):
        if html_id("%s.%s_module__parameter-%s" % (PREFIX, name, option)) not in page.ids:
            problems.append("module %s: option %s is not on its page" % (name, option))
    for key in sorted(yaml.safe_load(docs.get("RETURN") or "{}") or {}):
        if html_id("%s.%s_module__return-%s" % (PREFIX, name, key)) not in page.ids:
            problems.append("module %s: return value %s is not on its page" % (name, key))
    examples = yaml.safe_load(docs.get("EXAMPLES") or "[]") or []
    if not examples:
        problems.append("module %s: no EXAMPLES" % name)
    for task in examples:
        title = re.sub(r"\s+", " ", str(task.get("name", "")))
        if title and title not in page.text:
            problems.append("module %s: example %r is not on its page" % (name, title))


def check_role(html, role_dir, problems):
    name = os.path.basename(role_dir)
    page_path = os.path.join(html, "%s_role.html" % name)
    if not os.path.exists(page_path):
        problems.append("role %s: no page %s" % (name, page_path))
        return
    page = read_page(page_path)
    with open(os.path.join(role_dir, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    for entry, spec in sorted(specs.items()):
        if html_id("%s.%s_role__entrypoint-%s" % (PREFIX, name, entry)) not in page.ids:
            problems.append("role %s: entry point %s is not on its page" % (name, entry))
        for option in sorted(spec.get("options") or {}):
            if html_id("%s.%s_role__parameter-%s__%s" % (PREFIX, name, entry, option)) not in page.ids:
                problems.append("role %s: option %s of entry point %s is not on its page" % (name, option, entry))


def check(html):
    problems = []
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        check_module(html, path, problems)
    for kind in ("filter", "inventory"):
        for path in sorted(glob.glob(os.path.join(ROOT, "plugins", kind, "*.y*ml")) +
                           glob.glob(os.path.join(ROOT, "plugins", kind, "*.py"))):
            name = os.path.splitext(os.path.basename(path))[0]
            if path.endswith(".py") and kind == "filter":
                continue        # filter modules hold several filters, each documented in its own YAML file
            if not os.path.exists(os.path.join(html, "%s_%s.html" % (name, kind))):
                problems.append("%s plugin %s: no page" % (kind, name))
    for role_dir in sorted(glob.glob(os.path.join(ROOT, "roles", "*"))):
        if os.path.isdir(os.path.join(role_dir, "meta")):
            check_role(html, role_dir, problems)
    with open(os.path.join(ROOT, "docs", "docsite", "extra-docs.yml"), encoding="utf-8") as handle:
        guides = [g for s in yaml.safe_load(handle)["sections"] for g in s["toctree"]]
    for guide in guides:
        if not os.path.exists(os.path.join(html, "docsite", guide + ".html")):
            problems.append("guide %s: no page" % guide)
    playbooks_page = os.path.join(html, "docsite", "playbooks.html")
    ids = read_page(playbooks_page).ids if os.path.exists(playbooks_page) else set()
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        name = os.path.basename(path)[:-4]
        if html_id("%s.docsite.playbooks.%s" % (PREFIX, name)) not in ids:
            problems.append("playbook %s: no section in the playbooks guide (label %s.docsite.playbooks.%s)"
                            % (name, PREFIX, name))
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "inventory":
        write_inventory(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "check":
        problems = check(argv[2])
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
        print("docs check: %d modules, %d roles, %d playbooks, every page as it should be" % (
            len(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))),
            len(glob.glob(os.path.join(ROOT, "roles", "*", "meta"))),
            len(glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
