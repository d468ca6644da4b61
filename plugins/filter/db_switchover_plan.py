# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

DOCUMENTATION = r"""
name: db_switchover_plan
short_description: Which member of a PostgreSQL cluster is primary, which standby takes over, or why not
version_added: 0.1.0
description:
  - The planned switchover's plan from what M(opsready.runbooks.pg_replication_info) read on each member.
  - Fails, saying every member's state and that nothing was changed, when a member did not answer (a lost primary
    is the failover runbook's), when no member or more than one is primary, when the target is not a member, is not
    streaming from the primary, is on another timeline, or is further behind than O(max_lag_bytes).
  - A target that is already the primary is nothing to do.
author:
  - opsready.runbooks developers (@opsready)
positional: _input, to, max_lag_bytes
options:
  _input:
    description: The registered C(results) of M(opsready.runbooks.pg_replication_info) looped over the members
      (C(item) is the member's name, as the inventory names it).
    type: list
    elements: dict
    required: true
  to:
    description: The standby to switch over to; empty takes the one standby streaming from the primary.
    type: str
    default: ""
  max_lag_bytes:
    description: How far behind the primary the target may be at the start, in bytes (the clients wait in PgBouncer
      while it catches up).
    type: int
    default: 16777216
"""

EXAMPLES = r"""
- name: The plan
  ansible.builtin.set_fact:
    plan: "{{ members.results | opsready.runbooks.db_switchover_plan('db2') }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    todo:
      description: Whether there is a switchover to do (false when the target is already primary).
      type: bool
    primary:
      description: The member that is primary now.
      type: str
    target:
      description: The member that becomes primary.
      type: str
    members:
      description: Every member's state in words.
      type: str
      sample: "db1: primary at 0/3000148, db2: standby streaming from db1"
    target_slot:
      description: The slot the target streams through on the primary (dropped there once it has switched).
      type: str
    synchronous:
      description: The target's own C(synchronous_standby_names) is set (the members share a synchronous setting) -
        the promotion suspends it, so the clients' commits do not wait for the old primary, and it comes back once
        the old primary streams from the target.
      type: bool
    text:
      description: The plan in words, for the timeline.
      type: str
"""


class FilterModule:
    def filters(self):
        return {"db_switchover_plan": as_filter("db_switchover_plan", "_switchover", "plan"),
                "db_switchover_recovery": as_filter("db_switchover_recovery", "_switchover", "recovery"),
                "db_switchover_members": as_filter("db_switchover_members", "_switchover", "members_text"),
                "db_switchover_conninfo": as_filter("db_switchover_conninfo", "_switchover", "conninfo"),
                "db_switchover_settings": as_filter("db_switchover_settings", "_switchover", "settings"),
                "db_switchover_consoles": as_filter("db_switchover_consoles", "_switchover", "consoles")}
