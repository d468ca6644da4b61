"""The runbooks as AWX runs them: ansible_runner.run() on a private data directory laid out as AWX lays it out.

AWX syncs the project (a clone; `ansible-galaxy collection install -r collections/requirements.yml` into a cache the
jobs get on their collections path, tests/unit/test_awx_project.py), then, per job, writes a private data directory:
project/ (the clone), inventory/hosts, env/extravars (the survey's answers), env/cmdline (--check for job type check)
and runs ansible-runner on it, which runs ansible-playbook from project/ and writes artifacts/<ident>/: stdout,
status, rc, job_events/, and the run's stats, where set_stats (per_host false) keeps the runbooks' evidence.
Here the inventory is local only (ansible_connection=local, no lab): the runbooks refuse or fail early, and what they
say, in the events and the artifacts, is what is checked. No network: the Galaxy is unreachable.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import ansible_runner
import pytest
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
UNREACHABLE = "http://127.0.0.1:9/"   # discard port: any attempt to reach a Galaxy fails at once


def survey_defaults(playbook):
    """The extra vars AWX sends when the survey is launched with its defaults (a question without one is left out)."""
    templates = yaml.safe_load((PROJECT / "awx/job_templates.yml").read_text())["awx_job_templates"]
    (template,) = [item for item in templates if item["playbook"] == playbook]
    return {question["variable"]: question["default"] for question in template["survey_spec"]["spec"]
            if "default" in question}


def job_vars(base, cache):
    """What the job's environment sets (env/envvars): a blank home, the synced collections, no Galaxy, this venv's
    ansible-playbook."""
    return {"ANSIBLE_HOME": str(base / "home"), "ANSIBLE_COLLECTIONS_PATH": str(cache),
            "ANSIBLE_GALAXY_SERVER": UNREACHABLE, "PATH": "%s:%s" % (BIN, os.environ.get("PATH", ""))}


def clean_env(base, cache):
    """The sync's environment: none of this checkout's ANSIBLE_* settings, and the job's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(job_vars(base, cache))
    return env


@pytest.fixture(autouse=True)
def no_ansible_settings_from_here(monkeypatch):
    """ansible-runner passes its own environment on: none of this checkout's ANSIBLE_* settings."""
    for key in [key for key in os.environ if key.startswith("ANSIBLE_")]:
        monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A clone of HEAD synced as AWX syncs a project: the collection installed from the clone, offline."""
    base = tmp_path_factory.mktemp("awx_sync")
    clone, cache = base / "project", base / "requirements_collections"
    for argv, cwd in ((["git", "clone", "-q", str(PROJECT), str(clone)], base),
                      ([str(BIN / "ansible-galaxy"), "collection", "install", "-r", "collections/requirements.yml"],
                       clone)):
        done = subprocess.run(argv, cwd=cwd, env=clean_env(base, cache), capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {"base": base, "clone": clone, "cache": cache}


INVENTORY = """\
[app]
app-local ansible_connection=local ansible_python_interpreter={python}

[all:vars]
opsready_evidence_dir={evidence}
opsready_acme={{"directory": "https://127.0.0.1:9/dir", "host": "app-local", "state_dir": "/tmp/opsready-acme"}}
opsready_acme_webroot={{"host": "app-local", "path": "/tmp/opsready-webroot"}}

[app:vars]
rollback_db={{"login_host": "127.0.0.1", "login_port": 9}}
health_check_checks=[{{"name": "root disk", "disk": {{"path": "/"}}}}]
opsready_pgbouncer={{"database": "app", "login_port": 9}}
opsready_pg_replication={{"user": "replicator"}}
opsready_pg_switchover={{"user": "switchover"}}
"""


def run_job(synced, tmp_path, playbook, extravars, job_type="run"):
    """One job: the private data directory AWX writes (the project copied in), then ansible_runner.run() on it."""
    private = tmp_path / "job"
    shutil.copytree(synced["clone"], private / "project", symlinks=True, ignore=shutil.ignore_patterns(".git"))
    (private / "inventory").mkdir()
    (private / "inventory" / "hosts").write_text(INVENTORY.format(python=sys.executable, evidence=private / "evidence"))
    (private / "env").mkdir()
    (private / "env" / "extravars").write_text(json.dumps(extravars))
    (private / "env" / "envvars").write_text(json.dumps(job_vars(synced["base"], synced["cache"])))
    if job_type == "check":
        (private / "env" / "cmdline").write_text("--check")
    runner = ansible_runner.run(private_data_dir=str(private), playbook=playbook, ident="job", quiet=True)
    return runner, private / "artifacts" / "job"


def events(artifacts, name):
    """The job's events of one kind, as AWX reads them: from artifacts/<ident>/job_events/, in order."""
    found = [json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")]
    return [event for event in sorted(found, key=lambda item: item["counter"]) if event["event"] == name]


def evidence(artifacts, runbook):
    """The runbook's evidence in the job's artifacts: set_stats (per_host false) lands in the stats event's
    artifact_data, which AWX keeps as the job's artifacts."""
    (stats,) = events(artifacts, "playbook_on_stats")
    return stats["event_data"]["artifact_data"]["opsready_evidence"][runbook]


def refusals(artifacts):
    """(task, message) of every failed task, from the runner_on_failed events."""
    return [(event["event_data"]["task"], event["event_data"]["res"]["msg"])
            for event in events(artifacts, "runner_on_failed")]


def finished(runner, artifacts, status, rc):
    """The run ended as expected, and the artifacts say so too (what AWX shows as the job's status and output)."""
    assert (runner.status, runner.rc) == (status, rc), (artifacts / "stdout").read_text()[-3000:]
    assert (artifacts / "status").read_text() == status and (artifacts / "rc").read_text() == str(rc)
    return (artifacts / "stdout").read_text()


def test_health_check_with_the_survey_defaults_passes_and_keeps_its_evidence(synced, tmp_path):
    """The only runbook that can pass here: the inventory gives the app hosts a check of the local root disk."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/health_check.yml",
                                dict(survey_defaults("playbooks/health_check.yml"), health_check_hosts="app"))
    stdout = finished(runner, artifacts, "successful", 0)
    assert "Healthy per policy fail_on critical: 1 checks" in stdout
    assert runner.stats["failures"] == {} and runner.stats["ok"]["app-local"] > 0
    kept = evidence(artifacts, "health_check")
    assert kept["data"]["summary"]["total"] == 1 and kept["data"]["summary"]["ok"] == 1
    assert [(check["name"], check["type"], check["state"]) for check in kept["data"]["checks"]] == [
        ("root disk", "disk", "ok")]
    assert [pathlib.Path(path).parent for path in kept["files"]] == [tmp_path / "job" / "evidence"] * 2
    assert events(artifacts, "runner_on_failed") == []


def test_a_pattern_that_matches_no_host_is_refused_before_anything_runs(synced, tmp_path):
    """release_watch with its survey defaults (watch 300 s, roll back) aimed at hosts the inventory does not have."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/release_watch.yml",
                                dict(survey_defaults("playbooks/release_watch.yml"), release_watch_hosts="nomatch"))
    finished(runner, artifacts, "failed", 2)
    ((task, message),) = refusals(artifacts)
    assert task == "The host pattern matches at least one host of the inventory: release_watch_hosts"
    assert message.startswith("release_watch_hosts=nomatch matches no host of the inventory (%s)"
                              % (tmp_path / "job" / "inventory"))
    assert message.endswith("nothing was done. Hosts and groups: app, app-local.")
    assert set(runner.stats["processed"]) == {"localhost"}   # the watch's play never started


def test_deploy_in_check_mode_without_a_release_is_refused_and_says_how_to_name_it(synced, tmp_path):
    runner, artifacts = run_job(synced, tmp_path, "playbooks/deploy.yml", survey_defaults("playbooks/deploy.yml"),
                                job_type="check")
    assert json.loads((artifacts / "command").read_text())["command"][1] == "--check"   # env/cmdline: job type
    finished(runner, artifacts, "failed", 2)
    first = refusals(artifacts)[0]
    assert first == ("The release to deploy is named", "Name the release to deploy, a folder under /srv/app/releases: "
                     "-e '{\"deploy_version\": \"<release>\"}'. Nothing was changed.")
    stopped = evidence(artifacts, "deploy")["data"]
    assert (stopped["result"], stopped["stopped"]["failed_task"]) == ("stopped", "The release to deploy is named")
    assert stopped["stopped"]["way_back"].startswith("Nothing was changed (check mode).")
    assert stopped["timeline"][0]["detail"].startswith("check mode: plan only")


def test_rollback_in_check_mode_stops_at_the_lock_when_the_database_cannot_be_reached(synced, tmp_path):
    """The inventory points the rollback's database at the discard port: the lock is refused, nothing else runs."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/rollback.yml", survey_defaults("playbooks/rollback.yml"),
                                job_type="check")
    finished(runner, artifacts, "failed", 2)
    assert refusals(artifacts)[0][0] == "One runbook at a time on this platform (the lock in its database)"
    kept = evidence(artifacts, "rollback")["data"]
    assert kept["change_window"]["allowed"] and kept["lock"]["taken"] is None
    assert 'connection to server at "127.0.0.1", port 9 failed' in kept["lock"]["refused"]
    assert kept["stopped"]["hosts"] == {"app-local": "unknown"} and kept["backup"] is None
    assert kept["stopped"]["way_back"].startswith("Nothing was changed (check mode).")


def test_maintenance_window_in_check_mode_with_nothing_pending_has_nothing_to_do(synced, tmp_path):
    """The survey defaults (whole site, no tasks file), no change window configured and no migration: the run says
    so and passes, the site untouched."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/maintenance_window.yml",
                                survey_defaults("playbooks/maintenance_window.yml"), job_type="check")
    finished(runner, artifacts, "successful", 0)
    kept = evidence(artifacts, "maintenance_window")
    assert (kept["data"]["result"], kept["data"]["reason"], kept["data"]["mode"]) == (
        "nothing to do", "scheduled maintenance", "whole site")
    assert kept["data"]["hosts"] == ["app-local"] and kept["data"]["backup"] is None
    assert [pathlib.Path(path).suffix for path in kept["files"]] == [".json", ".md"]
    assert all(pathlib.Path(path).stem.endswith("-check") for path in kept["files"])   # a plan, marked as one


def test_maintenance_on_without_a_reason_is_refused_and_names_the_variable(synced, tmp_path):
    """The survey's reason is optional (off needs none); on without one is refused before anything changes."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/maintenance.yml",
                                dict(survey_defaults("playbooks/maintenance.yml"), maintenance_hold_state="on"))
    finished(runner, artifacts, "failed", 2)
    task, message = refusals(artifacts)[0]
    assert task == "What to do is clear before anything changes"
    assert message.startswith("turning maintenance on needs a reason users and the team will read")
    assert "maintenance_hold_reason" in message
    kept = evidence(artifacts, "maintenance_hold")["data"]
    assert (kept["state"], kept["result"], kept["maintenance"]) == ("on", "stopped", {})
    assert kept["stopped"].endswith("Maintenance now: app-local: absent.")


@pytest.mark.parametrize("runbook, way_back", [
    ("db_switchover", "Nothing was stopped and the clients were never paused."),
    ("db_failover", "Nothing was changed: the standby was not promoted and the clients were not repointed."),
])
def test_db_switchover_and_failover_with_no_cluster_are_refused_before_any_member_is_reached(synced, tmp_path, runbook,
                                                                                             way_back):
    """The survey defaults in check mode, on an inventory with the platform's PgBouncer and replication settings but
    no group db: the settings are refused first, and the evidence says where it stopped and that nothing changed."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/%s.yml" % runbook,
                                survey_defaults("playbooks/%s.yml" % runbook), job_type="check")
    finished(runner, artifacts, "failed", 2)
    refused = "%s_members must list at least two members by name (the group db), got []. Nothing was changed." % runbook
    task, message = refusals(artifacts)[0]
    assert task == "The settings make sense (refused before anything is reached or changed)" and message.endswith(refused)
    kept = evidence(artifacts, runbook)
    assert (kept["data"]["result"], kept["data"]["check_mode"], kept["data"]["plan"]) == ("stopped", True, None)
    assert kept["data"]["stopped"] == {"failed_task": task, "error": refused, "now": "no member's state could be read",
                                       "way_back": way_back}
    assert [pathlib.Path(path).name.endswith("-check.json") for path in kept["files"]] == [True]


def test_cert_renewal_with_no_certificate_declared_is_refused_and_keeps_its_evidence(synced, tmp_path):
    """The survey defaults in check mode, on an inventory that declares no certificate: refused first, said, and
    the evidence kept in the stats (the report empty, nothing planned)."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/cert_renewal.yml", survey_defaults("playbooks/cert_renewal.yml"),
                                job_type="check")
    finished(runner, artifacts, "failed", 2)
    refused = "cert_renewal_certificates must list at least one certificate. Nothing was changed."
    task, message = refusals(artifacts)[0]
    assert task == "The certificates declared make sense (refused before anything is read or changed)"
    assert message.endswith(refused), message
    kept = evidence(artifacts, "cert_renewal")["data"]
    assert (kept["result"], kept["check_mode"], kept["report"]) == ("stopped", True, [])
    assert kept["stopped"]["error"] == refused


def test_db_rejoin_with_its_default_members_on_an_inventory_without_them_is_refused(synced, tmp_path):
    """The rejoin's members are the job's limit or the group db: none here, so nothing runs past the check."""
    runner, artifacts = run_job(synced, tmp_path, "playbooks/db_rejoin.yml", survey_defaults("playbooks/db_rejoin.yml"))
    finished(runner, artifacts, "failed", 2)
    ((task, message),) = refusals(artifacts)
    assert task == "The host pattern matches at least one host of the inventory: db_rejoin_hosts"
    assert message.startswith("db_rejoin_hosts=db matches no host of the inventory")
    assert set(runner.stats["processed"]) == {"localhost"}
