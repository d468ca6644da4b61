"""Benchmark: wall time of playbooks/rollback.yml on the running lab (two app hosts drained and switched one at a
time, one migration step rolled back, backup, health gate), of its check-mode run, and of a second run with nothing
to do.

    .venv/bin/python bench/rollback.py [--runs 3] [--against REV]     (the lab must be up: make lab-up)

With --against, the same runs of another revision (a git worktree of REV, made and removed here) alternate with
this checkout's, so both meet the same machine load, and the ratios are printed. Before each rollback the lab goes
forward to its live release (extensions/molecule/rollback/forward.yml), and it is left there at the end.
"""
import argparse
import contextlib
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
KINDS = ("rollback", "check mode", "nothing to do")


def playbook(tree, path, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg"), ANSIBLE_HOME=str(tree / ".ansible"))
    start = time.monotonic()
    done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), path, *args], cwd=tree,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit("%s failed in %s:\n%s" % (path, tree, done.stdout[-3000:]))
    return time.monotonic() - start


def steps(evidence_dir):
    timeline = json.loads(sorted(pathlib.Path(evidence_dir).glob("rollback-*.json"))[-1].read_text())["timeline"]
    at = [datetime.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) for entry in timeline]
    return ", ".join("%s %.1f" % (entry["step"], (at[n] - at[n - 1]).total_seconds())
                     for n, entry in enumerate(timeline) if n)


@contextlib.contextmanager
def worktree(rev):
    """REV checked out beside this one, its collection link made as scripts/setup.sh makes it."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = pathlib.Path(scratch) / "tree"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), rev], cwd=PROJECT, check=True)
        try:
            link = tree / ".ansible/collections/ansible_collections/opsready/runbooks"
            link.parent.mkdir(parents=True)
            link.symlink_to("../../../..")
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=PROJECT, check=False)


def one_run(tree):
    """One forward, then the rollback's check-mode run, the rollback, and a second run with nothing to do."""
    playbook(tree, "extensions/molecule/rollback/forward.yml")
    with tempfile.TemporaryDirectory() as scratch:
        check_dir, real_dir, again_dir = (os.path.join(scratch, name) for name in ("check", "real", "again"))
        check = playbook(tree, "playbooks/rollback.yml", "--check", "-e", "rollback_evidence_dir=" + check_dir)
        real = playbook(tree, "playbooks/rollback.yml", "-e", "rollback_evidence_dir=" + real_dir)
        again = playbook(tree, "playbooks/rollback.yml", "-e", "rollback_version=1.0.0",
                         "-e", "rollback_evidence_dir=" + again_dir)
        return dict(zip(KINDS, (real, check, again))), steps(real_dir)


def summary(values):
    return "%.1f s (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with, run for run")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    with contextlib.ExitStack() as stack:
        trees = {"this checkout": PROJECT}
        if args.against:
            trees = {args.against: stack.enter_context(worktree(args.against)), "this checkout": PROJECT}
        times = {label: {kind: [] for kind in KINDS} for label in trees}
        try:
            for run in range(args.runs):
                for label, tree in trees.items():
                    seconds, timeline = one_run(tree)
                    print("run %d, %s: %s" % (run + 1, label, ", ".join("%s %.1f s" % item for item in seconds.items())))
                    print("   steps (s): %s" % timeline, flush=True)
                    for kind, value in seconds.items():
                        times[label][kind].append(value)
        finally:
            playbook(PROJECT, "extensions/molecule/rollback/forward.yml")
        print("%d run(s) each, median (min-max):" % args.runs)
        for label, kinds in times.items():
            print("  %s: %s" % (label, ", ".join("%s %s" % (kind, summary(values)) for kind, values in kinds.items())))
        if args.against:
            print("  ratio this checkout / %s (medians): %s" % (args.against, ", ".join(
                "%s %.2f" % (kind, statistics.median(times["this checkout"][kind]) / statistics.median(times[args.against][kind]))
                for kind in KINDS)))


if __name__ == "__main__":
    main()
