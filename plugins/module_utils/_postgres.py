# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""PostgreSQL connection options shared by every module and check that talks to PostgreSQL, and the connect()."""

from __future__ import annotations

import contextlib
import ipaddress
import select
import threading
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

# libpq's target_session_attrs: which of several servers (login_host db1,db2) a connection keeps
SESSION_ATTRS = ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"]
_CALLBACK = threading.Lock()   # psycopg2's wait callback is process-wide: swapped under this lock


def connection_spec():
    """The connection options, as an argument_spec fragment (option names as in community.postgresql)."""
    return {
        "login_host": {"type": "str", "default": "localhost"},
        "login_port": {"type": "int", "default": 5432, "aliases": ["port"]},
        "login_user": {"type": "str", "default": "postgres"},
        "login_password": {"type": "str", "no_log": True},
        "login_db": {"type": "str", "default": "postgres"},
        "ssl_mode": {"type": "str", "default": "prefer",
                     "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
        "ca_cert": {"type": "path"},
        "target_session_attrs": {"type": "str", "default": "any", "choices": SESSION_ATTRS},
    }


def servers(params):
    """[(host, port)] that login_host names: one server, or the cluster's members separated by commas (libpq tries
    them in order and keeps the first with target_session_attrs). Each is a name, an address, [an IPv6 address] or a
    socket directory, with :port or else login_port."""
    default = port(params)
    if not 0 < default < 65536:
        raise OpsreadyError("login_port must be from 1 to 65535, got %s" % default)
    found = []
    for item in str(params["login_host"]).split(","):
        item = item.strip()
        host, number = item, None
        if item.startswith("["):
            host, dummy, rest = item[1:].partition("]")
            if not dummy or (rest and not rest.startswith(":")):
                raise OpsreadyError("login_host %r: write an IPv6 address as [address] or [address]:port" % item)
            number = rest[1:] if rest else None
        elif not item.startswith("/") and item.count(":") == 1:
            host, dummy, number = item.partition(":")
        elif not item.startswith("/") and ":" in item and not _ipv6(item):
            raise OpsreadyError("login_host %r: %s is neither host:port nor an IPv6 address ([address]:port)"
                                % (params["login_host"], item))
        if not host or any(c.isspace() or ord(c) < 32 for c in host):
            raise OpsreadyError("login_host %r: each server is a name, an address or a socket directory, "
                                "separated by commas (db1,db2)" % params["login_host"])
        if number is not None and not (number.isascii() and number.isdigit() and 0 < int(number) < 65536):
            raise OpsreadyError("login_host %r: the port of %s must be from 1 to 65535" % (params["login_host"], host))
        found.append((host, int(number) if number is not None else default))
    return found


def _ipv6(text):
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
        return True
    except ValueError:
        return False


def answered(conn, params):
    """The server behind conn as login_host names it: its host, with its port when not login_port's."""
    host, number = conn.info.host, int(conn.info.port)
    if number == port(params):
        return host
    return "[%s]:%d" % (host, number) if ":" in host else "%s:%d" % (host, number)


def port(params):
    """The server's port: login_port, or port (its alias, and the key older callers pass)."""
    for key in ("login_port", "port"):
        if params.get(key) is not None:
            return params[key]
    return 5432


def connect(params, connect_timeout=10, statement_timeout=None, autocommit=True, lock_timeout=None, synchronous=False):
    """A psycopg2 connection from connection_spec() parameters. Timeouts in seconds; no statement timeout unless
    given (migrations may take long, health checks must not); lock_timeout bounds every wait for a lock (and so how
    long this session's queued lock request holds up the application's queries behind it)."""
    try:
        import psycopg2
    except ImportError:
        raise OpsreadyError("the Python package psycopg2 is required on the host running this task "
                            "(Debian: python3-psycopg2, PyPI: psycopg2-binary)")
    members = servers(params)
    kwargs = {
        "host": ",".join(host for host, dummy in members), "port": ",".join(str(p) for dummy, p in members),
        "user": params["login_user"], "dbname": params["login_db"], "sslmode": params["ssl_mode"],
        # libpq waits this long for each server it tries: the members share the time given (libpq's least is 2 s)
        "connect_timeout": max(1, int(connect_timeout // len(members))),
        "application_name": "opsready.runbooks",
    }
    if params.get("target_session_attrs", "any") != "any":
        kwargs["target_session_attrs"] = params["target_session_attrs"]
    options = []
    if statement_timeout:
        options.append("-c statement_timeout=%d" % max(1000, int(statement_timeout * 1000)))
    if lock_timeout:
        options.append("-c lock_timeout=%d" % max(1, int(round(lock_timeout * 1000))))
    if options:
        kwargs["options"] = " ".join(options)
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    # synchronous: libpq's own connect bounds it by connect_timeout, even inside answers_within() (whose callback
    # would make it asynchronous, bounded by the callback's longer wait instead)
    conn = psycopg2.connect(**kwargs) if len(members) == 1 and not synchronous else _connect_synchronously(psycopg2, kwargs)
    conn.autocommit = autocommit
    return conn


def _connect_synchronously(psycopg2, kwargs):
    """answers_within()'s wait callback connects asynchronously, where libpq keeps no connect_timeout: a member that
    never answers would hold the connection until the callback gives up, the next never tried. libpq's own connect
    bounds each member's attempt (from its start, however slowly a server answers)."""
    from psycopg2 import extensions
    with _CALLBACK:
        callback = extensions.get_wait_callback()
        extensions.set_wait_callback(None)
        try:
            return psycopg2.connect(**kwargs)
        finally:
            extensions.set_wait_callback(callback)


@contextlib.contextmanager
def answers_within(seconds):
    """While inside, psycopg2 waits at most `seconds` for each answer it awaits from the server. statement_timeout
    runs in the server: it cannot end a wait for a server that stopped answering with the TCP session still up (a
    hung disk, a stuck proxy), and a runbook would wait there forever, its evidence never written. psycopg2's wait
    callback is process-wide: the previous one is put back on the way out."""
    from psycopg2 import OperationalError, extensions

    def wait(conn):
        deadline = time.monotonic() + seconds
        while True:
            state = conn.poll()
            if state == extensions.POLL_OK:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationalError("the database did not answer within %g s" % seconds)
            fd = [conn.fileno()]
            select.select(fd if state == extensions.POLL_READ else [], fd if state == extensions.POLL_WRITE else [],
                          [], left)

    with _CALLBACK:
        previous = extensions.get_wait_callback()
        extensions.set_wait_callback(wait)
    try:
        yield
    finally:
        with _CALLBACK:
            extensions.set_wait_callback(previous)


BLOCKERS = """SELECT pid, application_name, usename, state, to_char(state_change, 'YYYY-MM-DD HH24:MI:SS TZ'),
  to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), to_char(query_start, 'YYYY-MM-DD HH24:MI:SS TZ'), left(query, 200)
FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(%s)) ORDER BY pid"""
BLOCKER_KEYS = ("pid", "application_name", "usename", "state", "state_change", "xact_start", "query_start", "query")


def blockers(conn, pid):
    """The sessions that block backend `pid` now, from pg_stat_activity (the query cut at 200 characters)."""
    with conn.cursor() as cur:
        cur.execute(BLOCKERS, (pid,))
        return [dict(zip(BLOCKER_KEYS, row)) for row in cur.fetchall()]


class BlockerWatch:
    """While a migration runs on `conn`, a second session looks every `interval` seconds at who blocks it, so that
    when a lock wait ends in lock_timeout the blocking sessions can be named (by then they block nobody). seen()
    returns the last sessions seen blocking it."""

    def __init__(self, params, conn, interval=0.2):
        self.params, self.pid, self.interval = params, conn.get_backend_pid(), interval
        self.last, self.conn, self.thread = [], None, None

    def __enter__(self):
        import threading

        try:
            self.conn = connect(self.params, connect_timeout=5, statement_timeout=5)
        except Exception:  # naming blockers is a help, not a condition: the migration runs without it
            return self
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop.wait(self.interval):
            try:
                found = blockers(self.conn, self.pid)
            except Exception:
                return
            if found:
                self.last = found

    def seen(self):
        return list(self.last)

    def __exit__(self, *exc):
        if self.thread:
            self.stop.set()
            self.thread.join(10)
        if self.conn:
            self.conn.close()
        return False
