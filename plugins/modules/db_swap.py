#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: db_swap
short_description: Swap a staged PostgreSQL database in under the live one's name, keeping the one it replaces
version_added: 0.1.0
description:
  - Renames the live database O(name) to O(keep_as) and the staged database O(staged) (a restore, checked before) to
    O(name), both in one transaction - either both renames happen or neither. What was written to the live database
    since the staged copy was taken stays in O(keep_as).
  - For the moment of the swap O(name) refuses new connections and its open sessions are ended (PostgreSQL cannot
    rename a database anyone is connected to); its C(ALLOW_CONNECTIONS) setting is put back as it was whatever
    happens, on O(name) after a failure and on O(keep_as) after the swap.
  - Every statement runs under O(lock_timeout), so a swap never queues behind another session (and never holds up
    the sessions queued behind it) for longer; a try that fails is retried up to O(attempts) times. When every try
    fails, O(name) and O(staged) are as they were. Sessions on O(staged) (a copy, not live) are ended too; open
    prepared transactions on either database are refused up front (no session can end them).
  - Two swaps of one database never run at once (a session-level advisory lock). A session lost mid-swap is replaced,
    and the new one reads what happened before it does anything; a swap that committed as the session was lost is
    recognised by the comment it leaves on O(keep_as) (V(opsready.runbooks.db_swap - replaced by <staged> at <time>),
    the name and time in it), which is also how a second run knows the swap is done.
  - The new live database allows connections as the old one did.
  - community.postgresql.postgresql_db renames one database per task (C(state=rename)); two tasks are not one
    transaction, and it neither ends the sessions nor bounds the lock wait. Hence this module.
  - Needs PostgreSQL 14 or later (C(pg_terminate_backend) with a timeout) and a role that may rename the databases
    (their owner with CREATEDB, or a superuser).
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
    details: Reads which databases exist and says what it would do.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  name:
    description: The live database, which the staged one replaces.
    type: str
    required: true
  staged:
    description: The database to swap in (a restored, checked copy).
    type: str
    required: true
  keep_as:
    description: The name the replaced database is kept under. Must not exist yet.
    type: str
    required: true
  lock_timeout:
    description: Seconds any statement may wait for a lock (more than 0, at most 60).
    type: float
    default: 5
  terminate_timeout:
    description: Seconds to wait for the live database's sessions to end (more than 0, at most 60).
    type: float
    default: 5
  attempts:
    description: How many times to try the swap (1 to 20), 0.2 s apart.
    type: int
    default: 5
notes:
  - O(login_db) must be another database than the three named here (the default V(postgres) is).
seealso:
  - module: community.postgresql.postgresql_db
  - module: opsready.runbooks.db_migration
"""

EXAMPLES = r"""
- name: Swap the staged restore in, keeping the live database as demo_replaced_20261126
  opsready.runbooks.db_swap:
    name: demo
    staged: demo_restore_20261126
    keep_as: demo_replaced_20261126
  become: true
  become_user: postgres
"""

RETURN = r"""
msg:
  description: What was done.
  returned: always
  type: str
  sample: swapped demo_restore_20261126 in as demo; the replaced database is kept as demo_replaced_20261126
queries:
  description: The statements run, in order (the audit trail).
  returned: always
  type: list
  elements: str
attempts:
  description: How many tries it took (0 when there was nothing to do or in check mode).
  returned: always
  type: int
warnings:
  description: What went wrong but was recovered (a session lost as the swap committed).
  returned: when there is something to say
  type: list
  elements: str
errors:
  description: The error of each failed try.
  returned: always
  type: list
  elements: str
sessions_terminated:
  description: How many sessions of the live database were ended.
  returned: always
  type: int
elapsed:
  description: Seconds the swap took.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _db_swap as db_swap
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import connect, connection_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            name={"type": "str", "required": True},
            staged={"type": "str", "required": True},
            keep_as={"type": "str", "required": True},
            lock_timeout={"type": "float", "default": 5},
            terminate_timeout={"type": "float", "default": 5},
            attempts={"type": "int", "default": 5},
        ),
        supports_check_mode=True,
    )
    params, started, swap = module.params, time.monotonic(), None
    name, staged, keep_as = params["name"], params["staged"], params["keep_as"]
    try:
        db_swap.validate(params)
        statement_timeout = params["lock_timeout"] + params["terminate_timeout"] + 10
        with answers_within(statement_timeout + 5):
            swap = db_swap.Swap(lambda: connect(params, connect_timeout=10, statement_timeout=statement_timeout,
                                                lock_timeout=params["lock_timeout"]), params)
            found = swap.found()
            todo = db_swap.plan(found, name, staged, keep_as)
            if todo == "done":
                result = dict(swap.result(0), changed=False,
                              msg="%s is already swapped in as %s; the replaced database is %s" % (staged, name, keep_as))
            elif module.check_mode:
                result = dict(swap.result(0), changed=True,
                              msg="would swap %s in as %s and keep the replaced database as %s" % (staged, name, keep_as))
            else:
                attempts = swap.run(found[name]["allow"], found[staged]["allow"])
                result = dict(swap.result(attempts), changed=True,
                              msg="swapped %s in as %s; the replaced database is kept as %s" % (staged, name, keep_as))
    except OpsreadyError as e:
        module.fail_json(msg=str(e), elapsed=round(time.monotonic() - started, 3), **e.result)
    except Exception as e:  # psycopg2's errors (refused, auth, a server that stops answering) say what is wrong
        module.fail_json(msg="swap of %s: %s" % (name, " ".join(str(e).split())), elapsed=round(time.monotonic() - started, 3),
                         changed=bool(swap and swap.swapped))
    finally:
        if swap is not None:
            swap.close()
    module.exit_json(elapsed=round(time.monotonic() - started, 3), **result)


if __name__ == "__main__":
    main()
