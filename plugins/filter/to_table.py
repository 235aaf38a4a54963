# -*- coding: utf-8 -*-
# Copyright: s390x.kvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: to_table
short_description: Render a list of dictionaries as a plain-text table
version_added: 0.1.0
author:
  - s390x.kvm developers (@s390x-kvm)
description:
  - Turns a list of dictionaries (for example the RV(s390x.kvm.ccw_info#module:devices) of
    M(s390x.kvm.ccw_info)) into lines of a fixed-width table, one line per item, for reports
    and C(ansible.builtin.debug) output.
  - Lists are joined with commas, booleans shown as C(yes)/C(no), missing values as C(-).
options:
  _input:
    description: The list of dictionaries.
    type: list
    elements: dict
    required: true
  columns:
    description:
      - Keys to show, in order. A key may name a nested value with dots (C(dasd.block_device)).
      - An item V(key=Title) shows the key under another heading.
    type: list
    elements: str
    required: true
  max_width:
    description: Cut cells longer than this many characters (marked with C(...)); V(0) keeps them whole.
    type: int
    default: 72
"""

EXAMPLES = r"""
- name: Show the DASDs
  ansible.builtin.debug:
    msg: "{{ ccw.devices | selectattr('kind', 'equalto', 'dasd') | s390x.kvm.to_table(['bus_id', 'dasd.type=type', 'online', 'in_use_by_host=host uses']) }}"
"""

RETURN = r"""
_value:
  description: The table, one string per line (header, rule, rows).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def _lookup(item, dotted):
    value = item
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cell(value):
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _fit(text, width):
    # one table line per item: a value with line breaks would break the columns
    text = " ".join(text.splitlines()) if "\n" in text or "\r" in text else text
    return text if not width or len(text) <= width else text[:max(width - 3, 1)] + "..."


def to_table(items, columns, max_width=72):
    if not isinstance(items, (list, tuple)):
        raise AnsibleFilterError("to_table expects a list of dictionaries, got %s" % type(items).__name__)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise AnsibleFilterError("to_table expects a list of dictionaries; item %d is %s %r"
                                     % (index, type(item).__name__, item))
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)):
        raise AnsibleFilterError("to_table columns must be a list of keys, e.g. ['bus_id', 'online'], got %r" % (columns,))
    if not columns:
        raise AnsibleFilterError("to_table needs at least one column")
    if isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 0:
        raise AnsibleFilterError("to_table max_width must be a whole number >= 0 (0 keeps cells whole), got %r" % (max_width,))
    keys, titles = [], []
    for column in columns:
        key, _sep, title = str(column).partition("=")
        keys.append(key)
        titles.append(title or key.rsplit(".", 1)[-1])
    rows = [[_fit(_cell(_lookup(item, key)), max_width) for key in keys] for item in items]
    widths = [max([len(t)] + [len(r[i]) for r in rows]) for i, t in enumerate(titles)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return [line(titles), line(["-" * w for w in widths])] + [line(r) for r in rows]


class FilterModule(object):
    def filters(self):
        return {"to_table": to_table}
