#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pgbouncer
short_description: One database of PgBouncer - paused or running, and the PostgreSQL server it points at
version_added: 0.1.0
description:
  - Repoints a platform's clients from one PostgreSQL server to another without a client error - the client side of
    a switchover or a failover. Clients connect to PgBouncer; PgBouncer connects to the server.
  - O(state=paused) runs C(PAUSE) on PgBouncer's admin console - new queries wait in PgBouncer instead of failing,
    and the command returns once every server connection of the database is released (with C(pool_mode =
    transaction), once the transactions in flight end). It waits at most O(pause_timeout); a PAUSE that does not
    finish in time is undone with C(RESUME), so no client is left waiting, and the task fails naming how many server
    connections were still in a transaction. The PAUSE is sent even when PgBouncer already says paused (it does as
    soon as a PAUSE starts, before it is done); it is a change only when the database was not paused.
  - O(state=running) runs C(RESUME) when the database is paused; the waiting queries go on, to the target.
  - O(target) rewrites the database's entry in O(config) when PgBouncer or the file differ from it (C(host),
    C(port), C(dbname); every other key of the entry, every other line and the line endings kept, the pairs joined by
    one space; the file a link points to replaced at once, on disk first, its mode kept and, run as root, its owner),
    runs C(RELOAD), and checks with C(SHOW DATABASES) that PgBouncer runs the new target. Otherwise it puts the
    previous file back and reloads it. An entry it cannot read, or two entries for the database, are refused without
    quoting the entry (it may hold a password).
    PgBouncer closes its server connections to the previous server as they are released. The target is set before
    the state, so a paused database is repointed and resumed in one task.
  - Reads C(SHOW DATABASES) first and changes only what differs; check mode says what would change and changes
    nothing. Every wait for PgBouncer is bounded by O(connect_timeout) (PAUSE by O(pause_timeout)).
  - No module of community.postgresql or community.general drives PgBouncer's console or its configuration, hence
    this one.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.pgbouncer
attributes:
  check_mode:
    support: full
    details: Reads PgBouncer's state and the configuration file; sends no PAUSE, RESUME or RELOAD, writes nothing.
  diff_mode:
    support: full
    details: The database's state and target before and after.
  platform:
    platforms: posix
options:
  database:
    description: The database, as named in PgBouncer's C([databases]) section (what clients connect to).
    type: str
    required: true
  state:
    description: V(paused) - new queries wait in PgBouncer; V(running) - they go through.
    type: str
    choices: [paused, running]
    default: running
  target:
    description:
      - The PostgreSQL server the database should point at. Keys left out are kept as the entry has them.
      - Needs O(config), and the task to run on the host where PgBouncer runs (it writes the file there).
    type: dict
    suboptions:
      host:
        description: The server's host name or address.
        type: str
        required: true
      port:
        description: The server's port.
        type: int
      dbname:
        description: The database on the server.
        type: str
  reload:
    description:
      - V(false) with O(target) - the entry is written in O(config) and nothing else is done - no RELOAD, O(state)
        not applied - PgBouncer takes it at its next RELOAD. What M(opsready.runbooks.pg_switchover) expects - it
        sends that RELOAD in its critical section. Until then, a RELOAD or restart of PgBouncer by anyone else takes
        it too.
    type: bool
    default: true
  config:
    description: PgBouncer's configuration file, which holds the database's entry (not in an C(%include)'d file).
    type: path
    default: /etc/pgbouncer/pgbouncer.ini
  pause_timeout:
    description: Seconds a PAUSE may wait for the transactions in flight, more than 0 and at most 3600.
    type: float
    default: 30
  connect_timeout:
    description: Seconds to connect to PgBouncer's console and for each of its answers, more than 0 and at most 300.
    type: float
    default: 10
notes:
  - PgBouncer's C(pool_mode = transaction) lets a PAUSE finish between transactions; with C(session) pooling it waits
    for every client to disconnect, and so times out under load.
  - A client waits in PgBouncer while the database is paused, up to PgBouncer's C(query_wait_timeout) (120 s by
    default); then it gets an error. Keep the time between PAUSE and RESUME short.
  - Two runs that repoint the same PgBouncer at once could each put back the other's file; the runbooks take the
    platform lock (M(opsready.runbooks.runbook_lock)) first.
  - PgBouncer (1.18) welcomes a new client with the parameters of a server it has met. A client that logs in
    during a PAUSE to a database PgBouncer has not connected to since it started waits until its own connect
    timeout, even after the RESUME. Pause only a database that is in use.
seealso:
  - module: opsready.runbooks.pg_promote
  - name: PgBouncer's admin console
    description: SHOW DATABASES, PAUSE, RESUME, RELOAD.
    link: https://www.pgbouncer.org/usage.html#admin-console
"""

EXAMPLES = r"""
- name: Clients wait in PgBouncer (the transactions in flight end first)
  opsready.runbooks.pgbouncer:
    database: demo
    state: paused
    pause_timeout: 5
    login_password: "{{ pgbouncer_admin_password }}"

- name: Repoint to the new primary and let the clients through, in one task
  opsready.runbooks.pgbouncer:
    database: demo
    target:
      host: db2
    state: running
    login_password: "{{ pgbouncer_admin_password }}"
"""

RETURN = r"""
msg:
  description: What was done (or would be, in check mode), in words.
  returned: always
  type: str
  sample: "demo: repointed from db1:5432/demo to db2:5432/demo; resumed; now db2:5432/demo, running"
database:
  description: The database.
  returned: always
  type: str
before:
  description: The database as PgBouncer ran it before.
  returned: always
  type: dict
  contains:
    target:
      description: The server - C(host), C(port), C(dbname).
      type: dict
    paused:
      description: Whether new queries wait in PgBouncer.
      type: bool
    disabled:
      description: Whether new client connections are refused (C(DISABLE)).
      type: bool
    connections:
      description: PgBouncer's server connections to it.
      type: int
after:
  description: The database as PgBouncer runs it after (as it would, in check mode).
  returned: always
  type: dict
timings:
  description: Seconds each step took - C(reload) (write, RELOAD, seen taken), C(pause), C(resume).
  returned: always
  type: dict
  sample: {pause: 0.004, reload: 0.012, resume: 0.001}
file:
  description: With O(reload=false), the entry's target in O(config) before and after.
  returned: when O(reload=false)
  type: dict
paused:
  description: On a failure, whether the database may be left paused (a PAUSE not undone).
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _pgbouncer
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import connect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _pgbouncer.connection_spec(),
            database={"type": "str", "required": True},
            state={"type": "str", "choices": ["paused", "running"], "default": "running"},
            target={"type": "dict", "options": {"host": {"type": "str", "required": True}, "port": {"type": "int"},
                                                "dbname": {"type": "str"}}},
            config={"type": "path", "default": "/etc/pgbouncer/pgbouncer.ini"},
            reload={"type": "bool", "default": True},
            pause_timeout={"type": "float", "default": 30},
            connect_timeout={"type": "float", "default": 10},
        ),
        supports_check_mode=True,
    )
    params = dict(module.params, login_db="pgbouncer")
    # psycopg2's and the file's errors (refused, auth, no answer, no such file) say what is wrong
    finish(module, lambda: _pgbouncer.apply(params, lambda seconds: connect(params, connect_timeout=seconds),
                                            module.check_mode), failing="PgBouncer on %s" % params["login_host"])


if __name__ == "__main__":
    main()
