"""db_migration with backend=command, driving a small real tool that talks like Laravel's artisan."""
import json
import pathlib
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
    rc, result = run(capsys, app, state="rolled_back", steps=1, commands={"rollback": "./artisan broken {steps}"})
    assert rc == 1
    assert result["msg"] == "./artisan broken 1 exited 1: SQLSTATE[42S02]: Base table or view not found"


@pytest.mark.parametrize("args, message", [
    ({"state": "applied", "commands": {"status": "./artisan status"}}, "needs commands.apply for state=applied"),
    ({"state": "rolled_back", "steps": 1, "commands": {"rollback": "./no-such-tool {steps}"}},
     "commands.rollback: ./no-such-tool is not an executable file in %s"),
    ({"backend": "builtin", "state": "status"}, "backend is builtin but all of the following are missing: path"),
])
def test_bad_input(capsys, app, args, message):
    rc, result = run(capsys, app, **args)
    assert rc == 1 and message.replace("%s", str(app)) in result["msg"]


# ---------------------------------------------------------------------------------------- hardening
LOGGING_TOOL = r"""#!/bin/sh
echo "$*" >> calls.log
case "$1" in
  status) echo "Migration name / Batch / Status" ;;
  hang) sh -c 'sleep 60; echo late > child.out' & echo $! > child.pid; sleep 60 ;;
  leak) echo "connecting with password=$2" ;;
  *) echo "Rolled back." ;;
esac
"""


@pytest.fixture
def tool(tmp_path):
    path = tmp_path / "tool"
    path.write_text(LOGGING_TOOL)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def calls(app):
    return (app / "calls.log").read_text().splitlines() if (app / "calls.log").exists() else []


def test_a_hung_tool_is_killed_with_its_children_at_the_timeout(capsys, tool):
    import time

    start = time.monotonic()
    rc, result = run(capsys, tool, state="rolled_back", steps=1, timeout=1,
                     commands={"rollback": "./tool hang {steps}"})
    assert time.monotonic() - start < 10
    assert rc == 1 and result["msg"].startswith("./tool hang 1 did not finish within 1 s (timeout): killed")
    child = pathlib.Path("/proc", (tool / "child.pid").read_text().strip(), "stat")
    time.sleep(0.2)
    assert not child.exists() or child.read_text().split()[2] == "Z"  # gone (or a zombie nobody reaped yet)
    assert not (tool / "child.out").exists()


@pytest.mark.parametrize("args, message", [
    ({"steps": 0}, "steps must be between 1 and 10000, got 0"),
    ({"steps": -1}, "steps must be between 1 and 10000, got -1"),
    ({"steps": 1, "commands": {"rollback": "./tool down"}},
     "steps is given but commands.rollback has no {steps}: the tool would not be told how many to roll back"),
    ({"target": "v1", "commands": {"rollback": "./tool down {steps}"}},
     "commands.rollback uses {steps} but steps is not given"),
    ({"steps": 1, "commands": {"rollback": "./tool down {step}"}}, "commands.rollback has an unknown placeholder {step}"),
    ({"steps": 1, "timeout": 0}, "timeout must be more than 0 seconds, got 0"),
])
def test_refused_before_the_tool_runs_at_all(capsys, tool, args, message):
    args = dict({"state": "rolled_back", "commands": {"status": "./tool status", "rollback": "./tool down {steps}"}},
                **args)
    rc, result = run(capsys, tool, **args)
    assert rc == 1 and message in result["msg"]
    assert calls(tool) == []


def test_secrets_are_masked_in_every_command_line_and_output(capsys, tool):
    rc, result = run(capsys, tool, state="rolled_back", steps=1, secrets=["hunter2"],
                     commands={"status": "./tool leak hunter2", "rollback": "./tool down {steps} --password=hunter2"})
    assert rc == 0 and "hunter2" not in json.dumps(result)
    assert result["executed"][0]["command"] == "./tool down 1 --password=********"
    assert "password=********" in result["status_output"]
    rc, failed = run(capsys, tool, state="rolled_back", steps=1, secrets=["hunter2"], timeout=1,
                     commands={"rollback": "./tool hang {steps} hunter2"})
    assert rc == 1 and "hunter2" not in json.dumps(failed) and "./tool hang 1 ********" in failed["msg"]
    rc, preview = run(capsys, tool, check_mode=True, state="rolled_back", steps=1, secrets=["hunter2"],
                      commands={"rollback": "./tool down {steps} hunter2"})
    assert rc == 0 and preview["msg"] == ("would run: ./tool down 1 ******** (give commands.preview_rollback to see "
                                          "what it would do)")


@pytest.mark.parametrize("check_mode, state", [(False, "status"), (True, "rolled_back")])
def test_a_missing_tool_is_found_by_status_and_check_mode(capsys, tool, check_mode, state):
    args = {"steps": 1} if state == "rolled_back" else {}
    rc, result = run(capsys, tool, check_mode=check_mode, state=state,
                     commands={"rollback": "no-such-artisan rollback {steps}"}, **args)
    assert rc == 1
    assert result["msg"] == "commands.rollback: no-such-artisan is not found on this host's PATH"
