# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: maintenance_bypass
short_description: Health checks that see the site through maintenance, the way an engineer with the bypass secret does
version_added: 0.1.0
description:
  - Adds the bypass header of M(opsready.runbooks.maintenance_mode) (its C(bypass_header) option,
    holding the secret) to every C(http) check, as a secret header (never shown). While maintenance is on, users get
    503; with the header, a check reaches the app behind the maintenance page, so a health gate proves what users
    will see once maintenance ends.
  - Checks of other kinds are returned as they are; an C(http) check that already sends the header keeps its own value.
  - With no secret (no bypass configured) nothing can see behind the maintenance page, so each C(http) check gets
    C(maintenance_expected=true) instead, so the maintenance 503 counts as expected rather than failing the gate,
    and only what answers through maintenance (exempt health paths, the infrastructure) is proven.
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description: A list of M(opsready.runbooks.health_check) checks.
    type: list
    elements: dict
    required: true
  secret:
    description: The bypass secret given to M(opsready.runbooks.maintenance_mode).
    type: str
    required: true
  header:
    description: The bypass header's name.
    type: str
    default: X-Maintenance-Bypass
"""

EXAMPLES = r"""
- name: Health gate while maintenance is still on
  opsready.runbooks.health_check:
    checks: "{{ my_checks | opsready.runbooks.maintenance_bypass(maintenance_secret) }}"
    fail_on: critical
"""

RETURN = r"""
_value:
  description: The checks, each C(http) check with the bypass header among its C(secret_headers) (or, with no
    secret, with C(maintenance_expected=true)).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def maintenance_bypass(checks, secret, header="X-Maintenance-Bypass"):
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise AnsibleFilterError("maintenance_bypass: the input must be a list of health_check checks (dicts)")
    if not isinstance(header, str) or not header or any(ch in header for ch in ": \r\n"):
        raise AnsibleFilterError("maintenance_bypass: header must be a header name, got %r" % (header,))
    out = []
    for check in checks:
        http = check.get("http")
        if isinstance(http, dict) and not secret:
            check = dict(check, http=dict(http, maintenance_expected=True))
        elif isinstance(http, dict):
            headers = dict(http.get("secret_headers") or {})
            if not any(name.lower() == header.lower() for name in list(headers) + list(http.get("headers") or {})):
                headers[header] = str(secret)
            check = dict(check, http=dict(http, secret_headers=headers))
        out.append(check)
    return out


class FilterModule:
    def filters(self):
        return {"maintenance_bypass": maintenance_bypass}
