#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_promote
short_description: Promote a PostgreSQL standby to primary behind a lag guard, and wait until it takes writes
version_added: 0.1.0
description:
  - Reads the standby's replication state and applies the B(lag guard) - when O(min_lsn) is given (the old
    primary's last known WAL position), what the primary wrote beyond what this standby received would be lost; more
    than O(max_lag_bytes) of it refuses the promotion. Over budget, the promotion happens only with
    O(accept_data_loss) and a O(data_loss_reason), both returned for the record. What the standby received but has
    not replayed yet is not lost - replay ends before the promotion.
  - Never trust a lag figure alone - for a planned switchover stop the old primary cleanly first and give its last
    position as O(min_lsn) with O(max_lag_bytes=0), so the promotion happens only once everything it wrote is here.
  - Then waits (at most O(replay_timeout)) until the standby has replayed all it received (a paused replay is
    resumed), promotes it (C(pg_promote), waiting at most O(promote_timeout)), and waits until it takes a write.
    Returns the LSN at promotion and each step's time.
  - A server that is already a primary is left alone (C(changed=false)). Fencing the old primary and repointing the
    clients are the runbook's other steps, not this module's.
  - community.postgresql has no promotion with a guard (its postgresql_query could call C(pg_promote), blind to
    what would be lost). Hence this module.
  - Log in as a superuser, or a role granted EXECUTE on C(pg_promote) (and C(pg_wal_replay_resume) when replay may
    be paused) with pg_monitor; a role that may not is refused before anything changes, in check mode too.
  - Each wait is bounded by its timeout plus the answer to one query (at most the larger timeout and 10 s more).
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
    details: Reads the state and applies the guard; says whether it would promote, and what it would accept.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  min_lsn:
    description: The WAL position the old primary is known to have reached (its last LSN read, such as V(0/3000148)).
      What the standby did not receive of it counts as lost. Without it the guard cannot know what the primary
      wrote, only how far replay is behind.
    type: str
  max_lag_bytes:
    description: Bytes of O(min_lsn) the standby may lack (lost on promotion); from 0 (nothing may be lost) to 1 TiB.
    type: int
    default: 0
  accept_data_loss:
    description: Promote even over budget. Needs O(data_loss_reason).
    type: bool
    default: false
  data_loss_reason:
    description: Why promoting over budget is acceptable (a ticket, who decided); returned in RV(accepted_data_loss).
      One line of at most 1000 characters.
    type: str
  replay_timeout:
    description: Seconds to wait for replay to reach what was received (0.1 to 3600).
    type: float
    default: 60
  promote_timeout:
    description: Seconds to wait for the promotion, and then for the first write (1 to 3600).
    type: float
    default: 60
  synchronous_standby_names:
    description:
      - The new primary's C(synchronous_standby_names), set (C(ALTER SYSTEM), reload) right after the promotion and
        before its first write; unset leaves it as it is.
      - Give an empty string when the members share a synchronous setting (V(*) or the members' names) - promoted, the
        server would wait for a synchronous standby of its own, and with its old primary gone its commits (the
        first write included) would wait until one rejoins. C(ALTER SYSTEM RESET synchronous_standby_names) and a
        reload bring the shared setting back once a standby streams (playbooks/db_rejoin.yml does).
      - The role must be allowed to (a superuser, or C(GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names));
        checked before anything changes. A value C(ALTER SYSTEM) had set is replaced, with a warning - that reset
        brings back the configuration files' value, not that one.
    type: str
"""

EXAMPLES = r"""
- name: Promote db2, losing nothing the old primary wrote (its last position was read as it stopped)
  opsready.runbooks.pg_promote:
    login_host: db2
    login_password: "{{ postgres_password }}"
    min_lsn: "{{ old_primary.lsn.current }}"
    max_lag_bytes: 0
  register: promoted

- name: The primary is gone; promote anyway, with the reason on record
  opsready.runbooks.pg_promote:
    login_host: db2
    login_password: "{{ postgres_password }}"
    min_lsn: "{{ last_known_primary_lsn }}"
    accept_data_loss: true
    data_loss_reason: "INC-4711: db1 lost its disk; up to 2 s of orders re-entered by support"
"""

RETURN = r"""
msg:
  description: What was done, in a sentence.
  returned: always
  type: str
  sample: "promoted at 0/3000148: primary on timeline 2 at 0/30001C0, 0 standbys (0.412 s)"
before:
  description: The replication state before (as opsready.runbooks.pg_replication_info returns it).
  returned: always
  type: dict
after:
  description: The replication state after the promotion (the same as RV(before) when nothing was done).
  returned: always
  type: dict
guard:
  description: The lag guard's decision - C(promote), C(over_budget), C(loss_bytes) (null without O(min_lsn)) and
    C(findings). Null for a server that was already a primary.
  returned: always
  type: dict
accepted_data_loss:
  description: Over budget with O(accept_data_loss) - the reason, the findings and C(loss_bytes). Null otherwise.
  returned: always
  type: dict
lsn_at_promotion:
  description: Where recovery ended - the last WAL position replayed before the new timeline began (null when
    nothing was promoted).
  returned: always
  type: str
promote_asked:
  description: Whether C(pg_promote) was called (after a failure - the promotion may have happened; read the state).
  returned: always
  type: bool
replay_resumed:
  description: Whether a paused replay was resumed (a change, even when the promotion then did not happen).
  returned: always
  type: bool
synchronous_standby_names:
  description: With O(synchronous_standby_names) - C(before) and C(after) the promotion; null without it.
  returned: always
  type: dict
  sample: {"before": "*", "after": ""}
warnings:
  description: Said when the new primary's clients would wait (its C(synchronous_standby_names) set and no
    synchronous standby streaming from it), and when O(synchronous_standby_names) replaced a value C(ALTER SYSTEM)
    had set.
  returned: when it applies
  type: list
  elements: str
timings:
  description: Seconds each step took - C(wait_replay), C(promote), C(synchronous) (with
    O(synchronous_standby_names)), C(writable) and C(total).
  returned: always
  type: dict
"""

from contextlib import closing

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _promote
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, connect, connection_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            min_lsn={"type": "str"},
            max_lag_bytes={"type": "int", "default": 0},
            accept_data_loss={"type": "bool", "default": False},
            data_loss_reason={"type": "str"},
            replay_timeout={"type": "float", "default": 60},
            promote_timeout={"type": "float", "default": 60},
            synchronous_standby_names={"type": "str"},
        ),
        supports_check_mode=True,
    )
    params = module.params

    def work():
        _promote.validate(params)
        # each answer within the longest single wait; pg_promote waits in the server for up to promote_timeout
        wait = max(params["replay_timeout"], params["promote_timeout"]) + 10
        with answers_within(wait), closing(connect(params, connect_timeout=10, statement_timeout=wait)) as conn:
            return _promote.promote(conn, params, module.check_mode)

    # psycopg2's errors (refused, auth, no answer, no privilege) say what is wrong
    finish(module, work, failing="promotion of %s" % params["login_host"])


if __name__ == "__main__":
    main()
