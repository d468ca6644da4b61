"""runbook_lock under attack (review): input the validation must refuse, races between runs, a hostile database
(hung, no privileges, other table, other isolation level), the lease clock, and the password kept out of output.
Each test is one attack; a real PostgreSQL on loopback (pg_server) plays the database."""
import concurrent.futures
import json
import select
import socket
import threading
import time

import psycopg2
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils import _lock, _postgres
from ansible_collections.opsready.runbooks.plugins.modules import runbook_lock

CONNECTION = ("login_host", "login_port", "login_user", "login_password", "login_db")


@pytest.fixture
def db(pg_server):
    """A fresh lock table name per test, a superuser connection to look at it, and roles to drop afterwards."""
    conn = psycopg2.connect(pg_server["dsn"])
    conn.autocommit = True
    table = "review_t%d" % (time.monotonic_ns() % 10**9)
    roles = []
    yield {"pg": pg_server, "conn": conn, "table": table, "roles": roles}
    cursor = conn.cursor()
    cursor.execute("DROP TABLE IF EXISTS %s" % table)
    for role in roles:
        cursor.execute("DROP OWNED BY %s" % role)
        cursor.execute("DROP ROLE %s" % role)
    conn.close()


def run(capsys, db, check_mode=False, **extra):
    args = dict({key: db["pg"][key] for key in CONNECTION}, table=db["table"], _ansible_check_mode=check_mode)
    args.update(extra)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        runbook_lock.main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out


def rows(db, columns="name, owner, runbook"):
    cursor = db["conn"].cursor()
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (db["table"],))
    if not cursor.fetchone()[0]:
        return None
    cursor.execute("SELECT %s FROM %s ORDER BY name" % (columns, db["table"]))
    return cursor.fetchall()


def params(db, **extra):
    """The module's parameters as main() hands them to _lock (for runs in threads, where main() cannot go)."""
    values = dict({key: db["pg"][key] for key in CONNECTION}, ssl_mode="disable", ca_cert=None, name="platform",
                  table=db["table"], owner="run-a", runbook=None, reason=None, ttl=60, force=False,
                  lock_timeout=5, state="present")
    values.update(extra)
    return values


def apply(values, check_mode=False):
    """What main() does, without AnsibleModule: the result, or 'error: <message>'."""
    conn = None
    try:
        _lock.validate(values)
        conn = _postgres.connect(values, connect_timeout=10, statement_timeout=30, autocommit=False)
        result = _lock.apply(conn, values, check_mode)
        conn.commit()
        return result
    except Exception as e:
        return "error: %s" % " ".join(str(e).split())
    finally:
        if conn is not None:
            conn.close()


def role(db, name, password="role-secret", settings=()):
    """A login role without any privilege beyond PUBLIC's (in PostgreSQL 15: no CREATE on schema public)."""
    cursor = db["conn"].cursor()
    cursor.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % name, (password,))
    db["roles"].append(name)
    for setting in settings:
        cursor.execute("ALTER ROLE %s SET %s" % (name, setting))
    return {"login_user": name, "login_password": password}


# --- input the validation must refuse (before the database is touched) ---------------------------------------------

@pytest.mark.parametrize("args, message", [
    # '$' matches before a trailing newline: 'platform\n' (a YAML block scalar) is another lock than 'platform'
    ({"name": "platform\n"}, "name 'platform\\n'"),
    ({"table": "locks\n"}, "table 'locks\\n'"),
    # "printable": DEL, C1 controls, bidi overrides and line separators are not (they can forge the refusal's text)
    ({"owner": "run-a\x7f"}, "owner must be"),
    ({"owner": "run-a\x85"}, "owner must be"),
    ({"owner": "\u202erun-a"}, "owner must be"),
    ({"owner": "run\u2028a"}, "owner must be"),
    ({"ttl": 1.5}, "ttl"),
    ({"ttl": 10**30}, "ttl 1000"),
    ({"lock_timeout": "nan"}, "lock_timeout nan"),
    ({"lock_timeout": "inf"}, "lock_timeout inf"),
], ids=repr)
def test_bad_input_is_refused_before_the_database_is_touched(capsys, db, args, message):
    rc, result, dummy = run(capsys, db, **dict({"owner": "run-a"}, **args))
    assert rc == 1 and message in result["msg"], result["msg"]
    assert rows(db) is None


def test_ttl_true_is_refused_before_the_database_is_touched(capsys, db):
    # ansible's int check lets a bool through (bool is an int): `ttl: yes` in a playbook
    rc, result, dummy = run(capsys, db, owner="run-a", ttl=True)
    assert rc == 1 and "ttl True: seconds" in result["msg"], result["msg"]
    assert rows(db) is None


def test_a_tiny_lock_timeout_does_not_turn_the_timeout_off(capsys, db):
    # lock_timeout 0.0004 passes validation (more than 0); '0ms' would mean: wait forever
    run(capsys, db, owner="run-a", state="absent")  # the table exists
    blocker = psycopg2.connect(db["pg"]["dsn"])
    try:
        blocker.cursor().execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % db["table"])
        start = time.monotonic()
        rc, result, dummy = run(capsys, db, owner="run-b", lock_timeout=0.0004)
        took = time.monotonic() - start
    finally:
        blocker.rollback()
        blocker.close()
    assert rc == 1 and "lock timeout" in result["msg"], result["msg"]
    assert took < 5


@pytest.mark.parametrize("text", [
    "x'); DROP TABLE pg_class; --", "Robert'); DELETE FROM opsready_runbook_lock; --", 'a "quoted" owner',
    "%s %(owner)s %%", "\\x00\\'", "Grüße, 運用チーム 🚒", "$$ ; $tag$ ;", "x" * 200,
])
def test_sql_ish_and_unicode_text_is_stored_as_given(capsys, db, text):
    rc, taken, dummy = run(capsys, db, owner=text, runbook=text, reason=text)
    assert rc == 0 and taken["after"]["owner"] == text and taken["after"]["reason"] == text
    assert rows(db, "owner, runbook, reason") == [(text, text, text)]
    rc, refused, dummy = run(capsys, db, owner="run-b")
    assert rc == 1 and ("held by %s" % text) in refused["msg"]
    rc, released, dummy = run(capsys, db, owner=text, state="absent")
    assert rc == 0 and released["changed"] and rows(db) == []


def test_a_nul_in_the_reason_fails_clearly_and_leaves_nothing(capsys, db):
    rc, result, dummy = run(capsys, db, owner="run-a", reason="INC-1\x00")
    assert rc == 1 and "NUL" in result["msg"]
    assert rows(db) is None  # the table made in that transaction was rolled back with it


def test_a_one_megabyte_reason_is_taken(capsys, db):
    rc, taken, dummy = run(capsys, db, owner="run-a", reason="r" * 2**20)
    assert rc == 0 and taken["changed"] and len(taken["after"]["reason"]) == 2**20


@pytest.mark.parametrize("table", ["user", "order", "table", "select", "check"])
def test_a_table_named_like_a_keyword_works(capsys, db, table):
    db = dict(db, table=table)
    try:
        rc, result, dummy = run(capsys, db, owner="run-a")
        assert rc == 0 and result["changed"], result["msg"]
        rc, result, dummy = run(capsys, db, owner="run-b")
        assert rc == 1 and "held by run-a" in result["msg"], result["msg"]
        assert run(capsys, db, owner="run-a", state="absent")[1]["changed"]
    finally:
        db["conn"].cursor().execute('DROP TABLE IF EXISTS "%s"' % table)


# --- check mode and force -------------------------------------------------------------------------------------------

def test_check_mode_take_over_and_break_change_nothing(capsys, db):
    run(capsys, db, owner="run-a", runbook="rollback")
    db["conn"].cursor().execute("UPDATE %s SET expires_at = now() - interval '5 seconds'" % db["table"])
    before = rows(db, "owner, acquired_at, expires_at")
    rc, planned, dummy = run(capsys, db, check_mode=True, owner="run-b")
    assert rc == 0 and planned["changed"] and planned["msg"].startswith("would do: lock platform taken over")
    rc, planned, dummy = run(capsys, db, check_mode=True, owner="run-c", state="absent", force=True, reason="dead")
    assert rc == 0 and planned["changed"] and planned["msg"].startswith("would do: lock platform broken")
    assert planned["after"] is None and rows(db, "owner, acquired_at, expires_at") == before


def test_force_on_a_free_lock_and_on_ones_own_lock(capsys, db):
    rc, result, dummy = run(capsys, db, owner="run-a", state="absent", force=True, reason="cleanup")
    assert rc == 0 and not result["changed"]
    run(capsys, db, owner="run-a")
    rc, result, dummy = run(capsys, db, owner="run-a", state="absent", force=True, reason="cleanup")
    assert rc == 0 and result["changed"] and rows(db) == []


def test_a_run_whose_lease_was_taken_over_cannot_release_the_new_holder(capsys, db):
    run(capsys, db, owner="run-a")
    db["conn"].cursor().execute("UPDATE %s SET expires_at = now() - interval '1 second'" % db["table"])
    assert run(capsys, db, owner="run-b")[0] == 0
    rc, result, dummy = run(capsys, db, owner="run-a", state="absent")
    assert rc == 0 and not result["changed"] and rows(db) == [("platform", "run-b", None)]
    rc, result, dummy = run(capsys, db, owner="run-a")  # and cannot take it back while run-b's lease runs
    assert rc == 1 and "held by run-b" in result["msg"]


# --- races ----------------------------------------------------------------------------------------------------------

def test_sixteen_first_ever_runs_at_once_one_wins(db):
    start = threading.Barrier(16)

    def take(owner):
        start.wait()
        return apply(params(db, owner=owner))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(take, ["run-%02d" % i for i in range(16)]))
    winners = [o for o in outcomes if isinstance(o, dict)]
    assert len(winners) == 1, outcomes
    owner = winners[0]["after"]["owner"]
    assert all(o.startswith("error: another runbook") and "held by %s " % owner in o for o in outcomes
               if not isinstance(o, dict)), outcomes
    assert rows(db) == [("platform", owner, None)]


def test_first_ever_runs_for_two_platforms_both_create_the_table(db):
    # run A (lock 'shop') has created the table and not committed yet; run B (lock 'blog', another advisory key)
    # finds no table and creates it too: CREATE TABLE IF NOT EXISTS then fails on pg_type's unique index
    first = _postgres.connect(params(db), autocommit=False)
    try:
        assert isinstance(_lock.apply(first, params(db, name="shop", owner="run-a")), dict)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            second = pool.submit(apply, params(db, name="blog", owner="run-b"))
            time.sleep(0.5)
            first.commit()
            outcome = second.result(timeout=30)
    finally:
        first.close()
    assert isinstance(outcome, dict) and outcome["changed"], outcome
    assert rows(db) == [("blog", "run-b", None), ("shop", "run-a", None)]


def test_many_platforms_first_ever_at_once(db):
    start = threading.Barrier(12)

    def take(name):
        start.wait()
        return apply(params(db, name=name, owner="run-" + name))

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(take, ["p%02d" % i for i in range(12)]))
    assert all(isinstance(o, dict) and o["changed"] for o in outcomes), [o for o in outcomes if isinstance(o, str)]
    assert len(rows(db)) == 12


def test_release_take_over_and_acquire_at_once_leave_one_holder(db):
    assert isinstance(apply(params(db, owner="setup", state="absent")), dict)
    for round_ in range(5):
        cursor = db["conn"].cursor()
        cursor.execute("DELETE FROM %s" % db["table"])
        cursor.execute("INSERT INTO %s (name, owner, expires_at) VALUES ('platform', 'dead', now() - "
                       "interval '1 second')" % db["table"])
        calls = [params(db, owner="dead", state="absent")] + [params(db, owner="run-%d" % i) for i in range(6)] + [
            params(db, owner="breaker", state="absent", force=True, reason="stuck")]
        start = threading.Barrier(len(calls))

        def call(values):
            start.wait()
            return values["owner"], values["state"], apply(values)

        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            outcomes = list(pool.map(call, calls))
        held = [owner for owner, in rows(db, "owner")]
        takers = [owner for owner, state, o in outcomes if state == "present" and isinstance(o, dict)]
        errors = [o for owner, state, o in outcomes if isinstance(o, str) and "another runbook" not in o]
        assert not errors, errors
        broken = outcomes[-1][2]["before"] if outcomes[-1][2]["changed"] else None
        if broken and broken["owner"] in takers:  # force broke a taker's lock; one more run may take it after
            others = [owner for owner in takers if owner != broken["owner"]]
            assert len(others) <= 1 and held == others, (round_, outcomes, held)
        else:  # the breaker came first (or found it free): one taker, and it holds the lock
            assert len(takers) == 1 and held == takers, (round_, outcomes, held)


def test_waiting_behind_a_run_that_holds_the_advisory_lock_is_bounded(capsys, db):
    run(capsys, db, owner="run-a", state="absent")  # the table exists
    holder = psycopg2.connect(db["pg"]["dsn"])
    try:
        holder.cursor().execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                ("opsready:%s:platform" % db["table"],))
        start = time.monotonic()
        rc, result, dummy = run(capsys, db, owner="run-b", lock_timeout=0.5)
        took = time.monotonic() - start
    finally:
        holder.rollback()
        holder.close()
    assert rc == 1 and "lock timeout" in result["msg"] and took < 5, (took, result["msg"])


def test_a_lock_timeout_over_thirty_seconds_is_not_cut_by_the_statement_timeout(capsys, db, monkeypatch):
    # statement_timeout (30 s) also ends a statement waiting for a lock: lock_timeout 31-60 (documented) is cut
    seen = {}

    def connect(params, **kwargs):
        seen.update(kwargs)
        return _postgres.connect(params, **kwargs)

    monkeypatch.setattr(runbook_lock, "connect", connect)
    assert run(capsys, db, owner="run-a", lock_timeout=45)[0] == 0
    assert seen["statement_timeout"] > 45, seen


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_a_database_defaulting_to_repeatable_read_still_refuses_by_name(db, isolation):
    # a role (or database) with default_transaction_isolation = 'repeatable read': the snapshot is taken before the
    # advisory lock is granted, so the run that waited does not see the row the first run inserted
    name = "review_" + isolation.replace(" ", "_")
    login = role(db, name, settings=("default_transaction_isolation = '%s'" % isolation,))
    db["conn"].cursor().execute("GRANT CREATE ON SCHEMA public TO %s" % name)
    assert isinstance(apply(params(db, owner="setup", state="absent", **login)), dict)
    first = _postgres.connect(params(db, **login), autocommit=False)
    try:
        assert isinstance(_lock.apply(first, params(db, owner="run-a", **login)), dict)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            second = pool.submit(apply, params(db, owner="run-b", **login))
            time.sleep(0.5)
            first.commit()
            outcome = second.result(timeout=30)
    finally:
        first.close()
    assert isinstance(outcome, str) and "held by run-a" in outcome, outcome


@pytest.fixture
def freezing_proxy(pg_server):
    """A TCP proxy to pg_server that forwards until the client sends pg_advisory_xact_lock, then forwards nothing
    more: a server that stops answering mid-session (a hung disk, a stuck proxy) while the TCP session stays up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop, sockets = threading.Event(), []

    def pump(client, upstream):
        frozen = False
        while not stop.is_set():
            for sock in select.select([client, upstream], [], [], 0.2)[0]:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                frozen = frozen or (sock is client and b"pg_advisory_xact_lock" in data)
                if not frozen:
                    (upstream if sock is client else client).sendall(data)

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                client = server.accept()[0]
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", pg_server["login_port"]))
            sockets.extend((client, upstream))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()

    def close():
        stop.set()
        for sock in sockets + [server]:
            sock.close()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], close
    close()


def test_a_database_that_stops_answering_mid_session_is_a_bounded_failure(capsys, db, freezing_proxy):
    # statement_timeout runs in the server: it cannot end a wait for a server that no longer answers
    port, cut = freezing_proxy
    db = dict(db, pg=dict(db["pg"], login_port=port))
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(run(capsys, db, owner="run-a", ssl_mode="disable")),
                              daemon=True)
    start = time.monotonic()
    worker.start()
    worker.join(90)
    took = time.monotonic() - start
    if worker.is_alive():  # end the wait (the proxy goes away) before failing, so no run outlives this test
        cut()
        worker.join(30)
        pytest.fail("still waiting for the database after %d s" % took)
    rc, result, out = outcome[0]
    assert rc == 1 and "did not answer" in result["msg"] and took < 60, (took, result["msg"])
    assert rows(db) is None


# --- a hostile database ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ssl_mode", ["prefer", "disable"])
def test_a_database_that_never_answers_is_a_bounded_failure(capsys, db, silent_server, ssl_mode):
    db = dict(db, pg=dict(db["pg"], login_port=silent_server))
    start = time.monotonic()
    rc, result, out = run(capsys, db, owner="run-a", ssl_mode=ssl_mode)
    took = time.monotonic() - start
    assert rc == 1 and "timeout" in result["msg"] and took < 25, (took, result["msg"])
    assert db["pg"]["login_password"] not in out


def test_a_role_without_create_on_the_schema_is_told_what_to_do(capsys, db):
    login = role(db, "review_nocreate")
    rc, result, out = run(capsys, dict(db, pg=dict(db["pg"], **login)), owner="run-a")
    assert rc == 1 and "permission denied for schema public" in result["msg"], result["msg"]
    assert "the lock table %s does not exist and review_nocreate may not create it" % db["table"] in result["msg"]
    assert "GRANT CREATE ON SCHEMA" in result["msg"] and result["queries"][-1].startswith("CREATE TABLE")
    assert "role-secret" not in out


def test_check_mode_for_a_role_without_create_says_it_would_take_the_lock(capsys, db):
    login = role(db, "review_nocreate_check")
    rc, result, dummy = run(capsys, dict(db, pg=dict(db["pg"], **login)), check_mode=True, owner="run-a")
    assert rc == 0 and result["changed"] and rows(db) is None


def test_a_role_with_no_rights_on_an_existing_table(capsys, db):
    run(capsys, db, owner="run-a", state="absent")  # made by the superuser
    login = role(db, "review_norights")
    rc, result, dummy = run(capsys, dict(db, pg=dict(db["pg"], **login)), owner="run-a")
    assert rc == 1 and "permission denied for table %s" % db["table"] in result["msg"], result["msg"]


def test_a_read_only_database_is_a_clear_failure(capsys, db):
    run(capsys, db, owner="run-a", state="absent")
    login = role(db, "review_ro", settings=("default_transaction_read_only = on",))
    db["conn"].cursor().execute("GRANT ALL ON %s TO review_ro" % db["table"])
    rc, result, dummy = run(capsys, dict(db, pg=dict(db["pg"], **login)), owner="run-a")
    assert rc == 1 and "read-only transaction" in result["msg"], result["msg"]


@pytest.mark.parametrize("definition", [
    "(id serial PRIMARY KEY, payload text)",
    "(name text PRIMARY KEY, owner text)",
    "(name text, owner text, runbook text, reason text, acquired_at timestamptz, expires_at timestamptz)",
])
def test_a_table_of_that_name_with_other_columns(capsys, db, definition):
    db["conn"].cursor().execute("CREATE TABLE %s %s" % (db["table"], definition))
    rc, result, dummy = run(capsys, db, owner="run-a")
    if rc == 0:  # the same columns without a primary key: still one row per name, the advisory lock orders runs
        assert rows(db) == [("platform", "run-a", None)]
        assert run(capsys, db, owner="run-b")[0] == 1
    else:  # which table, and the way out
        assert ("the table %s is not a runbook_lock table (column" % db["table"]) in result["msg"], result["msg"]
        assert "choose another table" in result["msg"]


def test_a_view_or_sequence_of_that_name(capsys, db):
    db["conn"].cursor().execute("CREATE SEQUENCE %s" % db["table"])
    try:
        rc, result, dummy = run(capsys, db, owner="run-a")
        assert rc == 1 and "is not a runbook_lock table" in result["msg"], result["msg"]
    finally:
        db["conn"].cursor().execute("DROP SEQUENCE %s" % db["table"])


# --- the lease clock ------------------------------------------------------------------------------------------------

def test_a_lease_with_part_of_a_second_left_is_not_taken_over(capsys, db):
    run(capsys, db, owner="run-a")
    db["conn"].cursor().execute("UPDATE %s SET expires_at = now() + interval '0.45 seconds'" % db["table"])
    rc, result, dummy = run(capsys, db, owner="run-b")
    if rc == 0:  # only on a machine that took more than 0.45 s to get there: then the lease had ended, and says so
        assert result["before"]["expires_in_s"] < 0, result["before"]
    else:
        assert "held by run-a" in result["msg"] and "lease ends in 0 s" in result["msg"], result["msg"]


def test_a_lease_that_just_ended_is_negative_and_taken_over(capsys, db):
    run(capsys, db, owner="run-a")
    db["conn"].cursor().execute("UPDATE %s SET expires_at = now() - interval '0.3 seconds'" % db["table"])
    rc, result, dummy = run(capsys, db, owner="run-b")
    assert rc == 0 and result["changed"] and result["before"]["expires_in_s"] < 0, result["before"]


def test_ages_and_lease_signs_come_from_the_database_clock(capsys, db):
    run(capsys, db, owner="run-a", ttl=600)
    db["conn"].cursor().execute("UPDATE %s SET acquired_at = now() - interval '100 seconds', "
                                "expires_at = now() + interval '500 seconds'" % db["table"])
    rc, result, dummy = run(capsys, db, owner="run-b")
    assert rc == 1 and "held by run-a (a runbook) for 100 s, lease ends in " in result["msg"], result["msg"]
    before = result["before"]
    assert 100 <= before["age_s"] <= 101 and 499 <= before["expires_in_s"] <= 500, before
    assert before["acquired_at"].endswith("Z") and before["expires_at"] > before["acquired_at"]


def test_a_session_time_zone_does_not_shift_the_reported_times(capsys, db):
    login = role(db, "review_tz", settings=("TimeZone = 'Pacific/Kiritimati'",))
    db["conn"].cursor().execute("GRANT CREATE ON SCHEMA public TO review_tz")
    rc, taken, dummy = run(capsys, dict(db, pg=dict(db["pg"], **login)), owner="run-a", ttl=3600)
    cursor = db["conn"].cursor()
    cursor.execute("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')")
    assert rc == 0 and taken["after"]["acquired_at"].startswith(cursor.fetchone()[0]), taken["after"]


# --- secrets --------------------------------------------------------------------------------------------------------

def test_a_wrong_password_is_not_echoed(capsys, db):
    secret = "Wr0ng-but-real-looking-secret"
    rc, result, out = run(capsys, dict(db, pg=dict(db["pg"], login_password=secret)), owner="run-a")
    assert rc == 1 and "password authentication failed" in result["msg"]
    assert secret not in out and "********" not in out  # not even masked: it never reached the output


def test_a_password_with_quotes_spaces_and_backslashes_connects(capsys, db):
    secret = "p'a s\\s=\"w d"
    login = role(db, "review_quoted", password=secret)
    db["conn"].cursor().execute("GRANT CREATE ON SCHEMA public TO review_quoted")
    rc, result, out = run(capsys, dict(db, pg=dict(db["pg"], **login)), owner="run-a")
    assert rc == 0 and result["changed"], result
    assert secret not in out
