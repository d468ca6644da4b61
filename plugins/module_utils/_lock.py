# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""One lock per platform for the runbooks that change it, kept as a row in the platform's own database.

Why a row and not pg_advisory_lock: an advisory lock lives as long as one session, and a runbook's run spans many
tasks, connections and hosts. A row outlives them, carries its owner, runbook, reason and age for the next run to
read, and expires (a lease) when the run that took it died without releasing it."""

from __future__ import annotations

import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,63}\Z")  # \Z: '$' lets a trailing newline through ('platform\n')
TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
COLUMNS = ("name", "owner", "runbook", "reason", "acquired_at", "expires_at", "age_s", "expires_in_s")
MAX_TTL = 7 * 24 * 3600


def validate(params):
    """Every option checked before the database is touched; one message listing every problem."""
    problems = []
    if not NAME.match(params["name"] or ""):
        problems.append("name %r: use 1-63 letters, digits, '_', '.', ':' or '-'" % params["name"])
    if not TABLE.match(params["table"] or ""):
        problems.append("table %r: use a lower-case SQL identifier (letters, digits, '_'; up to 63)" % params["table"])
    owner = params.get("owner") or ""
    if not owner.strip() or len(owner) > 200 or not owner.isprintable():
        problems.append("owner must be 1-200 printable characters (the run's identity), got %r" % owner)
    if isinstance(params["ttl"], bool) or not 0 < params["ttl"] <= MAX_TTL:  # ansible's int lets `ttl: yes` in
        problems.append("ttl %s: seconds, more than 0 and at most %d (7 days)" % (params["ttl"], MAX_TTL))
    if not 0 < params["lock_timeout"] <= 60:
        problems.append("lock_timeout %s: seconds, more than 0 and at most 60" % params["lock_timeout"])
    if params.get("force") and params["state"] != "absent":
        problems.append("force applies to state=absent only (breaking another run's lock)")
    if params.get("force") and not (params.get("reason") or "").strip():
        problems.append("force needs a reason: breaking another run's lock is recorded with it")
    if problems:
        raise OpsreadyError("; ".join(problems))


def describe(row):
    if row is None:
        return "free"
    return "held by %s (%s%s) for %d s, lease ends in %d s" % (
        row["owner"], row["runbook"] or "a runbook", ": " + row["reason"] if row["reason"] else "",
        row["age_s"], row["expires_in_s"])


def decide(row, params):
    """What to do with the lock as it is (row: the lock row or None). Returns (action, message); raises when
    another live run holds it."""
    mine = row is not None and row["owner"] == params["owner"]
    # expires_in_s is floored: 0 while part of a second is left (the lease runs), negative once it ended
    expired = row is not None and row["expires_in_s"] < 0
    if params["state"] == "present":
        if row is None:
            return "insert", "lock %s taken" % params["name"]
        if mine:
            return "renew", "lock %s already held by this run; lease renewed" % params["name"]
        if expired:
            return "take_over", ("lock %s taken over from a run whose lease had ended (%s)"
                                 % (params["name"], describe(row)))
        raise OpsreadyError(
            "another runbook is changing this platform: the lock %s is %s. Wait for that run to end; if it died, "
            "its lease ends by itself, or release it with state=absent force=true and a reason" % (
                params["name"], describe(row)), before=row, after=row)
    if row is None:
        return "none", "lock %s is not held" % params["name"]
    if mine:
        return "delete", "lock %s released" % params["name"]
    if params.get("force"):
        return "delete", "lock %s broken (%s), reason: %s" % (params["name"], describe(row), params["reason"])
    return "none", "lock %s is %s, not this run's: left alone" % (params["name"], describe(row))


def _read(cursor, table, name, for_update):
    cursor.execute(
        "SELECT name, owner, runbook, reason, to_char(acquired_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "extract(epoch FROM now() - acquired_at)::int, floor(extract(epoch FROM expires_at - now()))::int "
        "FROM %s WHERE name = %%s%s" % (table, " FOR UPDATE" if for_update else ""), (name,))
    found = cursor.fetchone()
    return dict(zip(COLUMNS, found)) if found else None


def apply(conn, params, check_mode=False):
    """Take, renew, release or break the lock in one transaction; returns the module's result, with the server that
    answered (the cluster's primary: a standby is refused, the lock lives where it can be written)."""
    validate(params)
    table, queries = '"%s"' % params["table"], []  # quoted: a table named user or order is a name, not a keyword
    server = {"host": conn.info.host, "port": conn.info.port}
    cursor = conn.cursor()

    def execute(sql, args=()):
        queries.append(sql)
        cursor.execute(sql, args)

    # whatever default_transaction_isolation says: a run that waited its turn must see what the run before it wrote
    cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    # the first statement of the transaction is its isolation level; then, a standby is refused
    cursor.execute("SELECT pg_is_in_recovery()")
    if cursor.fetchone()[0]:
        raise OpsreadyError(
            "the database at %s:%s is a standby (read-only): the lock lives on the primary. Name the cluster's members "
            "in login_host (db1,db2) with target_session_attrs=primary and the primary is found, wherever it is"
            % (server["host"], server["port"]), server=server)
    # at least 1 ms: '0ms' would turn the timeout off (lock_timeout 0.0004 is more than 0)
    execute("SET LOCAL lock_timeout = '%dms'" % max(1, round(params["lock_timeout"] * 1000)))
    # Runs deciding at the same moment take turns (a row that does not exist yet cannot be locked FOR UPDATE);
    # held for this transaction only, and bounded by lock_timeout like every wait here.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                   ("opsready:%s:%s" % (params["table"], params["name"]),))
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    if not cursor.fetchone()[0]:
        if check_mode:
            row = None
        else:
            # first runs for different names take turns to create the table too: two CREATE TABLE IF NOT EXISTS at
            # once fail on pg_type's unique index
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("opsready:%s" % params["table"],))
            try:
                execute("CREATE TABLE IF NOT EXISTS %s (name text PRIMARY KEY, owner text NOT NULL, runbook text, "
                        "reason text, acquired_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)"
                        % table)
            except Exception as e:
                if getattr(e, "pgcode", None) != "42501":  # insufficient_privilege (PostgreSQL 15: schema public)
                    raise
                raise OpsreadyError(
                    "the lock table %s does not exist and %s may not create it (%s): have the statement in queries "
                    "run once by a role that may (the schema's owner) and GRANT SELECT, INSERT, UPDATE, DELETE ON %s "
                    "TO %s; or let it create it: GRANT CREATE ON SCHEMA <schema> TO %s" % (
                        params["table"], params["login_user"], e.diag.message_primary, params["table"],
                        params["login_user"], params["login_user"]), queries=queries)
            row = _read(cursor, table, params["name"], True)
    else:
        try:
            row = _read(cursor, table, params["name"], not check_mode)
        except Exception as e:
            if getattr(e, "pgcode", None) != "42703":  # undefined_column: a table (or sequence) made for other things
                raise
            raise OpsreadyError("the table %s is not a runbook_lock table (%s): choose another table (option table)"
                                % (params["table"], e.diag.message_primary), queries=queries)
    action, msg = decide(row, params)
    values = (params["owner"], params.get("runbook"), params.get("reason"), params["ttl"], params["name"])
    if not check_mode:
        if action == "insert":
            execute("INSERT INTO %s (owner, runbook, reason, expires_at, name) "
                    "VALUES (%%s, %%s, %%s, now() + %%s * interval '1 second', %%s)" % table, values)
        elif action == "take_over":
            execute("UPDATE %s SET owner = %%s, runbook = %%s, reason = %%s, acquired_at = now(), "
                    "expires_at = now() + %%s * interval '1 second' WHERE name = %%s" % table, values)
        elif action == "renew":
            execute("UPDATE %s SET expires_at = now() + %%s * interval '1 second' WHERE name = %%s" % table,
                    (params["ttl"], params["name"]))
        elif action == "delete":
            execute("DELETE FROM %s WHERE name = %%s" % table, (params["name"],))
    if check_mode:
        after = None if action == "delete" else row
        msg = "would do: " + msg if action != "none" else msg
    else:
        after = None if action == "delete" else _read(cursor, table, params["name"], False)
    return {"changed": action in ("insert", "take_over", "delete"), "msg": msg, "before": row, "after": after,
            "queries": queries, "server": server}
