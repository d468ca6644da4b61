# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

DOCUMENTATION = r"""
name: failure_message
short_description: What a failed task said, item by item for a loop
version_added: 0.1.0
description:
  - Turns C(ansible_failed_result) into the one line a runbook's stop message needs.
  - A task with a loop fails with only "One or more items failed"; the reasons are in its per-item results. This
    filter names each failed item with its own message (for example C(app1) then the reason), so the final
    message says why without scrolling back.
  - A failure raised by one of this collection's filters (a step's failure that P(opsready.runbooks.timeline#filter)
    was given as O(opsready.runbooks.timeline#filter:after)) is said as the filter said it, without the words
    Ansible wraps around a filter's error.
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


class FilterModule:
    def filters(self):
        return {"failure_message": as_filter("failure_message", "_runbook")}
