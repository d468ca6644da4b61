"""Benchmark: wall time of playbooks/rollback.yml on the running lab (two app hosts drained and switched one at a
time, one migration step rolled back, backup, health gate), and of its check-mode run, in one run.

    .venv/bin/python bench/rollback.py [--runs 1]     (the lab must be up: make lab-up)

Before each measured pair the lab goes forward to its live release (extensions/molecule/rollback/forward.yml), and it is left
there at the end. Prints each run's seconds and the per-step times from the rollback's own evidence timeline.
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

PROJECT = pathlib.Path(__file__).resolve().parents[1]


def playbook(path, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    start = time.monotonic()
    done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), path, *args], cwd=PROJECT,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit("%s failed:\n%s" % (path, done.stdout[-3000:]))
    return time.monotonic() - start


def steps(evidence_dir):
    timeline = json.loads(sorted(pathlib.Path(evidence_dir).glob("rollback-*.json"))[-1].read_text())["timeline"]
    at = [datetime.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) for entry in timeline]
    return ", ".join("%s %.1f" % (entry["step"], (at[n] - at[n - 1]).total_seconds())
                     for n, entry in enumerate(timeline) if n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    times = {"rollback": [], "check mode": [], "nothing to do": []}
    try:
        for run in range(args.runs):
            playbook("extensions/molecule/rollback/forward.yml")
            with tempfile.TemporaryDirectory() as scratch:
                check_dir, real_dir, again_dir = (os.path.join(scratch, name) for name in ("check", "real", "again"))
                check = playbook("playbooks/rollback.yml", "--check", "-e", "rollback_evidence_dir=" + check_dir)
                real = playbook("playbooks/rollback.yml", "-e", "rollback_evidence_dir=" + real_dir)
                again = playbook("playbooks/rollback.yml", "-e", "rollback_version=1.0.0",
                                 "-e", "rollback_evidence_dir=" + again_dir)
                print("run %d: rollback %.1f s, check mode %.1f s, second run (nothing to do) %.1f s" % (
                    run + 1, real, check, again))
                print("   steps (s): %s" % steps(real_dir))
                for name, seconds in zip(times, (real, check, again)):
                    times[name].append(seconds)
        if args.runs > 1:
            print("%d runs, median (min-max): %s" % (args.runs, ", ".join(
                "%s %.1f s (%.1f-%.1f)" % (name, statistics.median(values), min(values), max(values))
                for name, values in times.items())))
    finally:
        playbook("extensions/molecule/rollback/forward.yml")


if __name__ == "__main__":
    main()
