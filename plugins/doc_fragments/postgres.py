# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The PostgreSQL connection options (module_utils/_postgres.py connection_spec()), documented once."""

    DOCUMENTATION = r"""
options:
  login_host:
    description: Host name or address of the PostgreSQL server.
    type: str
    default: localhost
  login_port:
    description: Port of the server.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to log in as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user).
    type: str
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  ssl_mode:
    description: libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate for V(verify-ca) and V(verify-full).
    type: path
notes:
  - The connection options can be set once for a play with C(module_defaults) and the action group
    C(group/opsready.runbooks.postgres).
requirements:
  - psycopg2 on the host running the task (Debian C(python3-psycopg2), PyPI C(psycopg2-binary)).
"""
