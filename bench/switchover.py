"""Benchmark: playbooks/db_switchover.yml on the running lab under a writer, back and forth between db1 and db2.

    .venv/bin/python bench/switchover.py [--runs 6]     (the lab must be up: make lab-up)

A writer POSTs /api/items through the load balancer (HTTPS -> nginx -> gunicorn -> PgBouncer -> PostgreSQL), one
request after the other, throughout each run. Per run: the playbook's wall time; the write unavailability a client
saw (the longest gap between two acknowledged commits); client errors (any answer but 201, or no answer); commits
lost (acknowledged, not on the new primary afterwards); and the critical section from the evidence's timeline
(from 'prepared', just before the pause, to 'clients repointed'). Then min/median/max over the runs, against the issue's
target (write unavailability <= 1 s median, no client error, nothing lost). The lab ends with db1 primary when the
number of runs is even.
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
from labtest import ADDRESSES, LAB, Writer  # noqa: E402


def psql(host, sql):
    return subprocess.run(["podman", "exec", host, "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d",
                           LAB["lab_pg_app_db"], "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def primary():
    return [h for h in ("db1", "db2") if psql(h, "SELECT pg_is_in_recovery()") == "f"][0]


def seconds(timeline, first, last):
    at = {entry["step"]: datetime.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) for entry in timeline}
    return (at[last] - at[first]).total_seconds()


def run_once(target, evidence_dir):
    writer = Writer(dict(LAB, addresses=ADDRESSES, ca_file=str(PROJECT / ".lab/pki/ca.crt")),
                    "bench-" + uuid.uuid4().hex[:8])
    writer.start()
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    try:
        time.sleep(2)
        start = time.monotonic()
        done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "playbooks/db_switchover.yml",
                               "-e", "db_switchover_to=" + target, "-e", "db_switchover_evidence_dir=%s" % evidence_dir],
                              cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - start
        time.sleep(2)
    finally:
        writer.stop.set()
        writer.join()
    if done.returncode:
        sys.exit("the switchover to %s failed:\n%s" % (target, done.stdout[-3000:]))
    evidence = json.loads(sorted(pathlib.Path(evidence_dir).glob("db_switchover-*.json"))[-1].read_text())
    names = {name for dummy, name in writer.acknowledged}
    kept = set(psql(target, "SELECT name FROM items WHERE name LIKE '%s-%%'" % writer.marker).split())
    psql(target, "DELETE FROM items WHERE name LIKE '%s-%%'" % writer.marker)
    return {"wall": wall, "gap": writer.longest_gap(), "errors": len(writer.errors), "lost": len(names - kept),
            "acknowledged": len(names), "critical": seconds(evidence["timeline"], "prepared", "clients repointed"),
            "said": writer.errors[:3]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=6)
    runs = parser.parse_args().runs
    if runs < 1:
        sys.exit("--runs must be 1 or more")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            target = "db2" if primary() == "db1" else "db1"
            result = run_once(target, pathlib.Path(tmp) / str(n))
            results.append(result)
            print("run %d -> %s: wall %.1f s, write gap %.2f s, critical section %.2f s, %d acknowledged, %d errors %s, "
                  "%d lost" % (n + 1, target, result["wall"], result["gap"], result["critical"], result["acknowledged"],
                               result["errors"], result["said"], result["lost"]), flush=True)
    for key, label in (("gap", "write unavailability (longest gap), s"), ("critical", "critical section (evidence), s"),
                       ("wall", "playbook wall time, s"), ("errors", "client errors"), ("lost", "commits lost")):
        values = [r[key] for r in results]
        print("%-40s min %.2f  median %.2f  max %.2f  (%d runs)"
              % (label, min(values), statistics.median(values), max(values), len(values)))
    print("target: write unavailability <= 1 s median, 0 client errors, 0 commits lost")


if __name__ == "__main__":
    main()
