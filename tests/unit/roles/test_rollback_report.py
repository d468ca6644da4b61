"""The rollback's Markdown evidence, rendered by the role's own evidence tasks in a real ansible-playbook run (the
template lookup, Ansible's filters), from what a stopped rollback records: every command the reader would copy comes
out whole and as typed - the backup's restore command and the -e '{...}' a refusal suggests in fenced blocks of their
own, and no timeline detail cut for good (the table cuts long ones; each comes whole below it)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from markdown_it import MarkdownIt

PROJECT = pathlib.Path(__file__).resolve().parents[3]
DUMP = "/var/backups/opsready/demo-before-rollback-2026-11-25T160512Z.dump"
RESTORE = "pg_restore --clean --if-exists -d demo " + DUMP
SUGGESTION = """-e '{"rollback_restore_from": "<its path on db1>"}'"""
BACKUP = {"host": "db1", "file": DUMP, "size": 4821377, "sha256": "9f2c" * 16, "restore_list_entries": 57,
          "read_to_end": True, "restore": RESTORE}
STOPPED = {
    "failed_task": "Every migration to roll back can be undone",
    "error": "0003_add_item_tags cannot be undone: its down migration is empty. Give that backup, taken at schema "
             "0002, with %s (what was written since it is kept in the database it replaces)" % SUGGESTION,
    "hosts": {"app1": "1.2.0", "app2": "1.2.0"},
    "unreachable": {},
    "now": "app1 on 1.2.0, app2 on 1.2.0",
    "schema": "0003",
    "way_back": "Hosts not yet switched still run 1.2.0; the ones switched run 1.1.0. Run the rollback again once the "
                "cause is fixed. The backup taken before the schema changed: %s on db1 (the role "
                "opsready.runbooks.db_backup, tasks_from restore, restores it checked and whole; by hand: %s)."
                % (DUMP, RESTORE),
}
PLAN = {"target_release": "1.1.0", "releases_before": {"app1": "1.2.0", "app2": "1.2.0"},
        "hosts_to_switch": ["app1", "app2"], "schema_before": "0003", "schema_target": "0002", "schema_steps": []}
TIMELINE = [
    {"at": "2026-11-25T16:05:00.123456Z", "step": "start", "detail": "rollback of app1, app2"},
    {"at": "2026-11-25T16:05:02.000001Z", "step": "plan", "detail": json.dumps(PLAN)},
    {"at": "2026-11-25T16:05:12.000002Z", "step": "backup", "detail": json.dumps(BACKUP)},
    {"at": "2026-11-25T16:05:13.000003Z", "step": "stopped", "detail": json.dumps(STOPPED)},
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The Markdown file the role's evidence tasks write for a rollback stopped after its backup."""
    tmp_path = tmp_path_factory.mktemp("rollback-report")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Rollback evidence", "ansible.builtin.import_role": {"name": "opsready.runbooks.rollback",
                                                                      "tasks_from": "evidence"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp_path / "vars.json").write_text(json.dumps({
        "rollback_timeline": TIMELINE, "rollback_plan": PLAN, "rollback_backup_info": BACKUP,
        "rollback_stopped": STOPPED, "rollback_evidence_dir": str(tmp_path / "evidence")}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                          "local", str(tmp_path / "play.yml"), "-e", "@%s" % (tmp_path / "vars.json")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    (markdown,) = (tmp_path / "evidence").glob("*.md")
    return markdown.read_text()


def blocks(markdown):
    """The fenced code blocks, as a Markdown reader shows (and copies) them."""
    return [token.content for token in MarkdownIt().parse(markdown) if token.type == "fence"]


def test_the_restore_command_is_whole_in_a_block_of_its_own(report):
    assert RESTORE + "\n" in blocks(report)


def test_the_suggested_extra_vars_are_whole_on_a_line_of_their_own(report):
    (error,) = [block for block in blocks(report) if block.startswith("0003_add_item_tags cannot be undone")]
    assert SUGGESTION in error.splitlines()
    assert " ".join(error.split()) == " ".join(STOPPED["error"].split())  # nothing else changed


def test_the_way_back_is_whole_as_typed(report):
    assert STOPPED["way_back"] + "\n" in blocks(report)


def test_the_timeline_table_cuts_long_details_and_each_comes_whole_below(report):
    rows = [line for line in report.splitlines() if line.startswith("| 2026-")]
    assert [row.split(" | ")[1] for row in rows] == ["start", "plan", "backup", "stopped"]
    assert rows[0].endswith("| rollback of app1, app2 |")
    assert rows[2].endswith(" ... (cut, whole below) |") and rows[3].endswith(" ... (cut, whole below) |")
    whole = "\n".join(blocks(report))
    # a JSON detail one key a line, its strings as typed: the commands in it are whole and unescaped
    assert "restore: %s\n" % RESTORE in whole and "sha256: %s\n" % BACKUP["sha256"] in whole
    assert "error: %s\n" % STOPPED["error"] in whole and "way_back: %s\n" % STOPPED["way_back"] in whole
    assert 'hosts: {"app1": "1.2.0", "app2": "1.2.0"}\n' in whole
    assert "### 2026-11-25T16:05:12.000002Z backup, whole" in report


def test_no_command_is_cut_anywhere(report):
    """Wherever the restore command or the suggestion appears, it is whole (the table's cut ones end '... (cut')."""
    for command in (RESTORE, SUGGESTION):
        for line in report.splitlines():
            for start in range(len(line)):
                if line.startswith(command[:20], start):
                    assert line.startswith(command, start) or line.endswith(" ... (cut, whole below) |"), line
