# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: health_report
short_description: One report from the health_check results of many hosts
version_added: 0.1.0
description:
  - Merges the registered results of M(opsready.runbooks.health_check) from every host of a play into one list of
    checks (each with its C(host)), a summary over all of them, and each host's worst state.
  - A host without a result (unreachable, or failed before its checks ran) becomes a check in state V(error), so a
    report can never look healthy because a host was silent. A host whose check task was skipped (it has no
    checks) is listed as V(skipped).
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description: Host name to that host's registered health_check result (or an empty dict when it has none).
    type: dict
    required: true
  fail_on:
    description: The policy that decides RV(_value.summary.failing).
    type: str
    choices: [never, critical, warning]
    default: critical
"""

EXAMPLES = r"""
- name: One report for the whole play
  ansible.builtin.set_fact:
    report: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
         | map(attribute='health', default={}))) | opsready.runbooks.health_report('critical') }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    fail_on:
      description: The policy applied.
      type: str
    hosts:
      description: Each host's worst state, V(skipped) or V(error) (no result).
      type: dict
    checks:
      description: Every check result, with the C(host) that ran it.
      type: list
      elements: dict
    summary:
      description: Counts per state; C(not_ok) and C(failing) name checks as C(host/check).
      type: dict
    findings:
      description: "One line per check that is not ok: C(host/check is state: reason)."
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import pure


def health_report(results, fail_on="critical"):
    # imported here, not at the top: see plugin_utils/_filters.as_filter (module_utils._health costs 0.3 s to import)
    FAILING, summarize = pure("_health", "FAILING"), pure("_health", "summarize")
    if not isinstance(results, dict):
        raise AnsibleFilterError("health_report expects a dict of host name to health_check result")
    if fail_on not in FAILING:
        raise AnsibleFilterError("health_report: fail_on must be one of %s, got %r" % (", ".join(FAILING), fail_on))
    checks, hosts = [], {}
    for host, result in results.items():
        result = result or {}
        if "checks" in result:
            hosts[host] = result["summary"]["state"]
            checks.extend(dict(check, host=host) for check in result["checks"])
        elif result.get("skipped"):
            hosts[host] = "skipped"
        else:
            hosts[host] = "error"
            checks.append({"host": host, "name": "host answered", "type": "host", "severity": "critical",
                           "state": "error", "ok": False, "latency_ms": None, "observed": {},
                           "reason": result.get("msg") or "no result from this host: unreachable, or it failed "
                                                          "before its checks ran"})
    summary = summarize(checks, fail_on, label=lambda check: "%s/%s" % (check["host"], check["name"]))
    findings = ["%s/%s is %s: %s" % (c["host"], c["name"], c["state"], c["reason"]) for c in checks
                if c["state"] not in ("ok", "skipped")]
    return {"fail_on": fail_on, "hosts": hosts, "checks": checks, "summary": summary, "findings": findings}


class FilterModule:
    def filters(self):
        return {"health_report": health_report}
