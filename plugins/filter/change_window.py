# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: change_window
short_description: Is now (or a given time) inside an allowed change window?
version_added: 0.1.0
description:
  - Decides whether a moment is inside one of the allowed change windows (weekdays, a time range and a time zone
    each) and outside every blackout date, and says why, and when the next window opens.
  - A window whose end is before its start crosses midnight and belongs to its start day (C(fri 22:00-02:00) covers
    Saturday 01:00). Blackout dates are dates in the first window's time zone.
  - The role M(opsready.runbooks.change_window) uses it to refuse to start outside the windows unless an override
    with a reason is given.
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description:
      - The allowed windows, each C({days, start, end, timezone, name}); C(days) is C(mon..sun), a range such as
        C(mon-fri), a comma list or a list; C(start) and C(end) are C(HH:MM); C(timezone) is an IANA name (default
        C(UTC)).
    type: list
    elements: dict
    required: true
  blackouts:
    description: Dates when no window applies, C(YYYY-MM-DD) or C({from, to, reason}).
    type: list
    elements: raw
    default: []
  at:
    description:
      - The moment to decide for, ISO 8601 with a UTC offset; default now.
      - With O(check_mode), a rehearsal time - honoured in check mode only (see O(check_mode)).
    type: str
  check_mode:
    description:
      - Set it (to C(ansible_check_mode)) to have the filter also say how the change starts (RV(_value.started)).
      - In a real run (V(false)), O(at) does not let the change start by itself - it is a rehearsal time, and a
        real run with it starts only with O(override_reason). In check mode, the decision for O(at) stands.
    type: bool
  override_reason:
    description: Why the change may start anyway (outside the windows, or in a real run with O(at)); with O(check_mode).
    type: str
"""

EXAMPLES = r"""
- name: Is now inside the Wednesday window?
  ansible.builtin.debug:
    msg: >-
      {{ [{'days': 'wed', 'start': '16:00', 'end': '18:00', 'timezone': 'UTC'}]
         | opsready.runbooks.change_window(['2026-12-23'], '2026-11-25T16:30:00+00:00') }}

- name: May the change start? (a rehearsal time counts in check mode only)
  ansible.builtin.set_fact:
    decision: >-
      {{ windows | opsready.runbooks.change_window(blackouts, rehearsal_at or none, check_mode=ansible_check_mode,
                                                   override_reason=override_reason) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    allowed:
      description: Whether the moment is inside a window and outside the blackouts.
      type: bool
    at:
      description: The moment, UTC.
      type: str
    window:
      description: The window it is inside (its name, or days start-end zone).
      type: str
    reason:
      description: One line saying why.
      type: str
    next_window:
      description: When the next window opens (UTC), when the moment is outside.
      type: str
    started:
      description: With O(check_mode) - C(allowed), C(by override) or C(refused).
      type: str
    override_reason:
      description: With O(check_mode) - the override reason, or null.
      type: str
    rehearsal:
      description: With O(check_mode) - whether the decision is for O(at) rather than now.
      type: bool
"""

import datetime

from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import pure


def change_window(windows, blackouts=None, at=None, check_mode=None, override_reason=None):
    decide, start = pure("_change_window", "decide"), pure("_change_window", "start")  # see _filters.as_filter
    try:
        if check_mode is not None and not isinstance(check_mode, bool):
            raise OpsreadyError("check_mode=%r: give true or false (ansible_check_mode)" % (check_mode,))
        if override_reason is not None and not isinstance(override_reason, str):
            raise OpsreadyError("override_reason: give text (why the change starts anyway), not %r"
                                % (override_reason,))
        try:
            moment = datetime.datetime.fromisoformat(str(at).replace("Z", "+00:00")) if at else None
        except ValueError:
            raise OpsreadyError("at=%r is not an ISO 8601 time such as 2026-11-25T16:30:00+00:00" % (at,))
        decision = decide(windows, blackouts, moment)
        if check_mode is None:
            return decision
        return start(decision, moment is not None, check_mode, override_reason)
    except OpsreadyError as e:
        raise AnsibleFilterError("change_window: %s" % e)


class FilterModule:
    def filters(self):
        return {"change_window": change_window}
