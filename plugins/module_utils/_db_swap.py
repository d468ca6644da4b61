# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Swap a staged database in under a live database's name, keeping the one it replaces under another name.

The two renames are one transaction: either both happen or neither. For the moment of the swap the live database
refuses new connections and its open sessions are ended (a database cannot be renamed while anyone is connected);
whatever happens, its ALLOW_CONNECTIONS setting is put back. Every statement runs under lock_timeout, so the swap
never queues behind (and so never holds up) another session for longer than that."""

from __future__ import annotations

import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

NAME_BYTES = 63   # PostgreSQL's NAMEDATALEN - 1
MAX_ATTEMPTS = 20


def validate(params):
    """Every option checked before the database is touched; one message listing every problem."""
    problems = []
    names = {}
    for key in ("name", "staged", "keep_as"):
        value = params.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append("%s is empty: give a database name" % key)
        elif not value.isprintable() or "\x00" in value:
            problems.append("%s=%r holds a control character: give a plain database name" % (key, value))
        elif len(value.encode("utf-8")) > NAME_BYTES:
            problems.append("%s=%r is %d bytes long: PostgreSQL names are at most %d" % (
                key, value, len(value.encode("utf-8")), NAME_BYTES))
        else:
            names[key] = value
    if len(set(names.values())) < len(names):
        problems.append("name, staged and keep_as must be three different databases, got %s" % ", ".join(
            "%s=%s" % item for item in sorted(names.items())))
    if params.get("login_db") in names.values():
        problems.append("login_db %s is one of the databases to rename: connect to another one (postgres)" %
                        params["login_db"])
    for key, high in (("lock_timeout", 60), ("terminate_timeout", 60)):
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
            problems.append("%s %s: seconds, more than 0 and at most %d" % (key, value, high))
    attempts = params.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        problems.append("attempts %s: from 1 to %d" % (attempts, MAX_ATTEMPTS))
    if problems:
        raise OpsreadyError("; ".join(problems))


def plan(found, name, staged, keep_as):
    """What to do, from {datname: allows connections} of the three databases: 'swap', 'done' (already swapped), or
    an OpsreadyError saying why neither."""
    if name not in found:
        raise OpsreadyError("database %s does not exist: nothing to swap the restore in for" % name)
    if staged not in found:
        if keep_as in found:
            return "done"
        raise OpsreadyError("the staged database %s does not exist (stage the restore first)" % staged)
    if keep_as in found:
        raise OpsreadyError("a database %s already exists: give keep_as a name that is free" % keep_as)
    return "swap"


class Swap:
    """One swap on an autocommit psycopg2 connection. Records each statement it ran (`queries`)."""

    def __init__(self, conn, params, sleep=time.sleep):
        from psycopg2 import sql

        self.conn, self.params, self.sleep, self.sql = conn, params, sleep, sql
        self.queries, self.errors, self.terminated = [], [], 0

    def _run(self, statement, args=None):
        with self.conn.cursor() as cur:
            text = statement.as_string(self.conn) if hasattr(statement, "as_string") else statement
            self.queries.append(text if args is None else cur.mogrify(text, args).decode())
            cur.execute(text, args)
            return cur.fetchone() if cur.description else None

    def found(self):
        names = [self.params[key] for key in ("name", "staged", "keep_as")]
        with self.conn.cursor() as cur:
            cur.execute("SELECT datname, datallowconn FROM pg_database WHERE datname = ANY(%s)", (names,))
            return dict(cur.fetchall())

    def _allow(self, database, allow):
        self._run(self.sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS " + ("true" if allow else "false")).format(
            self.sql.Identifier(database)))

    def once(self):
        """Close the live database, end its sessions, rename both in one transaction. Raises psycopg2's error."""
        name, staged, keep_as = (self.params[key] for key in ("name", "staged", "keep_as"))
        self._allow(name, False)
        row = self._run("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, %s)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (int(self.params["terminate_timeout"] * 1000), name))
        self.terminated += int(row[0])
        self.conn.autocommit = False
        try:
            rename = self.sql.SQL("ALTER DATABASE {} RENAME TO {}")
            self._run(rename.format(self.sql.Identifier(name), self.sql.Identifier(keep_as)))
            self._run(rename.format(self.sql.Identifier(staged), self.sql.Identifier(name)))
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise
        finally:
            self.conn.autocommit = True

    def run(self, allowed):
        """Up to `attempts` tries. After a failed try the live database's ALLOW_CONNECTIONS is put back as it was
        (`allowed`); after success the replaced database gets it. Returns the attempts used; raises OpsreadyError
        saying what is left when every try failed."""
        import psycopg2

        name, keep_as = self.params["name"], self.params["keep_as"]
        for attempt in range(1, self.params["attempts"] + 1):
            try:
                self.once()
            except psycopg2.Error as e:
                self.errors.append(" ".join(str(e).split()))
                try:
                    self._allow(name, allowed)
                except psycopg2.Error as put_back:
                    raise OpsreadyError(
                        "swap failed (%s), and putting back ALLOW_CONNECTIONS %s on %s failed too (%s): %s refuses "
                        "new connections until: ALTER DATABASE \"%s\" WITH ALLOW_CONNECTIONS %s" % (
                            self.errors[-1], str(allowed).lower(), name, " ".join(str(put_back).split()), name,
                            name, str(allowed).lower()), **self.result(attempt))
                if attempt < self.params["attempts"]:
                    self.sleep(0.2)
                continue
            try:
                self._allow(keep_as, allowed)
            except psycopg2.Error as e:
                raise OpsreadyError(
                    "swapped %s in as %s, but putting back ALLOW_CONNECTIONS %s on %s (the replaced database) failed "
                    "(%s): ALTER DATABASE \"%s\" WITH ALLOW_CONNECTIONS %s" % (
                        self.params["staged"], name, str(allowed).lower(), keep_as, " ".join(str(e).split()), keep_as,
                        str(allowed).lower()), **self.result(attempt))
            return attempt
        raise OpsreadyError("swapping %s in as %s failed %d time(s), last: %s. %s is as it was, and so is %s" % (
            self.params["staged"], name, self.params["attempts"], self.errors[-1], name, self.params["staged"]),
            **self.result(self.params["attempts"]))

    def result(self, attempts):
        return {"queries": list(self.queries), "errors": list(self.errors), "attempts": attempts,
                "sessions_terminated": self.terminated}
