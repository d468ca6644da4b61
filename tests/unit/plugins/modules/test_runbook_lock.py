"""runbook_lock against a real PostgreSQL on loopback: one holder at a time, the refusal names the holder, leases
end, only the owner releases, check mode reads only, lock_timeout bounds a wait, bad input touches nothing."""
import concurrent.futures
import json
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.modules import runbook_lock


@pytest.fixture
def db(pg_server):
    """A fresh lock table name per test, and a connection to look at it."""
    conn = psycopg2.connect(pg_server["dsn"])
    conn.autocommit = True
    table = "lock_t%d" % (time.monotonic_ns() % 10**9)
    yield {"pg": pg_server, "conn": conn, "table": table}
    conn.cursor().execute("DROP TABLE IF EXISTS %s" % table)
    conn.close()


@pytest.fixture
def run(run_main):
    """runbook_lock on the db fixture's table, with these arguments."""
    def lock(db, check_mode=False, **extra):
        connection = {key: db["pg"][key] for key in ("login_host", "login_port", "login_user", "login_password", "login_db")}
        args = dict(connection, table=db["table"], _ansible_check_mode=check_mode)
        return run_main(runbook_lock.main, dict(args, **extra))   # extra wins, a bad value included
    return lock


def rows(db):
    cursor = db["conn"].cursor()
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (db["table"],))
    if not cursor.fetchone()[0]:
        return None
    cursor.execute("SELECT name, owner, runbook FROM %s ORDER BY name" % db["table"])
    return cursor.fetchall()


def test_one_holder_and_the_refusal_names_it(run, db):
    rc, taken = run(db, owner="run-a", runbook="rollback", reason="INC-1 bad release")
    assert rc == 0 and taken["changed"] and taken["before"] is None and taken["after"]["owner"] == "run-a"
    rc, refused = run(db, owner="run-b", runbook="maintenance_window")
    assert rc == 1 and not refused.get("changed")
    assert "held by run-a (rollback: INC-1 bad release) for " in refused["msg"]
    assert "another runbook is changing this platform" in refused["msg"]
    assert rows(db) == [("platform", "run-a", "rollback")]


def test_the_same_run_renews_and_releases(run, db):
    run(db, owner="run-a", runbook="release_watch", ttl=60)
    rc, renewed = run(db, owner="run-a", runbook="rollback", ttl=3600)
    assert rc == 0 and not renewed["changed"] and "lease renewed" in renewed["msg"]
    assert renewed["after"]["expires_in_s"] > 3000
    assert rows(db) == [("platform", "run-a", "release_watch")]
    rc, released = run(db, owner="run-a", state="absent")
    assert rc == 0 and released["changed"] and released["after"] is None and rows(db) == []
    rc, again = run(db, owner="run-a", state="absent")
    assert rc == 0 and not again["changed"] and again["msg"] == "lock platform is not held"


def test_another_runs_lock_is_left_alone_unless_forced_with_a_reason(run, db):
    run(db, owner="run-a", runbook="rollback")
    rc, left = run(db, owner="run-b", state="absent")
    assert rc == 0 and not left["changed"] and "not this run's: left alone" in left["msg"]
    assert rows(db) == [("platform", "run-a", "rollback")]
    rc, broken = run(db, owner="run-b", state="absent", force=True, reason="run-a's controller died")
    assert rc == 0 and broken["changed"] and "broken" in broken["msg"] and "run-a's controller died" in broken["msg"]
    assert broken["before"]["owner"] == "run-a" and rows(db) == []


def test_an_ended_lease_is_taken_over_and_says_from_whom(run, db):
    run(db, owner="run-a", runbook="maintenance_window")
    db["conn"].cursor().execute("UPDATE %s SET expires_at = now() - interval '5 seconds'" % db["table"])
    rc, taken = run(db, owner="run-b", runbook="rollback")
    assert rc == 0 and taken["changed"] and "taken over from a run whose lease had ended" in taken["msg"]
    assert taken["before"]["owner"] == "run-a" and taken["before"]["expires_in_s"] <= -4
    assert rows(db) == [("platform", "run-b", "rollback")]


def test_locks_by_name_are_independent(run, db):
    assert run(db, owner="run-a", name="shop")[0] == 0
    assert run(db, owner="run-b", name="blog")[0] == 0
    assert rows(db) == [("blog", "run-b", None), ("shop", "run-a", None)]


def test_check_mode_reads_only_and_refuses_like_a_real_run(run, db):
    rc, planned = run(db, check_mode=True, owner="run-a")
    assert rc == 0 and planned["changed"] and planned["msg"].startswith("would do: lock platform taken")
    assert rows(db) is None  # not even the table
    run(db, owner="run-a")
    rc, refused = run(db, check_mode=True, owner="run-b")
    assert rc == 1 and "held by run-a" in refused["msg"]
    rc, planned = run(db, check_mode=True, owner="run-a", state="absent")
    assert rc == 0 and planned["changed"] and rows(db) == [("platform", "run-a", None)]


def test_two_runs_at_once_one_wins(run, db, pg_server):
    run(db, owner="setup", state="absent")  # table made, lock free
    run(db, owner="warm", ttl=1)
    run(db, owner="warm", state="absent")

    def take(owner):
        from ansible_collections.opsready.runbooks.plugins.module_utils import _lock, _postgres
        keys = ("login_host", "login_port", "login_user", "login_password", "login_db")
        params = dict({k: pg_server[k] for k in keys}, ssl_mode="disable", ca_cert=None, name="platform",
                      table=db["table"], owner=owner, runbook=None, reason=None, ttl=60, force=False,
                      lock_timeout=5, state="present")
        conn = _postgres.connect(params, autocommit=False)
        try:
            _lock.apply(conn, params)
            conn.commit()
            return owner
        except Exception as e:
            conn.rollback()
            return "refused: %s" % e
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(take, ["run-%d" % i for i in range(8)]))
    winners = [o for o in outcomes if not o.startswith("refused")]
    assert len(winners) == 1, outcomes
    assert all("held by %s" % winners[0] in o for o in outcomes if o.startswith("refused"))
    assert rows(db) == [("platform", winners[0], None)]


def test_a_locked_table_fails_within_lock_timeout_and_never_queues(run, db):
    run(db, owner="run-a", state="absent")  # the table exists
    blocker = psycopg2.connect(db["pg"]["dsn"])
    try:
        blocker.cursor().execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % db["table"])
        start = time.monotonic()
        rc, result = run(db, owner="run-b", lock_timeout=0.5)
        took = time.monotonic() - start
    finally:
        blocker.rollback()
        blocker.close()
    assert rc == 1 and "lock timeout" in result["msg"]
    assert took < 5  # bounded by lock_timeout (0.5 s), not by the blocker


@pytest.mark.parametrize("args, message", [
    ({"name": "a b"}, "name 'a b'"),
    ({"name": ""}, "name ''"),
    ({"name": "x" * 64}, "name 'xxxx"),
    ({"name": "plat/form"}, "name 'plat/form'"),
    ({"name": "plat\nform"}, "name 'plat\\nform'"),
    ({"table": "Locks"}, "table 'Locks'"),
    ({"table": "locks; DROP TABLE x"}, "table 'locks; DROP TABLE x'"),
    ({"table": "public.locks"}, "table 'public.locks'"),
    ({"owner": ""}, "owner must be"),
    ({"owner": "   "}, "owner must be"),
    ({"owner": "run\n1"}, "owner must be"),
    ({"owner": "x" * 201}, "owner must be"),
    ({"ttl": 0}, "ttl 0"),
    ({"ttl": -5}, "ttl -5"),
    ({"ttl": 8 * 24 * 3600}, "ttl 691200"),
    ({"lock_timeout": 0}, "lock_timeout 0"),
    ({"lock_timeout": -1}, "lock_timeout -1"),
    ({"lock_timeout": 61}, "lock_timeout 61"),
    ({"force": True}, "force applies to state=absent only"),
    ({"force": True, "state": "absent"}, "force needs a reason"),
    ({"force": True, "state": "absent", "reason": "  "}, "force needs a reason"),
    ({"state": "held"}, "value of state must be one of: present, absent"),
    ({"ttl": "soon"}, "ttl"),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else None)
def test_bad_input_is_refused_before_the_database_is_touched(run, db, args, message):
    args = dict({"owner": "run-a"}, **args)
    rc, result = run(db, **args)
    assert rc == 1 and message in result["msg"], result["msg"]
    assert rows(db) is None


def test_an_unreachable_database_is_a_clear_failure(run, db):
    db = dict(db, pg=dict(db["pg"], login_port=1))
    rc, result = run(db, owner="run-a")
    assert rc == 1 and result["msg"].startswith("runbook lock platform: ") and "refused" in result["msg"]


def test_the_lock_lives_on_the_primary_it_finds_among_the_members(run, pg_pair):
    """A standby is refused, saying what to name; the members with target_session_attrs=primary find the primary,
    and the result says which one answered (the runbooks' runbook_db_primary)."""
    primary, standby = pg_pair["primary"], pg_pair["standby"]
    db = {"pg": standby, "table": "lock_members"}
    rc, refused = run(db, owner="run-a", runbook="rollback")
    assert rc == 1 and "is a standby (read-only)" in refused["msg"] and "target_session_attrs=primary" in refused["msg"]
    assert refused["server"] == {"host": "127.0.0.1", "port": standby["login_port"]}
    members = "127.0.0.1:%d,127.0.0.1:%d" % (standby["login_port"], primary["login_port"])
    db = {"pg": dict(primary, login_host=members), "table": "lock_members"}
    for check_mode in (True, False):
        rc, taken = run(db, check_mode=check_mode, owner="run-a", runbook="rollback", target_session_attrs="primary")
        assert rc == 0, taken["msg"]
        assert taken["server"] == {"host": "127.0.0.1", "port": primary["login_port"]}
    rc, released = run(db, owner="run-a", state="absent", target_session_attrs="primary")
    assert rc == 0 and released["changed"] and released["server"]["port"] == primary["login_port"]
