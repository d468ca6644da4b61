"""The release module on a real directory tree: previous/named switch, atomic link, check mode, idempotence."""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils._release import version_key
from ansible_collections.opsready.runbooks.plugins.modules import release


@pytest.fixture
def app(tmp_path):
    for version in ("1.9.0", "1.10.0", "1.10.1"):
        (tmp_path / "releases" / version).mkdir(parents=True)
    os.symlink("releases/1.10.1", tmp_path / "current")
    return tmp_path


def run(capsys, args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        release.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def live(app):
    return os.readlink(app / "current")


def test_previous_in_natural_version_order_then_idempotent(capsys, app):
    rc, result = run(capsys, {"path": str(app), "previous": True})
    assert rc == 0 and result["changed"] is True
    assert (result["previous"], result["current"]) == ("1.10.1", "1.10.0")
    assert live(app) == "releases/1.10.0"
    assert result["releases"] == ["1.9.0", "1.10.0", "1.10.1"]
    rc, again = run(capsys, {"path": str(app), "version": "1.10.0"})
    assert (rc, again["changed"], again["msg"]) == (0, False, "release 1.10.0 is already live")


def test_check_mode_reports_and_changes_nothing(capsys, app):
    rc, result = run(capsys, {"path": str(app), "version": "1.9.0"}, check_mode=True, diff=True)
    assert result["changed"] is True and result["msg"] == "would switch current from 1.10.1 to 1.9.0"
    assert result["diff"] == {"before": "current -> 1.10.1\n", "after": "current -> 1.9.0\n"}
    assert live(app) == "releases/1.10.1"


@pytest.mark.parametrize("args, message", [
    ({"version": "2.0.0"}, "release 2.0.0 is not installed; installed: 1.9.0, 1.10.0, 1.10.1"),
    ({"version": "1.0.0", "previous": True}, "mutually exclusive"),
    ({}, "one of the following is required: version, previous"),
])
def test_bad_input(capsys, app, args, message):
    rc, result = run(capsys, dict(args, path=str(app)))
    assert rc == 1 and message in result["msg"]
    assert live(app) == "releases/1.10.1"


def test_no_previous_before_the_oldest(capsys, app):
    os.remove(app / "current")
    os.symlink("releases/1.9.0", app / "current")
    rc, result = run(capsys, {"path": str(app), "previous": True})
    assert rc == 1 and result["msg"] == "1.9.0 is the oldest installed release; there is no previous one to go back to"


def test_refuses_to_replace_a_real_directory(capsys, app):
    os.remove(app / "current")
    (app / "current").mkdir()
    rc, result = run(capsys, {"path": str(app), "previous": True})
    assert rc == 1 and "exists but is not a symlink" in result["msg"]


def test_version_key():
    assert sorted(["1.10.0", "1.9.0", "1.9.10", "1.9.2"], key=version_key) == ["1.9.0", "1.9.2", "1.9.10", "1.10.0"]
