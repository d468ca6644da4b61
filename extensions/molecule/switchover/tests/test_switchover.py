"""playbooks/db_switchover.yml on the lab: converge switched db1 -> db2. The other runbooks work against the swapped
roles, check mode and the lag guard change nothing, and the switchover back to db1 runs under a writer: every commit a
client saw acknowledged is on the new primary, and no client got an error. Then, with synchronous replication on,
playbooks/db_failover.yml: db1 killed under the writer while the failover watches, db2 promoted with nothing
acknowledged lost and the app healthy on it; db1 comes back fenced (a standby), playbooks/db_rejoin.yml rewinds it,
and a switchover puts the lab back as it was (synchronous again, then asynchronous as the lab runs). Last, a
promotion that would lose writes db1 acknowledged is refused, then done with a reason, the loss in bytes on record."""
import json
import re
import subprocess
import time
import uuid

from labtest import (PROJECT, Writer, _ansible_env, ansible_module, ansible_playbook, psql, recap_changed, synchronous,
                     wait_for)

APP_HOSTS = ("app1", "app2")


def switchover(tmp_path, *args):
    run = ansible_playbook("playbooks/db_switchover.yml", "-e", "db_switchover_evidence_dir=%s" % tmp_path, *args)
    found = sorted(tmp_path.glob("db_switchover-*.json"))
    return run, json.loads(found[-1].read_text()) if found else None


def said(run):
    return " ".join(run.stdout.split())


def roles(hosts):
    return {name: psql(hosts[name], "SELECT pg_is_in_recovery()", db="postgres") for name in ("db1", "db2")}


def pgbouncer_targets(lab):
    targets = {}
    for name in APP_HOSTS:
        state, dummy = ansible_module(name, "opsready.runbooks.pgbouncer", {
            "database": lab["lab_pg_app_db"], "login_user": lab["lab_pgbouncer_admin_user"],
            "login_password": lab["lab_pgbouncer_admin_password"], "login_host": "127.0.0.1", "state": "running"},
            check=True)
        targets[name] = (state["after"]["target"]["host"], state["after"]["paused"])
    return targets


def sync_states(hosts, primary):
    return psql(hosts[primary], "SELECT string_agg(sync_state, ',') FROM pg_stat_replication", db="postgres")


def streaming_from(hosts, primary, standby):
    """The standby streams from the primary (its WAL receiver, and the primary's view of it)."""
    receiver = psql(hosts[standby], "SELECT status || ' ' || sender_host FROM pg_stat_wal_receiver", db="postgres")
    senders = psql(hosts[primary], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", db="postgres")
    return receiver == "streaming %s" % primary and senders == "1"


def test_converge_made_db2_the_primary_db1_its_standby_and_pgbouncer_points_at_db2(lab, hosts):
    assert roles(hosts) == {"db1": "t", "db2": "f"}
    assert streaming_from(hosts, "db2", "db1")
    assert pgbouncer_targets(lab) == {name: ("db2", False) for name in APP_HOSTS}


def test_a_second_run_finds_db2_already_primary(tmp_path):
    run, evidence = switchover(tmp_path, "-e", "db_switchover_to=db2")
    assert run.returncode == 0 and set(recap_changed(run.stdout).values()) == {0}, said(run)[-2000:]
    assert evidence["result"] == "nothing to do" and evidence["plan"]["text"].startswith("db2 is already primary")


def test_health_check_and_rollback_find_the_new_primary_themselves(tmp_path, lab, hosts):
    """The inventory names the members; the runbooks ask the databases which one is primary."""
    health = ansible_playbook("playbooks/health_check.yml", "-e", "health_check_evidence_dir=%s" % (tmp_path / "health"))
    assert health.returncode == 0, said(health)[-3000:]
    report = json.loads(sorted((tmp_path / "health").glob("health_check-*.json"))[-1].read_text())
    reasons = {"%s/%s" % (check["host"], check["name"]): check["reason"] for check in report["checks"]}
    assert reasons["lb1/postgres primary"].startswith("primary on db2, "), reasons
    assert reasons["lb1/postgres replica"].startswith("replica on db1, "), reasons

    run = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_evidence_dir=%s" % (tmp_path / "rollback"))
    try:
        assert run.returncode == 0, said(run)[-3000:]
        evidence = json.loads(sorted((tmp_path / "rollback").glob("rollback-*.json"))[-1].read_text())
        assert evidence["result"] == "done" and evidence["backup"]["host"] == "db2"   # pg_dump ran on the primary
        assert psql(hosts["db2"], "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == "0001"
    finally:
        forward = ansible_playbook("extensions/molecule/rollback/forward.yml")
        assert forward.returncode == 0, said(forward)[-3000:]


def test_check_mode_shows_the_plan_and_changes_nothing(tmp_path, lab, hosts):
    run, evidence = switchover(tmp_path, "--check", "-e", "db_switchover_to=db1")
    assert run.returncode == 0, said(run)[-3000:]
    assert evidence["result"] == "planned (check mode)"
    assert evidence["plan"]["text"] == "db2 -> db1 (db1: standby streaming from db2, db2: primary at %s)" % (
        re.search(r"db2: primary at (\S+)\)", evidence["plan"]["text"]).group(1))
    assert [step["step"] for step in evidence["timeline"]] == ["start", "change window", "lock", "plan", "preview"]
    assert roles(hosts) == {"db1": "t", "db2": "f"} and pgbouncer_targets(lab) == {n: ("db2", False) for n in APP_HOSTS}


def test_a_target_too_far_behind_is_refused_and_nothing_changes(tmp_path, lab, hosts):
    psql(hosts["db1"], "SELECT pg_wal_replay_pause()", db="postgres")
    try:
        psql(hosts["db2"], "INSERT INTO items (name) SELECT 'lag-' || n FROM generate_series(1, 2000) n")
        run, evidence = switchover(tmp_path, "-e", "db_switchover_to=db1", "-e", "db_switchover_max_lag_bytes=1024")
    finally:
        psql(hosts["db1"], "SELECT pg_wal_replay_resume()", db="postgres")
        psql(hosts["db2"], "DELETE FROM items WHERE name LIKE 'lag-%'")
    text = said(run)
    assert run.returncode != 0
    assert re.search(r"db1 is \d+ bytes behind db2, over db_switchover_max_lag_bytes \(1024\): the clients would wait in "
                     r"PgBouncer while it catches up", text), text[-3000:]
    assert "Nothing was stopped and the clients were never paused." in text
    assert evidence["result"] == "stopped" and evidence["plan"] is None
    assert roles(hosts) == {"db1": "t", "db2": "f"} and pgbouncer_targets(lab) == {n: ("db2", False) for n in APP_HOSTS}


def test_replication_lost_before_the_stop_refuses_the_promotion_and_puts_db2_back(tmp_path, lab, hosts):
    """db1's WAL receiver is cut once the plan is made: db2's last WAL never reaches it, the promotion is refused
    (it would lose it), and the rescue unfences and starts db2 again and lets the clients through to it."""
    conninfo = psql(hosts["db1"], "SHOW primary_conninfo", db="postgres")
    writer = Writer(lab, "undo-" + uuid.uuid4().hex[:8])
    writer.start()
    command = ["ansible-playbook", str(PROJECT / "playbooks/db_switchover.yml"), "-e", "db_switchover_to=db1",
               "-e", "db_switchover_evidence_dir=%s" % tmp_path]
    lines = []
    try:
        proc = subprocess.Popen(command, cwd=PROJECT, env=_ansible_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("TASK [opsready.runbooks.db_switchover : The old primary will follow the new one"):
                psql(hosts["db1"], "ALTER SYSTEM SET primary_conninfo = ''", db="postgres")
                psql(hosts["db1"], "SELECT pg_reload_conf()", db="postgres")
        proc.wait(timeout=300)
    finally:
        writer.stop.set()
        writer.join()
        psql(hosts["db1"], "ALTER SYSTEM SET primary_conninfo = $conninfo$%s$conninfo$" % conninfo, db="postgres")
        psql(hosts["db1"], "SELECT pg_reload_conf()", db="postgres")
    text = " ".join("".join(lines).split())
    assert proc.returncode != 0
    assert 'Switchover stopped at "Switch over in one call - PAUSE every PgBouncer, the old primary fenced and stopped, ' \
        'the target promoted once it has all of it, RELOAD and RESUME"' in text, text[-3000:]
    assert "the target did not receive WAL up to " in text and "Nothing was promoted; this server unfenced and started " \
        "again" in text
    assert "db2 runs as the primary (never stopped, or started again): PgBouncer points the clients at it and lets " \
        "them through." in text
    assert roles(hosts) == {"db1": "t", "db2": "f"} and pgbouncer_targets(lab) == {n: ("db2", False) for n in APP_HOSTS}
    evidence = json.loads(sorted(tmp_path.glob("db_switchover-*.json"))[-1].read_text())
    assert evidence["result"] == "stopped" and evidence["stopped"]["now"].startswith("db1: standby")
    names = {name for dummy, name in writer.acknowledged}
    kept = set(psql(hosts["db2"], "SELECT name FROM items WHERE name LIKE '%s-%%'" % writer.marker).split())
    print("undone switchover under writes: %d acknowledged, longest gap %.2f s, errors %s" % (
        len(names), writer.longest_gap(), writer.errors[:5]))
    assert names and names <= kept   # nothing acknowledged was lost
    assert wait_for(lambda: streaming_from(hosts, "db2", "db1"), timeout=60), "db1 did not stream from db2 again"
    psql(hosts["db2"], "DELETE FROM items WHERE name LIKE '%s-%%'" % writer.marker)


def test_back_to_db1_under_writes_every_acknowledged_commit_is_kept_and_no_client_fails(tmp_path, lab, hosts):
    """Last: it leaves the lab as it was (db1 primary, db2 its standby, PgBouncer at db1)."""
    writer = Writer(lab, "switchover-" + uuid.uuid4().hex[:8])
    writer.start()
    try:
        time.sleep(2)
        run, evidence = switchover(tmp_path, "-e", "db_switchover_to=db1")
        time.sleep(2)
    finally:
        writer.stop.set()
        writer.join()
    assert run.returncode == 0, said(run)[-3000:]
    assert roles(hosts) == {"db1": "f", "db2": "t"} and streaming_from(hosts, "db1", "db2")
    assert pgbouncer_targets(lab) == {name: ("db1", False) for name in APP_HOSTS}
    names = [name for dummy, name in writer.acknowledged]
    kept = set(psql(hosts["db1"], "SELECT name FROM items WHERE name LIKE '%s-%%'" % writer.marker).split())
    print("switchover db2 -> db1 under writes: %d acknowledged, longest gap %.2f s, errors %s, timeline %s" % (
        len(names), writer.longest_gap(), writer.errors[:5],
        [(step["step"], step["at"][11:23]) for step in evidence["timeline"]]))
    assert len(names) > 20 and set(names) <= kept, sorted(set(names) - kept)[:10]   # nothing acknowledged lost
    assert writer.errors == []
    assert evidence["result"] == "done" and evidence["promotion"]["guard"]["loss_bytes"] == 0
    assert [step["step"] for step in evidence["timeline"]] == [
        "start", "change window", "lock", "plan", "preview", "prepared", "staged", "switched", "rejoined"]
    assert evidence["switch"]["timings"]["critical"] < 5, evidence["switch"]
    psql(hosts["db1"], "DELETE FROM items WHERE name LIKE '%s-%%'" % writer.marker)


def podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=60, check=False)


def test_db1_killed_under_writes_the_watching_failover_promotes_db2_and_db1_comes_back_fenced(tmp_path, lab, hosts):
    """Synchronous replication on (both members: synchronous_standby_names '*'). The failover watches from db2; db1 is
    killed (no reset sent: db2's WAL receiver notices by its timeout). The guard knows no acknowledged commit can be
    lost (RPO 0); db2 is promoted with its own synchronous setting suspended (its commits would wait for a standby),
    PgBouncer repointed, the app healthy through lb1, every acknowledged commit on db2. db1 restarted starts as a
    standby (the fence guard); db_rejoin.yml rewinds it (pg_rewind) to stream from db2 and brings synchronous
    replication back; a switchover makes db1 primary again, synchronous with db2."""
    synchronous(hosts, True)
    try:
        assert wait_for(lambda: sync_states(hosts, "db1") == "sync", timeout=20), sync_states(hosts, "db1")
        killed_and_back(tmp_path, lab, hosts)
    finally:
        synchronous(hosts, False)
    assert psql(hosts["db1"], "SHOW synchronous_standby_names", db="postgres") == ""


def killed_and_back(tmp_path, lab, hosts):
    writer = Writer(lab, "failover-" + uuid.uuid4().hex[:8])
    command = ["ansible-playbook", str(PROJECT / "playbooks/db_failover.yml"), "-e", "db_failover_watch=120",
               "-e", "db_failover_evidence_dir=%s" % tmp_path]
    lines, killed = [], None
    writer.start()
    try:
        proc = subprocess.Popen(command, cwd=PROJECT, env=_ansible_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            lines.append(line)
            if killed is None and line.startswith("TASK [opsready.runbooks.db_failover : Is the primary lost? Probes"):
                time.sleep(3)   # the watch sees a live primary first, and the writer commits through it
                killed = time.monotonic()
                assert podman("kill", "db1").returncode == 0
        proc.wait(timeout=300)
        time.sleep(2)
    finally:
        writer.stop.set()
        writer.join()
    text = " ".join("".join(lines).split())
    assert killed is not None and proc.returncode == 0, text[-3000:]
    evidence = json.loads(sorted(tmp_path.glob("db_failover-*.json"))[-1].read_text())
    assert evidence["result"] == "done" and evidence["detection"]["lost"], evidence
    assert evidence["plan"]["synchronous"]["rpo0"] is True, evidence["plan"]
    assert evidence["plan"]["synchronous"]["why"].startswith(
        "RPO 0: db1 had synchronous_standby_names '*', synchronous_commit on and db2 as its only synchronous standby")
    assert evidence["promotion"]["guard"]["over_budget"] is False
    assert evidence["promotion"]["synchronous_standby_names"] == {"before": "*", "after": ""}
    assert [step["step"] for step in evidence["timeline"]] == [
        "start", "change window", "plan", "preview", "detect", "promote", "repoint", "fence", "verify"]
    assert evidence["timeline"][-2]["detail"].startswith("db1 not reached: its fence guard starts it as a standby")
    assert psql(hosts["db2"], "SELECT pg_is_in_recovery()", db="postgres") == "f"
    assert pgbouncer_targets(lab) == {name: ("db2", False) for name in APP_HOSTS}
    after = [at for at, dummy in writer.acknowledged if at > killed]
    names = [name for dummy, name in writer.acknowledged]
    kept = set(psql(hosts["db2"], "SELECT name FROM items WHERE name LIKE '%s-%%'" % writer.marker).split())
    lost = sorted(set(names) - kept)
    print("failover (db1 killed) under writes: %d acknowledged, longest gap %.2f s, %d lost, "
          "loss bytes %s, errors %d, timeline %s" % (
              len(names), writer.longest_gap(), len(lost), evidence["promotion"]["guard"]["loss_bytes"],
              len(writer.errors), [(step["step"], step["at"][11:23]) for step in evidence["timeline"]]))
    assert after, "no write was acknowledged after the kill"
    assert lost == []   # synchronous: db1 acknowledged nothing db2 did not have

    # the other runbooks find the new primary themselves, the old one still dead (rollback.yml's plan and its lock)
    planned = ansible_playbook("playbooks/rollback.yml", "--check", "-e", "rollback_evidence_dir=%s" % (tmp_path / "rb"))
    assert planned.returncode == 0, said(planned)[-3000:]
    plan = json.loads(sorted((tmp_path / "rb").glob("rollback-*.json"))[-1].read_text())
    assert plan["result"] == "planned (check mode)" and "lock" in [step["step"] for step in plan["timeline"]], plan

    # db1 comes back: the fence guard starts it as a standby, never a second primary
    assert podman("start", "db1").returncode == 0
    assert wait_for(lambda: hosts["db1"].run("systemctl is-active postgresql@15-main").stdout.strip() == "active",
                    timeout=90), "db1's PostgreSQL did not start"
    assert psql(hosts["db1"], "SELECT pg_is_in_recovery()", db="postgres") == "t"
    assert hosts["db1"].file("/var/lib/postgresql/15/main/standby.signal").exists

    rejoin = ansible_playbook("playbooks/db_rejoin.yml", "-e", "db_rejoin_hosts=db1")
    assert rejoin.returncode == 0, said(rejoin)[-3000:]
    # rewound, unless db1 had written nothing db2 lacks: then, fenced, it followed db2 by itself
    assert ("db1 streams from db2 (method: pg_rewind" in said(rejoin)
            or "db1 streams from db2 already: nothing to do" in said(rejoin)), said(rejoin)[-2000:]
    assert streaming_from(hosts, "db2", "db1")
    assert psql(hosts["db2"], "SHOW synchronous_standby_names", db="postgres") == "*"   # back from the files
    assert sync_states(hosts, "db2") == "sync"
    again = ansible_playbook("playbooks/db_rejoin.yml", "-e", "db_rejoin_hosts=db1")
    assert again.returncode == 0 and set(recap_changed(again.stdout).values()) == {0}, said(again)[-2000:]

    back, switched = switchover(tmp_path, "-e", "db_switchover_to=db1")
    assert back.returncode == 0, said(back)[-3000:]
    assert roles(hosts) == {"db1": "f", "db2": "t"} and streaming_from(hosts, "db1", "db2")
    assert pgbouncer_targets(lab) == {name: ("db1", False) for name in APP_HOSTS}
    assert switched["promotion"]["synchronous_standby_names"] == {"before": "*", "after": ""}
    assert sync_states(hosts, "db1") == "sync" and psql(hosts["db1"], "SHOW synchronous_standby_names", db="postgres") == "*"
    psql(hosts["db1"], "DELETE FROM items WHERE name LIKE '%s-%%'" % writer.marker)


def test_a_promotion_that_would_lose_acknowledged_writes_is_refused_and_with_a_reason_it_proceeds(tmp_path, lab, hosts):
    """db2 stops receiving (its primary_conninfo emptied) while db1 takes writes. The failover probes a port db1 does
    not listen on, and db2's stopped WAL receiver confirms: to the runbook, db1 is lost. db1 was read at the start,
    so the guard knows what db2 lacks: refused (budget 0), nothing changed. With accept_data_loss and a reason: db2
    promoted, the loss in bytes on record, db1 fenced (it answered); then rejoined by pg_rewind and switched back."""
    marker = "loss-" + uuid.uuid4().hex[:8]
    conninfo = psql(hosts["db2"], "SHOW primary_conninfo", db="postgres")
    psql(hosts["db2"], "ALTER SYSTEM SET primary_conninfo = ''", db="postgres")
    psql(hosts["db2"], "SELECT pg_reload_conf()", db="postgres")
    assert wait_for(lambda: psql(hosts["db2"], "SELECT count(*) FROM pg_stat_wal_receiver", db="postgres") == "0",
                    timeout=20), "db2's WAL receiver did not stop"
    psql(hosts["db1"], "INSERT INTO items (name) SELECT '%s-' || n FROM generate_series(1, 500) n" % marker)
    failover = ["playbooks/db_failover.yml", "-e", "db_failover_primary=db1:5433", "-e", "db_failover_max_lag_bytes=0"]
    try:
        refused = ansible_playbook(*failover, "-e", "db_failover_evidence_dir=%s" % (tmp_path / "refused"))
        text = said(refused)
        assert refused.returncode != 0 and re.search(
            r"refusing to promote: the standby received WAL up to \S+, \d+ bytes short of \S+, which the primary is known "
            r"to have written \(budget max_lag_bytes=0\): promoting it loses them\. Nothing was changed\.", text), text[-3000:]
        stopped = json.loads(sorted((tmp_path / "refused").glob("db_failover-*.json"))[-1].read_text())
        assert stopped["result"] == "stopped" and stopped["detection"]["lost"], stopped
        assert stopped["promotion"]["guard"]["over_budget"] is True and stopped["promotion"]["changed"] is False
        assert roles(hosts) == {"db1": "f", "db2": "t"} and pgbouncer_targets(lab) == {n: ("db1", False) for n in APP_HOSTS}

        accepted = ansible_playbook(*failover, "-e", "db_failover_evidence_dir=%s" % (tmp_path / "accepted"), "-e",
                                    json.dumps({"db_failover_accept_data_loss": True,
                                                "db_failover_data_loss_reason": "lab test: db2 cut off on purpose"}))
        assert accepted.returncode == 0, said(accepted)[-3000:]
        done = json.loads(sorted((tmp_path / "accepted").glob("db_failover-*.json"))[-1].read_text())
        loss = done["promotion"]["accepted_data_loss"]
        assert done["result"] == "done" and done["promotion"]["guard"]["over_budget"] is True
        assert loss["reason"] == "lab test: db2 cut off on purpose" and loss["loss_bytes"] > 0, done["promotion"]
        assert loss["loss_bytes"] == done["promotion"]["guard"]["loss_bytes"]
        assert psql(hosts["db2"], "SELECT count(*) FROM items WHERE name LIKE '%s-%%'" % marker) == "0"   # lost, as said
        assert pgbouncer_targets(lab) == {n: ("db2", False) for n in APP_HOSTS}
        assert hosts["db1"].run("systemctl is-active postgresql@15-main").stdout.strip() != "active"   # fenced
    finally:
        if psql(hosts["db2"], "SELECT pg_is_in_recovery()", db="postgres") == "t":   # refused: streaming again
            psql(hosts["db2"], "ALTER SYSTEM SET primary_conninfo = $c$%s$c$" % conninfo, db="postgres")
            psql(hosts["db2"], "SELECT pg_reload_conf()", db="postgres")
            psql(hosts["db1"], "DELETE FROM items WHERE name LIKE '%s-%%'" % marker)

    hosts["db1"].check_output("systemctl start postgresql@15-main")   # its fence guard: a standby of db2
    assert psql(hosts["db1"], "SELECT pg_is_in_recovery()", db="postgres") == "t"
    rejoin = ansible_playbook("playbooks/db_rejoin.yml", "-e", "db_rejoin_hosts=db1")
    assert rejoin.returncode == 0 and "db1 streams from db2 (method: pg_rewind" in said(rejoin), said(rejoin)[-2000:]
    back, dummy = switchover(tmp_path, "-e", "db_switchover_to=db1")
    assert back.returncode == 0, said(back)[-3000:]
    assert roles(hosts) == {"db1": "f", "db2": "t"} and streaming_from(hosts, "db1", "db2")
    assert psql(hosts["db1"], "SELECT count(*) FROM items WHERE name LIKE '%s-%%'" % marker) == "0"


def test_synchronous_replication_that_no_standby_can_satisfy_is_suspended_again_and_said(tmp_path, lab, hosts):
    """Each member's files name the other as its synchronous standby, but db2's has a typo (FIRST 1 (nosuch)):
    db1, the primary, is synchronous with db2. A switchover to db2 suspends the setting for the promotion; once db1
    streams from db2 it is brought back from db2's files, no standby becomes synchronous, so it is suspended again
    (the clients' commits must not wait for ever) and the run stops saying so. db2 stays the primary, db1 streams
    from it, PgBouncer points at db2 and a commit on db2 returns."""
    synchronous(hosts, True, names={"db1": "db2", "db2": "FIRST 1 (nosuch)"})
    try:
        assert roles(hosts) == {"db1": "f", "db2": "t"}
        assert wait_for(lambda: sync_states(hosts, "db1") == "sync", timeout=20), sync_states(hosts, "db1")
        run, evidence = switchover(tmp_path, "-e", "db_switchover_to=db2")
        text = said(run)
        assert run.returncode != 0
        assert ("No standby of db2 became synchronous with synchronous_standby_names FIRST 1 (nosuch) from its "
                "configuration files") in text and "it is suspended again" in text, text[-3000:]
        assert evidence["result"] == "stopped", evidence
        assert roles(hosts) == {"db1": "t", "db2": "f"} and streaming_from(hosts, "db2", "db1")
        assert psql(hosts["db2"], "SHOW synchronous_standby_names", db="postgres") == ""
        assert pgbouncer_targets(lab) == {name: ("db2", False) for name in APP_HOSTS}
        marker = "sync-" + uuid.uuid4().hex[:8]
        committed = hosts["db2"].run("timeout 10 runuser -u postgres -- psql -X -d %s -c %s" % (
            lab["lab_pg_app_db"], "\"INSERT INTO items (name) VALUES ('%s')\"" % marker))
        assert committed.rc == 0, committed.stderr   # not waiting for a synchronous standby
        psql(hosts["db2"], "DELETE FROM items WHERE name = '%s'" % marker)
    finally:
        synchronous(hosts, False)
    back, dummy = switchover(tmp_path, "-e", "db_switchover_to=db1")
    assert back.returncode == 0, said(back)[-3000:]
    assert roles(hosts) == {"db1": "f", "db2": "t"} and streaming_from(hosts, "db1", "db2")
