# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

DOCUMENTATION = r"""
name: maintenance_window_plan
short_description: What a maintenance window has to do, and whether it may go on
version_added: 0.1.0
description:
  - The maintenance window's plan from the pending migrations, the work given, and what an earlier run left.
  - Fails, with the way on, when nothing is pending but an earlier run left the site half-done (maintenance on,
    workers stopped, a host out of rotation) and O(finish) is not set - such a site is not "nothing to do" - and when
    an app host cannot be reached (the site is never closed around a dead host).
author:
  - opsready.runbooks developers (@opsready)
positional: _input, work, leftovers, finish
options:
  _input:
    description: The registered result of M(opsready.runbooks.db_migration) with C(state=applied) in check mode
      (its C(plan)); skipped or empty when no migrations are configured.
    type: dict
    required: true
  work:
    description: The work given - C(tasks_file) (a path, or empty), C(commands) and C(once_commands) (lists of argv lists).
    type: dict
    required: true
  leftovers:
    description: What an earlier run left, C(runbook_leftovers) of the role opsready.runbooks.runbook (tasks_from leftovers).
    type: dict
    required: true
  finish:
    description: Finish what an earlier run left (maintenance_window_finish); that is then the work.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: What there is to do
  ansible.builtin.set_fact:
    plan: "{{ preview | opsready.runbooks.maintenance_window_plan({'commands': [['true']]}, runbook_leftovers) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    todo:
      description: Whether the window has anything to do (otherwise the site stays up and nothing changes).
      type: bool
    migrations:
      description: The pending migrations' versions, in order.
      type: list
      elements: str
    text:
      description: The plan in words, for the timeline.
      type: str
      sample: migrations 0004; 1 command(s)
"""


class FilterModule:
    def filters(self):
        return {"maintenance_window_plan": as_filter("maintenance_window_plan", "_maintenance_window", "plan")}
