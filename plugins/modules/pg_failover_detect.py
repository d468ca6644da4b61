#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_failover_detect
short_description: Whether a PostgreSQL primary is lost - probes confirmed by the standby's own WAL receiver
version_added: 0.1.0
description:
  - Runs on (or connects to) the standby that would be promoted. Probes the primary's postmaster every O(interval)
    seconds and reads the standby's replication state; O(probes) unanswered probes in a row, confirmed by the
    standby's WAL receiver (stopped, not streaming, or silent for longer than half the standby's
    C(wal_receiver_timeout) plus a second), is a lost primary (RV(lost)).
  - A probe is what C(pg_isready) does, with no credentials - an SSLRequest, which a live postmaster answers with one
    byte whatever C(pg_hba.conf) says. Each probe is bounded by O(probe_timeout) as a whole (connect, send, answer).
  - Probes that fail while the WAL receiver still streams mean that this host lost its route to the primary, not that
    the primary is gone - RV(lost) is false, and the message says so. A controller that lost its network never
    promotes.
  - Without O(watch), it decides now. A probe that answers ends it (alive); otherwise it probes O(probes) times and
    then waits as long as the WAL receiver needs to confirm. With O(watch), it goes on until the primary is lost or
    O(watch) seconds have passed (started ahead of time, by an alert or a person).
  - Returns the primary's last known WAL end (RV(primary_end_lsn), the latest its messages to the standby said) - the
    reference of the promotion's lag guard (O(opsready.runbooks.pg_promote#module:min_lsn)).
  - Changes nothing. community.postgresql.postgresql_ping reports one connection attempt with credentials; a failover
    needs repeated, bounded probes and the standby's own view, hence this module.
  - A killed host sends no reset. The WAL receiver notices only when it pings the primary at half its
    C(wal_receiver_timeout) (60 s by default); set it on the standby to a few seconds (the lab uses V(4s)) for a
    detection within seconds.
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
notes:
  - The connection options are the standby's (as postgres over its socket, or a role with C(pg_monitor)).
  - The primary's name is looked up within O(probe_timeout) (a lookup that stalls or fails is an unanswered probe;
    one lookup of it at a time), each of its addresses tried in turn. After a probe that answered the next one uses
    the same addresses; after one that did not, the name is looked up again, the kept addresses serving when that
    lookup stalls. Fixed addresses for the members (C(/etc/hosts)) still help.
options:
  primary:
    description:
      - The primary to probe, V(host) or V(host:port).
      - Default - the host the standby's WAL receiver streams from, or else the host of its C(primary_conninfo).
    type: str
  primary_lsn:
    description:
      - A WAL position the primary is known to have reached, read elsewhere (the runbook's read of it before the
        watch). RV(primary_end_lsn) is the later of it and what the primary's messages to the standby said.
    type: str
  probes:
    description: Unanswered probes in a row before the standby's WAL receiver is asked to confirm (1 to 100).
    type: int
    default: 3
  interval:
    description: Seconds from one probe's start to the next (0.1 to 60).
    type: float
    default: 1
  probe_timeout:
    description: Seconds one probe may take as a whole (0.1 to 30, at most O(interval)).
    type: float
    default: 1
  watch:
    description:
      - Seconds to keep watching until the primary is lost (0 to 604800). V(0) decides now.
    type: float
    default: 0
  connect_timeout:
    description: Seconds to wait for the standby's connection and for each of its answers (more than 0, at most 300).
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Is the primary lost? (asked from the standby, as postgres over its socket)
  opsready.runbooks.pg_failover_detect:
    login_host: /var/run/postgresql
    login_user: postgres
    probes: 3
    interval: 1
  become: true
  become_user: postgres
  delegate_to: db2
  register: detected

- name: Promote only a standby whose primary is lost, behind the lag guard
  opsready.runbooks.pg_promote:
    login_host: /var/run/postgresql
    login_user: postgres
    min_lsn: "{{ detected.primary_end_lsn }}"
    max_lag_bytes: 1048576
  become: true
  become_user: postgres
  delegate_to: db2
  when: detected.lost

- name: Watch for an hour, started by an alert; act only when the primary is lost
  opsready.runbooks.pg_failover_detect:
    login_host: /var/run/postgresql
    login_user: postgres
    watch: 3600
  async: 3700
  poll: 5
"""

RETURN = r"""
lost:
  description: Whether the primary is lost - O(probes) unanswered probes in a row, confirmed by the WAL receiver.
  returned: always
  type: bool
already_primary:
  description: The server is a primary already (nothing to detect; promoted by an earlier run?).
  returned: always
  type: bool
msg:
  description: The decision in a sentence, with its reasons.
  returned: always
  type: str
primary:
  description: The primary probed - C(host) and C(port). Null when the server is a primary.
  returned: always
  type: dict
probes:
  description: The last probes (at most 20) - C(at_s) (seconds from the start), C(answered), C(error), C(ms).
  returned: always
  type: list
  elements: dict
failed_in_a_row:
  description: Unanswered probes in a row at the end.
  returned: when the server is a standby
  type: int
receiver_silence_s:
  description: Seconds of silence from the primary that confirm its loss (half of C(wal_receiver_timeout) plus 1;
    null when that timeout is off and only the receiver's status counts).
  returned: when the server is a standby
  type: float
primary_end_lsn:
  description: The primary's last known WAL end (the latest its messages to the standby said, or O(primary_lsn) when
    later); null when unknown.
  returned: always
  type: str
lag_bytes:
  description: Bytes of RV(primary_end_lsn) the standby had not received (what a promotion would lose of what is
    known); null when unknown.
  returned: always
  type: int
standby:
  description: The standby's replication state at the end (as opsready.runbooks.pg_replication_info returns it).
  returned: always
  type: dict
since_first_failure_s:
  description: Seconds from the first unanswered probe of the last run of them to the end; null when the last
    probe answered.
  returned: when the server is a standby
  type: float
elapsed_s:
  description: Seconds the module took.
  returned: always
  type: float
"""

from contextlib import closing

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _failover as failover
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, connect, connection_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            primary={"type": "str"},
            primary_lsn={"type": "str"},
            probes={"type": "int", "default": 3},
            interval={"type": "float", "default": 1},
            probe_timeout={"type": "float", "default": 1},
            watch={"type": "float", "default": 0},
            connect_timeout={"type": "float", "default": 10},
        ),
        supports_check_mode=True,
    )
    seconds = module.params["connect_timeout"]

    def work():
        if not 0 < seconds <= 300:
            raise OpsreadyError("connect_timeout must be more than 0 and at most 300 seconds, got %s" % seconds)
        failover.validate(module.params)
        with answers_within(seconds), closing(connect(module.params, connect_timeout=seconds,
                                                      statement_timeout=seconds)) as conn:
            from psycopg2.extensions import parse_dsn   # connect() said it when psycopg2 is missing
            return failover.detect(conn, module.params, parse_dsn)

    # psycopg2's errors (refused, auth, no answer) say what is wrong
    finish(module, work, failing="failover detection from %s" % module.params["login_host"])


if __name__ == "__main__":
    main()
