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


MARK = "opsready.runbooks.db_swap - replaced by %s at "   # the comment a swap leaves on the database it replaced


def ident(name):
    """A database name as SQL, for the commands a message tells an operator to run."""
    return '"%s"' % name.replace('"', '""')


def plan(found, name, staged, keep_as):
    """What to do, from {datname: {allow, comment}} of the three databases: 'swap', 'done' (an earlier swap of this
    staged copy, recognised by the comment it left on keep_as), or an OpsreadyError saying why neither."""
    if name not in found:
        raise OpsreadyError("database %s does not exist: nothing to swap the restore in for" % name)
    if staged not in found:
        if keep_as in found and str(found[keep_as].get("comment") or "").startswith(MARK % staged):
            return "done"
        raise OpsreadyError("the staged database %s does not exist (stage the restore first)%s" % (
            staged, "; a database %s exists, but no swap of %s left it" % (keep_as, staged) if keep_as in found else ""))
    if keep_as in found:
        raise OpsreadyError("a database %s already exists: give keep_as a name that is free" % keep_as)
    return "swap"


def _lost(conn, error):
    """The session cannot be trusted any more: closed, or an error raised by the client (no SQLSTATE: the server
    stopped answering, the connection broke) rather than by the server (a lock timeout has one)."""
    import psycopg2

    return bool(conn.closed) or isinstance(error, psycopg2.InterfaceError) or getattr(error, "pgcode", None) is None


class Swap:
    """One swap, on autocommit psycopg2 connections from connect(). Records each statement it ran (`queries`).

    A session-level advisory lock keyed on the live database's name serialises swaps of it; a session lost mid-swap
    is replaced by a new one, which reads what really happened before anything else is done."""

    def __init__(self, connect, params, sleep=time.sleep, now=None):
        from psycopg2 import sql

        self.connect, self.params, self.sleep, self.sql = connect, params, sleep, sql
        self.now = now or (lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.queries, self.errors, self.warnings, self.terminated = [], [], [], 0
        self.conn, self.closed, self.swapped, self.attempt = None, False, False, 0
        self._session()

    def _session(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # a broken session: only its replacement matters
                pass
        self.conn = self.connect()
        import psycopg2

        # bookkeeping, like found(): not in the audit trail of what changed. Waits up to lock_timeout: a session
        # that replaces a lost one may find the lost one's backend still ending (and holding the lock) for a moment.
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(hashtext('opsready.runbooks.db_swap'), hashtext(%s))",
                            (self.params["name"],))
        except psycopg2.errors.LockNotAvailable:
            raise OpsreadyError("another swap of %s is running (it holds the advisory lock): let it end first" %
                                self.params["name"], **self.result(self.attempt))

    def close(self):
        if self.conn is not None:
            self.conn.close()

    def _run(self, statement, args=None):
        with self.conn.cursor() as cur:
            text = statement.as_string(self.conn) if hasattr(statement, "as_string") else statement
            self.queries.append(text if args is None else cur.mogrify(text, args).decode())
            cur.execute(text, args)
            return cur.fetchone() if cur.description else None

    def found(self):
        names = [self.params[key] for key in ("name", "staged", "keep_as")]
        with self.conn.cursor() as cur:
            cur.execute("SELECT datname, datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = ANY(%s)", (names,))
            return {row[0]: {"allow": row[1], "comment": row[2]} for row in cur.fetchall()}

    def prepared(self):
        """Prepared transactions on the live or the staged database: a rename waits for them, and no session can
        end them."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT gid, database FROM pg_prepared_xacts WHERE database = ANY(%s) ORDER BY gid",
                        ([self.params["name"], self.params["staged"]],))
            return cur.fetchall()

    def _allow(self, database, allow):
        self._run(self.sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS " + ("true" if allow else "false")).format(
            self.sql.Identifier(database)))

    def _terminate(self, database):
        row = self._run("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, %s)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (int(self.params["terminate_timeout"] * 1000), database))
        self.terminated += int(row[0])

    def once(self):
        """End the staged copy's sessions (it is not live), close the live database and end its sessions, then rename
        both in one transaction, leaving a comment on the replaced one. Raises psycopg2's error."""
        name, staged, keep_as = (self.params[key] for key in ("name", "staged", "keep_as"))
        self._terminate(staged)
        self._allow(name, False)
        self.closed = True
        self._terminate(name)
        self.conn.autocommit = False
        try:
            rename = self.sql.SQL("ALTER DATABASE {} RENAME TO {}")
            self._run(rename.format(self.sql.Identifier(name), self.sql.Identifier(keep_as)))
            self._run(self.sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                self.sql.Identifier(keep_as), self.sql.Literal(MARK % staged + self.now())))
            self._run(rename.format(self.sql.Identifier(staged), self.sql.Identifier(name)))
            self.conn.commit()
        except Exception as e:
            if not _lost(self.conn, e):   # a lost session is replaced as it is: no rollback to wait for
                self.conn.rollback()
                self.conn.autocommit = True
            raise
        self.conn.autocommit = True
        self.swapped = True

    def _after(self, allowed, staged_allowed):
        """After the swap: the replaced database and the new live one allow connections as the live one did."""
        import psycopg2

        name, keep_as = self.params["name"], self.params["keep_as"]
        todo = [(keep_as, allowed)] + ([(name, allowed)] if staged_allowed != allowed else [])
        for database, allow in todo:
            try:
                self._allow(database, allow)
            except psycopg2.Error as e:
                raise OpsreadyError(
                    "swapped %s in as %s, but setting ALLOW_CONNECTIONS %s on %s failed (%s): ALTER DATABASE %s WITH "
                    "ALLOW_CONNECTIONS %s" % (self.params["staged"], name, str(allow).lower(), database,
                                              " ".join(str(e).split()), ident(database), str(allow).lower()),
                    changed=True, **self.result(self.attempt))

    def run(self, allowed, staged_allowed=True):
        """Up to `attempts` tries. After a failed try the live database's ALLOW_CONNECTIONS is put back as it was
        (`allowed`), if this try had changed it; a lost session is replaced, and a swap it committed is recognised.
        Returns the attempts used; raises OpsreadyError saying what is left when every try failed."""
        import psycopg2

        name, staged, keep_as = (self.params[key] for key in ("name", "staged", "keep_as"))
        waiting = self.prepared()
        if waiting:
            raise OpsreadyError("prepared transactions are open on %s (%s): a rename waits for them and no session "
                                "ends them; COMMIT PREPARED or ROLLBACK PREPARED them first" % (
                                    ", ".join(sorted({db for gid, db in waiting})),
                                    ", ".join(gid for gid, db in waiting)), **self.result(0))
        for attempt in range(1, self.params["attempts"] + 1):
            self.closed, self.attempt = False, attempt
            try:
                self.once()
            except psycopg2.Error as e:
                self.errors.append(" ".join(str(e).split()))
                if _lost(self.conn, e):
                    try:
                        self._session()
                        state = self.found()
                    except psycopg2.Error as again:
                        raise OpsreadyError(
                            "the session was lost during the swap (%s) and a new one failed (%s): what happened is "
                            "not known; look at pg_database for %s, %s and %s (ALLOW_CONNECTIONS too)" % (
                                self.errors[-1], " ".join(str(again).split()), name, staged, keep_as),
                            **self.result(attempt))
                    if plan(state, name, staged, keep_as) == "done":
                        self.swapped = True
                        self.warnings.append("the session was lost as the swap committed (%s); a new session found "
                                             "it done" % self.errors[-1])
                        self._after(allowed, staged_allowed)
                        return attempt
                    self.closed = self.closed and state.get(name, {}).get("allow") != allowed
                if self.closed:
                    try:
                        self._allow(name, allowed)
                    except psycopg2.Error as put_back:
                        raise OpsreadyError(
                            "swap failed (%s), and putting back ALLOW_CONNECTIONS %s on %s failed too (%s): %s refuses "
                            "new connections until: ALTER DATABASE %s WITH ALLOW_CONNECTIONS %s" % (
                                self.errors[-1], str(allowed).lower(), name, " ".join(str(put_back).split()), name,
                                ident(name), str(allowed).lower()), **self.result(attempt))
                if attempt < self.params["attempts"]:
                    self.sleep(0.2)
                continue
            self._after(allowed, staged_allowed)
            return attempt
        raise OpsreadyError("swapping %s in as %s failed %d time(s), last: %s. %s is as it was, and so is %s" % (
            staged, name, self.params["attempts"], self.errors[-1], name, staged),
            **self.result(self.params["attempts"]))

    def result(self, attempts):
        return {"queries": list(self.queries), "errors": list(self.errors), "warnings": list(self.warnings),
                "attempts": attempts, "sessions_terminated": self.terminated}
