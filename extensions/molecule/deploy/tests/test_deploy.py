"""playbooks/deploy.yml on the real lab: refusals, check mode, a deploy under traffic, and a bad release rolled back.

converge deployed 1.2.0 (and idempotence ran it again). The tests then go back to 1.1.0 with the rollback runbook
and forward again in each way a deploy can end. The lab is left on its live release (1.1.0, schema 0002) whatever
happens.
"""
import json
import subprocess

import pytest
from labtest import PROJECT, Poller, _ansible_env, ansible_playbook, psql, recap_changed, under_traffic

APP_HOSTS = ("app1", "app2")
LIVE, NEW = "1.1.0", "1.2.0"


def live_releases(hosts):
    return {name: hosts[name].check_output("readlink /srv/demo/current") for name in APP_HOSTS}


def schema(hosts):
    return psql(hosts["db1"], "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations")


def backups(hosts):
    return hosts["db1"].check_output("ls /var/backups/opsready/")


def on(hosts, release):
    return live_releases(hosts) == {name: "releases/" + release for name in APP_HOSTS}


def back_to_live(hosts):
    if not on(hosts, LIVE) or schema(hosts) != "0001,0002":
        run = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_version=" + LIVE)
        assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope="module", autouse=True)
def leave_the_lab_on_its_live_release(hosts):
    yield
    back_to_live(hosts)


def deploy(tmp_path, *args):
    """Run the deploy runbook with its evidence (and the rollback's, should the watch run one) in tmp_path."""
    run = ansible_playbook("playbooks/deploy.yml", "-e", "deploy_evidence_dir=%s" % tmp_path,
                           "-e", "release_watch_interval=2", *args)
    found = {kind: sorted(tmp_path.glob(kind + "-*.json")) for kind in ("deploy", "rollback", "release_watch")}
    return run, {kind: json.loads(paths[-1].read_text()) if paths else None for kind, paths in found.items()}


def said(run):
    return " ".join(run.stdout.split())


def test_converge_deployed_the_new_release_and_its_schema(hosts):
    assert on(hosts, NEW) and schema(hosts) == "0001,0002,0003"


def test_an_older_release_is_refused_and_points_at_the_rollback(tmp_path, hosts):
    run, evidence = deploy(tmp_path, "-e", "deploy_version=" + LIVE)
    assert run.returncode != 0
    assert "1.1.0 is older than the release live on app1 (1.2.0), app2 (1.2.0): going back is a rollback, which " \
        "takes the schema back too: ansible-playbook playbooks/rollback.yml -e rollback_version=1.1.0. Nothing was " \
        "changed." in said(run), said(run)[-3000:]
    assert evidence["deploy"]["result"] == "stopped" and evidence["deploy"]["plan"] == {}
    assert on(hosts, NEW) and schema(hosts) == "0001,0002,0003"


def test_a_rollback_cannot_go_forward_and_points_at_the_deploy(tmp_path, hosts):
    back_to_live(hosts)
    run = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_evidence_dir=%s" % tmp_path,
                           "-e", "rollback_version=" + NEW)
    assert run.returncode != 0
    text = said(run)
    assert "1.2.0 is newer than the release live on app1 (1.1.0), app2 (1.1.0): going forward is a deploy" in text
    assert "ansible-playbook playbooks/deploy.yml -e deploy_version=1.2.0" in text
    assert "the ones switched run" not in text and "Nothing was changed" in text
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"


@pytest.fixture()
def breaking_release(hosts):
    """1.3.0: 1.2.0 plus a migration that drops a column 1.1.0 still reads (items.note)."""
    for name in APP_HOSTS:
        hosts[name].check_output(
            "cp -a /srv/demo/releases/1.2.0 /srv/demo/releases/1.3.0 && cd /srv/demo/releases/1.3.0/migrations && "
            "printf -- '-- the contract step, too early\\nALTER TABLE items DROP COLUMN note;\\n' > 0004_drop_note.up.sql"
            " && printf 'ALTER TABLE items ADD COLUMN note text;\\n' > 0004_drop_note.down.sql")
    yield "1.3.0"
    for name in APP_HOSTS:
        hosts[name].check_output("rm -rf /srv/demo/releases/1.3.0")


def test_a_migration_that_breaks_the_live_release_is_refused_unless_acknowledged_and_approved(
        tmp_path, hosts, breaking_release):
    back_to_live(hosts)
    run, evidence = deploy(tmp_path, "-e", "deploy_version=" + breaking_release)
    text = said(run)
    assert run.returncode != 0 and "0004" in text and "drop column" in text, text[-3000:]
    assert '-e \'{"deploy_migrations_acknowledged": ["0004"]}\'' in run.stdout or "deploy_migrations_acknowledged" in text
    assert evidence["deploy"]["result"] == "stopped"

    acknowledged = json.dumps({"deploy_version": breaking_release, "deploy_migrations_acknowledged": ["0004"]})
    run, evidence = deploy(tmp_path, "-e", acknowledged)
    text = said(run)
    assert run.returncode != 0 and "This change is risky (acknowledged breaking migrations: 0004)" in text, text[-3000:]
    assert '"deploy_approval": "CAB-1234 approved by <name>"' in text

    approved = json.dumps({"deploy_version": breaking_release, "deploy_migrations_acknowledged": ["0004"],
                           "deploy_approval": "CAB-77 approved by the on-call lead"})
    run, evidence = deploy(tmp_path, "--check", "-e", approved)
    assert run.returncode == 0, said(run)[-3000:]
    assert evidence["deploy"]["result"] == "planned (check mode)"
    assert evidence["deploy"]["approval"] == "CAB-77 approved by the on-call lead"
    findings = evidence["deploy"]["plan"]["compatibility"]["findings"]
    assert [(f["version"], f["kind"], f["acknowledged"]) for f in findings] == [("0004", "drop column", True)]
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"


def test_check_mode_shows_the_plan_at_the_end_and_changes_nothing(tmp_path, hosts):
    back_to_live(hosts)
    taken = backups(hosts)
    run, evidence = deploy(tmp_path, "--check", "-e", "deploy_version=" + NEW)
    assert run.returncode == 0, said(run)[-3000:]
    tail = " ".join(run.stdout.split("PLAY RECAP")[0].split()[-80:])
    assert "planned (check mode). Deploy 1.2.0: switch app1, app2 (before: app1 1.1.0, app2 1.1.0); schema 0002 -> " \
        "0003 (0003, compatible with the live release); then watch 300 s and roll back to 1.1.0" in tail, tail
    assert evidence["deploy"]["health"]["note"] == "check mode: the state before any change, not the result"
    assert evidence["deploy"]["watch"] is None and evidence["release_watch"] is None
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"
    assert backups(hosts) == taken


def fault(hosts, spec=None):
    for name in APP_HOSTS:
        if spec is None:
            hosts[name].check_output("rm -f /etc/demo/fault.json")
        else:
            hosts[name].check_output("printf '%%s' %s > /etc/demo/fault.json && chmod 0644 /etc/demo/fault.json",
                                     json.dumps(spec))


def test_a_release_that_fails_the_health_gate_is_rolled_back_automatically(tmp_path, lab, hosts):
    """1.2.0's API fails every request from the start: the gate (the API as users reach it) stops the deploy after
    both hosts and the schema moved, and the rollback takes them back (deploy_rollback_on_failure)."""
    back_to_live(hosts)
    fault(hosts, {"release": NEW, "api_status": 500})
    try:
        args = ("-e", "deploy_version=" + NEW, "-e", "deploy_health_wait=4")
        (run, evidence), poller = under_traffic(lab, lambda: deploy(tmp_path, *args))
    finally:
        fault(hosts)
    text = said(run)
    assert run.returncode != 0
    assert 'Deploy stopped at "Health gate - wait until every check passes": 9 checks: 8 ok, 1 critical; failing ' \
        "(fail_on=critical): api as users reach it (public, TLS) is critical: HTTP 500" in text, text[-3000:]
    assert "The automatic rollback (deploy_rollback_on_failure) rolled the deploy back to 1.1.0" in text
    assert evidence["deploy"]["result"] == "rolled back" and evidence["deploy"]["watch"] is None
    assert evidence["rollback"]["result"] == "done" and evidence["rollback"]["plan"]["target_release"] == LIVE
    assert evidence["rollback"]["change_window"]["override_reason"].startswith(
        'automatic rollback, the deploy of 1.2.0 stopped at "Health gate - wait until every check passes"')
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"
    assert poller.codes[500] > 0 and poller.codes[200] > 0


def test_a_release_that_degrades_during_the_watch_is_rolled_back_automatically(tmp_path, lab, hosts):
    """1.2.0 passes the gate, then its API starts failing (the fault switched on once the watch runs): the watch sees
    the app's own error rate pass 5 % and rolls back to the release that was live."""
    back_to_live(hosts)
    command = ["ansible-playbook", str(PROJECT / "playbooks/deploy.yml"), "-e", "deploy_evidence_dir=%s" % tmp_path,
               "-e", "release_watch_interval=2", "-e", "deploy_version=" + NEW, "-e", "deploy_watch_seconds=120"]
    poller = Poller(lab)
    poller.start()
    try:
        proc = subprocess.Popen(command, cwd=PROJECT, env=_ansible_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("TASK [opsready.runbooks.release_watch : Watch the release on every app host"):
                fault(hosts, {"release": NEW, "api_status": 500})
        proc.wait(timeout=600)
    finally:
        fault(hosts)
        poller.stop.set()
        poller.join()
    text = " ".join("".join(lines).split())
    assert proc.returncode != 0
    assert "The release watch rolled the deploy back to 1.1.0" in text, text[-3000:]
    deployed = json.loads(sorted(tmp_path.glob("deploy-*.json"))[-1].read_text())
    rolled = json.loads(sorted(tmp_path.glob("rollback-*.json"))[-1].read_text())
    assert deployed["result"] == "rolled back" and deployed["watch"]["roll_back"] is True
    assert deployed["health"]["state"] == "ok"                  # the gate passed: the watch caught it
    assert rolled["result"] == "done" and rolled["plan"]["target_release"] == LIVE
    assert rolled["change_window"]["override_reason"].startswith(
        "automatic rollback, the release did not hold: app1 api error rate and p95: error rate")
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"
    assert poller.codes[500] > 0 and poller.codes[200] > 0


def test_a_deploy_and_its_rollback_under_traffic_serve_every_request(tmp_path, lab, hosts):
    back_to_live(hosts)
    args = ("-e", "deploy_version=" + NEW, "-e", "deploy_watch_seconds=6")
    (run, evidence), poller = under_traffic(lab, lambda: deploy(tmp_path, *args))
    assert run.returncode == 0, said(run)[-3000:]
    assert poller.failures == [] and poller.codes[200] > 50, (poller.failures[:10], poller.codes)
    assert on(hosts, NEW) and schema(hosts) == "0001,0002,0003"
    deployed = evidence["deploy"]
    assert deployed["result"] == "done" and deployed["watch"]["held"] is True
    assert deployed["backup"]["read_to_end"] is True
    steps = [entry["step"] for entry in deployed["timeline"]]
    assert steps == ["start", "change window", "lock", "live releases", "plan", "backup", "schema", "release app1",
                     "release app2", "workers restarted", "healthy", "watch"]
    assert deployed["lock"]["released"] is not None

    again, evidence = deploy(tmp_path, "-e", "deploy_version=" + NEW)
    assert again.returncode == 0 and set(recap_changed(again.stdout).values()) == {0}
    assert evidence["deploy"]["plan"]["hosts_to_switch"] == [] and evidence["deploy"]["watch"] is None

    back, backward = under_traffic(lab, lambda: ansible_playbook("playbooks/rollback.yml", "-e", "rollback_version=" + LIVE))
    assert back.returncode == 0 and backward.failures == [], (said(back)[-2000:], backward.failures[:10])
    assert on(hosts, LIVE) and schema(hosts) == "0001,0002"
