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
    with pytest.raises(OpsreadyError, match="does not exist on this host"):
        migrations.discover(str(tmp_path / "nope"))
    with pytest.raises(OpsreadyError, match="steps must be 1 or more"):
        migrations.run({"steps": 0, "path": str(tmp_path)})
