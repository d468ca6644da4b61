"""A host dies mid-run: app2 is killed (podman kill) while the rollback and the maintenance window are running.

Before, an unreachable host skipped the runbook's rescue and always: no report, no evidence, the platform lock held
for its whole lease, and the next maintenance window said "nothing to do" while the site answered 503. Each test
starts app2 again and leaves the lab as it found it (1.1.0 everywhere, in rotation, maintenance off, workers up).
"""
import json
import subprocess

import pytest
from labtest import PROJECT, Poller, _ansible_env, ansible_module, ansible_playbook, psql, wait_for

APP_HOSTS = ("app1", "app2")
LIVE, OLDER = "1.1.0", "1.0.0"
LOCK = "SELECT count(*) FROM opsready_runbook_lock WHERE name = 'platform'"
WINDOW = {"maintenance_window_at": "2026-11-25T16:30:00Z",
          "maintenance_window_override_reason": "lab test: a host dies during the work"}


def podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=60, check=False)


def release(hosts, name):
    return hosts[name].check_output("readlink /srv/demo/current")


def servers(hosts, column=6):
    """Each app server's state in HAProxy (show servers state): column 6 the admin state (0 READY, 1 MAINT, 8 DRAIN),
    column 5 the operational state (2 UP)."""
    state = hosts["lb1"].check_output("echo 'show servers state app' | socat stdio /run/haproxy/admin.sock")
    return {cols[3]: int(cols[column]) for cols in (line.split() for line in state.splitlines()[2:]) if len(cols) > 6}


def serving(hosts, name):
    return servers(hosts)[name] == 0 and servers(hosts, 5)[name] == 2


def maintenance(name):
    result, raw = ansible_module(name, "opsready.runbooks.maintenance_mode", {"name": "site", "state": "absent"},
                                 check=True)
    return result["before"]["state"]


def start_app2(hosts):
    if podman("inspect", "-f", "{{.State.Running}}", "app2").stdout.strip() != "true":
        assert podman("start", "app2").returncode == 0
    assert wait_for(lambda: hosts["app2"].run("systemctl is-system-running").stdout.strip() == "running",
                    timeout=60), "app2 did not come back"


def evidence(folder, kind):
    found = sorted(folder.glob(kind + "-*.json"))
    assert found, "no %s evidence in %s" % (kind, folder)
    return json.loads(found[-1].read_text())


def said(run):
    return " ".join(run.stdout.split())


def kill_app2_when(proc, ready):
    """Kill app2 once ready() says so (the run is where the test wants it); the run's (returncode, output)."""
    try:
        assert wait_for(lambda: proc.poll() is not None or ready(), timeout=300, interval=0.2) and proc.poll() is None, \
            "the run ended before the moment to kill app2"
        assert podman("kill", "app2").returncode == 0
        out, dummy = proc.communicate(timeout=600)
        return proc.returncode, out
    finally:
        if proc.poll() is None:
            proc.kill()


def background(playbook, *args):
    return subprocess.Popen(["ansible-playbook", str(PROJECT / playbook), *args], cwd=PROJECT, env=_ansible_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def put_back(hosts, tmp_path):
    """Whatever happened: app2 running, 1.1.0 everywhere and in rotation, maintenance off, workers up."""
    yield
    start_app2(hosts)
    if any(release(hosts, name) != "releases/" + LIVE for name in APP_HOSTS) or set(servers(hosts).values()) != {0}:
        run = ansible_playbook("playbooks/deploy.yml", "-e", "deploy_version=" + LIVE, "-e", "deploy_watch_seconds=0",
                               "-e", "deploy_evidence_dir=%s" % (tmp_path / "put-back"))
        assert run.returncode == 0, run.stdout[-3000:]
    if any(maintenance(name) == "present" for name in APP_HOSTS):
        run = ansible_playbook("playbooks/maintenance_window.yml", "-e", json.dumps(dict(
            WINDOW, maintenance_window_finish=True, maintenance_window_evidence_dir=str(tmp_path / "put-back"))))
        assert run.returncode == 0, run.stdout[-3000:]


def test_a_host_killed_mid_rollback_is_reported_and_a_later_run_finishes_it(tmp_path, lab, hosts, put_back):
    poller = Poller(lab)
    poller.start()
    try:
        proc = background("playbooks/rollback.yml", "-e", "rollback_version=" + OLDER,
                          "-e", "rollback_evidence_dir=%s" % (tmp_path / "killed"))
        # app1 switched and back in rotation, app2 not yet drained: HAProxy sends app2 requests when it dies
        rc, out = kill_app2_when(proc, lambda: release(hosts, "app1") == "releases/" + OLDER and serving(hosts, "app1"))
    finally:
        poller.stop.set()
        poller.join()
    text = " ".join(out.split())
    assert rc != 0 and 'Rollback stopped at "Switched and restarted: app2": app2 cannot be reached' in text, text[-3000:]
    assert "Now: app1 on 1.0.0, app2 unreachable at " in text and "(last known on 1.1.0); schema at 0002" in text
    assert "app2 cannot be reached: what it runs now is not known" in text
    report = evidence(tmp_path / "killed", "rollback")
    assert report["result"] == "stopped"
    assert report["stopped"]["hosts"] == {"app1": OLDER, "app2": "unreachable"}
    assert report["stopped"]["unreachable"]["app2"]["last_known"] == LIVE
    assert report["lock"]["released"] == "lock platform released" and psql(hosts["db1"], LOCK) == "0"
    # the dead server went to MAINT at once (no wait for a drain), and the state file keeps it there
    assert servers(hosts)["app2"] == 1
    assert "app2" in hosts["lb1"].check_output("cat /var/lib/haproxy/server-state")
    # HAProxy retried the requests app2 could not answer on app1 (retries, redispatch): users saw no error
    assert poller.failures == [] and poller.codes[200] > 20, poller.failures

    start_app2(hosts)
    again = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_version=" + OLDER,
                             "-e", "rollback_evidence_dir=%s" % (tmp_path / "again"))
    assert again.returncode == 0, again.stdout[-3000:]
    left = [step["detail"] for step in evidence(tmp_path / "again", "rollback")["timeline"] if step["step"] == "left over"]
    assert left == ["An earlier run left app2: in MAINT on lb1"]
    assert [release(hosts, name) for name in APP_HOSTS] == ["releases/" + OLDER] * 2 and set(servers(hosts).values()) == {0}


def test_a_host_killed_during_the_maintenance_work_keeps_the_site_closed_and_a_later_run_finishes_it(
        tmp_path, lab, hosts, put_back):
    proc = background("playbooks/maintenance_window.yml", "-e", json.dumps(dict(
        WINDOW, maintenance_window_commands=[["sleep", "4"]], maintenance_window_evidence_dir=str(tmp_path / "killed"))))
    rc, out = kill_app2_when(proc, lambda: hosts["app1"].run("pgrep -x sleep").rc == 0)
    text = " ".join(out.split())
    assert rc != 0 and 'Maintenance window stopped at "Every host answered: commands on app2"' in text, text[-3000:]
    assert "the site stays in maintenance (app1: present, app2: unreachable)" in text
    report = evidence(tmp_path / "killed", "maintenance_window")
    assert report["result"] == "failed" and report["states"]["failed"]["maintenance"] == {
        "app1": "present", "app2": "unreachable"}
    assert report["lock"]["released"] == "lock platform released" and psql(hosts["db1"], LOCK) == "0"

    # nothing pending, but the site is closed: a later run refuses to call that "nothing to do", and changes nothing
    second = ansible_playbook("playbooks/maintenance_window.yml", "-e", json.dumps(dict(
        WINDOW, maintenance_window_evidence_dir=str(tmp_path / "second"))))
    text = said(second)
    assert second.returncode != 0 and "Nothing is pending, but an earlier run left app1: maintenance on since" in text
    assert "workers not running: demo-worker inactive; app2: unreachable (" in text, text[-3000:]
    assert evidence(tmp_path / "second", "maintenance_window")["result"] == "refused"
    assert hosts["app1"].run("systemctl is-active demo-worker").stdout.strip() == "inactive"

    # finishing while app2 is still dead would close the site around it: refused before anything changes
    early = ansible_playbook("playbooks/maintenance_window.yml", "-e", json.dumps(dict(
        WINDOW, maintenance_window_finish=True, maintenance_window_evidence_dir=str(tmp_path / "early"))))
    assert early.returncode != 0 and "Cannot reach app2: " in said(early), said(early)[-3000:]
    assert evidence(tmp_path / "early", "maintenance_window")["result"] == "refused"

    start_app2(hosts)
    finish = ansible_playbook("playbooks/maintenance_window.yml", "-e", json.dumps(dict(
        WINDOW, maintenance_window_finish=True, maintenance_window_evidence_dir=str(tmp_path / "finish"))))
    assert finish.returncode == 0, finish.stdout[-3000:]
    assert evidence(tmp_path / "finish", "maintenance_window")["result"] == "done"
    for name in APP_HOSTS:
        assert hosts[name].run("systemctl is-active demo-worker").stdout.strip() == "active"
        assert maintenance(name) == "absent"
    status = hosts["lb1"].run("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/api/items").stdout
    assert status == "200"


def test_an_unscheduled_hold_with_a_host_that_cannot_be_reached_fails_safe_and_says_where_each_host_is(tmp_path, hosts):
    """maintenance.yml (the unscheduled hold) on the app hosts plus app3, a host that does not answer (an address on
    the lab network nobody has): the run stops, says app3 cannot be reached and that app1 and app2 hold the site,
    and writes its evidence; the hold is then taken off the reachable hosts."""
    extra = tmp_path / "app3.yml"
    extra.write_text(json.dumps({"all": {"children": {"lab": {"children": {"app": {"hosts": {
        "app3": {"lab_ip": "10.89.77.29"}}}}}}}}))
    on = json.dumps({"maintenance_hold_state": "on", "maintenance_hold_reason": "lab test: a host that is gone",
                     "maintenance_hold_evidence_dir": str(tmp_path / "on"), "maintenance_hold_webhook_url": ""})
    try:
        run = ansible_playbook("playbooks/maintenance.yml", "-i", "inventories/lab/hosts.yml", "-i", str(extra), "-e", on)
        text = said(run)
        assert run.returncode != 0 and 'Maintenance on stopped at "Every host answered: maintenance on"' in text, \
            text[-3000:]
        assert "app3: Task failed: Data could not be sent to remote host \"10.89.77.29\"" in text
        assert "Maintenance now: app1: present, app2: present, app3: unreachable." in text, text[-3000:]
        report = evidence(tmp_path / "on", "maintenance_hold")
        assert report["result"] == "stopped" and report["hosts"] == ["app1", "app2", "app3"]
        assert report["maintenance"]["app3"] == {} and report["maintenance"]["app1"]["state"] == "present"
        assert [maintenance(name) for name in APP_HOSTS] == ["present", "present"]   # the site is held: fails safe
    finally:
        off = ansible_playbook("playbooks/maintenance.yml", "-e", "maintenance_hold_state=off",
                               "-e", "maintenance_hold_evidence_dir=%s" % (tmp_path / "off"))
        assert off.returncode == 0, off.stdout[-3000:]
    assert [maintenance(name) for name in APP_HOSTS] == ["absent", "absent"]
