"""db_migration's built-in backend against a real PostgreSQL 15 (the pg_server fixture): the code that runs
migrations, its transaction, its locks and its migrations table, each proved on the real server."""
import json
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils import _migrations as migrations
from ansible_collections.opsready.runbooks.plugins.modules import db_migration

psycopg2 = pytest.importorskip("psycopg2")

MIGRATIONS = {
    "0001_create_items.up.sql": "CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items VALUES (1), (2);\n",
    "0001_create_items.down.sql": "DROP TABLE items;\n",
    "0002_add_note.up.sql": "ALTER TABLE items ADD COLUMN note text;\n",
    "0002_add_note.down.sql": "ALTER TABLE items DROP COLUMN note;\n",
    "0003_add_gate.up.sql": "ALTER TABLE items ADD COLUMN gate text;\n",
    "0003_add_gate.down.sql": "ALTER TABLE items DROP COLUMN gate;\n",
}


def connect(db, **kwargs):
    conn = psycopg2.connect(host=db["login_host"], port=db["login_port"], user=db["login_user"],
                            password=db["login_password"], dbname=db["login_db"], **kwargs)
    conn.autocommit = True
    return conn


def query(db, sql, *args):
    conn = connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def columns(db, table="items"):
    return [row[0] for row in query(db, "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                        "ORDER BY ordinal_position", table)]


def recorded(db, table='"schema_migrations"'):
    return [row[0] for row in query(db, "SELECT version FROM %s ORDER BY version" % table)]


@pytest.fixture
def path(tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    for name, text in MIGRATIONS.items():
        (directory / name).write_text(text)
    return directory


def run(capsys, db, path, check_mode=False, **args):
    args = dict(db, path=str(path), **args, _ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        db_migration.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_apply_roll_back_and_run_again(capsys, db, path):
    rc, status = run(capsys, db, path)
    assert (rc, status["before"], status["after"], status["pending"]) == (0, None, None, ["0001", "0002", "0003"])
    rc, applied = run(capsys, db, path, state="applied", target="0002")
    assert (rc, applied["changed"], applied["before"], applied["after"]) == (0, True, None, "0002")
    assert [step["version"] for step in applied["executed"]] == ["0001", "0002"]
    assert applied["msg"] == "applied 0001_create_items, 0002_add_note: schema none -> 0002"
    assert columns(db) == ["id", "note"] and recorded(db) == ["0001", "0002"]
    rc, again = run(capsys, db, path, state="applied", target="0002")
    assert (rc, again["changed"], again["plan"], again["executed"]) == (0, False, [], [])
    rc, back = run(capsys, db, path, state="rolled_back", steps=1)
    assert (rc, back["changed"], back["before"], back["after"]) == (0, True, "0002", "0001")
    assert columns(db) == ["id"] and recorded(db) == ["0001"]
    rc, everything = run(capsys, db, path, state="rolled_back", target="0")
    assert (rc, everything["after"]) == (0, None) and columns(db) == [] and recorded(db) == []
    rc, nothing = run(capsys, db, path, state="rolled_back", target="0")
    assert (rc, nothing["changed"], nothing["msg"]) == (0, False, "nothing to do: schema at nothing applied")


def test_a_failing_migration_leaves_the_schema_as_it_was(capsys, db, path):
    run(capsys, db, path, state="applied", target="0001")
    (path / "0003_add_gate.up.sql").write_text("ALTER TABLE items ADD COLUMN gate text;\nSELECT 1 / 0;\n")
    rc, result = run(capsys, db, path, state="applied")
    assert rc == 1 and result["failed_step"] == "0003" and result["executed"] == []
    assert result["msg"] == ("up migration 0003_add_gate failed: division by zero; the whole plan was rolled back, "
                             "the schema is as it was before this run")
    assert columns(db) == ["id"] and recorded(db) == ["0001"]


def test_another_run_holding_the_advisory_lock_is_waited_for_by_nobody(capsys, db, path):
    other = connect(db)
    with other.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (migrations.LOCK_KEY,))
    try:
        rc, result = run(capsys, db, path, state="applied")
    finally:
        other.close()
    assert rc == 1 and result["msg"].startswith("another migration run holds the lock on this database")
    assert columns(db) == []
    rc, result = run(capsys, db, path, state="applied")  # the lock went with the other session
    assert rc == 0 and recorded(db) == ["0001", "0002", "0003"]


@pytest.mark.parametrize("table, sql_name", [("AppMigrations", '"AppMigrations"'),
                                             ("Ops.AppMigrations", '"Ops"."AppMigrations"'),
                                             ("ops.schema_migrations", "ops.schema_migrations")])
def test_a_mixed_case_or_schema_qualified_table_is_found_again(capsys, db, path, table, sql_name):
    query(db, 'CREATE SCHEMA "Ops"; CREATE SCHEMA ops')
    rc, first = run(capsys, db, path, state="applied", table=table)
    assert (rc, first["changed"]) == (0, True) and recorded(db, sql_name) == ["0001", "0002", "0003"]
    rc, second = run(capsys, db, path, state="applied", table=table)
    assert (rc, second["changed"], second["plan"], second["before"]) == (0, False, [], "0003")
    rc, status = run(capsys, db, path, table=table)
    assert status["applied"] == ["0001", "0002", "0003"] and status["pending"] == []


def test_transaction_control_in_a_migration_is_refused_before_anything_runs(capsys, db, path):
    (path / "0002_add_note.up.sql").write_text("ALTER TABLE items ADD COLUMN note text;\n  COMMIT;\n")
    (path / "0003_add_gate.up.sql").write_text("SELECT 1 / 0;\n")
    for check_mode in (True, False):
        rc, result = run(capsys, db, path, check_mode=check_mode, state="applied")
        assert rc == 1
        assert result["msg"] == (
            "refusing to run: 0002_add_note.up.sql line 2: COMMIT. A migration must not end or start transactions: "
            "db_migration runs each step and its row in the migrations table in one transaction (with atomic, the "
            "whole plan); remove these statements")
    assert columns(db) == [] and query(db, "SELECT to_regclass('schema_migrations')") == [(None,)]


def test_a_step_that_ends_the_transaction_anyway_is_reported_as_it_is(capsys, db, path, monkeypatch):
    """Should something get past the reading of the SQL, the failure still tells the truth."""
    monkeypatch.setattr(migrations, "transaction_control", lambda sql: [])
    (path / "0002_add_note.up.sql").write_text("ALTER TABLE items ADD COLUMN note text;\nCOMMIT;\n")
    (path / "0003_add_gate.up.sql").write_text("SELECT 1 / 0;\n")
    rc, result = run(capsys, db, path, state="applied")
    assert rc == 1 and result["failed_step"] == "0002"
    assert "the whole plan was rolled back" not in result["msg"]
    assert result["msg"] == ("up migration 0002_add_note ended the transaction itself (a COMMIT or ROLLBACK in its "
                             "SQL): what ran before that point is committed and not rolled back; the migrations "
                             "table now records 0001 (0002 is not recorded); check the schema before running again")
    assert result["after"] == "0001" and recorded(db) == ["0001"] and columns(db) == ["id", "note"]


# ------------------------------------------------------------------------------------------ lock_timeout
def blocker(db):
    """An application session in an open transaction that has read items (ACCESS SHARE until it ends)."""
    conn = psycopg2.connect(host=db["login_host"], port=db["login_port"], user=db["login_user"],
                            password=db["login_password"], dbname=db["login_db"], application_name="app-under-test")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM items")
        cur.execute("SELECT pg_backend_pid()")
        return conn, cur.fetchone()[0]


def test_a_migration_waiting_for_a_lock_gives_up_at_lock_timeout_naming_the_blocker(capsys, db, path):
    run(capsys, db, path, state="applied", target="0001")
    app, app_pid = blocker(db)
    reader = {}

    def plain_select():  # another application query, queued behind the migration's ACCESS EXCLUSIVE request
        time.sleep(0.4)
        conn = connect(db, options="-c statement_timeout=20000")
        start = time.monotonic()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM items")
        reader["seconds"] = time.monotonic() - start
        conn.close()

    thread = threading.Thread(target=plain_select)
    try:
        thread.start()
        start = time.monotonic()
        rc, result = run(capsys, db, path, state="applied", lock_timeout=1, lock_retries=0)
        elapsed = time.monotonic() - start
        thread.join(30)
    finally:
        app.close()
    assert rc == 1 and elapsed < 3
    assert reader["seconds"] < 1.5  # blocked by the waiting migration no longer than about lock_timeout
    assert result["failed_step"] == "0002" and result["executed"] == []
    [named] = result["blockers"]
    assert (named["pid"], named["application_name"], named["state"]) == (app_pid, "app-under-test",
                                                                         "idle in transaction")
    assert result["msg"].startswith("up migration 0002_add_note waited more than 1 s for a lock (lock_timeout), "
                                    "1 attempt(s): blocked by pid %d (application app-under-test, user postgres, "
                                    "idle in transaction" % app_pid)
    assert "the whole plan was rolled back, the schema is as it was before this run" in result["msg"]
    assert "SELECT pg_terminate_backend(%d)" % app_pid in result["msg"]
    assert columns(db) == ["id"] and recorded(db) == ["0001"]


def test_lock_retries_try_again_after_a_pause(capsys, db, path):
    run(capsys, db, path, state="applied", target="0001")
    app, app_pid = blocker(db)
    threading.Timer(1.5, app.rollback).start()  # the application finishes its transaction during the first pause
    try:
        rc, result = run(capsys, db, path, state="applied", lock_timeout=1, lock_retries=2)
    finally:
        time.sleep(0.1)
        app.close()
    assert (rc, result["changed"]) == (0, True) and recorded(db) == ["0001", "0002", "0003"]


def test_lock_timeout_is_set_for_the_migration_session(capsys, db, path):
    (path / "0001_create_items.up.sql").write_text("CREATE TABLE items AS SELECT current_setting('lock_timeout') AS t;")
    rc, result = run(capsys, db, path, state="applied", target="0001", lock_timeout=2.5)
    assert rc == 0 and query(db, "SELECT t FROM items") == [("2500ms",)]


def test_a_commit_inside_a_do_body_is_left_to_postgresql_which_refuses_it(capsys, db, path):
    """The documented choice: a COMMIT in a dollar-quoted body is not refused up front; PostgreSQL refuses it inside
    the migration's transaction, and the plan is rolled back whole."""
    (path / "0002_add_note.up.sql").write_text("ALTER TABLE items ADD COLUMN note text;\n"
                                               "DO $$ BEGIN COMMIT; END $$;\n")
    rc, result = run(capsys, db, path, state="applied")
    assert rc == 1 and result["failed_step"] == "0002"
    assert result["msg"] == ("up migration 0002_add_note failed: invalid transaction termination CONTEXT: PL/pgSQL "
                             "function inline_code_block line 1 at COMMIT; the whole plan was rolled back, the schema "
                             "is as it was before this run")
    assert columns(db) == [] and query(db, "SELECT to_regclass('schema_migrations')") == [(None,)]
