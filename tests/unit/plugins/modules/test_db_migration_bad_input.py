"""db_migration refuses bad input through its whole main(), for every backend: the message names the option to fix,
and nothing changed - the database is as it was and no tool ran (not even its status command)."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import db_migration

psycopg2 = pytest.importorskip("psycopg2")

LOGGER = "#!/bin/sh\necho \"$0 $*\" >> \"$(dirname \"$0\")/calls.log\"\necho 'Current revision(s) for x:'\n"

# (id, backend, arguments, the option the message must name)
CASES = [
    # builtin: steps and target
    ("steps-zero", "builtin", {"state": "rolled_back", "steps": 0}, "steps"),
    ("steps-negative", "builtin", {"state": "rolled_back", "steps": -1}, "steps"),
    ("steps-negative-apply", "builtin", {"state": "applied", "steps": -5}, "steps"),
    ("steps-huge", "builtin", {"state": "applied", "steps": 1000000}, "steps"),
    ("steps-not-a-number", "builtin", {"state": "rolled_back", "steps": "two"}, "steps"),
    ("steps-with-state-status", "builtin", {"steps": 1}, "steps"),
    ("target-with-state-status", "builtin", {"target": "0001"}, "target"),
    ("target-and-steps-together", "builtin", {"state": "rolled_back", "target": "0001", "steps": 1}, "target|steps"),
    ("rolled-back-without-target-or-steps", "builtin", {"state": "rolled_back"}, "target, steps"),
    ("target-empty", "builtin", {"state": "rolled_back", "target": ""}, "target"),
    ("target-unknown-version", "builtin", {"state": "rolled_back", "target": "0042"}, "target"),
    ("target-not-a-version", "builtin", {"state": "applied", "target": "latest"}, "target"),
    # builtin: locks
    ("lock-timeout-zero", "builtin", {"state": "applied", "lock_timeout": 0}, "lock_timeout"),
    ("lock-timeout-negative", "builtin", {"state": "applied", "lock_timeout": -1}, "lock_timeout"),
    ("lock-timeout-over-an-hour", "builtin", {"state": "applied", "lock_timeout": 7200}, "lock_timeout"),
    ("lock-timeout-not-a-number", "builtin", {"state": "applied", "lock_timeout": "soon"}, "lock_timeout"),
    ("lock-retries-negative", "builtin", {"state": "applied", "lock_retries": -1}, "lock_retries"),
    ("lock-retries-huge", "builtin", {"state": "applied", "lock_retries": 1000}, "lock_retries"),
    # builtin: path
    ("path-missing", "builtin", {"state": "applied", "path": None}, "path"),
    ("path-does-not-exist", "builtin", {"state": "applied", "path": "{dir}/nowhere"}, "path"),
    ("path-is-a-file", "builtin", {"state": "applied", "path": "{dir}/migrations/0001_create_items.up.sql"}, "path"),
    ("path-holds-a-file-with-a-dash", "builtin", {"state": "applied", "stray": "0002_add-note.up.sql"}, "path"),
    ("path-holds-a-non-ascii-name", "builtin", {"state": "applied", "stray": "0002_ajouté.up.sql"}, "path"),
    # builtin: table and the rest
    ("table-odd-characters", "builtin", {"state": "applied", "table": "migrations; DROP TABLE items"}, "table"),
    ("table-three-parts", "builtin", {"state": "applied", "table": "a.b.c"}, "table"),
    ("table-with-a-dash", "builtin", {"state": "applied", "table": "schema-migrations"}, "table"),
    ("table-too-long", "builtin", {"state": "applied", "table": "t" * 64}, "table"),
    ("table-empty", "builtin", {"state": "applied", "table": ""}, "table"),
    ("commands-with-backend-builtin", "builtin", {"commands": {"status": "./tool status"}}, "commands"),
    ("nothing-regex-with-backend-builtin", "builtin", {"nothing_regex": "Nothing"}, "nothing_regex"),
    ("state-unknown", "builtin", {"state": "rollback"}, "state"),
    ("backend-unknown", "builtin", {"backend": "flyway"}, "backend"),
    ("login-port-not-a-number", "builtin", {"login_port": "fivefour"}, "login_port"),
    ("atomic-not-a-boolean", "builtin", {"state": "applied", "atomic": "maybe"}, "atomic"),
    # command
    ("command-steps-zero", "command", {"steps": 0}, "steps"),
    ("command-steps-negative", "command", {"steps": -1}, "steps"),
    ("command-steps-huge", "command", {"steps": 99999}, "steps"),
    ("command-timeout-zero", "command", {"steps": 1, "timeout": 0}, "timeout"),
    ("command-timeout-negative", "command", {"steps": 1, "timeout": -30}, "timeout"),
    ("command-unknown-placeholder", "command", {"steps": 1, "commands": {"rollback": "./tool down {step}"}},
     "commands.rollback"),
    ("command-steps-without-placeholder", "command", {"steps": 1, "commands": {"rollback": "./tool down"}}, "steps"),
    ("command-placeholder-without-steps", "command", {"target": "v1"}, "steps"),
    ("command-target-without-placeholder", "command", {"target": "v1", "commands": {"rollback": "./tool down"}},
     "target"),
    ("command-preview-without-placeholder", "command", {"steps": 1, "commands": {
        "rollback": "./tool down {steps}", "preview_rollback": "./tool down --pretend"}}, "commands.preview_rollback"),
    ("command-status-placeholder-without-value", "command", {"state": "status", "steps": None, "commands": {
        "status": "./tool status {target}"}}, "commands.status"),
    ("command-no-commands", "command", {"steps": 1, "commands": None}, "commands"),
    ("command-no-apply-command", "command", {"state": "applied", "steps": None}, "commands.apply"),
    ("command-chdir-missing", "command", {"steps": 1, "chdir": "{dir}/nowhere"}, "chdir"),
    ("command-nothing-regex-broken", "command", {"steps": 1, "nothing_regex": "(unclosed"}, "nothing_regex"),
    ("command-tool-not-on-path", "command", {"steps": 1, "commands": {"rollback": "no-such-artisan down {steps}"}},
     "commands.rollback"),
    ("command-tool-not-executable", "command", {"steps": 1, "commands": {"rollback": "./notes.txt {steps}"}},
     "commands.rollback"),
    ("command-lock-timeout-zero", "command", {"steps": 1, "lock_timeout": 0}, "lock_timeout"),
    # alembic
    ("alembic-steps-zero", "alembic", {"state": "rolled_back", "steps": 0}, "steps"),
    ("alembic-steps-negative", "alembic", {"state": "rolled_back", "steps": -1}, "steps"),
    ("alembic-steps-huge", "alembic", {"state": "applied", "steps": 10001}, "steps"),
    ("alembic-steps-with-state-status", "alembic", {"steps": 2}, "steps"),
    ("alembic-chdir-missing", "alembic", {"chdir": "{dir}/nowhere"}, "chdir"),
    ("alembic-command-missing", "alembic", {"alembic_command": "{dir}/no-such-alembic"}, "alembic_command"),
    ("alembic-command-not-on-path", "alembic", {"alembic_command": "no-such-alembic"}, "alembic_command"),
    ("alembic-with-commands", "alembic", {"commands": {"status": "./tool status"}}, "commands"),
    ("alembic-timeout-zero", "alembic", {"timeout": 0}, "timeout"),
]


@pytest.fixture(scope="module")
def database(module_db):
    """One database for the whole table: each case starts from the same state (see workdir)."""
    return module_db


def connect(database):
    conn = psycopg2.connect(host=database["login_host"], port=database.get("login_port", database.get("port")),
                            user=database["login_user"], password=database["login_password"],
                            dbname=database["login_db"])
    conn.autocommit = True
    return conn


def snapshot(database):
    """Every table and column outside the system schemas, and what the migrations table records."""
    conn = connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE "
                        "table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position")
            columns = cur.fetchall()
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            return columns, cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def workdir(tmp_path, database, capsys):
    """A migrations directory with 0001 applied and 0002 pending, and a tool that logs every call."""
    (tmp_path / "migrations").mkdir()
    for name, text in {"0001_create_items.up.sql": "CREATE TABLE items (id int);",
                       "0001_create_items.down.sql": "DROP TABLE items;",
                       "0002_add_note.up.sql": "ALTER TABLE items ADD note text;",
                       "0002_add_note.down.sql": "ALTER TABLE items DROP note;"}.items():
        (tmp_path / "migrations" / name).write_text(text)
    for tool in ("tool", "alembic"):
        (tmp_path / tool).write_text(LOGGER)
        (tmp_path / tool).chmod(0o755)
    (tmp_path / "notes.txt").write_text("not a program")
    conn = connect(database)  # every case starts from the same database, whatever the one before did
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items, schema_migrations")
    conn.close()
    code, result = main(capsys, dict(database, path=str(tmp_path / "migrations"), state="applied", target="0001"))
    assert code == 0, result["msg"]
    return tmp_path


def main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        db_migration.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def arguments(backend, args, workdir, database):
    base = {
        "builtin": dict(database, path=str(workdir / "migrations")),
        "command": {"backend": "command", "chdir": str(workdir), "state": "rolled_back",
                    "commands": {"status": "./tool status", "rollback": "./tool down {steps}"}},
        "alembic": {"backend": "alembic", "chdir": str(workdir), "alembic_command": str(workdir / "alembic")},
    }[backend]
    args = dict(base, **args)
    if "stray" in args:
        (workdir / "migrations" / args.pop("stray")).write_text("SELECT 1;")
    return {key: value.replace("{dir}", str(workdir)) if isinstance(value, str) else value
            for key, value in args.items() if value is not None}


@pytest.mark.parametrize("backend, args, option", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_refused_naming_the_option_and_nothing_changes(capsys, database, workdir, backend, args, option):
    before = snapshot(database)
    code, result = main(capsys, arguments(backend, args, workdir, database))
    assert code == 1 and result["failed"] is True
    assert option in result["msg"], result["msg"]
    assert not result.get("changed")
    assert snapshot(database) == before == ([("public", "items", "id"), ("public", "schema_migrations", "version"),
                                             ("public", "schema_migrations", "name"),
                                             ("public", "schema_migrations", "applied_at")], [("0001",)])
    assert not (workdir / "calls.log").exists(), "a tool ran: %s" % (workdir / "calls.log").read_text()


def test_the_table_counts_its_cases():
    assert len(CASES) == len({case[0] for case in CASES}) == 61
