"""playbooks/maintenance_window.yml on the lab, watched from outside: through the load balancer (TLS, as users reach
the site), on the app hosts, in Redis, PostgreSQL, HAProxy and the webhook sink. Nothing is mocked."""
import datetime
import json
import subprocess
import time

import pytest
from labtest import PROJECT, Poller, _ansible_env, ansible_module, ansible_playbook, psql, wait_for

INSIDE = "maintenance_window_at=2026-11-25T16:30:00Z"      # a Wednesday, inside the lab's 16:00-18:00 UTC window
# A rehearsal time counts in check mode only: a real run at that time also gives the override reason (the lab's
# clock is rarely inside the window), which the change window records.
REHEARSAL = json.dumps({"maintenance_window_at": "2026-11-25T16:30:00Z",
                        "maintenance_window_override_reason": "lab test, rehearsed at 2026-11-25T16:30:00Z"})
OUTSIDE = "maintenance_window_at=2026-11-25T12:00:00Z"
APPS = ("app1", "app2")


def public(hosts, lab, path="/api/items", *curl):
    """Status and headers of a request through lb1's TLS front end, as a user makes it."""
    result = hosts["lb1"].run("curl -sS -o /dev/null -D - --max-time 10" + " %s" * len(curl) + " https://%s%s",
                              *curl, lab["lab_public_name"], path)
    lines = result.stdout.splitlines()
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]) if lines else None, {k.lower(): v for k, v in headers.items()}


def sink_url(lab):
    return "http://%s:%s/_sink/requests" % (lab["addresses"]["sink1"], lab["lab_sink_port"])


def sink(lab):
    return json.loads(subprocess.run(["curl", "-sS", sink_url(lab)], capture_output=True, text=True, check=True).stdout)


def events(lab, reason=None):
    bodies = [json.loads(entry["body"]) for entry in sink(lab) if entry["path"] == "/hooks/maintenance"]
    return [body["event"] for body in bodies if reason in (None, body["window"]["reason"])]


def clear_sink(lab):
    subprocess.run(["curl", "-sS", "-X", "DELETE", sink_url(lab)], capture_output=True, check=True)


def queue_length(hosts, lab):
    out = hosts["redis1"].run("redis-cli --no-auth-warning -a %s LLEN %s", lab["lab_redis_password"],
                              lab["lab_redis_queue"]).stdout
    return int(out.strip())


def state_of_the_site(hosts, lab):
    """What a run that changes nothing must leave exactly as it was."""
    return {
        "public": public(hosts, lab)[0],
        "workers": [hosts[h].run("systemctl is-active demo-worker").stdout.strip() for h in APPS],
        "maintenance files": [hosts[h].run("ls /etc/nginx/opsready/maintenance").stdout for h in APPS],
        "schema": psql(hosts["db1"], "SELECT max(version) FROM schema_migrations"),
        "backups": hosts["db1"].run("ls /var/backups/opsready").stdout,
        "notifications": len(sink(lab)),
    }


def window(tmp_path, *args):
    run = ansible_playbook("playbooks/maintenance_window.yml", "-e", "maintenance_window_evidence_dir=%s" % tmp_path,
                           *args)
    evidence = sorted(tmp_path.glob("maintenance_window-*.json"))
    return run, json.loads(evidence[-1].read_text()) if evidence else None


@pytest.fixture
def pending(hosts):
    """A pending migration (0004) in the live release; dropped again afterwards."""
    for h in APPS:
        hosts[h].run("cd /srv/demo/current/migrations && echo 'ALTER TABLE maintenance_log ADD COLUMN who text;' "
                     "> 0004_log_who.up.sql && echo 'ALTER TABLE maintenance_log DROP COLUMN who;' > 0004_log_who.down.sql")
    yield "0004"
    ansible_module("app1", "opsready.runbooks.db_migration", {
        "path": "/srv/demo/current/migrations", "state": "rolled_back", "target": "0003", "login_host": "db1",
        "login_user": "demo", "login_password": "demo-lab-password", "login_db": "demo"})
    for h in APPS:
        hosts[h].run("rm -f /srv/demo/current/migrations/0004_log_who.*")


def test_converge_ran_the_window_and_left_the_site_serving(hosts, lab):
    assert psql(hosts["db1"], "SELECT max(version) FROM schema_migrations") == "0003"
    assert events(lab, "molecule converge") == ["start", "all_clear"]
    assert public(hosts, lab)[0] == 200
    for h in APPS:
        assert hosts[h].run("systemctl is-active demo-worker").stdout.strip() == "active"
        assert hosts[h].run("ls /etc/nginx/opsready/maintenance").stdout == ""
    backups = hosts["db1"].run("ls /var/backups/opsready").stdout
    assert "demo-before-maintenance-" in backups


def test_inside_the_window(tmp_path, hosts, lab, pending):
    """The window from the outside while it is open: a tasks file holds it open until the test has looked."""
    clear_sink(lab)
    for h in APPS:
        hosts[h].run("rm -f /run/window-may-close")
    tasks = tmp_path / "work.yml"
    tasks.write_text("- name: Wait until the test has looked\n  ansible.builtin.wait_for:\n"
                     "    path: /run/window-may-close\n    timeout: 300\n")
    proc = subprocess.Popen(["ansible-playbook", str(PROJECT / "playbooks/maintenance_window.yml"), "-e", REHEARSAL,
                             "-e", "maintenance_window_tasks_file=%s" % tasks,
                             "-e", "maintenance_window_evidence_dir=%s" % tmp_path],
                            cwd=PROJECT, env=_ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # every app host in maintenance: several requests in a row (round robin) all get 503
        assert wait_for(lambda: all(public(hosts, lab)[0] == 503 for attempt in range(4)), timeout=120), \
            "the site never went into maintenance"
        status, headers = public(hosts, lab)
        assert headers["retry-after"] == "1800" and headers["cache-control"] == "no-store"
        assert public(hosts, lab, "/health")[0] == 200
        # the bypass: visiting the secret path sets the cookie, the cookie lets the engineer through
        secret = lab["lab_maintenance_secret"]
        status, headers = public(hosts, lab, "/" + secret)
        assert status == 302 and "opsready_bypass=" in headers["set-cookie"] and secret not in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert public(hosts, lab, "/api/items", "-H", "Cookie: %s" % cookie)[0] == 200
        assert public(hosts, lab, "/api/items", "-H", "Cookie: opsready_bypass=forged")[0] == 503
        # the health check sees what users see: the site shut out is critical, not 17/17 green behind exempt paths
        seen = ansible_playbook("playbooks/health_check.yml", "-e", "health_check_evidence_dir=%s" % (tmp_path / "hc"))
        report = json.loads(next((tmp_path / "hc").glob("health_check-*.json")).read_text())
        users = [c for c in report["checks"] if c["name"] == "api as users reach it (public, TLS)"]
        assert seen.returncode != 0 and users[0]["state"] == "critical", seen.stdout[-2000:]
        assert users[0]["reason"].startswith("maintenance: 503"), users
        # the workers are stopped: jobs queued now (by an engineer, through the bypass) wait
        assert wait_for(lambda: all(hosts[h].run("systemctl is-active demo-worker").stdout.strip() == "inactive"
                                    for h in APPS), timeout=60)
        before = queue_length(hosts, lab)
        for n in range(5):
            assert public(hosts, lab, "/api/jobs", "-X", "POST", "-H", "X-Maintenance-Bypass: %s" % secret,
                          "-H", "Content-Type: application/json", "-d", '{"n": %d}' % n)[0] == 202
        assert queue_length(hosts, lab) == before + 5
        # migrated in the window, while the site is closed
        assert wait_for(lambda: psql(hosts["db1"], "SELECT max(version) FROM schema_migrations") == "0004", timeout=60)
        # one runbook at a time on the platform: a second window limited to app2, and a rollback, are refused
        # before they change anything (a second window used to take app2 out of maintenance mid-window)
        second = tmp_path / "second"
        run = ansible_playbook("playbooks/maintenance_window.yml", "-e", REHEARSAL, "-e", "maintenance_window_hosts=app2",
                               "-e", "maintenance_window_tasks_file=%s" % tasks,
                               "-e", "maintenance_window_evidence_dir=%s" % second)
        said = " ".join(run.stdout.split())
        assert run.returncode != 0 and "another runbook is changing this platform" in said, said[-2000:]
        assert "(maintenance_window: " in said
        refused = json.loads(next(second.glob("maintenance_window-*.json")).read_text())
        assert refused["result"] == "refused" and "held by" in refused["lock"]["refused"]
        run = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_evidence_dir=%s" % second,
                               "-e", '{"rollback_override_reason": "lab test: refused by the lock"}')
        said = " ".join(run.stdout.split())
        assert run.returncode != 0 and "another runbook is changing this platform" in said, said[-2000:]
        assert all(public(hosts, lab)[0] == 503 for attempt in range(4))   # both hosts still in maintenance
        assert [hosts[h].run("readlink /srv/demo/current").stdout.strip() for h in APPS] == ["releases/1.1.0"] * 2
    finally:
        for h in APPS:
            hosts[h].run("touch /run/window-may-close")
        output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output[-3000:]
    assert lab["lab_maintenance_secret"] not in output
    # afterwards: serving, the queue drains, the sink heard the start and the all-clear
    assert public(hosts, lab)[0] == 200
    assert wait_for(lambda: queue_length(hosts, lab) == 0, timeout=30)
    assert events(lab) == ["start", "all_clear"]
    evidence = json.loads(sorted(tmp_path.glob("maintenance_window-*.json"))[-1].read_text())
    assert evidence["result"] == "done" and evidence["migrations"] == ["0004"]
    # the gate ran while maintenance was still on, and saw the API through the bypass, as users see it next
    assert evidence["health"]["state"] == "ok" and evidence["health"]["total"] == 9
    assert evidence["states"]["before"]["maintenance"] == {"app1": "absent", "app2": "absent"}
    assert evidence["backup"]["size"] > 0 and evidence["backup"]["restore_list_entries"] > 0
    steps = [entry["step"] for entry in evidence["timeline"]]
    assert steps.index("maintenance on") < steps.index("workers stopped") < steps.index("migrations") \
        < steps.index("healthy") < steps.index("maintenance off") < steps.index("notified all_clear")
    assert lab["lab_maintenance_secret"] not in json.dumps(evidence)
    assert (tmp_path / sorted(tmp_path.glob("*.json"))[-1].name.replace(".json", ".md")).exists()


def test_check_mode_changes_nothing(tmp_path, hosts, lab, pending):
    before = state_of_the_site(hosts, lab)
    # rolling=false as a string, the way `-e key=value` and an AWX survey answer give it
    run, evidence = window(tmp_path, "--check", "-e", INSIDE, "-e", "maintenance_window_rolling=false",
                           "-e", '{"maintenance_window_commands": [["touch", "/tmp/x"]]}')
    assert run.returncode == 0, run.stdout[-3000:]
    assert evidence["result"] == "planned (check mode)" and evidence["migrations"] == ["0004"]
    assert evidence["mode"] == "whole site"
    assert state_of_the_site(hosts, lab) == before
    assert all(hosts[h].run("test -e /tmp/x").rc == 1 for h in APPS)


def test_outside_the_window_it_refuses_and_changes_nothing(tmp_path, hosts, lab, pending):
    before = state_of_the_site(hosts, lab)
    run, evidence = window(tmp_path, "-e", OUTSIDE)
    assert run.returncode != 0
    said = " ".join(run.stdout.split())   # the callback folds long messages
    assert "Maintenance window stopped at" in said and "Refusing to start: 2026-11-25T12:00:00Z is outside" in said
    assert "Now: the window had not started, nothing changed." in said
    assert "maintenance_window_override_reason" in run.stdout
    assert evidence["result"] == "refused"
    assert state_of_the_site(hosts, lab) == before


def test_a_failing_health_gate_keeps_the_site_in_maintenance_and_says_so(tmp_path, hosts, lab):
    """The app's liveness turns 500 during the work: the gate fails, the site must not reopen half-healthy."""
    clear_sink(lab)
    for h in APPS:
        hosts[h].run("""echo '{"status": 500}' > /tmp/fault-500.json""")
    try:
        run, evidence = window(tmp_path, "-e", REHEARSAL, "-e", "maintenance_window_health_wait=4", "-e",
                               '{"maintenance_window_commands": [["cp", "/tmp/fault-500.json", "/etc/demo/fault.json"]]}')
        assert run.returncode != 0
        message = " ".join(run.stdout.split())   # the callback folds long messages
        assert 'Maintenance window stopped at "Health gate' in message, message[-3000:]
        assert "Now: the site stays in maintenance (app1: present, app2: present)" in message, message[-3000:]
        assert public(hosts, lab)[0] == 503
        assert events(lab) == ["start", "failed"]
        assert evidence["result"] == "failed" and evidence["states"]["failed"]["maintenance"] == {"app1": "present", "app2": "present"}
    finally:
        for h in APPS:
            hosts[h].run("rm -f /etc/demo/fault.json")
            ansible_module(h, "opsready.runbooks.maintenance_mode", {"state": "absent"})
    assert public(hosts, lab)[0] == 200


def test_rolling_keeps_the_site_up(tmp_path, hosts, lab):
    poller = Poller(lab)
    poller.start()
    try:
        run, evidence = window(tmp_path, "-e", REHEARSAL, "-e", "maintenance_window_rolling=true",
                               "-e", '{"maintenance_window_commands": [["true"]]}')
    finally:
        poller.stop.set()
        poller.join()
    assert run.returncode == 0, run.stdout[-3000:]
    assert evidence["result"] == "done"
    assert [e["step"] for e in evidence["timeline"] if e["step"].endswith("back in rotation")] == \
        ["app1 back in rotation", "app2 back in rotation"]
    assert poller.failures == [] and poller.codes[200] > 10, poller.codes


def test_ready_means_haproxys_check_passed_after_the_change(hosts, lab):
    """HAProxy shows a server UP the moment it leaves MAINT, before any check ran. A host whose app is down used to
    be reported ready and put back in rotation (users got 502s): it must stay out, and the run must say why."""
    play = str((PROJECT / "extensions/molecule/maintenance_window/lb_member.yml").relative_to(PROJECT))
    lb = hosts["lb1"]

    def app2():
        rows = lb.run("echo 'show servers state app' | socat stdio /run/haproxy/admin.sock").stdout.splitlines()
        return [row.split()[5:7] for row in rows if row.split()[3:4] == ["app2"]][0]   # operational, admin

    run = ansible_playbook(play, "-e", "lb_member_state=drained")
    assert run.returncode == 0, run.stdout[-2000:]
    hosts["app2"].check_output("systemctl stop demo-api")
    poller = Poller(lab)
    poller.start()
    try:
        run = ansible_playbook(play, "-e", "lb_member_state=ready", "-e", "lb_member_wait_seconds=8")
        said = " ".join(run.stdout.split())
        assert run.returncode != 0
        assert "app/app2 did not pass HAProxy's health check within 8 s: DRAIN DOWN, check L7STS 502" in said, said[-2000:]
        assert "put back in MAINT (on_fail=maint), so it takes no traffic" in said
        assert app2()[1] == "1"                  # admin state MAINT: out of rotation
    finally:
        hosts["app2"].check_output("systemctl start demo-api")
        run = ansible_playbook(play, "-e", "lb_member_state=ready")
        poller.stop.set()
        poller.join()
    assert run.returncode == 0, run.stdout[-2000:]
    assert app2() == ["2", "0"]                  # running, ready
    assert poller.failures == [] and poller.codes[200] > 10, poller.codes


def test_a_drain_survives_an_haproxy_reload(hosts):
    lb = hosts["lb1"]

    def admin_state(server):
        rows = lb.run("echo 'show servers state app' | socat stdio /run/haproxy/admin.sock").stdout.splitlines()
        return [row.split()[6] for row in rows if row.split()[3:4] == [server]][0]

    play = PROJECT / "extensions/molecule/maintenance_window/lb_member.yml"
    try:
        run = ansible_playbook(str(play.relative_to(PROJECT)), "-e", "lb_member_state=drained")
        assert run.returncode == 0, run.stdout[-2000:]
        assert admin_state("app2") == "1"
        assert lb.run("systemctl reload haproxy").rc == 0
        time.sleep(1)
        assert admin_state("app2") == "1"       # still in maintenance after the reload
    finally:
        run = ansible_playbook(str(play.relative_to(PROJECT)), "-e", "lb_member_state=ready")
    assert run.returncode == 0, run.stdout[-2000:]
    assert admin_state("app2") == "0"


TWO_STATE_FILES = """
- hosts: app2
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: opsready.runbooks.lb_member}
      vars: {lb_member_state: ready}
    - ansible.builtin.include_role: {name: opsready.runbooks.lb_member}
      vars: {lb_member_state: ready, lb_member_state_file: /var/lib/haproxy/not-the-one-haproxy-reads}
"""


def test_the_configuration_is_checked_again_for_another_state_file(tmp_path):
    """A play checks each load balancer's configuration once per state file, not once for all of them."""
    (tmp_path / "play.yml").write_text(TWO_STATE_FILES)
    run = ansible_playbook(str(tmp_path / "play.yml"))
    assert run.returncode != 0
    assert ("lb1: /etc/haproxy/haproxy.cfg must say `server-state-file /var/lib/haproxy/not-the-one-haproxy-reads` "
            "(global)") in " ".join(run.stdout.split())


def test_expiry_ends_maintenance_by_itself(hosts):
    # far enough ahead that the module run (a few seconds on a busy machine) ends well before it
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = ansible_module("app2", "opsready.runbooks.maintenance_mode",
                            {"state": "present", "expires": expires, "verify_url": "http://127.0.0.1/api/items"})[0]
    assert result["changed"] and result["after"]["expires"] == expires
    app2 = hosts["app2"]
    assert app2.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/api/items").stdout == "503"
    # nobody comes back: the host's own timer ends it
    assert wait_for(lambda: app2.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/api/items").stdout == "200",
                    timeout=60)
    assert "ended by its expiry" in app2.run("journalctl -u opsready-maintenance-expire-site --no-pager").stdout
    result = ansible_module("app2", "opsready.runbooks.maintenance_mode", {"state": "absent"}, check=True)[0]
    assert result["before"] == {"state": "absent"}


def test_an_expiry_already_past_is_refused_and_changes_nothing(hosts):
    result = ansible_module("app2", "opsready.runbooks.maintenance_mode",
                            {"state": "present", "expires": "2026-01-01T00:00:00Z"})[0]
    assert result["failed"] and "is already past" in result["msg"] and "give a future time" in result["msg"]
    assert hosts["app2"].run("ls /etc/nginx/opsready/maintenance").stdout == ""


def test_converge_output_and_module_output_never_hold_the_secret(hosts, lab):
    result, raw = ansible_module("app1", "opsready.runbooks.maintenance_mode",
                                 {"state": "present", "secret": lab["lab_maintenance_secret"]}, check=True)
    assert result["after"]["bypass"] is True
    assert lab["lab_maintenance_secret"] not in raw


def hold(tmp_path, *args):
    run = ansible_playbook("playbooks/maintenance.yml", "-e", "maintenance_hold_evidence_dir=%s" % tmp_path, *args)
    evidence = sorted(tmp_path.glob("maintenance_hold-*.json"))
    return run, json.loads(evidence[-1].read_text()) if evidence else None


def test_hold_the_site_while_engineers_work_then_open_it_once_healthy(tmp_path, hosts, lab):
    """Unscheduled maintenance: on with a reason and an expiry, held while engineers work, off through the gate."""
    clear_sink(lab)
    for bad, said in ((json.dumps({"maintenance_hold_state": "on"}), "needs a reason"),
                      (json.dumps({"maintenance_hold_state": "on", "maintenance_hold_reason": "x",
                                   "maintenance_hold_minutes": 0}), "a whole number from 1 to 1440")):
        run, evidence = hold(tmp_path / "bad", "-e", bad)
        assert run.returncode != 0 and said in " ".join(run.stdout.split()), run.stdout[-2000:]
        assert "Nothing was changed" in " ".join(run.stdout.split()) and evidence["result"] == "stopped"
    assert public(hosts, lab)[0] == 200 and sink(lab) == []

    reason = "INC-4711: db1 disk full, engineers at work"
    on = json.dumps({"maintenance_hold_state": "on", "maintenance_hold_reason": reason, "maintenance_hold_minutes": 30})
    try:
        run, evidence = hold(tmp_path, "-e", on)
        assert run.returncode == 0, run.stdout[-3000:]
        assert all(public(hosts, lab)[0] == 503 for attempt in range(4))
        assert public(hosts, lab, "/api/items", "-H", "X-Maintenance-Bypass: %s" % lab["lab_maintenance_secret"])[0] == 200
        assert evidence["result"] == "held" and evidence["reason"] == reason
        expires = {host: state["expires"] for host, state in evidence["maintenance"].items()}
        assert set(expires) == {"app1", "app2"} and all(expires.values())
        # on again: the hold is extended (a new expiry), nothing else changes
        again, extended = hold(tmp_path / "again", "-e", on)
        assert again.returncode == 0 and extended["result"] == "held"
        assert all(state["expires"] >= expires[host] for host, state in extended["maintenance"].items())
        assert lab["lab_maintenance_secret"] not in run.stdout + again.stdout + json.dumps(evidence)

        # the app is broken while held: off refuses to open the site, and says it is still in maintenance
        for h in APPS:
            hosts[h].run("""echo '{"status": 500}' > /etc/demo/fault.json""")
        try:
            run, evidence = hold(tmp_path / "gate", "-e", "maintenance_hold_state=off",
                                 "-e", "maintenance_hold_health_wait=4")
        finally:
            for h in APPS:
                hosts[h].run("rm -f /etc/demo/fault.json")
        text = " ".join(run.stdout.split())
        assert run.returncode != 0 and "Maintenance now: app1: present, app2: present" in text, text[-3000:]
        assert evidence["result"] == "stopped" and all(public(hosts, lab)[0] == 503 for attempt in range(4))

        run, evidence = hold(tmp_path / "off", "-e", "maintenance_hold_state=off")
        assert run.returncode == 0, run.stdout[-3000:]
        assert evidence["result"] == "open" and evidence["gate"]["state"] == "ok" and evidence["gate"]["total"] == 9
        assert public(hosts, lab)[0] == 200
        assert events(lab) == ["start", "extended", "all_clear"]
    finally:
        for h in APPS:
            ansible_module(h, "opsready.runbooks.maintenance_mode", {"state": "absent"})
