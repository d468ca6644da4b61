#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_replication_info
short_description: The replication state of a PostgreSQL server - role, timeline, WAL positions, standbys and lag
version_added: 0.1.0
description:
  - Reads, in one read-only transaction, whether the server is a primary or a standby, its timeline and WAL positions.
  - On a primary, each standby as the primary sees it (C(pg_stat_replication)) - its stream state, sync state, the
    WAL it has flushed and replayed, and how far behind it is in bytes and seconds.
  - On a standby, what it has received and replayed, how far replay is behind what it received (0 bytes and 0 s
    while everything received is replayed - an idle primary makes the last replayed commit old, which is no lag),
    whether replay is paused, and its WAL receiver (status, the primary it streams from, the seconds since its last
    message from it).
  - The replication slots on either role.
  - Changes nothing; the connection is read-only.
  - community.postgresql.postgresql_info returns C(pg_stat_replication) and the slots, but not a standby's received
    and replayed positions, its replay pause, its WAL receiver, or a primary's timeline - what a switchover or a
    failover decides on. Hence this module.
  - Log in as a role with C(pg_monitor) (or a superuser) - without it PostgreSQL hides the standbys' positions, and
    their lag is returned as null.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
    details: Reads only, in check mode as in a real run.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  connect_timeout:
    description: Seconds to wait for the connection and for each answer (more than 0, at most 300); a server that
      accepts the connection and never answers fails the task within it.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Which server is the primary, and how far behind is the standby
  opsready.runbooks.pg_replication_info:
    login_host: "{{ item }}"
    login_user: monitor
    login_password: "{{ monitor_password }}"
  loop: "{{ groups['db'] }}"
  register: replication

- name: Say it
  ansible.builtin.debug:
    msg: "{{ replication.results | map(attribute='msg') }}"

- name: The current primary among the cluster's members (whichever it is since the last failover)
  opsready.runbooks.pg_replication_info:
    login_host: "{{ groups['db'] | join(',') }}"
    target_session_attrs: primary
    login_user: monitor
    login_password: "{{ monitor_password }}"
  register: primary   # primary.server.host: db1 or db2
"""

RETURN = r"""
msg:
  description: The state in a sentence.
  returned: always
  type: str
  sample: "primary on timeline 1 at 0/3000148, 1 standby: db2 streaming, 0 bytes behind"
role:
  description: V(primary) or V(standby).
  returned: always
  type: str
timeline:
  description: The server's timeline (a primary's current one; a standby's as its WAL receiver streams it, else
    the last checkpoint's).
  returned: always
  type: int
lsn:
  description: WAL positions - C(current) (a primary's end of WAL), C(received) and C(replayed) (a standby's).
  returned: always
  type: dict
  sample: {current: 0/3000148, received: null, replayed: null}
standbys:
  description: On a primary, each standby - C(name) (its application_name), C(address), C(state), C(sync_state),
    C(sent_lsn), C(flushed_lsn), C(replayed_lsn), C(unflushed_bytes), C(lag_bytes) (not yet replayed) and
    C(lag_seconds). Empty on a standby.
  returned: always
  type: list
  elements: dict
lag:
  description: On a standby, how far replay is behind what was received - C(bytes) and C(seconds). Null on a primary.
  returned: always
  type: dict
replay_paused:
  description: On a standby, whether replay is paused (C(pg_wal_replay_pause)).
  returned: always
  type: bool
wal_receiver:
  description: On a standby, its WAL receiver - C(status), C(sender_host), C(sender_port), C(slot), C(timeline),
    C(flushed_lsn), C(seconds_since_message) and C(primary_end_lsn) (the primary's WAL end as its last message
    said). Null when none runs (the primary is gone, or not streaming).
  returned: always
  type: dict
slots:
  description: The replication slots - C(name), C(type), C(active), C(restart_lsn), C(wal_status) and
    C(retained_bytes) (WAL kept for it; a primary only).
  returned: always
  type: list
  elements: dict
synchronous_standby_names:
  description: The server's C(synchronous_standby_names) (empty - asynchronous replication).
  returned: always
  type: str
synchronous_commit:
  description: The server's C(synchronous_commit) as this session sees it (V(on), V(remote_apply) and
    V(remote_write) wait for a synchronous standby; V(local) and V(off) do not).
  returned: always
  type: str
server_version_num:
  description: The server's version number (150010).
  returned: always
  type: int
system_identifier:
  description: The cluster's system identifier (C(pg_control_system)) - the same on a primary and every copy of it;
    a standby with another one streams from another cluster.
  returned: always
  type: str
  sample: "7311234567890123456"
server:
  description: The server that answered - C(host) (as O(login_host) names it) and C(port). With several members in
    O(login_host) and O(target_session_attrs=primary), the current primary.
  returned: always
  type: dict
  sample: {host: db2, port: 5432}
at:
  description: The server's time when it was read (UTC).
  returned: always
  type: str
"""

from contextlib import closing

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, connect, connection_spec


def main():
    module = AnsibleModule(argument_spec=dict(connection_spec(), connect_timeout={"type": "float", "default": 10}),
                           supports_check_mode=True)
    seconds = module.params["connect_timeout"]
    if not 0 < seconds <= 300:
        module.fail_json(msg="connect_timeout must be more than 0 and at most 300 seconds, got %s" % seconds)

    def work():
        with answers_within(seconds), closing(connect(module.params, connect_timeout=seconds,
                                                      statement_timeout=seconds)) as conn:
            state = replication.read(conn)
        return dict(state, changed=False, msg=replication.summary(state))

    # psycopg2's errors (refused, auth, no answer) say what is wrong
    finish(module, work, failing="replication state of %s" % module.params["login_host"])


if __name__ == "__main__":
    main()
