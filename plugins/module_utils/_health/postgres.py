# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The postgres check: version, role (primary or replica), connections, and replication as each side sees it."""

from __future__ import annotations

import functools
import os
import re
import socket
import time

from ansible_collections.opsready.runbooks.plugins.module_utils import _postgres
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num

PG_STATUS = """SELECT current_setting('server_version'), pg_is_in_recovery(),
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  current_setting('max_connections')::int"""
PG_REPLICAS = """SELECT application_name, coalesce(client_addr::text, 'local'), state,
  coalesce(extract(epoch FROM replay_lag), 0)::float8, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::int8
  FROM pg_stat_replication ORDER BY application_name"""
# On a replica, lag is 0 while everything received is replayed (an idle primary makes the replay timestamp old).
PG_REPLICA_LAG = """SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8,
  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::int8,
  (SELECT status FROM pg_stat_wal_receiver), (SELECT count(*) FROM pg_stat_wal_receiver),
  pg_last_wal_receive_lsn()::text"""
# WAL received but not yet replayed that holds no transaction (a checkpoint record on an idle primary) would count
# as the time since the last replayed commit: minutes of "lag" on a replica that is up to date. So when it is
# behind, look again shortly: replayed up to what it had received means it was only WAL in flight.
PG_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn"
REPLAY_RECHECK_SECONDS = 0.2
NEEDS_MONITOR = "the login role cannot see replication state: grant it pg_monitor"


def probe_postgres(spec, limits, budget):
    status, replication, server = postgres_state(spec, budget)
    return judge_postgres(spec, limits, status, replication, server)


def postgres_state(spec, budget):
    """(PG_STATUS row, PG_REPLICA_LAG row on a replica or the PG_REPLICAS rows on a primary, the server that answered
    of those login_host names), within the budget:
    libpq's connect_timeout and the server's statement_timeout get what is left; cancelling shuts the socket."""
    conn = _postgres.connect(spec, connect_timeout=budget.left(), statement_timeout=budget.left())
    budget.on_cancel(functools.partial(_shutdown_connection, conn))
    try:
        with conn.cursor() as cur:
            cur.execute(PG_STATUS)
            status = cur.fetchone()
            if not status[1]:
                cur.execute(PG_REPLICAS)
                return status, cur.fetchall(), _postgres.answered(conn, spec)
            cur.execute(PG_REPLICA_LAG)
            lag = cur.fetchone()
            received = lag[4]
            if lag[1] and received and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", received):
                time.sleep(min(REPLAY_RECHECK_SECONDS, budget.left()))
                cur.execute(PG_REPLAYED % received)
                if cur.fetchone()[0]:
                    lag = (0.0, 0) + tuple(lag[2:])
            return status, lag, _postgres.answered(conn, spec)
    finally:
        conn.close()


def _shutdown_connection(conn):
    """Wake a thread blocked in libpq: shut the connection's socket down (through a duplicate of its descriptor)."""
    if not conn.closed:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def judge_postgres(spec, limits, status, replication, server=None):
    """Observed values, findings and summary from what postgres_state() read."""
    version, in_recovery, used, max_connections = status
    observed = {"server": server or spec.get("login_host"), "version": version, "in_recovery": in_recovery, "role": "replica" if in_recovery else "primary",
                "connections": used, "max_connections": max_connections,
                "connections_pct": round(100.0 * used / max_connections, 1)}
    if in_recovery:
        lag_seconds, lag_bytes, receiver, receivers, dummy = replication
        observed.update(wal_receiver=receiver, replication_visible=not (receivers and receiver is None))
    else:
        replicas = [dict(zip(("name", "address", "state", "lag_seconds", "lag_bytes"), row)) for row in replication]
        observed.update(replicas=replicas, replication_visible=all(r["state"] for r in replicas))
        lag_seconds = max((r["lag_seconds"] for r in replicas), default=None)
        lag_bytes = max((r["lag_bytes"] for r in replicas), default=None)
    observed.update(lag_seconds=None if lag_seconds is None else round(lag_seconds, 1), lag_bytes=lag_bytes)
    findings = []
    if spec["role"] != "any" and spec["role"] != observed["role"]:
        findings.append((None, "is a %s, expected a %s" % (observed["role"], spec["role"])))
    if not observed["replication_visible"]:
        findings.append(("error", NEEDS_MONITOR))
    elif in_recovery and spec["require_streaming"] and observed["wal_receiver"] != "streaming":
        findings.append((None, "replica is not streaming from its primary (WAL receiver: %s)"
                         % (observed["wal_receiver"] or "not running")))
    if not in_recovery and observed["replication_visible"]:
        streaming = [r for r in observed["replicas"] if r["state"] == "streaming"]
        if len(streaming) < spec["min_replicas"]:
            findings.append((None, "%d streaming replica(s), expected at least %d"
                             % (len(streaming), spec["min_replicas"])))
    findings += grade("connections_pct", observed["connections_pct"], limits["connections_pct"],
                      label="connections at")
    findings += grade("replication_lag_seconds", observed["lag_seconds"], limits["replication_lag_seconds"],
                      label="replication lag")
    findings += grade("replication_lag_bytes", lag_bytes, limits["replication_lag_bytes"], label="replication lag")
    which = " on %s" % observed["server"] if "," in str(spec.get("login_host")) else ""   # of the cluster's members
    summary = "%s%s, %d/%d connections" % (observed["role"], which, used, max_connections)
    if observed["lag_seconds"] is not None:
        summary += ", replication lag %s s" % num(observed["lag_seconds"])
    return observed, findings, summary
