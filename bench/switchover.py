"""Benchmark: playbooks/db_switchover.yml on the running lab under a writer, back and forth between db1 and db2.

    .venv/bin/python bench/switchover.py [--runs 6] [--against REV]     (the lab must be up: make lab-up)

A writer POSTs /api/items through the load balancer (HTTPS -> nginx -> gunicorn -> PgBouncer -> PostgreSQL), one
request after the other, throughout each run. Per run: the playbook's wall time; the write unavailability a client
saw (the longest gap between two acknowledged commits); client errors (any answer but 201, or no answer); commits
lost (acknowledged, not on the new primary afterwards); and the critical section: the switch's own timing
(pg_switchover, first PAUSE to last RESUME), or, for a revision before it, the evidence's timeline from 'prepared' to
'clients repointed'. Then min/median/max over the runs, against the issue's target (write unavailability <= 1 s
median, no client error, nothing lost). The lab ends with db1 primary when the number of runs is even.

--against REV runs the switchover of an earlier revision (a git worktree of it) in the same session, turn about with
this one (--runs of each), and prints the ratio of the medians: the way it was done before, on the same lab and load.
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


def worktree(rev, where):
    """A checkout of `rev` that runs as this one does: its own collection link, this checkout's lab state."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), rev], cwd=PROJECT, check=True,
                   capture_output=True)
    link = where / ".ansible/collections/ansible_collections/opsready/runbooks"
    link.parent.mkdir(parents=True)
    link.symlink_to(where)
    (where / ".lab").symlink_to((PROJECT / ".lab").resolve())
    return where


def run_once(target, evidence_dir, checkout=PROJECT):
    writer = Writer(dict(LAB, addresses=ADDRESSES, ca_file=str(PROJECT / ".lab/pki/ca.crt")),
                    "bench-" + uuid.uuid4().hex[:8])
    writer.start()
    env = dict(os.environ, ANSIBLE_CONFIG=str(checkout / "ansible.cfg"), ANSIBLE_HOME=str(checkout / ".ansible"))
    try:
        time.sleep(2)
        start = time.monotonic()
        done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "playbooks/db_switchover.yml",
                               "-e", "db_switchover_to=" + target, "-e", "db_switchover_evidence_dir=%s" % evidence_dir],
                              cwd=checkout, env=env, capture_output=True, text=True, check=False)
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
    critical = (evidence["switch"]["timings"]["critical"] if evidence.get("switch")
                else seconds(evidence["timeline"], "prepared", "clients repointed"))
    return {"wall": wall, "gap": writer.longest_gap(), "errors": len(writer.errors), "lost": len(names - kept),
            "acknowledged": len(names), "critical": critical, "said": writer.errors[:3]}


KEYS = (("gap", "write unavailability (longest gap), s"), ("critical", "critical section, s"),
        ("wall", "playbook wall time, s"), ("errors", "client errors"), ("lost", "commits lost"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--against", help="an earlier revision, run turn about with this one")
    options = parser.parse_args()
    if options.runs < 1:
        sys.exit("--runs must be 1 or more")
    ways = {"this checkout": []}
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = [("this checkout", PROJECT)]
        if options.against:
            ways[options.against] = []
            checkouts.append((options.against, worktree(options.against, pathlib.Path(tmp) / "against")))
        try:
            for n in range(options.runs):
                for name, checkout in checkouts:
                    target = "db2" if primary() == "db1" else "db1"
                    result = run_once(target, pathlib.Path(tmp) / ("%s-%d" % (len(ways[name]), n)), checkout)
                    ways[name].append(result)
                    print("%s run %d -> %s: wall %.1f s, write gap %.2f s, critical section %.2f s, %d acknowledged, "
                          "%d errors %s, %d lost" % (name, n + 1, target, result["wall"], result["gap"],
                                                     result["critical"], result["acknowledged"], result["errors"],
                                                     result["said"], result["lost"]), flush=True)
        finally:
            if options.against:
                subprocess.run(["git", "worktree", "remove", "--force", str(pathlib.Path(tmp) / "against")],
                               cwd=PROJECT, check=False, capture_output=True)
    for name, results in ways.items():
        print("== %s (%d runs)" % (name, len(results)))
        for key, label in KEYS:
            values = [r[key] for r in results]
            print("%-40s min %.2f  median %.2f  max %.2f" % (label, min(values), statistics.median(values), max(values)))
    if options.against:
        mine, theirs = ways["this checkout"], ways[options.against]
        for key, label in KEYS[:3]:
            a, b = statistics.median(r[key] for r in mine), statistics.median(r[key] for r in theirs)
            print("%-40s %s / this checkout = %.1fx" % (label, options.against, b / a if a else float("inf")))
    print("target: write unavailability <= 1 s median, 0 client errors, 0 commits lost")


if __name__ == "__main__":
    main()
