# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: failure_message
short_description: What a failed task said, item by item for a loop
version_added: 0.1.0
description:
  - Turns C(ansible_failed_result) into the one line a runbook's stop message needs.
  - A task with a loop fails with only "One or more items failed"; the reasons are in its per-item results. This
    filter names each failed item with its own message (for example C(app1) then the reason), so the final
    message says why without scrolling back.
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description: A task result, typically C(ansible_failed_result) in a rescue.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Stopped
  ansible.builtin.fail:
    msg: "Stopped at {{ ansible_failed_task.name }}: {{ ansible_failed_result | opsready.runbooks.failure_message }}"
"""

RETURN = r"""
_value:
  description: The failure, one line; each failed item of a loop as its label, a colon and its message, joined by C(; ).
  type: str
"""


def _message(result):
    msg = result.get("msg")
    if not msg and result.get("stderr"):
        msg = result["stderr"]
    if not msg and result.get("unreachable"):
        msg = "unreachable"
    return " ".join(str(msg if msg else "failed").split())


def _label(result):
    item = result.get(result.get("ansible_loop_var") or "item")
    label = (result.get("_ansible_item_label") if result.get("_ansible_item_label") is not None else item)
    return label if isinstance(label, str) else str(label)


def failure_message(result):
    if not isinstance(result, dict):
        return " ".join(str(result).split()) or "failed"
    failed = [r for r in result.get("results") or [] if isinstance(r, dict) and (r.get("failed") or r.get("unreachable"))]
    if not failed:
        return _message(result)
    return "; ".join("%s: %s" % (_label(r), _message(r)) for r in failed)


class FilterModule:
    def filters(self):
        return {"failure_message": failure_message}
