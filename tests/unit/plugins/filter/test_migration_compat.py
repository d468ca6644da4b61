"""migration_compat: the filter a deploy runbook calls on db_migration's check-mode plan before it migrates the schema
forward while the old release still serves traffic. Fed here with what the module really returns (the builtin
backend on PostgreSQL 15, Alembic on SQLite, the command backend), and run through a real ansible-playbook."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.filter.migration_compat import migration_compat
from ansible_collections.opsready.runbooks.plugins.module_utils import _migrations as migrations
from ansible_collections.opsready.runbooks.plugins.modules import db_migration

PROJECT = pathlib.Path(__file__).resolve().parents[4]
DEMO = PROJECT / "lab" / "demo_app" / "migrations"
CONTRACT = "-- 1.2.0 no longer reads the note\nALTER TABLE items DROP COLUMN note;\n"


def run_module(capsys, args, check_mode=True):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit) as exit_info:
        db_migration.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_the_filter_judges_and_acknowledged_defaults_to_nothing():
    steps = [{"version": "0003", "sql": CONTRACT}]
    assert migration_compat(steps)["compatible"] is False
    assert migration_compat(steps, None)["compatible"] is False
    judged = migration_compat(steps, ["0003"])
    assert judged["compatible"] is True and judged["findings"] == [
        {"version": "0003", "line": 2, "kind": "drop column", "statement": "ALTER TABLE items DROP COLUMN note",
         "acknowledged": True}]


@pytest.mark.parametrize("steps, acknowledged, message", [
    (None, [], "migration_compat: expects the sql list db_migration returns in check mode with state=applied"),
    ({"sql": []}, [], "migration_compat: expects the sql list of db_migration's result, got the whole result"),
    ([{"version": 3, "sql": ""}], [], "migration_compat: step 1 of the plan has the version the int 3"),
    ([], "0003", "migration_compat: acknowledged is the string '0003', not a list of versions"),
    ([], [3], "migration_compat: acknowledged holds the int 3: versions are strings"),
])
def test_bad_input_is_a_filter_error(steps, acknowledged, message):
    with pytest.raises(AnsibleFilterError, match="^%s" % message.replace("(", r"\(").replace(")", r"\)")):
        migration_compat(steps, acknowledged)


# ------------------------------------------------------------------------------------------ what the module gives


@pytest.fixture
def release(tmp_path):
    """The demo app's migrations, and a 0003 that contracts."""
    path = tmp_path / "migrations"
    path.mkdir()
    for name in ("0001_create_items", "0002_add_item_note"):
        for direction in ("up", "down"):
            shutil.copy(DEMO / ("%s.%s.sql" % (name, direction)), path)
    (path / "0003_drop_item_note.up.sql").write_text(CONTRACT)
    (path / "0003_drop_item_note.down.sql").write_text("ALTER TABLE items ADD COLUMN note text;\n")
    return path


def test_the_builtin_backends_check_mode_plan(capsys, db, release):
    pytest.importorskip("psycopg2")
    args = dict(db, path=str(release), state="applied")
    rc, result = run_module(capsys, dict(args, target="0002"))
    assert rc == 0 and [s["version"] for s in result["sql"]] == ["0001", "0002"]
    assert migration_compat(result["sql"])["compatible"] is True
    run_module(capsys, dict(args, target="0002"), check_mode=False)
    rc, result = run_module(capsys, args)
    assert rc == 0 and result["sql"] == [{"version": "0003", "name": "drop_item_note", "direction": "up",
                                          "sql": CONTRACT}]
    judged = migration_compat(result["sql"])
    assert judged["compatible"] is False and judged["unjudged"] == []
    assert [(f["version"], f["line"], f["kind"]) for f in judged["findings"]] == [("0003", 2, "drop column")]
    assert migration_compat(result["sql"], ["0003"])["compatible"] is True
    run_module(capsys, args, check_mode=False)
    rc, result = run_module(capsys, args)
    assert result["sql"] == [] and migration_compat(result["sql"])["message"] == "No pending migration: nothing to judge."


def test_the_alembic_backends_check_mode_plan(capsys, tmp_path, alembic_env):
    """Alembic's offline SQL per revision, on SQLite; nothing pending leaves sql out of the result."""
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///%s\n"
                                          % (tmp_path / "app.db"))
    (tmp_path / "migrations" / "env.py").write_text(alembic_env)
    (tmp_path / "migrations" / "script.py.mako").write_text("")
    for rev, down, up in [("a1", None, "CREATE TABLE flights (id integer, gate text)"),
                          ("b2", "a1", "ALTER TABLE flights DROP COLUMN gate")]:
        (tmp_path / "migrations" / "versions" / ("%s.py" % rev)).write_text(
            "from alembic import op\nrevision = %r\ndown_revision = %r\n\n\ndef upgrade():\n    op.execute(%r)\n\n\n"
            "def downgrade():\n    pass\n" % (rev, down, up))
    args = {"backend": "alembic", "chdir": str(tmp_path), "state": "applied",
            "alembic_command": str(pathlib.Path(sys.executable).parent / "alembic")}
    rc, result = run_module(capsys, args)
    assert rc == 0 and [(s["version"], s["direction"], "name" in s) for s in result["sql"]] == [
        ("a1", "up", False), ("b2", "up", False)]
    assert migration_compat(result["sql"])["compatible"] is True  # flights is new to a live release at base
    run_module(capsys, dict(args, target="a1"), check_mode=False)
    rc, result = run_module(capsys, args)
    assert rc == 0 and [s["version"] for s in result["sql"]] == ["b2"]
    judged = migration_compat(result["sql"])
    assert [(f["version"], f["line"], f["kind"], f["statement"]) for f in judged["findings"]] == [
        ("b2", 1, "drop column", "ALTER TABLE flights DROP COLUMN gate")]
    assert judged["message"].splitlines()[-1] == "-e '{\"deploy_migrations_acknowledged\": [\"b2\"]}'"
    run_module(capsys, args, check_mode=False)
    rc, result = run_module(capsys, args)
    assert rc == 0 and "sql" not in result and result["plan"] == []  # nothing pending: no sql at all


def test_the_command_backend_gives_no_sql_to_judge():
    """Neither sql nor versions: the plan is empty and the tool's preview is text (plan_output)."""
    params = {"backend": "command", "state": "applied",
              "commands": {"apply": "echo migrate --force", "preview_apply": "echo migrate --pretend"}}
    result = migrations.run_commands(params, check_mode=True, execute=lambda command, chdir, timeout: (
        0, "CreateFlightsTable: alter table flights drop column gate"))
    assert "sql" not in result and result["plan"] == [] and result["changed"] is True
    with pytest.raises(AnsibleFilterError, match="backend=command returns no sql"):
        migration_compat(result.get("sql"))


# ------------------------------------------------------------------------------------------ in a playbook
PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    plan:
      - {version: "0002", name: add_item_note, direction: up, sql: "ALTER TABLE items ADD COLUMN note text;"}
      - {version: "0003", name: drop_item_note, direction: up, sql: "ALTER TABLE items DROP COLUMN note;"}
  tasks:
    - name: Judge
      ansible.builtin.set_fact:
        compat: "{{ plan | opsready.runbooks.migration_compat(deploy_migrations_acknowledged | default([])) }}"
    - name: Keep
      ansible.builtin.copy:
        content: "{{ compat | to_json }}"
        dest: "{{ out }}"
        mode: '0644'
"""


@pytest.fixture
def playbook(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))

    def run(*extra):
        return subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                               "-c", "local", str(tmp_path / "play.yml"), "-e", "out=%s" % (tmp_path / "out.json"),
                               "-e", "ansible_python_interpreter=%s" % sys.executable, *extra],
                              cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    return run, tmp_path / "out.json"


def test_through_ansible_playbook_with_the_acknowledgement_it_suggests(playbook):
    run, out = playbook
    ran = run()
    assert ran.returncode == 0, ran.stdout[-3000:]
    judged = json.loads(out.read_text())
    assert judged["compatible"] is False and [f["kind"] for f in judged["findings"]] == ["drop column"]
    suggestion = judged["message"].splitlines()[-1]
    assert suggestion == "-e '{\"deploy_migrations_acknowledged\": [\"0003\"]}'"
    ran = run("-e", json.dumps({"deploy_migrations_acknowledged": ["0003"]}))
    assert ran.returncode == 0, ran.stdout[-3000:]
    judged = json.loads(out.read_text())
    assert judged["compatible"] is True and judged["findings"][0]["acknowledged"] is True
    ran = run("-e", "deploy_migrations_acknowledged=0003")  # key=value gives a string
    assert ran.returncode != 0
    assert "migration_compat: acknowledged is the string '0003', not a list of versions: give a list, as in -e " \
           "'{\"deploy_migrations_acknowledged\": [\"0003\"]}'" in ran.stdout
