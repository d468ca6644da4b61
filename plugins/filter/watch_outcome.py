# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: watch_outcome
short_description: What a release watch saw, and whether it rolls back
version_added: 0.1.0
description:
  - Reads the registered results of M(opsready.runbooks.health_check) in watch mode from every host of a release
    watch, and decides. A check in state V(warning) or V(critical) is a trigger that fired. A check in state
    V(error) could not be evaluated (its signal was lost, for example a metrics endpoint that stopped answering);
    that is not a trigger that fired, and rolls back only with O(rollback_on_unknown=true).
  - A host without a result (unreachable, or failed before its checks ran) counts as not judged, like V(error).
  - Used by the role opsready.runbooks.release_watch; returns the evidence and the final message.
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description: Host name to that host's registered health_check result.
    type: dict
    required: true
  seconds:
    description: How long the watch lasted (for the record).
    type: float
    required: true
  rollback:
    description: Whether the runbook rolls back when a trigger fires (release_watch_rollback).
    type: bool
    default: true
  rollback_on_unknown:
    description: Whether a signal that could not be read also rolls back.
    type: bool
    default: false
  check_mode:
    description: A check-mode run says what it would do.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: What the watch saw
  ansible.builtin.set_fact:
    outcome: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'watch')))
         | opsready.runbooks.watch_outcome(300, true, false, ansible_check_mode) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The outcome.
  type: dict
  contains:
    held:
      description: Every host held (no trigger fired, nothing unknown).
      type: bool
    roll_back:
      description: The runbook rolls back now (a trigger fired, or a signal was lost and O(rollback_on_unknown)).
      type: bool
    triggers:
      description: "Each trigger that fired: C(host check: reason)."
      type: list
      elements: str
    unknown:
      description: "Each check that could not be evaluated: C(host check: reason)."
      type: list
      elements: str
    hosts:
      description: Per host, whether it held, the time watched, the sweeps, and each check's name, state and reason.
      type: dict
    message:
      description: The run's last words.
      type: str
"""

from ansible.errors import AnsibleFilterError

FIRED = ("warning", "critical")


def watch_outcome(results, seconds, rollback=True, rollback_on_unknown=False, check_mode=False):
    if not isinstance(results, dict):
        raise AnsibleFilterError("watch_outcome expects a dict of host name to health_check result")
    hosts, triggers, unknown = {}, [], []
    for host, result in results.items():
        result = result if isinstance(result, dict) else {}
        checks = result.get("checks")
        if checks is None:
            unknown.append("%s: no result (%s)" % (host, result.get("msg") or "unreachable, or it failed first"))
            hosts[host] = {"held": False, "elapsed": None, "sweeps": 0, "checks": []}
            continue
        hosts[host] = {"held": bool(result.get("healthy")), "elapsed": result.get("elapsed"),
                       "sweeps": result.get("attempts"),
                       "checks": [[c["name"], c["state"], c["reason"]] for c in checks]}
        for check in checks:
            line = "%s %s: %s" % (host, check["name"], check["reason"])
            if check["state"] in FIRED:
                triggers.append(line)
            elif check["state"] == "error":
                unknown.append(line)
    held = not triggers and not unknown
    roll_back = bool(rollback and (triggers or (unknown and rollback_on_unknown)))
    if held:
        message = "Held for %s s on %s: no trigger fired" % (seconds, ", ".join(results))
    else:
        said = []
        if triggers:
            said.append("The release did not hold: %s." % "; ".join(triggers))
        if unknown:
            said.append("Could not be judged: %s (a trigger that cannot be read is not a trigger that fired)."
                        % "; ".join(unknown))
        if roll_back:
            said.append("Would roll back (check mode: nothing changed; the plan is above)." if check_mode
                        else "Rolled back (see the rollback evidence).")
        elif not rollback:
            said.append("Not rolled back (release_watch_rollback is false): run playbooks/rollback.yml.")
        else:
            said.append("Not rolled back: no trigger fired, and release_watch_rollback_on_unknown is false. Check "
                        "the release by hand, or run playbooks/rollback.yml.")
        message = " ".join(said)
    return {"held": held, "roll_back": roll_back, "check_mode": bool(check_mode), "watched_s": float(seconds),
            "triggers": triggers, "unknown": unknown, "hosts": hosts, "message": message}


class FilterModule:
    def filters(self):
        return {"watch_outcome": watch_outcome}
