"""Benchmark: playbooks/db_failover.yml on the running lab, the primary killed (podman kill) under a writer.

    .venv/bin/python bench/failover.py [--runs 5] [--synchronous]     (the lab must be up: make lab-up)

Per run: a writer POSTs /api/items through the load balancer (HTTPS -> HAProxy -> nginx -> gunicorn -> PgBouncer ->
PostgreSQL) throughout; the failover starts watching (db_failover_watch) from the standby; 3 s later the primary's
container is killed (no reset is sent). Measured: from the kill to the detection and to PgBouncer repointed at the
promoted standby (the evidence's timeline, wall clock); the write unavailability a client saw through the load
balancer (the longest gap between two acknowledged commits; it includes HAProxy taking the app servers back, rise 2
at 1 s); client errors; commits lost (acknowledged, not on the new primary). Then the killed container is started
again (its fence guard makes it a standby), rejoined with playbooks/db_rejoin.yml, and the next run kills the new
primary. min/median/max over the runs against the issue's target (10 s from the death to the first acknowledged
write). The lab ends with db1 primary (a switchover back when it is not). --synchronous runs it with
synchronous_standby_names '*' on both members (a file in conf.d, removed at the end): commits lost must be 0.
"""
import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "extensions/molecule"))
import testinfra  # noqa: E402
from labtest import ADDRESSES, LAB, Writer, synchronous  # noqa: E402

MEMBERS = {name: testinfra.get_host("podman://" + name) for name in ("db1", "db2")}

ENV = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")


def psql(host, sql):
    return subprocess.run(["podman", "exec", host, "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d",
                           LAB["lab_pg_app_db"], "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def primary():
    return [h for h in ("db1", "db2") if psql(h, "SELECT pg_is_in_recovery()") == "f"][0]


def playbook(*args):
    done = subprocess.run([PLAYBOOK, *args], cwd=PROJECT, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit("%s failed:\n%s" % (" ".join(args), done.stdout[-3000:]))
    return done


def at(timeline, step):
    found = [entry["at"] for entry in timeline if entry["step"] == step]
    return datetime.datetime.fromisoformat(found[0].replace("Z", "+00:00")).timestamp()


def run_once(evidence_dir):
    victim = primary()
    writer = Writer(dict(LAB, addresses=ADDRESSES, ca_file=str(PROJECT / ".lab/pki/ca.crt")),
                    "bench-" + uuid.uuid4().hex[:8])
    writer.start()
    proc = subprocess.Popen([PLAYBOOK, "playbooks/db_failover.yml", "-e", "db_failover_watch=120",
                             "-e", "db_failover_evidence_dir=%s" % evidence_dir], cwd=PROJECT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, killed = [], None
    try:
        for line in proc.stdout:
            lines.append(line)
            if killed is None and line.startswith("TASK [opsready.runbooks.db_failover : Is the primary lost? Probes"):
                time.sleep(3)
                killed = time.time()
                subprocess.run(["podman", "kill", victim], check=True, capture_output=True)
                kill_took = time.time() - killed
        proc.wait(timeout=300)
        time.sleep(2)
    finally:
        writer.stop.set()
        writer.join()
    if proc.returncode or killed is None:
        sys.exit("the failover failed:\n%s" % "".join(lines)[-3000:])
    evidence = json.loads(sorted(pathlib.Path(evidence_dir).glob("db_failover-*.json"))[-1].read_text())
    survivor = "db2" if victim == "db1" else "db1"
    names = {name for dummy, name in writer.acknowledged}
    kept = set(psql(survivor, "SELECT name FROM items WHERE name LIKE '%s-%%'" % writer.marker).split())
    psql(survivor, "DELETE FROM items WHERE name LIKE '%s-%%'" % writer.marker)
    result = {"victim": victim, "detect": at(evidence["timeline"], "detect") - killed,
              "repoint": at(evidence["timeline"], "repoint") - killed, "gap": writer.longest_gap(),
              "errors": len(writer.errors), "lost": len(names - kept), "acknowledged": len(names),
              "loss_bytes": evidence["promotion"]["guard"]["loss_bytes"], "kill_took": kill_took,
              "synchronous": (evidence["plan"].get("synchronous") or {}).get("why"),
              "detection": "%s (probes: %s)" % (evidence["detection"]["msg"], [
                  (p["at_s"], p["answered"], p["error"]) for p in evidence["detection"]["probes"][-5:]])}
    # back: the killed container started (fenced by its guard), rejoined as a standby of the new primary
    subprocess.run(["podman", "start", victim], check=True, capture_output=True)
    deadline = time.monotonic() + 90
    while subprocess.run(["podman", "exec", victim, "systemctl", "is-active", "postgresql@15-main"],
                         capture_output=True, check=False).returncode:
        if time.monotonic() > deadline:
            sys.exit("%s's PostgreSQL did not start again" % victim)
        time.sleep(1)
    result["fenced"] = psql(victim, "SELECT pg_is_in_recovery()") == "t"
    rejoin = playbook("playbooks/db_rejoin.yml", "-e", "db_rejoin_hosts=%s" % victim)
    said = " ".join(rejoin.stdout.split())
    result["rejoin"] = ("pg_rewind" if "method: pg_rewind" in said else "pg_basebackup" if "method: pg_basebackup" in said
                        else "nothing (it followed the new primary by itself)" if "already: nothing to do" in said
                        else "?")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--synchronous", action="store_true", help="synchronous_standby_names '*' on both members")
    options = parser.parse_args()
    runs = options.runs
    if runs < 1:
        sys.exit("--runs must be 1 or more")
    results = []
    synchronous(MEMBERS, options.synchronous)
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            result = run_once(pathlib.Path(tmp) / str(n))
            results.append(result)
            print("run %d, %s killed: detected %.2f s, repointed %.2f s after the kill; write gap %.2f s; %d acknowledged, "
                  "%d errors, %d lost (guard: %s bytes); came back fenced: %s; rejoined by %s" % (
                      n + 1, result["victim"], result["detect"], result["repoint"], result["gap"],
                      result["acknowledged"], result["errors"], result["lost"], result["loss_bytes"],
                      result["fenced"], result["rejoin"]), flush=True)
            print("    detection: %s" % result["detection"], flush=True)
            print("    podman kill took %.2f s; replication: %s" % (result["kill_took"], result["synchronous"]), flush=True)
        if primary() != "db1":
            playbook("playbooks/db_switchover.yml", "-e", "db_switchover_to=db1",
                     "-e", "db_switchover_evidence_dir=%s" % tmp)
    synchronous(MEMBERS, False)
    for key, label in (("detect", "kill -> loss confirmed, s"), ("repoint", "kill -> PgBouncer on the new primary, s"),
                       ("gap", "write unavailability through the LB, s"), ("errors", "client errors"),
                       ("lost", "commits lost")):
        values = [r[key] for r in results]
        print("%-42s min %.2f  median %.2f  max %.2f  (%d runs)"
              % (label, min(values), statistics.median(values), max(values), len(values)))
    print("target: <= 10 s from the primary's death to the first acknowledged write on the new primary")


if __name__ == "__main__":
    main()
