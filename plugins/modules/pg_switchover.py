#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_switchover
short_description: The critical section of a planned PostgreSQL switchover in one call - pause, fence, promote, repoint, resume
version_added: 0.1.0
description:
  - Runs on the B(old primary's host) (as root) and does, without an Ansible task round between the steps,
    what the clients wait for during a planned switchover. The connection options (O(login_host)...) are the
    target's - the standby to promote, reached from this host.
  - 1. C(PAUSE) on every PgBouncer of O(pgbouncers) (over its admin console), one after the other, each within
    O(pause_timeout) - new queries wait in PgBouncer instead of failing.
  - 2. Fences this server - C(standby.signal) in O(data_directory), so it can only start again as a standby - and
    stops it cleanly (O(service) through systemctl, or O(stop_command)), then reads its last position, the shutdown
    checkpoint every commit precedes, with O(pg_controldata).
  - 3. Waits (at most O(replay_timeout)) until the target has received WAL up to the end of that checkpoint's record
    (C(pg_waldump) gives its length), then promotes it with the lag guard of M(opsready.runbooks.pg_promote) at 0
    bytes - nothing the old primary acknowledged is lost, by construction, not from a lag figure, and the old
    primary can follow the target without a rewind.
  - 4. C(RELOAD) on every PgBouncer, checks with C(SHOW DATABASES) that it runs O(pgbouncer_target) - written in its
    file beforehand by M(opsready.runbooks.pgbouncer) with O(opsready.runbooks.pgbouncer#module:reload=false) - and
    C(RESUME).
  - Everything is checked before anything changes (in check mode too) - every console answers and has the database,
    this server is a running primary, the target a standby of the same system (its system identifier) that this
    login may promote.
  - A failure before the promotion puts back what was done, while the target is still seen a standby - a shutdown
    under way ends first (within O(stop_timeout)), C(standby.signal) is removed, the server started again
    (O(service) or O(start_command)) and seen taking sessions (its C(postmaster.pid)), the clients resumed to it - and
    says so; a server that cannot be started keeps its C(standby.signal). A target that is primary or cannot be
    read, or a promotion asked for whose end is not known, leaves this server stopped and the clients paused, and
    says so (start nothing before reading the target). The PgBouncer files still name the target after a put-back -
    write the old primary back in them (the runbook's rescue does).
    After the promotion, a PgBouncer that does not take the target stays paused and is named; the others go on.
  - Why a module - the same steps as Ansible tasks cost one task round each (0.5-1 s apiece on the lab) while the
    clients wait; here the wait is the steps' own time. No module of community.postgresql or community.general does
    a switchover.
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
    details: Reads every PgBouncer, this server's control file and the target, checks the promotion's privileges;
      sends no PAUSE, stops nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  data_directory:
    description: This server's (the old primary's) data directory.
    type: path
    required: true
  pg_controldata:
    description: The C(pg_controldata) program of this server's PostgreSQL version; C(pg_waldump) is taken from the
      same directory (it reads where the shutdown checkpoint record ends - the target must have received it whole).
    type: path
    default: /usr/lib/postgresql/15/bin/pg_controldata
  service:
    description: This server's systemd unit - stopped with C(systemctl stop), and started again to put it back.
      Give this or O(stop_command) and O(start_command).
    type: str
  stop_command:
    description: The command (program and arguments) that stops this server cleanly (a fast or smart shutdown), in
      place of O(service).
    type: list
    elements: str
  start_command:
    description: The command that starts this server again (when the switchover is undone), in place of O(service).
    type: list
    elements: str
  stop_timeout:
    description: Seconds the stop (and the start that puts it back) may take, more than 0 and at most 3600.
    type: float
    default: 60
  pgbouncers:
    description: The admin consoles of every PgBouncer the clients connect through, reachable from this host.
    type: list
    elements: dict
    required: true
    suboptions:
      login_host:
        description: Host name or address PgBouncer listens on (not C(localhost) - this runs on the database host).
        type: str
        required: true
      login_port:
        description: PgBouncer's port.
        type: int
        default: 6432
        aliases: [port]
      login_user:
        description: A user in PgBouncer's C(admin_users).
        type: str
        default: pgbouncer
      login_password:
        description: Its password, as in PgBouncer's C(auth_file).
        type: str
      ssl_mode:
        description: libpq C(sslmode).
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate for V(verify-ca) and V(verify-full).
        type: path
  database:
    description: The database, as named in PgBouncer's C([databases]) section.
    type: str
    required: true
  pgbouncer_target:
    description: What every PgBouncer must run after its C(RELOAD) - the target's C(host) (as its file names it),
      and C(port) and C(dbname) when they are checked too.
    type: dict
    required: true
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
  pause_timeout:
    description: Seconds each PAUSE may wait for the transactions in flight, more than 0 and at most 3600.
    type: float
    default: 5
  connect_timeout:
    description: Seconds to connect to a PgBouncer console or the target (libpq counts at least 2), and for each
      answer of a console, more than 0 and at most 300.
    type: float
    default: 5
  replay_timeout:
    description: Seconds the target may take to receive and replay this server's last WAL.
    type: float
    default: 10
  promote_timeout:
    description: Seconds the promotion may take, and then until the target takes writes.
    type: float
    default: 10
  synchronous_standby_names:
    description: The target's C(synchronous_standby_names) after the promotion, set before its first write (as
      M(opsready.runbooks.pg_promote) does); V('') while no standby streams from it yet.
    type: str
notes:
  - The login needs what M(opsready.runbooks.pg_promote) needs on the target (EXECUTE on C(pg_promote) and
    C(pg_wal_replay_resume), pg_monitor; for O(synchronous_standby_names), ALTER SYSTEM on it and EXECUTE on
    C(pg_reload_conf)); the PgBouncer consoles must accept this host (C(listen_addr), C(admin_users)).
  - Clients wait in PgBouncer from the first PAUSE to the last RESUME, at most PgBouncer's C(query_wait_timeout);
    the C(critical) timing is that time.
  - Run a C(CHECKPOINT) on this server just before, so that its shutdown checkpoint is short.
seealso:
  - module: opsready.runbooks.pg_promote
  - module: opsready.runbooks.pgbouncer
"""

EXAMPLES = r"""
- name: The target written in every PgBouncer's file (taken at the RELOAD of the switchover)
  opsready.runbooks.pgbouncer:
    database: demo
    target: {host: db2}
    reload: false
  delegate_to: "{{ item }}"
  loop: "{{ groups['app'] }}"

- name: Switch over from db1 to db2
  opsready.runbooks.pg_switchover:
    login_host: db2
    login_user: switchover
    login_password: "{{ switchover_password }}"
    data_directory: /var/lib/postgresql/15/main
    service: postgresql@15-main
    database: demo
    pgbouncer_target: {host: db2}
    pgbouncers:
      - {login_host: app1, login_password: "{{ pgbouncer_admin_password }}"}
      - {login_host: app2, login_password: "{{ pgbouncer_admin_password }}"}
  delegate_to: db1
"""

RETURN = r"""
msg:
  description: What was done, in words.
  returned: always
  type: str
last_lsn:
  description: This server's shutdown checkpoint - what the target had received when it was promoted.
  returned: always
  type: str
  sample: 0/5000028
promotion:
  description: The target's promotion - C(lsn_at_promotion), C(guard), C(synchronous_standby_names), C(timings), C(msg).
  returned: always
  type: dict
pgbouncers:
  description: Each PgBouncer - C(pgbouncer) (host:port), C(before) and C(after) (its database as it ran it).
  returned: always
  type: list
  elements: dict
paused:
  description: Whether clients may be left waiting in a PgBouncer.
  returned: always
  type: bool
fenced:
  description: Whether this server is left stopped with C(standby.signal).
  returned: always
  type: bool
promote_asked:
  description: Whether the target was asked to promote (it may be primary even if the task failed).
  returned: always
  type: bool
put_back:
  description: What a failure put back.
  returned: always
  type: list
  elements: str
timings:
  description: Seconds of each step - C(check), C(pause), C(fence), C(receive), C(promote), C(repoint), and
    C(critical) (the clients' wait, from the first PAUSE to the last RESUME).
  returned: always
  type: dict
  sample: {check: 0.05, pause: 0.004, fence: 0.31, receive: 0.002, promote: 0.28, repoint: 0.01, critical: 0.61}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _pgbouncer, _switch
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import finish
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, connect, connection_spec


def main():
    console = dict(_pgbouncer.connection_spec(), login_host={"type": "str", "required": True})
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            data_directory={"type": "path", "required": True},
            pg_controldata={"type": "path", "default": "/usr/lib/postgresql/15/bin/pg_controldata"},
            service={"type": "str"},
            stop_command={"type": "list", "elements": "str"},
            start_command={"type": "list", "elements": "str"},
            stop_timeout={"type": "float", "default": 60},
            pgbouncers={"type": "list", "elements": "dict", "required": True, "options": console},
            database={"type": "str", "required": True},
            pgbouncer_target={"type": "dict", "required": True, "options": {
                "host": {"type": "str", "required": True}, "port": {"type": "int"}, "dbname": {"type": "str"}}},
            pause_timeout={"type": "float", "default": 5},
            connect_timeout={"type": "float", "default": 5},
            replay_timeout={"type": "float", "default": 10},
            promote_timeout={"type": "float", "default": 10},
            synchronous_standby_names={"type": "str"},
        ),
        required_one_of=[["service", "stop_command"]],
        mutually_exclusive=[["service", "stop_command"], ["service", "start_command"]],
        required_together=[["stop_command", "start_command"]],
        supports_check_mode=True,
    )
    params = module.params

    def work():
        # each answer from the target within the longest single wait; pg_promote waits in the server
        wait = max(params["replay_timeout"], params["promote_timeout"]) + 10
        with answers_within(wait):
            return _switch.switch(
                params, lambda: connect(params, connect_timeout=params["connect_timeout"], statement_timeout=wait,
                                        synchronous=True),
                lambda c, seconds: connect(c, connect_timeout=seconds, synchronous=True), module.check_mode)

    finish(module, work, failing="switchover to %s" % params["login_host"])


if __name__ == "__main__":
    main()
