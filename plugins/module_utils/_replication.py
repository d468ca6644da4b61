# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The replication state of one PostgreSQL server, read in one read-only transaction: its role, timeline and WAL
positions, and as a primary its standbys and their lag, as a standby its WAL receiver and what it has received but
not replayed yet. The raw rows are turned into the state by pure functions (shape()), tested without a server."""

from __future__ import annotations

import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

# the server, whatever its role
SERVER = """SELECT pg_is_in_recovery(), current_setting('server_version_num')::int,
  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), current_setting('synchronous_standby_names'),
  (SELECT timeline_id FROM pg_control_checkpoint()), current_setting('synchronous_commit')"""
# a primary: where its WAL ends (its timeline is the WAL file's), and each standby as the primary sees it. The LSN
# columns of pg_stat_replication are NULL for a role without pg_read_all_stats (pg_monitor has it).
PRIMARY = """SELECT pg_current_wal_lsn()::text,
  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"""
STANDBYS = """SELECT application_name, client_addr::text, state, sync_state, sent_lsn::text, flush_lsn::text,
  replay_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::int8,
  pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8, extract(epoch FROM replay_lag)::float8
FROM pg_stat_replication ORDER BY application_name, pid"""
# a standby: what it received and replayed. After a restart PostgreSQL reports as received the start of the WAL
# segment streaming resumed at, behind what was already replayed: received is never taken below replayed. Its lag is
# 0 while everything received is replayed (an idle primary makes the last replayed commit old without any lag).
STANDBY = """SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, pg_last_wal_replay_lsn()::text,
  greatest(coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::int8,
  CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
       ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8,
  pg_get_wal_replay_pause_state()"""
# latest_end_lsn: the primary's WAL end as its last message to this standby said (what it had written then)
RECEIVER = """SELECT status, sender_host, sender_port, slot_name, received_tli, flushed_lsn::text,
  extract(epoch FROM now() - last_msg_receipt_time)::float8, latest_end_lsn::text
FROM pg_stat_wal_receiver"""
SLOTS = """SELECT slot_name, slot_type, active, restart_lsn::text, wal_status,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 END
FROM pg_replication_slots ORDER BY slot_name"""

LSN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", re.I)


def lsn_bytes(lsn):
    """An LSN ('16/B374D848') as a byte position, for comparing two of them; None stays None."""
    if lsn is None:
        return None
    if not isinstance(lsn, str) or not LSN.fullmatch(lsn):
        raise OpsreadyError("%r is not a PostgreSQL LSN (such as 16/B374D848)" % (lsn,))
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _seconds(value):
    return None if value is None else round(float(value), 3)


def shape(server, primary=None, standbys=(), standby=None, receiver=None, slots=()):
    """The state from the rows of the queries above (server, then PRIMARY and STANDBYS for a primary, STANDBY and
    RECEIVER for a standby, SLOTS for both)."""
    in_recovery, version, at, sync_names, checkpoint_timeline, sync_commit = server
    state = {"role": "standby" if in_recovery else "primary", "server_version_num": version, "at": at,
             "synchronous_standby_names": sync_names or "", "synchronous_commit": sync_commit,
             "timeline": checkpoint_timeline,
             "lsn": {"current": None, "received": None, "replayed": None},
             "standbys": [], "wal_receiver": None, "lag": None, "replay_paused": False,
             "slots": [dict(zip(("name", "type", "active", "restart_lsn", "wal_status", "retained_bytes"), row))
                       for row in slots]}
    if not in_recovery:
        current, timeline = primary
        state["lsn"]["current"] = current
        state["timeline"] = timeline
        for row in standbys:
            name, address, stream, sync, sent, flushed, replayed, flush_bytes, replay_bytes, replay_lag = row
            state["standbys"].append({
                "name": name, "address": address, "state": stream, "sync_state": sync, "sent_lsn": sent,
                "flushed_lsn": flushed, "replayed_lsn": replayed, "unflushed_bytes": flush_bytes,
                "lag_bytes": replay_bytes, "lag_seconds": _seconds(replay_lag)})
        return state
    received, replayed, behind_bytes, behind_seconds, pause = standby
    state["lsn"].update(received=received, replayed=replayed)
    state["lag"] = {"bytes": behind_bytes, "seconds": _seconds(behind_seconds)}
    state["replay_paused"] = pause not in (None, "not paused")
    if receiver:
        status, host, port, slot, timeline, flushed, silent, primary_end = receiver
        state["wal_receiver"] = {"status": status, "sender_host": host, "sender_port": port, "slot": slot,
                                 "timeline": timeline, "flushed_lsn": flushed, "seconds_since_message": _seconds(silent),
                                 "primary_end_lsn": primary_end}
        if timeline:
            state["timeline"] = timeline
    return state


def read(conn):
    """The replication state of the server behind conn (psycopg2), read in one read-only transaction."""
    with conn.cursor() as cur:
        cur.execute("BEGIN READ ONLY")
        try:
            cur.execute(SERVER)
            server = cur.fetchone()
            rows = {}
            if server[0]:
                for key, sql in (("standby", STANDBY), ("receiver", RECEIVER)):
                    cur.execute(sql)
                    rows[key] = cur.fetchone()
            else:
                cur.execute(PRIMARY)
                rows["primary"] = cur.fetchone()
                cur.execute(STANDBYS)
                rows["standbys"] = cur.fetchall()
            cur.execute(SLOTS)
            rows["slots"] = cur.fetchall()
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            identifier = cur.fetchone()[0]
        finally:
            cur.execute("ROLLBACK")
    state = shape(server, **rows)
    state["server"] = {"host": conn.info.host, "port": conn.info.port}   # which member, when login_host names several
    state["system_identifier"] = identifier   # the same on every copy of one cluster
    return state


def summary(state):
    """The state in a sentence: 'primary on timeline 3 at 0/3000148, 1 standby: db2 streaming (sync), 0 bytes behind'."""
    if state["role"] == "primary":
        standbys = state["standbys"]
        words = ["%s %s%s, %s" % (s["name"] or s["address"] or "?", s["state"],
                                  " (%s)" % s["sync_state"] if s["sync_state"] not in (None, "async") else "",
                                  "%s bytes behind" % s["lag_bytes"] if s["lag_bytes"] is not None
                                  else "lag unknown (needs pg_monitor)") for s in standbys]
        return "primary on timeline %s at %s, %d standby%s%s" % (
            state["timeline"], state["lsn"]["current"], len(standbys), "" if len(standbys) == 1 else "s",
            ": " + "; ".join(words) if words else "")
    receiver = state["wal_receiver"]
    return "standby on timeline %s, received %s, replayed %s (%s bytes, %s s behind)%s, %s" % (
        state["timeline"], state["lsn"]["received"], state["lsn"]["replayed"], state["lag"]["bytes"],
        state["lag"]["seconds"], ", replay paused" if state["replay_paused"] else "",
        "WAL receiver %s from %s" % (receiver["status"], receiver["sender_host"]) if receiver else "no WAL receiver")
