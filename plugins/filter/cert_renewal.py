# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

DOCUMENTATION = r"""
name: cert_renewal_certificates
short_description: The declared certificates, checked, with their defaults
version_added: 0.1.0
description:
  - Each certificate is declared once - its C(name) (a file name), C(names) (DNS names; default its name),
    C(key_type) (V(ecdsa) or V(rsa)), C(rotate_key), and C(deploy) - where it is deployed - C(host), C(format)
    (V(haproxy) - one PEM file, C(path), with the certificate, its chain and the key; V(nginx) - C(cert_path) with
    the chain, C(key_path)), C(owner), C(group), C(validate) (the service's configuration test, a command as a list),
    C(service) (reloaded), and C(serve) - every C({address, port, sni}) that serves it (default the host, 443, its
    first name).
  - Every problem is said at once, before anything is read or changed.
  - The file holds the filters cert_renewal_checks, cert_renewal_plan and cert_renewal_metrics too.
author:
  - opsready.runbooks developers (@opsready)
positional: _input, renew_days, inventory
options:
  _input:
    description: The declared certificates (cert_renewal_certificates).
    type: list
    elements: dict
    required: true
  renew_days:
    description: Days left below which a certificate is due.
    type: float
    default: 30
  inventory:
    description: The host names a deployment may name (C(groups['all'])); none is not checked.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: The certificates
  ansible.builtin.debug:
    msg: "{{ [{'name': 'demo', 'names': ['demo.example'], 'deploy': [{'host': 'lb1', 'path': '/etc/haproxy/certs/demo.pem'}]}]
             | opsready.runbooks.cert_renewal_certificates }}"
"""

RETURN = r"""
_value:
  description: The certificates with every key set (see the description).
  type: list
  elements: dict
"""


class FilterModule:
    def filters(self):
        return {"cert_renewal_certificates": as_filter("cert_renewal_certificates", "_certs", "certificates"),
                "cert_renewal_checks": as_filter("cert_renewal_checks", "_certs", "checks"),
                "cert_renewal_plan": as_filter("cert_renewal_plan", "_certs", "plan"),
                "cert_renewal_metrics": as_filter("cert_renewal_metrics", "_certs", "metrics"),
                "cert_renewal_served": as_filter("cert_renewal_served", "_certs", "served_text")}
