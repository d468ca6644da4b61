"""Migration planning (pure) and discovery: what would run, and everything that must be refused before it runs."""
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _migrations as migrations
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


@pytest.fixture
def steps(tmp_path):
    files = {"0001_create_items.up.sql": "CREATE TABLE items (id int);",
             "0001_create_items.down.sql": "DROP TABLE items;",
             "0002_add_note.up.sql": "ALTER TABLE items ADD note text;",
             "0002_add_note.down.sql": "ALTER TABLE items DROP note;",
             "0003_backfill.up.sql": "UPDATE items SET note = '';",
             "0003_backfill.down.sql": "-- nothing to undo\n/* really */\n",
             "0004_index.up.sql": "CREATE INDEX ON items (note);",
             "README.md": "not a migration"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return migrations.discover(str(tmp_path))


def versions(plan):
    return [(step["version"], step["direction"]) for step in plan]


def test_discovery_and_irreversible_versions(steps):
    assert sorted(steps) == ["0001", "0002", "0003", "0004"]
    assert steps["0004"].get("down") is None
    assert migrations.irreversible(steps) == ["0003", "0004"]  # an empty down file undoes nothing


def test_rollback_newest_first_to_a_target(steps):
    assert versions(migrations.plan(steps, ["0001", "0002"], "rolled_back", target="0001")) == [("0002", "down")]
    everything = migrations.plan(steps, ["0001", "0002"], "rolled_back", target="0")
    assert versions(everything) == [("0002", "down"), ("0001", "down")]
    assert migrations.plan(steps, ["0001"], "rolled_back", target="0001") == []  # idempotent


def test_rollback_by_steps(steps):
    assert versions(migrations.plan(steps, ["0001", "0002"], "rolled_back", count=1)) == [("0002", "down")]
    with pytest.raises(OpsreadyError, match=r"asked to roll back 3 step\(s\) but only 2 migration\(s\) are applied"):
        migrations.plan(steps, ["0001", "0002"], "rolled_back", count=3)


def test_apply_oldest_first_up_to_a_target(steps):
    assert versions(migrations.plan(steps, ["0001"], "applied", target="0003")) == [("0002", "up"), ("0003", "up")]
    assert versions(migrations.plan(steps, [], "applied", count=1)) == [("0001", "up")]
    assert len(migrations.plan(steps, [], "applied")) == 4


@pytest.mark.parametrize("applied, state, target, message", [
    (["0001", "0002", "0003"], "rolled_back", "0002", r"refusing to roll back: 0003 cannot be undone \(0003_backfill "
                                                      r"has an empty .down.sql\); restore the backup"),
    (["0001", "0002", "0003", "0004"], "rolled_back", "0001", r"0004, 0003 cannot be undone .*0004_index has no "
                                                              r".down.sql"),
    (["0001", "0002"], "rolled_back", "0009", r"target 0009 is not a migration in this directory; known versions: "
                                              r"0001, 0002, 0003, 0004"),
    (["0001"], "rolled_back", "0002", r"target 0002 is not applied \(applied: 0001\); use state=applied"),
    (["0001", "0002"], "applied", "0001", r"target 0001 is below the current version 0002: that is a rollback"),
    (["0001", "0002", "0007"], "rolled_back", "0002", r"applied migration\(s\) 0007 have no files in this directory"),
])
def test_refused_before_anything_runs(steps, applied, state, target, message):
    with pytest.raises(OpsreadyError, match=message):
        migrations.plan(steps, applied, state, target=target)


def test_versions_order_numerically(tmp_path):
    for version in ("9", "10"):
        (tmp_path / ("%s_step.up.sql" % version)).write_text("SELECT 1;")
        (tmp_path / ("%s_step.down.sql" % version)).write_text("SELECT 1;")
    steps = migrations.discover(str(tmp_path))
    assert versions(migrations.plan(steps, [], "applied")) == [("9", "up"), ("10", "up")]
    assert versions(migrations.plan(steps, ["9", "10"], "rolled_back", target="9")) == [("10", "down")]


@pytest.mark.parametrize("files, message", [
    ({"0001_a.down.sql": ""}, r"0001_a in .* has no .up.sql file"),
    ({"0001_a.up.sql": "", "0001_b.down.sql": ""}, "migration 0001 has two names"),
])
def test_broken_directories(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(OpsreadyError, match=message):
        migrations.discover(str(tmp_path))


def test_missing_directory_and_bad_steps(tmp_path):
    with pytest.raises(OpsreadyError, match="^path .* is not a directory on this host"):
        migrations.discover(str(tmp_path / "nope"))
    with pytest.raises(OpsreadyError, match="steps must be between 1 and 10000, got 0"):
        migrations.run({"steps": 0, "path": str(tmp_path), "state": "rolled_back"})


# ------------------------------------------------------------------------- files that are not migrations
@pytest.mark.parametrize("name", ["0002_add-note.up.sql", "0002_ajouté.up.sql", "0002_note.UP.sql", "2_note.sql",
                                  "notes.sql", "0002_note.up.sql~", "0002_note.up.sql.orig", "schema.dump"])
def test_a_file_that_is_not_understood_is_an_error_naming_it_and_the_convention(tmp_path, name):
    (tmp_path / "0001_create.up.sql").write_text("SELECT 1;")
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(OpsreadyError) as refused:
        migrations.discover(str(tmp_path))
    assert "%s: not a migration file" % name in str(refused.value)
    assert "NNNN_name.up.sql" in str(refused.value) and "letters a-z A-Z, digits and _" in str(refused.value)


def test_readmes_hidden_files_and_directories_are_left_alone(tmp_path):
    (tmp_path / "0001_create.up.sql").write_text("SELECT 1;")
    for name in ("README.md", "NOTES.txt", "index.rst", ".gitkeep", ".0001_create.up.sql.swp"):
        (tmp_path / name).write_text("")
    (tmp_path / "archive").mkdir()
    assert sorted(migrations.discover(str(tmp_path))) == ["0001"]


def test_every_file_not_understood_is_listed_at_once(tmp_path):
    for name in ("0001_a-b.up.sql", "0002_c-d.up.sql", "0003_ok.up.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(OpsreadyError, match=r"0001_a-b.up.sql: not a migration file; 0002_c-d.up.sql: not a migration"):
        migrations.discover(str(tmp_path))


# --------------------------------------------------------------------------- transaction control in SQL
@pytest.mark.parametrize("sql, found", [
    ("ALTER TABLE t ADD c int;\nCOMMIT;\nALTER TABLE t ADD d int;", [(2, "COMMIT")]),
    ("BEGIN;\nCREATE TABLE t (id int);\nEND;", [(1, "BEGIN"), (3, "END")]),
    ("start transaction isolation level serializable;", [(1, "START TRANSACTION")]),
    ("UPDATE t SET a = 1;\n  rollback ;", [(2, "ROLLBACK")]),
    ("abort;", [(1, "ABORT")]),
    ("commit and chain;", [(1, "COMMIT")]),
    ("PREPARE TRANSACTION 'x';", [(1, "PREPARE TRANSACTION")]),
    ("SELECT 1; /* a */ COMMIT", [(1, "COMMIT")]),
    ("-- commit later\nALTER TABLE t ADD commit_sha text; -- then COMMIT;", []),
    ("/* COMMIT; /* nested */ BEGIN; */ SELECT 1;", []),
    ("INSERT INTO notes VALUES ('it''s done; COMMIT;');", []),
    ("INSERT INTO notes VALUES (E'a\\'; COMMIT;');", []),
    ('ALTER TABLE t RENAME "begin" TO "commit; end";', []),
    ("CREATE PROCEDURE p() LANGUAGE plpgsql AS $body$\nBEGIN\n  UPDATE t SET a = 1;\n  COMMIT;\nEND\n$body$;", []),
    ("DO $$ BEGIN PERFORM 1; END $$;", []),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\n"
     "END;\nCOMMIT;", [(6, "COMMIT")]),
    ("SAVEPOINT a; UPDATE t SET x = 1; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a;", []),
    ("SELECT $1::text, a$b FROM t; COMMIT;", [(1, "COMMIT")]),
])
def test_transaction_control_is_found_outside_strings_comments_and_bodies(sql, found):
    assert migrations.transaction_control(sql) == found


def test_is_empty_uses_the_same_reading(tmp_path):
    assert migrations.is_empty("-- nothing\n/* at /* all */ */\n;\n")
    assert not migrations.is_empty("-- a comment\nDROP TABLE t;")


# ------------------------------------------------------------------------------------ input checked first
@pytest.mark.parametrize("table", ["schema_migrations", "app.schema_migrations", "SchemaMigrations", "_m$1",
                                   "a" * 63])
def test_table_names_accepted(table):
    migrations.check_table(table)


@pytest.mark.parametrize("table", ["", "a.b.c", "migrations; DROP TABLE x", "my-table", "1table", ".t", "t.",
                                   "tàble", 'a"b', "a" * 64])
def test_table_names_refused(table):
    with pytest.raises(OpsreadyError, match="^table "):
        migrations.check_table(table)


@pytest.mark.parametrize("params, message", [
    ({"state": "rolled_back", "commands": {"rollback": "tool down {step}"}, "steps": 1},
     r"commands.rollback has an unknown placeholder \{step\} \(known: \{steps\}, \{target\}\)"),
    ({"state": "rolled_back", "commands": {"rollback": "tool down"}, "steps": 1},
     r"steps is given but commands.rollback has no \{steps\}"),
    ({"state": "rolled_back", "commands": {"rollback": "tool down {steps}"}, "target": "v1"},
     r"commands.rollback uses \{steps\} but steps is not given"),
    ({"state": "rolled_back", "commands": {"rollback": "tool down {steps}", "preview_rollback": "tool down --dry"},
      "steps": 1}, r"steps is given but commands.preview_rollback has no \{steps\}"),
    ({"state": "applied", "commands": {"apply": "tool up", "status": "tool status {target}"}},
     r"commands.status uses \{target\} but target is not given"),
    ({"state": "status", "commands": {"status": "tool status", "apply": "tool up {version}"}},
     r"commands.apply has an unknown placeholder \{version\}"),
])
def test_command_templates_must_match_what_is_given(params, message):
    with pytest.raises(OpsreadyError, match=message):
        migrations.check_commands(params)


def test_command_templates_that_match(tmp_path):
    migrations.check_commands({"state": "rolled_back", "steps": 2, "commands": {
        "rollback": "tool down --step={steps}", "preview_rollback": "tool down --step={steps} --pretend",
        "apply": "tool up", "status": "sh -c 'echo {}'"}})
    migrations.check_commands({"state": "applied", "commands": {"apply": "tool up", "rollback": "x {target}"}})


def test_secrets_are_masked():
    assert migrations.mask("tool --password=hunter2 --user=app", ["hunter2", ""]) == \
        "tool --password=******** --user=app"
    assert migrations.mask("nothing here", None) == "nothing here"
