# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

DOCUMENTATION = r"""
name: db_failover_plan
short_description: Which standby of a PostgreSQL cluster a failover would promote, or why none
version_added: 0.1.0
description:
  - The failover's target from what M(opsready.runbooks.pg_replication_info) read on each member.
  - Fails, saying every member's state and that nothing was changed, when the standby named is not a member or did not
    answer, when no standby answers, when two standbys answer and none is named, or when two members are primary.
  - A live primary is not refused - M(opsready.runbooks.pg_failover_detect) decides whether it is lost (a watch starts
    while it lives).
  - The standby already primary (and no other primary answering) is C(promoted) - by an earlier run, or by hand; the
    clients and the fence are still seen to, with nothing to detect or promote.
author:
  - opsready.runbooks developers (@opsready)
positional: _input, standby
options:
  _input:
    description: The registered C(results) of M(opsready.runbooks.pg_replication_info) looped over the members
      (C(item) is the member's name, as the inventory names it).
    type: list
    elements: dict
    required: true
  standby:
    description: The standby to promote; empty takes the one standby that answers.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The failover's target
  ansible.builtin.set_fact:
    plan: "{{ members.results | opsready.runbooks.db_failover_plan }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    promoted:
      description: The target is primary already (nothing to detect or promote).
      type: bool
    target:
      description: The member that would be promoted.
      type: str
    primary:
      description: The member that answered as primary, or null.
      type: str
    down:
      description: The members that did not answer.
      type: list
      elements: str
    synchronous:
      description: Whether every commit the primary acknowledged is on the target, from the primary's settings when
        it answered, else the target's own copy of them; null when the target is primary already.
      type: dict
      contains:
        configured:
          description: The target's own C(synchronous_standby_names) is set - promoted, it would wait for a standby
            of its own, so the promotion suspends it until one rejoins.
          type: bool
        rpo0:
          description: The primary's C(synchronous_standby_names) is set, its C(synchronous_commit) at least
            V(remote_write), and the target is the cluster's only standby - nothing acknowledged can be lost.
          type: bool
        source:
          description: The member whose settings were read.
          type: str
        why:
          description: The decision in words.
          type: str
    members:
      description: Every member's state in words.
      type: str
    text:
      description: The plan in words, for the timeline.
      type: str
"""


class FilterModule:
    def filters(self):
        return {"db_failover_plan": as_filter("db_failover_plan", "_failover", "plan"),
                "db_failover_settings": as_filter("db_failover_settings", "_failover", "settings"),
                "db_rejoin_plan": as_filter("db_rejoin_plan", "_failover", "rejoin_plan")}
