# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Promote a PostgreSQL standby behind a lag guard: the guard (a pure function of the standby's state), then wait
for replay to reach what was received, promote, and wait until it takes writes - each step timed."""

from __future__ import annotations

import math
import time

from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, one_line

LIMITS = {"max_lag_bytes": (0, 1 << 40), "replay_timeout": (0.1, 3600), "promote_timeout": (1, 3600)}
# what the role running the promotion must be allowed to call (checked before anything changes, in check mode too)
PRIVILEGES = """SELECT has_function_privilege('pg_promote(boolean, integer)', 'EXECUTE'),
  has_function_privilege('pg_wal_replay_resume()', 'EXECUTE')"""
SET_PRIVILEGE = "SELECT has_parameter_privilege('synchronous_standby_names', 'ALTER SYSTEM')"
SUPERUSER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
NOT_YET_WRITABLE = ("25006", "55000")   # read_only_sql_transaction, object_not_in_prerequisite_state (in recovery)


def validate(params):
    """Every option checked before anything is read or changed."""
    for key, (low, high) in LIMITS.items():
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise OpsreadyError("%s must be a number from %s to %s, got %r" % (key, low, high, value))
    if params.get("min_lsn") is not None:
        replication.lsn_bytes(params["min_lsn"])   # refuses what is not an LSN
    reason = params.get("data_loss_reason")
    if params.get("accept_data_loss") and not (isinstance(reason, str) and reason.strip()):
        raise OpsreadyError("accept_data_loss needs data_loss_reason: why losing what the standby did not receive is "
                            "acceptable (it is recorded)")
    if isinstance(reason, str) and (len(reason) > 1000 or any(ord(c) < 32 or ord(c) == 127 for c in reason)):
        raise OpsreadyError("data_loss_reason: give one line of at most 1000 characters (it is recorded), got %d "
                            "characters%s" % (len(reason), " with a control character" if any(
                                ord(c) < 32 or ord(c) == 127 for c in reason) else ""))
    if reason is not None and not params.get("accept_data_loss"):
        raise OpsreadyError("data_loss_reason applies with accept_data_loss=true only")
    names = params.get("synchronous_standby_names")
    if names is not None and (not isinstance(names, str) or len(names) > 1000
                              or any(ord(c) < 32 or ord(c) == 127 for c in names)):
        raise OpsreadyError("synchronous_standby_names: give one line of at most 1000 characters, or an empty one "
                            "for none, got %r" % (names,))


def guard(state, min_lsn=None, max_lag_bytes=0, accept_data_loss=False):
    """Whether the standby in `state` (shape of _replication.read) may be promoted. Returns {promote, over_budget,
    loss_bytes, findings}: loss_bytes is what the primary is known to have written (min_lsn, its last known position)
    beyond what this standby received - lost on promotion; None when min_lsn is not given. A standby whose replay
    waits (received but not replayed) loses nothing: replay ends before the promotion; a paused replay is resumed."""
    if state["role"] != "standby":
        raise OpsreadyError("guard: the server is a %s, not a standby" % state["role"])
    findings = []
    positions = [lsn for lsn in (state["lsn"]["received"], state["lsn"]["replayed"]) if lsn is not None]
    received = max(positions, key=replication.lsn_bytes) if positions else "0/0"
    loss = None
    if min_lsn is not None:
        loss = max(0, replication.lsn_bytes(min_lsn) - replication.lsn_bytes(received))
        if loss > max_lag_bytes:
            findings.append("the standby received WAL up to %s, %d bytes short of %s, which the primary is known to "
                            "have written (budget max_lag_bytes=%d): promoting it loses them"
                            % (received, loss, min_lsn, max_lag_bytes))
    over = bool(findings)
    return {"promote": not over or bool(accept_data_loss), "over_budget": over, "loss_bytes": loss,
            "findings": findings}


def _wait(check, timeout, what, sleep=time.sleep, clock=time.monotonic):
    deadline = clock() + timeout
    while True:
        value = check()
        if value:
            return value
        if clock() >= deadline:
            raise OpsreadyError("%s within %s s" % (what, timeout))
        sleep(0.05)


def promote(conn, params, check_mode, clock=time.monotonic, sleep=time.sleep):
    """Guard, wait for replay, promote, wait until writable. conn: a psycopg2 connection to the standby (autocommit).
    Returns the module's result; raises OpsreadyError with what was done so far."""
    started = clock()
    before = replication.read(conn)
    result = {"changed": False, "before": before, "after": before, "guard": None, "timings": {},
              "lsn_at_promotion": None, "accepted_data_loss": None, "replay_resumed": False, "promote_asked": False,
              "synchronous_standby_names": None}
    if before["role"] == "primary":
        result["msg"] = "already primary (%s): nothing to do" % replication.summary(before)
        return result
    with conn.cursor() as cur:
        cur.execute(PRIVILEGES)
        may_promote, may_resume = cur.fetchone()
    if not may_promote or (before["replay_paused"] and not may_resume):
        raise OpsreadyError("refusing to promote: %s may not call %s (a superuser may, or a role granted EXECUTE on "
                            "it). Nothing was changed." % (params["login_user"], "pg_promote" if not may_promote
                                                           else "pg_wal_replay_resume (the standby's replay is paused)"),
                            **result)
    if params.get("synchronous_standby_names") is not None:
        with conn.cursor() as cur:
            cur.execute(SET_PRIVILEGE if before["server_version_num"] >= 150000 else SUPERUSER)
            if not cur.fetchone()[0]:
                raise OpsreadyError("refusing to promote: %s may not ALTER SYSTEM SET synchronous_standby_names (a "
                                    "superuser may, or a role granted ALTER SYSTEM on it). Nothing was changed."
                                    % params["login_user"], **result)
    decision = guard(before, params.get("min_lsn"), params["max_lag_bytes"], params.get("accept_data_loss"))
    result["guard"] = decision
    if not decision["promote"]:
        raise OpsreadyError("refusing to promote: %s. Nothing was changed. To promote anyway, give accept_data_loss: "
                            "true and data_loss_reason (recorded)." % "; ".join(decision["findings"]), **result)
    if decision["over_budget"]:
        result["accepted_data_loss"] = {"reason": params["data_loss_reason"], "findings": decision["findings"],
                                        "loss_bytes": decision["loss_bytes"]}
    if check_mode:
        result.update(changed=True, msg="would promote the standby (%s)%s" % (
            replication.summary(before), ", accepting: " + "; ".join(decision["findings"]) if decision["over_budget"]
            else ""))
        return result

    try:
        return _promote(conn, params, result, decision, started, clock, sleep)
    except OpsreadyError:
        raise
    except Exception as e:   # the database failed or went away mid-way: say whether the promotion was asked for
        raise OpsreadyError("%s%s: %s" % (
            "the promotion was asked for and may have happened: read the server's state (pg_replication_info) before "
            "anything else" if result["promote_asked"] else "nothing was promoted",
            " (its paused replay was resumed)" if result["replay_resumed"] else "", one_line(e)), **result)


def _synchronous(cur, params, result, sleep, clock):
    """The new primary's synchronous_standby_names, before its first write: the standbys it had named as a standby
    (a file every member shares) are not there yet, and its commits would wait for them."""
    names = params["synchronous_standby_names"]

    def current():
        cur.execute("SELECT current_setting('synchronous_standby_names')")
        return cur.fetchone()[0]
    cur.execute("SELECT setting, coalesce(sourcefile, '') FROM pg_settings WHERE name = 'synchronous_standby_names'")
    was, source = cur.fetchone()
    result["synchronous_standby_names"] = {"before": was, "after": names}
    if was == names:
        return
    if source.endswith("postgresql.auto.conf") and was.strip():
        result.setdefault("warnings", []).append(
            "synchronous_standby_names %r was set by ALTER SYSTEM and is replaced by %r; a rejoin brings back the "
            "configuration files' value, not this one: keep it in a configuration file" % (was, names))
    cur.execute("ALTER SYSTEM SET synchronous_standby_names = %s", (names,))
    cur.execute("SELECT pg_reload_conf()")
    try:   # this session reads the file again between two statements, once the reload reaches it
        _wait(lambda: current() == names, params["promote_timeout"], "synchronous_standby_names did not become %r"
              % names, sleep, clock)
    except OpsreadyError as e:
        raise OpsreadyError("promoted, but %s: its commits may wait for a standby (ALTER SYSTEM was done; SELECT "
                            "pg_reload_conf() again)" % e, **result)


def _promote(conn, params, result, decision, started, clock, sleep):
    def step(name, started_at):
        result["timings"][name] = round(clock() - started_at, 3)

    with conn.cursor() as cur:
        t = clock()
        if result["before"]["replay_paused"]:
            cur.execute("SELECT pg_wal_replay_resume()")
            result.update(changed=True, replay_resumed=True)

        def replayed():
            cur.execute("SELECT pg_last_wal_replay_lsn() >= coalesce(pg_last_wal_receive_lsn(), '0/0'::pg_lsn), "
                        "pg_last_wal_replay_lsn()::text")
            done, lsn = cur.fetchone()
            return lsn if done else None
        try:
            _wait(replayed, params["replay_timeout"], "replay did not reach what the standby received", sleep, clock)
        except OpsreadyError as e:
            raise OpsreadyError("%s; nothing was promoted%s" % (
                e, " (its paused replay was resumed)" if result["replay_resumed"] else ""), **result)
        step("wait_replay", t)
        t = clock()
        result.update(changed=True, promote_asked=True)   # from here on it may have happened
        cur.execute("SELECT pg_promote(true, %s)", (int(math.ceil(params["promote_timeout"])),))
        if not cur.fetchone()[0]:
            raise OpsreadyError("pg_promote did not finish within %s s: the server may still become a primary; read "
                                "its state before anything else" % params["promote_timeout"], **result)
        step("promote", t)
        if params.get("synchronous_standby_names") is not None:
            t = clock()
            _synchronous(cur, params, result, sleep, clock)
            step("synchronous", t)
        t = clock()

        def writable():
            try:
                cur.execute("SELECT txid_current()")   # assigns a transaction id: refused while in recovery
                return True
            except Exception as e:   # still in recovery: try again; anything else (a lost session) says itself
                if getattr(e, "pgcode", None) in NOT_YET_WRITABLE:
                    return False
                raise
        try:
            _wait(writable, params["promote_timeout"], "the promoted server did not take writes", sleep, clock)
        except OpsreadyError as e:
            raise OpsreadyError(str(e), **result)
        step("writable", t)
        cur.execute("SELECT pg_last_wal_replay_lsn()::text")   # where recovery ended: the new timeline's start
        result["lsn_at_promotion"] = cur.fetchone()[0]
    result["after"] = replication.read(conn)
    result["timings"]["total"] = round(clock() - started, 3)
    result["msg"] = "promoted at %s: %s (%.3f s)%s" % (
        result["lsn_at_promotion"], replication.summary(result["after"]), result["timings"]["total"],
        "; accepted: " + "; ".join(decision["findings"]) if decision["over_budget"] else "")
    waits = waiting(result["after"])
    if waits:
        result.setdefault("warnings", []).append(waits)
    return result


def waiting(state):
    """Why a primary's commits wait (its synchronous_standby_names set, no synchronous standby streaming), or None.
    The write that proves a promotion (a transaction id, no WAL of its own) does not wait: a client's INSERT does."""
    names = (state.get("synchronous_standby_names") or "").strip()
    if state["role"] != "primary" or not names or any(
            s.get("sync_state") in ("sync", "quorum") for s in state.get("standbys") or ()):
        return None
    return ("the new primary's synchronous_standby_names is %r and no synchronous standby streams from it: its "
            "clients' commits wait until one does (give synchronous_standby_names: '' to promote without it)" % names)
