"""The roles' bad-input tables share one way to run: every row in one real ansible-playbook run on localhost (no lab),
each row a block of its own whose rescue keeps the refusal."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[3]


def play(tmp_path, tasks, settings=None, options=(), timeout=600):
    """One real ansible-playbook run of `tasks` on localhost (settings: the play's vars; options: the command's, as
    --check); returns the finished run."""
    settings = dict(settings or {}, ansible_python_interpreter="{{ ansible_playbook_python }}")
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "vars": settings,
                                                        "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    return subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                           "local", *options, str(tmp_path / "play.yml")], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def refusals(tmp_path, rows, timeout=600):
    """rows: [(name, include_role's arguments, vars)]. Runs them all in one ansible-playbook run; returns (its
    output, {name: the message that refused the row})."""
    tasks = [{"name": name, "block": [{"ansible.builtin.include_role": include, "vars": variables}],
              "rescue": [{"ansible.builtin.set_fact": {
                  "refused": "{{ refused | combine({%r: ansible_failed_result.msg}) }}" % name}}]}
             for name, include, variables in rows]
    tasks.append({"ansible.builtin.copy": {"content": "{{ refused | to_json }}", "dest": str(tmp_path / "refused.json")}})
    run = play(tmp_path, tasks, {"refused": {}}, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout, json.loads((tmp_path / "refused.json").read_text())


@pytest.fixture(scope="session")
def run_refusals():
    return refusals


@pytest.fixture(scope="session")
def run_play():
    return play
