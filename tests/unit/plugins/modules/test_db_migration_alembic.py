"""db_migration with backend=alembic: real Alembic (the pinned test requirement) on a SQLite database."""
import json
import pathlib
import sqlite3
import sys

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import db_migration


REVISION = '''
from alembic import op

revision = "{rev}"
down_revision = {down}


def upgrade():
    op.execute("{up}")


def downgrade():
    {down_sql}
'''

REVISIONS = [("a1", None, "CREATE TABLE flights (id integer)", 'op.execute("DROP TABLE flights")'),
             ("b2", "a1", "ALTER TABLE flights ADD COLUMN gate text", 'op.drop_column("flights", "gate")'),
             ("c3", "b2", "UPDATE flights SET gate = 'A1'", "pass")]


@pytest.fixture
def project(tmp_path, alembic_env):
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///%s\n"
                                          % (tmp_path / "app.db"))
    (tmp_path / "migrations" / "env.py").write_text(alembic_env)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    for rev, down, up, down_sql in REVISIONS:
        (tmp_path / "migrations" / "versions" / ("%s.py" % rev)).write_text(REVISION.format(
            rev=rev, down=repr(down), up=up, down_sql=down_sql))
    return tmp_path


def run(capsys, project, check_mode=False, **args):
    alembic = str(pathlib.Path(sys.executable).parent / "alembic")
    args = dict({"backend": "alembic", "chdir": str(project), "alembic_command": alembic}, **args,
                _ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        db_migration.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def columns(project):
    with sqlite3.connect(project / "app.db") as db:
        return [row[1] for row in db.execute("PRAGMA table_info(flights)")]


def test_apply_then_roll_back_one_step_with_a_preview(capsys, project):
    rc, result = run(capsys, project, state="applied", target="b2")
    assert (rc, result["changed"], result["msg"]) == (0, True, "applied a1, b2: schema base -> b2")
    assert columns(project) == ["id", "gate"]
    rc, preview = run(capsys, project, check_mode=True, state="rolled_back", steps=1)
    assert preview["msg"] == "would downgrade b2: schema b2 -> a1"
    assert "ALTER TABLE flights DROP COLUMN gate" in preview["sql"][0]["sql"]
    assert columns(project) == ["id", "gate"]  # the preview changed nothing
    rc, done = run(capsys, project, state="rolled_back", steps=1)
    assert (rc, done["msg"], done["before"], done["after"]) == (0, "rolled back b2: schema b2 -> a1", "b2", "a1")
    assert columns(project) == ["id"]
    rc, again = run(capsys, project, state="rolled_back", target="a1")
    assert (again["changed"], again["msg"]) == (False, "nothing to do: schema at a1")


def test_a_pass_downgrade_is_refused_as_irreversible(capsys, project):
    run(capsys, project, state="applied")
    rc, result = run(capsys, project, state="rolled_back", target="a1")
    assert rc == 1
    assert result["msg"] == ("refusing to roll back: c3 cannot be undone (its downgrade() changes nothing but "
                             "alembic_version); restore the backup taken before it was applied instead")
    rc, status = run(capsys, project)
    assert status["before"] == "c3" and status["pending"] == [] and columns(project) == ["id", "gate"]


@pytest.mark.parametrize("args, message", [
    ({"state": "rolled_back", "target": "zz9"}, "target zz9 is not an applied revision (applied: a1; known: a1, b2, c3)"),
    ({"state": "rolled_back", "steps": 2}, "asked to roll back 2 step(s) but only 1 revision(s) are applied (a1)"),
    ({"state": "applied", "target": "nope"}, "target nope is not a revision of this project"),
])
def test_bad_targets(capsys, project, args, message):
    run(capsys, project, state="applied", target="a1")
    rc, result = run(capsys, project, **args)
    assert rc == 1 and message in result["msg"]


def test_a_database_at_a_newer_releases_revision_is_reported_and_left_alone(capsys, project):
    """A rollback reads the target release's project while the database is at the newer release's revision."""
    run(capsys, project, state="applied")
    (project / "migrations" / "versions" / "c3.py").unlink()  # the older release's project: a1, b2
    rc, status = run(capsys, project)
    assert rc == 0 and (status["before"], status["available"], status["applied"], status["pending"]) == (
        "c3", ["a1", "b2"], [], [])
    assert status["msg"] == "schema at c3, a revision this project does not have (a newer release's?)"
    rc, refused = run(capsys, project, state="rolled_back", target="a1")
    assert rc == 1 and refused["msg"] == ("the database is at c3, a revision this project does not have (a newer "
                                          "release's?): run this from the release that has it")
    assert columns(project) == ["id", "gate"]


# ---------------------------------------------------------------------------------------- hardening
@pytest.mark.parametrize("state, steps", [("rolled_back", 0), ("rolled_back", -1), ("applied", 0), ("applied", -2)])
def test_steps_below_one_are_refused_before_alembic_runs(capsys, project, state, steps):
    run(capsys, project, state="applied", target="b2")
    rc, result = run(capsys, project, state=state, steps=steps)
    assert rc == 1 and result["msg"] == "steps must be between 1 and 10000, got %d" % steps
    assert columns(project) == ["id", "gate"]


def test_several_heads_are_refused_not_half_applied(capsys, project):
    (project / "migrations" / "versions" / "d4.py").write_text(REVISION.format(
        rev="d4", down=repr("b2"), up="ALTER TABLE flights ADD COLUMN pilot text", down_sql="pass"))
    for state in ("status", "applied"):
        rc, result = run(capsys, project, state=state)
        assert rc == 1
        assert result["msg"] == ("the project has several heads (c3, d4): db_migration follows one line of revisions; "
                                 "merge them first (alembic merge heads)")
    assert not (project / "app.db").exists() or columns(project) == []


def test_a_missing_alembic_is_found_by_status(capsys, project):
    rc, result = run(capsys, project, alembic_command=str(project / "no-such-alembic"))
    assert rc == 1 and result["msg"] == "alembic_command: %s is not an executable file" % (project / "no-such-alembic")


@pytest.mark.parametrize("state, args", [("status", {}), ("rolled_back", {"target": "0"})])
def test_an_alembic_that_answers_nothing_is_an_error_not_an_empty_schema(capsys, project, state, args):
    rc, result = run(capsys, project, alembic_command="/bin/true", state=state, **args)
    assert rc == 1
    assert result["msg"] == ("/bin/true -c alembic.ini current -v gave no answer (no 'Current revision(s) for' "
                             "line): is alembic_command Alembic, and does the project's env.py run?")


def test_a_hung_alembic_is_stopped_at_the_timeout(capsys, project):
    hang = project / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    rc, result = run(capsys, project, alembic_command=str(hang), timeout=1)
    assert rc == 1 and "did not finish within 1 s (timeout): killed" in result["msg"]
