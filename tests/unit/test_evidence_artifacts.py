"""The runbooks' evidence outlives the run: kept in the run's stats (set_stats, per_host false, which AWX stores as
the job's artifacts), and written to opsready_evidence_dir, a directory AWX can mount from outside its throw-away
execution environment. Real ansible-playbook runs of the roles' own evidence tasks, read through the json callback."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[2]


def playbook(tmp_path, play, *args):
    """Run `play` (a list of plays) on localhost; returns (rc, the run-level custom stats, stdout)."""
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1", ANSIBLE_NOCOLOR="1")
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                          "-c", "local", str(path)] + list(args), cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    output = json.loads(run.stdout)
    return run.returncode, output["global_custom_stats"], run.stdout


def local_play(**play):
    return dict({"hosts": "localhost", "gather_facts": False}, **play)


def health_check_play(**variables):
    """The whole health_check role, with no check to run: a report of nothing, its evidence, the policy."""
    return [local_play(roles=[{"role": "opsready.runbooks.health_check", "vars": variables}])]


def test_health_check_evidence_is_in_the_stats_and_in_opsready_evidence_dir(tmp_path):
    durable = tmp_path / "mounted" / "evidence"
    rc, stats, out = playbook(tmp_path, health_check_play(), "-e", "opsready_evidence_dir=%s" % durable)
    assert rc == 0, out[-3000:]
    kept = stats["opsready_evidence"]["health_check"]
    files = sorted(durable.iterdir())
    assert [path.suffix for path in files] == [".json", ".md"] and kept["files"] == [str(files[0]), str(files[1])]
    assert kept["data"] == json.loads(files[0].read_text())   # the evidence itself, not only where it was
    assert kept["data"]["summary"]["total"] == 0 and not (tmp_path / "evidence").exists()


def test_the_evidence_stays_in_the_stats_when_the_files_cannot_be_written(tmp_path):
    """An evidence directory AWX did not mount (or cannot write): the run fails, the artifacts still hold it."""
    rc, stats, out = playbook(tmp_path, health_check_play(health_check_evidence_dir="/proc/no-such-place"))
    assert rc == 2, out[-3000:]
    kept = stats["opsready_evidence"]["health_check"]
    assert kept["files"] == [] and kept["data"]["summary"]["total"] == 0


def test_no_evidence_asked_for_none_kept(tmp_path):
    rc, stats, out = playbook(tmp_path, health_check_play(health_check_evidence=False))
    assert rc == 0, out[-3000:]
    assert "opsready_evidence" not in stats and not (tmp_path / "evidence").exists()


def release_watch_evidence():
    """The release_watch role's own Evidence task, as its tasks file has it."""
    tasks = yaml.safe_load((PROJECT / "roles/release_watch/tasks/main.yml").read_text())
    (task,) = [task for task in tasks if task["name"].startswith("Evidence")]
    return task


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_every_runbook_keeps_its_evidence_under_its_name_in_one_job(tmp_path, check):
    """release_watch rolls back in the same job: both records stay, side by side, each with its files. The role's
    own evidence_dir still wins over opsready_evidence_dir. Check mode keeps the plan the same way."""
    timeline = [{"at": "2026-11-25T16:05:00.123456Z", "step": "pre-checks", "detail": "ok"}]
    play = [local_play(
        vars={"release_watch_evidence_dir": str(tmp_path / "watch"),
              "release_watch_outcome": {"held": False, "message": "p95 2.4 s > 2 s", "roll_back": True}},
        tasks=[release_watch_evidence(),
               {"name": "Rollback evidence", "ansible.builtin.import_role": {
                   "name": "opsready.runbooks.rollback", "tasks_from": "evidence"},
                "vars": {"rollback_timeline": timeline}},
               {"name": "Maintenance window evidence", "ansible.builtin.import_role": {
                   "name": "opsready.runbooks.maintenance_window", "tasks_from": "evidence"},
                "vars": {"maintenance_window_timeline": timeline}}])]
    rc, stats, out = playbook(tmp_path, play, "-e", "opsready_evidence_dir=%s" % (tmp_path / "durable"),
                              *(["--check"] if check else []))
    assert rc == 0, out[-3000:]
    kept = stats["opsready_evidence"]
    assert sorted(kept) == ["maintenance_window", "release_watch", "rollback"]
    assert kept["release_watch"]["data"]["message"] == "p95 2.4 s > 2 s"
    assert kept["rollback"]["data"]["timeline"] == timeline
    assert kept["maintenance_window"]["data"]["timeline"] == timeline
    suffix = "-check" if check else ""
    assert kept["rollback"]["files"] == [str(tmp_path / "durable" / ("rollback-2026-11-25T160500Z%s.%s" % (suffix, ext)))
                                         for ext in ("json", "md")]
    assert [pathlib.Path(f).parent for f in kept["maintenance_window"]["files"]] == [tmp_path / "durable"] * 2
    (watch,) = kept["release_watch"]["files"]
    assert pathlib.Path(watch).parent == tmp_path / "watch" and watch.endswith(suffix + ".json")
    for runbook in kept.values():
        assert json.loads(pathlib.Path(runbook["files"][0]).read_text()) == runbook["data"]


def deploy_state(check):
    """What the deploy role knows when its evidence is written: a plan, and (run) a watch that rolled back."""
    watch = {"held": False, "roll_back": True, "message": "app1 api error rate 100% > 5%: rolled back"}
    state = {
        "deploy_version": "1.2.0",
        "deploy_approval": "CAB-77 approved by the on-call lead",
        "deploy_timeline": [{"at": "2026-11-25T16:05:00.123456Z", "step": "start", "detail": "deploy of 1.2.0"}],
        "deploy_plan": {"target_release": "1.2.0", "releases_before": {"localhost": "1.1.0"},
                        "hosts_to_switch": ["localhost"], "schema_before": "0002", "schema_target": "0003",
                        "schema_steps": [{"version": "0003", "name": "add_gate", "direction": "up",
                                          "sql": "ALTER TABLE items ADD COLUMN gate text;"}],
                        "compatibility": {"compatible": True, "findings": [], "unjudged": [], "message": "ok"},
                        "way_back": "1.1.0", "watch_seconds": 300}}
    if not check:
        state.update(release_watch_outcome=watch, deploy_stopped={
            "failed_task": "The release did not hold", "error": watch["message"], "hosts": {"localhost": "1.1.0"},
            "unreachable": {}, "now": "localhost on 1.1.0", "schema": "0002", "rolled_back": True,
            "way_back": "The release watch rolled the deploy back to 1.1.0."})
    return state


@pytest.mark.parametrize("check", [False, True], ids=["rolled back", "check mode"])
def test_a_deploy_keeps_its_evidence_beside_the_watch_and_the_rollback_it_ran(tmp_path, check):
    """A deploy whose watch rolled back: one job, three runbooks' evidence, each under its name in the artifacts
    (AWX's job artifacts) and in opsready_evidence_dir. In check mode the deploy keeps its plan the same way."""
    timeline = [{"at": "2026-11-25T16:10:00.123456Z", "step": "start", "detail": "rollback of localhost"}]
    tasks = [{"name": "Deploy evidence", "ansible.builtin.import_role": {
        "name": "opsready.runbooks.deploy", "tasks_from": "evidence"}}]
    if not check:   # the deploy's watch.yml gives the watch its evidence directory, deploy_evidence_dir
        watch = release_watch_evidence()
        tasks += [dict(watch, vars=dict(watch.get("vars", {}), release_watch_evidence_dir="{{ deploy_evidence_dir }}")),
                  {"name": "Rollback evidence", "ansible.builtin.import_role": {
                      "name": "opsready.runbooks.rollback", "tasks_from": "evidence"},
                   "vars": {"rollback_timeline": timeline}}]
    durable = tmp_path / "durable"
    rc, stats, out = playbook(tmp_path, [local_play(vars=deploy_state(check), tasks=tasks)],
                              "-e", "opsready_evidence_dir=%s" % durable, *(["--check"] if check else []))
    assert rc == 0, out[-3000:]
    kept = stats["opsready_evidence"]
    assert sorted(kept) == (["deploy"] if check else ["deploy", "release_watch", "rollback"])
    deploy = kept["deploy"]
    assert deploy["data"]["result"] == ("planned (check mode)" if check else "rolled back")
    assert deploy["data"]["approval"] == "CAB-77 approved by the on-call lead"
    assert deploy["data"]["plan"]["way_back"] == "1.1.0"
    suffix = "-check" if check else ""
    assert deploy["files"] == [str(durable / ("deploy-2026-11-25T160500Z%s.%s" % (suffix, ext)))
                               for ext in ("json", "md")]
    report = pathlib.Path(deploy["files"][1]).read_text()
    assert "ALTER TABLE items ADD COLUMN gate text;" in report and "- Approval: CAB-77" in report
    for runbook in kept.values():
        assert pathlib.Path(runbook["files"][0]).parent == durable
        assert json.loads(pathlib.Path(runbook["files"][0]).read_text()) == runbook["data"]
