# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """PgBouncer's admin console connection options (module_utils/_pgbouncer.py connection_spec()), documented once."""

    DOCUMENTATION = r"""
options:
  login_host:
    description: Host name or address PgBouncer listens on.
    type: str
    default: localhost
  login_port:
    description: PgBouncer's port.
    type: int
    default: 6432
    aliases: [port]
  login_user:
    description: A user in PgBouncer's C(admin_users) to log in to its console (the virtual database C(pgbouncer)) as.
    type: str
    default: pgbouncer
  login_password:
    description: Password of O(login_user), as in PgBouncer's C(auth_file).
    type: str
  ssl_mode:
    description: libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate for V(verify-ca) and V(verify-full).
    type: path
requirements:
  - psycopg2 on the host running the task (Debian C(python3-psycopg2), PyPI C(psycopg2-binary)).
"""
