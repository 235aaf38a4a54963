# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every refusal and failure message the collection can give has an entry in the troubleshooting
guide (docs/docsite/rst/troubleshooting.rst), so a new refusal without a documented meaning and
remedy fails here.

Messages are read from the code, not listed by hand:

* Python (modules, module_utils, the action, filter and inventory plugins and plugin_utils), parsed
  with :mod:`ast`; a message is the text given to
  ``fail_json(msg=...)``; the first argument of an exception or failure being built (a call to
  ``failure``, ``__init__`` or a name ending in ``Error``, ``Failure`` or ``Failed``, raised or not);
  every text argument of ``fail(...)``/``self.fail(...)``; what is appended to the lists
  ``refusals``, ``refused`` and ``errors``; the first item of a ``[reason, kind, handling]`` list
  appended anywhere (migration_rules); the detail of ``report.add(check, FAILED, detail)``; the
  detail of ``return False, detail``; what is assigned to ``reason`` and what functions named
  ``*_reason``, ``*_why_not`` or ``check_*`` return; the value of a ``"missing"`` key (the guest role's
  host checks).
* YAML (roles' tasks, playbooks): ``msg`` of ``ansible.builtin.fail``, ``fail_msg``/``msg`` of
  ``ansible.builtin.assert``, and the texts a task's ``vars`` append to a list in Jinja
  (``bad.append('...')``) that such a message joins.

A message's stable part is each literal fragment between its placeholders (``%s``, ``%r``, Jinja
expressions) of at least MIN_FRAGMENT characters; the guide must contain every one of them (inline
literal markup and line breaks aside). A message without such a fragment (``"%s: %s"``) only wraps
others, which are extracted where they are made.

``python tests/unit/docs/test_troubleshooting.py`` lists the messages that have no entry yet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import functools
import glob
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GUIDE = os.path.join(ROOT, "docs", "docsite", "rst", "troubleshooting.rst")

PYTHON_SOURCES = ("plugins/modules/*.py", "plugins/module_utils/*.py", "plugins/module_utils/*/*.py",
                  "plugins/action/*.py", "plugins/filter/*.py", "plugins/inventory/*.py", "plugins/plugin_utils/*.py")
YAML_SOURCES = ("roles/*/tasks/*.yml", "playbooks/*.yml")

MIN_FRAGMENT = 12
MESSAGE_LISTS = ("refusals", "refused", "errors")
FAIL_MODULES = ("fail", "ansible.builtin.fail")
ASSERT_MODULES = ("assert", "ansible.builtin.assert")

# printf placeholders (%s, %r, %d, %.0f, %#06x, %(name)s); the code words no message with str.format
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdrxXfioeEgGc]")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_JINJA_APPEND = re.compile(r"\{%-?\s*set\s+_\s*=\s*\w+\.append\((.*?)\)\s*-?%\}", re.S)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_EDGE = " \t\n:;,.|-("


def normalize(text):
    return re.sub(r"\s+", " ", text).strip()


def fragments_of(text):
    """The stable parts of a message text: literal pieces between placeholders, long enough to find."""
    out = []
    for piece in _PLACEHOLDER.split(text.replace("%%", "%")):
        piece = normalize(piece).strip(_EDGE)
        if len(piece) >= MIN_FRAGMENT:
            out.append(piece)
    return out


class Message(object):
    def __init__(self, where, fragments):
        self.where = where
        self.fragments = fragments

    def __repr__(self):
        return "%s: %s" % (self.where, " ... ".join(self.fragments))


# -------------------------------------------------------------------------------------- Python

def _module_constants(tree):
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                consts[node.targets[0].id] = value.value
    return consts


def _texts(node, consts):
    """The literal texts that make up a message expression (format strings split later)."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.Name):
        return [consts[node.id]] if node.id in consts else []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _texts(node.left, consts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _texts(node.left, consts) + _texts(node.right, consts)
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.IfExp):
        return _texts(node.body, consts) + _texts(node.orelse, consts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _texts(node.func.value, consts)
    return []


def _callee(call):
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_error_builder(name):
    return name in ("failure", "__init__") or name.endswith(("Error", "Failure", "Failed"))


class _Collector(ast.NodeVisitor):
    def __init__(self, path, consts):
        self.path = path
        self.consts = consts
        self.found = []
        self.functions = []

    def add(self, node, expr):
        frags = []
        for text in _texts(expr, self.consts):
            frags.extend(fragments_of(text))
        if frags:
            self.found.append(Message("%s:%d" % (self.path, node.lineno), frags))

    def visit_FunctionDef(self, node):
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    def visit_Call(self, node):
        name = _callee(node)
        if name == "fail_json":
            for keyword in node.keywords:
                if keyword.arg == "msg":
                    self.add(node, keyword.value)
        elif name == "fail":
            for arg in node.args:
                self.add(node, arg)
        elif _is_error_builder(name) and node.args:
            self.add(node, node.args[0])
        elif name == "append" and node.args and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            arg = node.args[0]
            if isinstance(receiver, ast.Name) and receiver.id in MESSAGE_LISTS:
                self.add(node, arg)
            elif isinstance(arg, ast.List) and arg.elts:
                self.add(node, arg.elts[0])
        elif name == "add" and len(node.args) == 3 and isinstance(node.args[1], ast.Name) and node.args[1].id == "FAILED":
            self.add(node, node.args[2])
        self.generic_visit(node)

    def visit_Return(self, node):
        value = node.value
        if isinstance(value, ast.Tuple) and len(value.elts) == 2 and isinstance(value.elts[0], ast.Constant) \
                and value.elts[0].value is False:
            self.add(node, value.elts[1])
        elif self.functions and (self.functions[-1].endswith(("_reason", "_why_not")) or self.functions[-1].startswith("check_")):
            self.add(node, value)
        self.generic_visit(node)

    def _assigned(self, node, targets, value):
        if any(isinstance(t, ast.Name) and t.id == "reason" for t in targets):
            self.add(node, value)

    def visit_Assign(self, node):
        self._assigned(node, node.targets, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assigned(node, [node.target], node.value)
        self.generic_visit(node)

    def visit_Dict(self, node):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "missing":
                self.add(node, value)
        self.generic_visit(node)


def python_messages():
    found = []
    for pattern in PYTHON_SOURCES:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            collector = _Collector(os.path.relpath(path, ROOT), _module_constants(tree))
            collector.visit(tree)
            found.extend(collector.found)
    return found


# -------------------------------------------------------------------------------------- YAML

def _template_fragments(text):
    """Literal text of a Jinja template outside its expressions, plus the human texts (with a space)
    quoted inside them ('(a zPCI fid twice)')."""
    frags = []
    for piece in _JINJA.split(text):
        frags.extend(fragments_of(piece))
    for expression in _JINJA.findall(text):
        for single, double in _QUOTED.findall(expression):
            quoted = single or double
            if " " in quoted.strip():
                frags.extend(fragments_of(quoted))
    return frags


def _tasks(node):
    """Every task of a task list or play list, blocks and handlers included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            if key in node:
                yield from _tasks(node[key])


def yaml_messages():
    found = []
    for pattern in YAML_SOURCES:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path) as handle:
                data = yaml.safe_load(handle)
            where = os.path.relpath(path, ROOT)
            for task in _tasks(data):
                texts = []
                for module in FAIL_MODULES:
                    if isinstance(task.get(module), dict):
                        texts.append(task[module].get("msg"))
                for module in ASSERT_MODULES:
                    if isinstance(task.get(module), dict):
                        texts.extend([task[module].get("fail_msg"), task[module].get("msg")])
                texts = [t for t in texts if isinstance(t, str)]
                if not texts:
                    continue
                label = "%s (%s)" % (where, task.get("name", "unnamed task"))
                for text in texts:
                    frags = _template_fragments(text)
                    if frags:
                        found.append(Message(label, frags))
                for value in (task.get("vars") or {}).values():
                    if isinstance(value, str):
                        for call in _JINJA_APPEND.findall(value):
                            frags = []
                            for single, double in _QUOTED.findall(call):
                                frags.extend(fragments_of(single or double))
                            if frags:
                                found.append(Message(label, frags))
    return found


# -------------------------------------------------------------------------------------- the guide

def guide_text(path=GUIDE):
    with open(path) as handle:
        text = handle.read()
    return normalize(text.replace("``", "").replace("\\ ", ""))


def undocumented(messages, text):
    return [m for m in messages if any(f not in text for f in m.fragments)]


@functools.lru_cache(maxsize=None)
def all_messages():
    return tuple(python_messages() + yaml_messages())


def test_extraction_finds_the_known_kinds_of_message():
    """The extractor still sees each way the code words a refusal (a refactoring must not hide them)."""
    frags = set(f for m in all_messages() for f in m.fragments)
    for expected in ("refusing to change anything",                        # fail_json(msg=...)
                     "a PAV alias DASD; pass its base device through instead",   # refusals.append
                     "is locked by another run (lock file",                 # raise VfioError
                     "preflight refused to migrate",                        # self.fail
                     "is paused: zPCI devices",                              # report.add(FAILED)
                     "on the destination is bound to",                      # return False, detail
                     "vfio-ap crypto pass-through",                          # [reason, kind, handling]
                     "local disk image",                                    # _local_disk_reason
                     "host_root must be an absolute path",                  # check_host_root
                     "does not exist on the host",                          # "missing"
                     "cannot move",                                         # ansible.builtin.fail (role)
                     "kvm_host_cio_ignore_free must be a list",             # Jinja bad.append
                     "must name a host of"):                                # ansible.builtin.assert (playbook)
        assert any(expected in f for f in frags), expected
    assert len(all_messages()) > 150


def test_every_refusal_has_an_entry_in_the_troubleshooting_guide():
    missing = undocumented(all_messages(), guide_text())
    assert not missing, "messages without an entry in %s:\n%s" % (
        os.path.relpath(GUIDE, ROOT), "\n".join(repr(m) for m in missing))


if __name__ == "__main__":
    # python tests/unit/docs/test_troubleshooting.py: the messages that have no entry yet
    text = guide_text() if os.path.exists(GUIDE) else ""
    for message in undocumented(all_messages(), text):
        print(repr(message))
