"""The release module on a real directory tree: to previous / named switch, atomic link, check mode, idempotence,
links in a subdirectory or pointing elsewhere, bad input refused before anything changes."""
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


def live(app, link="current"):
    return os.readlink(app / link)


def snapshot(root):
    """Every entry under root: directories, files with their content, links with their target (not followed)."""
    seen = {}
    for directory, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = os.path.join(directory, entry)
            key = os.path.relpath(path, root)
            if os.path.islink(path):
                seen[key] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                seen[key] = ("dir",)
            else:
                with open(path, "rb") as f:
                    seen[key] = ("file", f.read())
    return seen


def test_to_previous_in_natural_version_order_then_idempotent(capsys, app):
    rc, result = run(capsys, {"path": str(app), "to": "previous"})
    assert rc == 0 and result["changed"] is True
    assert (result["before"], result["after"]) == ("1.10.1", "1.10.0")
    assert "previous" not in result and "current" not in result
    assert live(app) == "releases/1.10.0"
    assert result["releases"] == ["1.9.0", "1.10.0", "1.10.1"]
    rc, again = run(capsys, {"path": str(app), "version": "1.10.0"})
    assert (rc, again["changed"], again["msg"]) == (0, False, "release 1.10.0 is already live")
    assert (again["before"], again["after"]) == ("1.10.0", "1.10.0")


def test_check_mode_reports_and_changes_nothing(capsys, app):
    rc, result = run(capsys, {"path": str(app), "version": "1.9.0"}, check_mode=True, diff=True)
    assert result["changed"] is True and result["msg"] == "would switch current from 1.10.1 to 1.9.0"
    assert (result["before"], result["after"]) == ("1.10.1", "1.9.0")
    assert result["diff"] == {"before": "current -> 1.10.1\n", "after": "current -> 1.9.0\n"}
    assert live(app) == "releases/1.10.1"


def test_previous_false_does_not_switch_to_the_previous_release(capsys, app):
    """Issue 1: `previous: false` without a version used to switch to the previous release all the same."""
    rc, result = run(capsys, {"path": str(app), "previous": False})
    assert rc == 1 and result["msg"] == "one of the following is required: version, to"
    assert live(app) == "releases/1.10.1"


def test_a_link_in_a_subdirectory_points_at_the_release(capsys, app):
    """Issue 11: the link's target is relative to the link's own directory (web/current -> ../releases/x)."""
    (app / "web").mkdir()
    rc, result = run(capsys, {"path": str(app), "link": "web/current", "version": "1.10.0"})
    assert rc == 0 and result["changed"] is True and result["before"] is None and result["after"] == "1.10.0"
    assert live(app, "web/current") == os.path.join("..", "releases", "1.10.0")
    assert os.path.realpath(app / "web" / "current") == os.path.realpath(app / "releases" / "1.10.0")
    rc, again = run(capsys, {"path": str(app), "link": "web/current", "version": "1.10.0"})
    assert (rc, again["changed"], again["before"]) == (0, False, "1.10.0")
    rc, back = run(capsys, {"path": str(app), "link": "web/current", "to": "previous"})
    assert (rc, back["before"], back["after"]) == (0, "1.10.0", "1.9.0")
    assert os.path.realpath(app / "web" / "current") == os.path.realpath(app / "releases" / "1.9.0")


def test_a_link_already_right_but_spelled_differently_is_live(capsys, app):
    os.remove(app / "current")
    os.symlink(str(app / "releases" / "1.10.1"), app / "current")   # absolute, same directory
    rc, result = run(capsys, {"path": str(app), "version": "1.10.1"})
    assert (rc, result["changed"], result["before"]) == (0, False, "1.10.1")
    assert live(app) == str(app / "releases" / "1.10.1")


def test_a_link_pointing_outside_the_releases_is_not_already_live(capsys, app, tmp_path_factory):
    """Issue 11: only the folder name was compared, so /tmp/x/1.10.1 read as "already live"."""
    elsewhere = tmp_path_factory.mktemp("x") / "1.10.1"
    elsewhere.mkdir()
    os.remove(app / "current")
    os.symlink(str(elsewhere), app / "current")
    rc, result = run(capsys, {"path": str(app), "version": "1.10.1"}, check_mode=True)
    assert rc == 0 and result["changed"] is True and result["before"] is None
    assert "outside" in result["msg"] and str(elsewhere) in result["msg"]
    assert live(app) == str(elsewhere)
    rc, result = run(capsys, {"path": str(app), "version": "1.10.1"})
    assert rc == 0 and result["changed"] is True and result["after"] == "1.10.1"
    assert "replaced" in result["msg"] and str(elsewhere) in result["msg"]
    assert live(app) == "releases/1.10.1"


def test_to_previous_refuses_a_link_pointing_outside(capsys, app, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("x") / "1.10.1"
    elsewhere.mkdir()
    os.remove(app / "current")
    os.symlink(str(elsewhere), app / "current")
    rc, result = run(capsys, {"path": str(app), "to": "previous"})
    assert rc == 1 and "outside" in result["msg"] and "version" in result["msg"]
    assert live(app) == str(elsewhere)


def test_a_named_release_replaces_a_dangling_link_into_the_releases(capsys, app):
    os.remove(app / "current")
    os.symlink("releases/0.9.0", app / "current")   # a release removed since
    rc, result = run(capsys, {"path": str(app), "version": "1.9.0"})
    assert (rc, result["before"], result["after"]) == (0, "0.9.0", "1.9.0")
    assert live(app) == "releases/1.9.0"


def test_no_link_yet(capsys, app):
    os.remove(app / "current")
    rc, result = run(capsys, {"path": str(app), "version": "1.9.0"})
    assert (rc, result["changed"], result["before"], result["after"]) == (0, True, None, "1.9.0")
    assert live(app) == "releases/1.9.0"


def _oldest_live(app):
    os.remove(app / "current")
    os.symlink("releases/1.9.0", app / "current")


def _link_is_a_directory(app):
    os.remove(app / "current")
    (app / "current").mkdir()


def _link_outside(app):
    os.remove(app / "current")
    os.symlink("/", app / "current")


# (id, args, option the message must name, message part, setup)
BAD_INPUT = [
    ("previous-option-removed", {"previous": True, "version": "1.9.0"}, "previous", "Unsupported parameters", None),
    ("previous-false-alone", {"previous": False}, "to", "one of the following is required: version, to", None),
    ("version-and-to", {"version": "1.9.0", "to": "previous"}, "version", "mutually exclusive", None),
    ("neither-version-nor-to", {}, "version", "one of the following is required: version, to", None),
    ("to-not-a-choice", {"to": "next"}, "to", "must be one of: previous", None),
    ("version-not-installed", {"version": "2.0.0"}, "version",
     "release 2.0.0 is not installed; installed: 1.9.0, 1.10.0, 1.10.1", None),
    ("version-empty", {"version": ""}, "version", "empty", None),
    ("version-with-slash", {"version": "../releases/1.9.0"}, "version", "a release's folder name", None),
    ("version-dotdot", {"version": ".."}, "version", "a release's folder name", None),
    ("version-newline", {"version": "1.9.0\n"}, "version", "control character", None),
    ("releases-dir-absolute", {"releases_dir": "/etc", "version": "1.9.0"}, "releases_dir", "relative", None),
    ("releases-dir-dotdot", {"releases_dir": "../releases", "version": "1.9.0"}, "releases_dir", "..", None),
    ("releases-dir-empty", {"releases_dir": "", "version": "1.9.0"}, "releases_dir", "empty", None),
    ("releases-dir-newline", {"releases_dir": "releases\n", "version": "1.9.0"}, "releases_dir", "control character",
     None),
    ("releases-dir-missing", {"releases_dir": "builds", "version": "1.9.0"}, "releases_dir", "does not exist", None),
    ("link-absolute", {"link": "/tmp/current", "version": "1.9.0"}, "link", "relative", None),
    ("link-dotdot", {"link": "../current", "version": "1.9.0"}, "link", "..", None),
    ("link-empty", {"link": "", "version": "1.9.0"}, "link", "empty", None),
    ("link-dot", {"link": ".", "version": "1.9.0"}, "link", "..", None),
    ("link-newline", {"link": "cur\nrent", "version": "1.9.0"}, "link", "control character", None),
    ("link-inside-releases", {"link": "releases/current", "version": "1.9.0"}, "link", "inside releases_dir", None),
    ("link-directory-missing", {"link": "web/current", "version": "1.9.0"}, "link", "does not exist", None),
    ("link-is-a-directory", {"version": "1.9.0"}, "link", "not a symlink", _link_is_a_directory),
    ("path-relative", {"path": "srv/demo", "version": "1.9.0"}, "path", "absolute", None),
    ("path-newline", {"path": "/srv/demo\n", "version": "1.9.0"}, "path", "control character", None),
    ("to-previous-from-the-oldest", {"to": "previous"}, "to",
     "1.9.0 is the oldest installed release; there is no previous one to go back to", _oldest_live),
    ("to-previous-from-outside", {"to": "previous"}, "to", "outside", _link_outside),
]


@pytest.mark.parametrize("args, option, message, setup", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_refused_before_anything_changes(capsys, app, args, option, message, setup):
    if setup:
        setup(app)
    before = snapshot(app)
    rc, result = run(capsys, dict({"path": str(app)}, **args))
    assert rc == 1 and result.get("failed") is True
    assert message in result["msg"] and option in result["msg"], result["msg"]
    assert snapshot(app) == before


def test_version_key():
    assert sorted(["1.10.0", "1.9.0", "1.9.10", "1.9.2"], key=version_key) == ["1.9.0", "1.9.2", "1.9.10", "1.10.0"]
