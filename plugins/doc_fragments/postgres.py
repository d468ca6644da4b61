# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The PostgreSQL connection options (module_utils/_postgres.py connection_spec()), documented once."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name, address or socket directory of the PostgreSQL server.
      - Or the cluster's members separated by commas (V(db1,db2)), each optionally with its port (V(db1:5433),
        V([::1]:5433)). libpq tries them in order and keeps the first that has O(target_session_attrs) - with
        V(primary), the task finds the current primary itself, before and after a switchover or failover.
      - The members share the connection timeout (libpq waits at least 2 s for each).
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
  target_session_attrs:
    description:
      - Which server of several in O(login_host) to keep (libpq C(target_session_attrs)) - V(primary) or V(read-write)
        for the one that takes writes, V(standby) for a replica; V(any) keeps the first that answers.
    type: str
    default: any
    choices: [any, read-write, read-only, primary, standby, prefer-standby]
notes:
  - The connection options can be set once for a play with C(module_defaults) and the action group
    C(group/opsready.runbooks.postgres).
requirements:
  - psycopg2 on the host running the task (Debian C(python3-psycopg2), PyPI C(psycopg2-binary)).
"""
