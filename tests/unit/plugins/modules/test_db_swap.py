"""db_swap against a real PostgreSQL on loopback: both renames or neither, the open sessions ended, ALLOW_CONNECTIONS
put back, a lock held by another session bounded by lock_timeout and the live database left as it was, bad input
refused before anything is touched."""
import json
import time
import uuid

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.modules import db_swap


@pytest.fixture
def dbs(pg_server, pg_admin):
    """A live database and a staged copy, each with a row saying which it is; everything dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = {"name": "live_" + tag, "staged": "staged_" + tag, "keep_as": "kept_" + tag}
    admin = pg_admin()
    for role in ("name", "staged"):
        admin.cursor().execute("CREATE DATABASE %s" % names[role])
        conn = psycopg2.connect(pg_server["dsn"].replace("dbname=postgres", "dbname=" + names[role]))
        conn.autocommit = True
        conn.cursor().execute("CREATE TABLE which (what text); INSERT INTO which VALUES (%s)", (role,))
        conn.close()
    yield dict(names, admin=admin, pg=pg_server)
    for name in names.values():
        admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.cursor().execute("DROP DATABASE IF EXISTS %s" % name)
    admin.close()


@pytest.fixture
def run(run_main):
    """db_swap on the dbs fixture's databases, as connection options and extra arguments say."""
    def swap(dbs, check_mode=False, **extra):
        connection = {key: dbs["pg"][key] for key in ("login_host", "login_port", "login_user", "login_password", "login_db")}
        args = dict(connection, name=dbs["name"], staged=dbs["staged"], keep_as=dbs["keep_as"],
                    _ansible_check_mode=check_mode)
        return run_main(db_swap.main, dict(args, **extra))   # extra wins, a bad value included
    return swap


def databases(dbs):
    cur = dbs["admin"].cursor()
    cur.execute("SELECT datname, datallowconn FROM pg_database WHERE datname = ANY(%s) ORDER BY datname",
                ([dbs["name"], dbs["staged"], dbs["keep_as"]],))
    return dict(cur.fetchall())


def which(dbs, database):
    conn = psycopg2.connect(dbs["pg"]["dsn"].replace("dbname=postgres", "dbname=" + database))
    try:
        cur = conn.cursor()
        cur.execute("SELECT what FROM which")
        return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_staged_copy_takes_the_name_the_live_one_is_kept_and_its_sessions_are_ended(run, dbs):
    session = psycopg2.connect(dbs["pg"]["dsn"].replace("dbname=postgres", "dbname=" + dbs["name"]))
    rc, result = run(dbs, check_mode=True)
    assert rc == 0 and result["changed"] and result["msg"].startswith("would swap ") and result["queries"] == []
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True}

    rc, result = run(dbs)
    assert rc == 0 and result["changed"], result
    assert result["msg"] == "swapped %s in as %s; the replaced database is kept as %s" % (
        dbs["staged"], dbs["name"], dbs["keep_as"])
    assert databases(dbs) == {dbs["name"]: True, dbs["keep_as"]: True}   # both accept connections again
    assert which(dbs, dbs["name"]) == "staged" and which(dbs, dbs["keep_as"]) == "name"
    assert result["sessions_terminated"] == 1 and result["attempts"] == 1 and result["errors"] == []
    assert result["queries"][1] == 'ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS false' % dbs["name"]
    assert result["queries"][3] == 'ALTER DATABASE "%s" RENAME TO "%s"' % (dbs["name"], dbs["keep_as"])
    assert result["queries"][4].startswith("COMMENT ON DATABASE \"%s\" IS 'opsready.runbooks.db_swap - replaced by %s at "
                                           % (dbs["keep_as"], dbs["staged"]))
    assert result["queries"][5:] == ['ALTER DATABASE "%s" RENAME TO "%s"' % (dbs["staged"], dbs["name"]),
                                     'ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS true' % dbs["keep_as"]]
    with pytest.raises(psycopg2.Error):
        session.cursor().execute("SELECT 1")   # ended, not left connected to the database it was renamed away from

    rc, again = run(dbs)
    assert rc == 0 and not again["changed"] and "already swapped" in again["msg"] and again["queries"] == []


def test_a_lock_held_by_another_session_fails_the_swap_within_its_bounds_and_changes_nothing(run, dbs):
    """A second session holds the staged database's catalog row (an uncommitted ALTER DATABASE): every rename of it
    waits, lock_timeout ends each wait, the first rename is rolled back with it, and the live database accepts
    connections again."""
    holder = psycopg2.connect(dbs["pg"]["dsn"])
    try:
        holder.cursor().execute('ALTER DATABASE "%s" WITH CONNECTION LIMIT 7' % dbs["staged"])   # no commit
        started = time.monotonic()
        rc, result = run(dbs, lock_timeout=0.5, attempts=2)
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert rc == 1 and not result.get("changed")
    assert result["msg"].startswith("swapping %s in as %s failed 2 time(s), last: canceling statement due to lock "
                                    "timeout" % (dbs["staged"], dbs["name"])), result["msg"]
    assert "%s is as it was" % dbs["name"] in result["msg"]
    assert len(result["errors"]) == 2 and result["attempts"] == 2
    assert result["queries"][-1] == 'ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS true' % dbs["name"]
    assert took < 10, took   # two waits of 0.5 s, not an open-ended queue
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True}
    assert which(dbs, dbs["name"]) == "name" and which(dbs, dbs["staged"]) == "staged"


def test_a_live_database_that_refused_connections_before_is_left_refusing_them(run, dbs):
    """The new live database takes the old one's setting, whatever the staged copy had."""
    dbs["admin"].cursor().execute('ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS false' % dbs["name"])
    rc, result = run(dbs)
    assert rc == 0 and result["changed"]
    assert databases(dbs) == {dbs["name"]: False, dbs["keep_as"]: False}


def test_a_staged_copy_that_refuses_connections_becomes_a_live_database_that_accepts_them(run, dbs):
    dbs["admin"].cursor().execute('ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS false' % dbs["staged"])
    rc, result = run(dbs)
    assert rc == 0 and result["changed"]
    assert databases(dbs) == {dbs["name"]: True, dbs["keep_as"]: True}


@pytest.mark.parametrize("missing, message", [
    ("name", "database {name} does not exist: nothing to swap the restore in for"),
    ("staged", "the staged database {staged} does not exist (stage the restore first)"),
])
def test_a_missing_database_is_refused(run, dbs, missing, message):
    dbs["admin"].cursor().execute('DROP DATABASE "%s"' % dbs[missing])
    before = databases(dbs)
    rc, result = run(dbs)
    assert rc == 1 and result["msg"] == message.format(**dbs)
    assert databases(dbs) == before


def test_a_taken_keep_as_name_is_refused(run, dbs):
    dbs["admin"].cursor().execute('CREATE DATABASE "%s"' % dbs["keep_as"])
    rc, result = run(dbs)
    assert rc == 1 and result["msg"] == "a database %s already exists: give keep_as a name that is free" % dbs["keep_as"]
    assert which(dbs, dbs["name"]) == "name" and which(dbs, dbs["staged"]) == "staged"


@pytest.mark.parametrize("args, message", [
    ({"name": ""}, "name is empty: give a database name"),
    ({"staged": "  "}, "staged is empty: give a database name"),
    ({"keep_as": "kept\nDROP"}, "keep_as='kept\\nDROP' holds a control character"),
    ({"keep_as": "k" * 64}, "is 64 bytes long: PostgreSQL names are at most 63"),
    ({"keep_as": "é" * 32}, "is 64 bytes long: PostgreSQL names are at most 63"),
    ({"keep_as": "{staged}"}, "name, staged and keep_as must be three different databases"),
    ({"login_db": "{name}"}, "login_db {name} is one of the databases to rename: connect to another one (postgres)"),
    ({"lock_timeout": 0}, "lock_timeout 0.0: seconds, more than 0 and at most 60"),
    ({"lock_timeout": -1}, "lock_timeout -1.0: seconds, more than 0 and at most 60"),
    ({"lock_timeout": 61}, "lock_timeout 61.0: seconds, more than 0 and at most 60"),
    ({"terminate_timeout": 0}, "terminate_timeout 0.0: seconds, more than 0 and at most 60"),
    ({"attempts": 0}, "attempts 0: from 1 to 20"),
    ({"attempts": -3}, "attempts -3: from 1 to 20"),
    ({"attempts": 21}, "attempts 21: from 1 to 20"),
])
def test_bad_input_is_refused_before_anything_is_touched(run, dbs, args, message):
    args = {key: value.format(**dbs) if isinstance(value, str) else value for key, value in args.items()}
    before = databases(dbs)
    rc, result = run(dbs, **args)
    assert rc == 1 and message.format(**dbs) in result["msg"], result["msg"]
    assert databases(dbs) == before


def test_a_server_that_refuses_is_a_clear_failure(run, dbs):
    rc, result = run(dbs, login_port=1, lock_timeout=1)
    assert rc == 1 and result["msg"].startswith("swap of %s: " % dbs["name"]) and "refused" in result["msg"]
    assert "unit-test-secret" not in json.dumps(result)


def test_a_second_swap_of_the_same_database_is_refused_while_one_runs(run, dbs):
    holder = psycopg2.connect(dbs["pg"]["dsn"])   # what a running swap holds
    holder.autocommit = True
    try:
        holder.cursor().execute("SELECT pg_advisory_lock(hashtext('opsready.runbooks.db_swap'), hashtext(%s))",
                                (dbs["name"],))
        rc, result = run(dbs, lock_timeout=0.5)
    finally:
        holder.close()
    assert rc == 1 and result["msg"] == "another swap of %s is running (it holds the advisory lock): let it end first" % (
        dbs["name"])
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True}


def test_a_session_on_the_staged_copy_is_ended_instead_of_making_every_try_wait(run, dbs):
    session = psycopg2.connect(dbs["pg"]["dsn"].replace("dbname=postgres", "dbname=" + dbs["staged"]))
    started = time.monotonic()
    rc, result = run(dbs, lock_timeout=1, attempts=3)
    assert rc == 0 and result["attempts"] == 1 and result["sessions_terminated"] == 1, result
    assert time.monotonic() - started < 5   # PostgreSQL waits 5 s for other users of a database it renames
    session.close()


def test_a_lock_held_on_the_live_databases_row_is_retried_and_no_false_alarm_is_raised(run, dbs):
    holder = psycopg2.connect(dbs["pg"]["dsn"])
    try:
        holder.cursor().execute('ALTER DATABASE "%s" WITH CONNECTION LIMIT 7' % dbs["name"])   # no commit
        rc, result = run(dbs, lock_timeout=0.5, attempts=2)
    finally:
        holder.rollback()
        holder.close()
    assert rc == 1 and result["attempts"] == 2 and result["msg"].startswith("swapping %s in as %s failed 2 time(s)" % (
        dbs["staged"], dbs["name"])), result["msg"]
    assert "refuses new connections" not in result["msg"]   # the close itself never happened
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True}


def test_a_missing_staged_copy_is_not_taken_for_a_done_swap_because_keep_as_exists(run, dbs):
    dbs["admin"].cursor().execute('DROP DATABASE "%s"' % dbs["staged"])
    dbs["admin"].cursor().execute('CREATE DATABASE "%s"' % dbs["keep_as"])
    rc, result = run(dbs)
    assert rc == 1 and result["msg"] == ("the staged database %s does not exist (stage the restore first); a database %s "
                                         "exists, but no swap of %s left it" % (dbs["staged"], dbs["keep_as"], dbs["staged"]))


def test_prepared_transactions_on_the_live_database_are_refused_up_front(run, dbs, monkeypatch):
    """The fixture's server allows no prepared transactions (max_prepared_transactions=0): the module's own read of
    pg_prepared_xacts is given one, the way the server would list it."""
    from ansible_collections.opsready.runbooks.plugins.module_utils import _db_swap
    monkeypatch.setattr(_db_swap.Swap, "prepared", lambda self: [("pay-42", dbs["name"])])
    rc, result = run(dbs)
    assert rc == 1 and result["msg"].startswith("prepared transactions are open on %s (pay-42)" % dbs["name"])
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True} and result["queries"] == []


class FreezingProxy:
    """A TCP proxy to the server that stops passing the server's answers to the one connection that sent `trigger`
    (the answer to that statement is lost; the server did run it). Other connections pass."""

    def __init__(self, port, trigger):
        import socket
        import threading
        self.port, self.trigger, self.threading, self.socket = port, trigger, threading, socket
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listen_port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, dummy = self.listener.accept()
            except OSError:
                return
            server = self.socket.create_connection(("127.0.0.1", self.port))
            frozen = self.threading.Event()
            self.threading.Thread(target=self._pipe, args=(client, server, frozen, True), daemon=True).start()
            self.threading.Thread(target=self._pipe, args=(server, client, frozen, False), daemon=True).start()

    def _pipe(self, source, target, frozen, upstream):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not upstream and frozen.is_set():
                    continue
                if upstream and self.trigger in data:
                    frozen.set()   # before the statement leaves: its answer can never pass first
                target.sendall(data)
        except OSError:
            pass

    def close(self):
        self.listener.close()


def test_a_session_lost_as_the_swap_commits_is_replaced_and_the_swap_is_found_done(run, dbs):
    proxy = FreezingProxy(dbs["pg"]["login_port"], b"COMMIT")
    try:
        # lock_timeout also bounds the new session's wait for the lost one's backend to end and free the lock
        rc, result = run(dbs, login_port=proxy.listen_port, ssl_mode="disable", lock_timeout=2,
                         terminate_timeout=0.5)
    finally:
        proxy.close()
    assert rc == 0 and result["changed"] and result["attempts"] == 1, result
    assert "a new session found it done" in json.dumps(result["warnings"])   # shown as an Ansible warning
    assert databases(dbs) == {dbs["name"]: True, dbs["keep_as"]: True}   # the replaced one allows connections again
    assert which(dbs, dbs["name"]) == "staged" and which(dbs, dbs["keep_as"]) == "name"


def test_a_server_that_accepts_and_never_answers_is_a_bounded_failure(run, dbs):
    """A listener that takes the connection and says nothing (a hung server, a stuck proxy): the wait for each
    answer is bounded (lock_timeout + terminate_timeout + 15 s, here 16 s), nothing is claimed changed, the password
    is not said."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        started = time.monotonic()
        rc, result = run(dbs, login_port=listener.getsockname()[1], ssl_mode="disable", lock_timeout=0.5,
                         terminate_timeout=0.5)
        took = time.monotonic() - started
    finally:
        listener.close()
    assert rc == 1 and result["msg"].startswith("swap of %s: " % dbs["name"]) and not result.get("changed"), result
    assert took < 25, took
    assert "unit-test-secret" not in json.dumps(result)
    assert databases(dbs) == {dbs["name"]: True, dbs["staged"]: True}
