#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: runbook_lock
short_description: One lock per platform for the runbooks that change it, kept in the platform's PostgreSQL
version_added: 0.1.0
description:
  - Takes (O(state=present)) or releases (O(state=absent)) a named lock, so that two runbooks that change the same
    platform (two rollbacks, a rollback and a maintenance window, two windows limited to different hosts) never run
    at once. The second run is refused before it changes anything, with the holder's owner, runbook, reason and age.
  - The lock is a row in a small table of the platform's database (created on first use), not C(pg_advisory_lock)
    and not a file on one host. An advisory lock lives as long as one database session, and a run spans many tasks
    and connections; a file on the play's first host does not stop a run limited to other hosts. The row outlives
    them, says who holds it, and is a lease (a run that died without releasing it stops blocking when O(ttl) ends).
  - Taking a lock this run already holds renews its lease (nested runbooks, such as the rollback started by
    release_watch, share their run's lock). Releasing a lock held by another run leaves it alone, unless
    O(force=true) with a O(reason).
  - Every statement runs under a O(lock_timeout), so taking the lock never queues behind, or blocks, the app.
  - The lock lives on the cluster's primary. A connection that reaches a standby is refused; name the members in
    O(login_host) with O(target_session_attrs=primary) and the module returns which one answered (RV(server)), so a
    runbook knows the current primary without another round trip.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
    details: Reads the lock and says what it would do; refuses as a real run would when another run holds it.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  name:
    description: The lock's name, one per platform (the runbooks use V(platform)).
    type: str
    default: platform
  state:
    description: V(present) takes the lock (or renews this run's lease), V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - The identity of this run. Only the same owner renews or releases the lock.
      - 1-200 printable characters; make it unique per run (the runbooks use the start time in microseconds and a
        random number).
    type: str
    required: true
  runbook:
    description: What holds the lock, shown to the run that is refused (for example V(rollback)).
    type: str
  reason:
    description: Why; recorded with the lock, and required with O(force=true).
    type: str
  ttl:
    description: Seconds the lease lasts (more than 0, at most 7 days). Renew it by taking the lock again.
    type: int
    default: 7200
  force:
    description: With O(state=absent), break a lock held by another run (its lease has not ended). Needs O(reason).
    type: bool
    default: false
  table:
    description: The table holding the locks, in the connection's database and search path.
    type: str
    default: opsready_runbook_lock
  lock_timeout:
    description: Seconds any statement may wait for a table lock (more than 0, at most 60).
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: One runbook at a time on this platform
  opsready.runbooks.runbook_lock:
    login_host: db1.example.com
    login_user: opsready
    login_password: "{{ vault_db_password }}"
    login_db: app
    owner: "{{ run_id }}"
    runbook: rollback
    reason: "INC-4711"
  run_once: true

- name: Release it at the end, whatever happened (always:)
  opsready.runbooks.runbook_lock:
    owner: "{{ run_id }}"
    state: absent
  run_once: true

- name: A run died holding the lock and its lease is long; break it, on the record
  opsready.runbooks.runbook_lock:
    owner: "{{ run_id }}"
    state: absent
    force: true
    reason: "run 20261126T0300 was killed with its controller; checked by J. Doe"
"""

RETURN = r"""
before:
  description: The lock before (null when free). Keys name, owner, runbook, reason, acquired_at, expires_at (UTC),
    age_s, expires_in_s (negative once the lease ended).
  returned: always
  type: dict
after:
  description: The lock after (null when free; in check mode, as before unless it would be released).
  returned: always
  type: dict
server:
  description: The server that answered, the cluster's current primary - C(host) (as O(login_host) names it) and
    C(port).
  returned: when the database answered
  type: dict
  sample: {"host": "db2", "port": 5432}
queries:
  description: The statements that changed the lock table (the audit trail).
  returned: always
  type: list
  elements: str
"""

from contextlib import closing

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _lock as lock
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, connect, connection_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            name={"type": "str", "default": "platform"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            owner={"type": "str", "required": True},
            runbook={"type": "str"},
            reason={"type": "str"},
            ttl={"type": "int", "default": 7200},
            force={"type": "bool", "default": False},
            table={"type": "str", "default": "opsready_runbook_lock"},
            lock_timeout={"type": "float", "default": 5},
        ),
        supports_check_mode=True,
    )

    def work():
        lock.validate(module.params)
        # a statement waiting for a lock ends by lock_timeout (up to 60 s), not by statement_timeout before it
        statement_timeout = max(30, module.params["lock_timeout"] + 5)
        # connected before answers_within: libpq's connect_timeout bounds each member of a multi-host login_host
        with closing(connect(module.params, connect_timeout=10, statement_timeout=statement_timeout,
                             autocommit=False)) as conn, answers_within(statement_timeout + 5):
            result = lock.apply(conn, module.params, module.check_mode)
            conn.commit()
        return result

    # psycopg2's errors (refused, auth, lock timeout) say what is wrong
    finish(module, work, failing="runbook lock %s" % module.params["name"])


if __name__ == "__main__":
    main()
