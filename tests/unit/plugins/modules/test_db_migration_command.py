"""db_migration with backend=command, driving a small real tool that talks like Laravel's artisan."""
import json
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import db_migration

TOOL = r"""#!/bin/sh
# artisan-like: the applied migrations are lines of ./applied; "rollback N" removes the last N.
case "$1" in
  status) echo "Migration name / Batch / Status"; sed 's/$/ .... [1] Ran/' applied ;;
  rollback)
    [ -s applied ] || { echo "   INFO  Nothing to rollback."; exit 0; }
    [ "$3" = "--pretend" ] && { tail -n "$2" applied | sed 's/^/would drop: /'; exit 0; }
    tail -n "$2" applied | sed 's/^/Rolling back: /'; head -n -"$2" applied > a.tmp; mv a.tmp applied ;;
  migrate) echo "   INFO  Nothing to migrate." ;;
  broken) echo "SQLSTATE[42S02]: Base table or view not found" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def app(tmp_path):
    tool = tmp_path / "artisan"
    tool.write_text(TOOL)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "applied").write_text("2026_01_01_create_flights\n2026_02_01_add_gate\n")
    return tmp_path


def run(capsys, app, check_mode=False, **args):
    commands = {"status": "./artisan status", "rollback": "./artisan rollback {steps}",
                "preview_rollback": "./artisan rollback {steps} --pretend", "apply": "./artisan migrate"}
    args = dict({"backend": "command", "chdir": str(app), "commands": commands}, **args,
                _ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        db_migration.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def applied(app):
    return (app / "applied").read_text().split()


def test_check_mode_previews_and_changes_nothing(capsys, app):
    rc, result = run(capsys, app, check_mode=True, state="rolled_back", steps=1)
    assert rc == 0 and result["changed"] is True
    assert result["msg"] == "preview: would drop: 2026_02_01_add_gate"
    assert applied(app) == ["2026_01_01_create_flights", "2026_02_01_add_gate"]


def test_rollback_runs_and_reports_what_ran(capsys, app):
    rc, result = run(capsys, app, state="rolled_back", steps=1)
    assert rc == 0 and result["changed"] is True
    assert result["executed"] == [{"command": "./artisan rollback 1", "rc": 0,
                                   "output": "Rolling back: 2026_02_01_add_gate\n"}]
    assert applied(app) == ["2026_01_01_create_flights"]
    assert "2026_01_01_create_flights .... [1] Ran" in result["status_output"]


def test_a_rollback_that_does_nothing_is_a_failure_not_a_success(capsys, app):
    (app / "applied").write_text("")
    rc, result = run(capsys, app, state="rolled_back", steps=1)
    assert rc == 1
    assert result["msg"] == "asked to roll back 1 step(s), but the tool rolled back nothing: INFO  Nothing to rollback."
    assert result["executed"][0]["command"] == "./artisan rollback 1"


def test_nothing_to_apply_is_not_a_change(capsys, app):
    rc, result = run(capsys, app, state="applied")
    assert (rc, result["changed"], result["msg"]) == (0, False, "nothing to apply, says the tool: INFO  Nothing to "
                                                                "migrate.")


def test_a_failing_tool_fails_with_its_output(capsys, app):
    rc, result = run(capsys, app, state="rolled_back", steps=1, commands={"rollback": "./artisan broken"})
    assert rc == 1
    assert result["msg"] == "./artisan broken exited 1: SQLSTATE[42S02]: Base table or view not found"


@pytest.mark.parametrize("args, message", [
    ({"state": "applied", "commands": {"status": "./artisan status"}}, "needs commands.apply for state=applied"),
    ({"state": "rolled_back", "steps": 1, "commands": {"rollback": "./no-such-tool"}}, "cannot run ./no-such-tool"),
    ({"backend": "builtin", "state": "status"}, "backend is builtin but all of the following are missing: path"),
])
def test_bad_input(capsys, app, args, message):
    rc, result = run(capsys, app, **args)
    assert rc == 1 and message in result["msg"]
