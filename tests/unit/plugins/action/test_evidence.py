"""opsready.runbooks.evidence: the controller-side writer, through a real ansible-playbook run and on its own."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
from ansible_collections.opsready.runbooks.plugins.action.evidence import write_evidence

PROJECT = pathlib.Path(__file__).resolve().parents[4]


def test_writes_json_and_markdown_whole_and_makes_the_directory(tmp_path):
    directory = tmp_path / "evidence" / "nested"
    files = write_evidence(str(directory), "rollback-x", {"b": 1, "a": ["é"]}, "# Rollback")
    assert files == [str(directory / "rollback-x.json"), str(directory / "rollback-x.md")]
    assert json.loads((directory / "rollback-x.json").read_text()) == {"a": ["é"], "b": 1}
    assert (directory / "rollback-x.json").read_text().startswith('{\n    "a"')  # sorted, indented
    assert (directory / "rollback-x.md").read_text() == "# Rollback\n"
    assert oct((directory / "rollback-x.json").stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(directory)) == ["rollback-x.json", "rollback-x.md"]  # no scratch file left


def test_json_only_and_replaces_what_was_there(tmp_path):
    write_evidence(str(tmp_path), "watch", {"held": False})
    write_evidence(str(tmp_path), "watch", {"held": True})
    assert sorted(os.listdir(tmp_path)) == ["watch.json"]
    assert json.loads((tmp_path / "watch.json").read_text()) == {"held": True}


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".."])
def test_a_name_that_is_not_a_file_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="name must be a file name"):
        write_evidence(str(tmp_path), name, {})


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - opsready.runbooks.evidence:
        dir: "{{ out }}"
        name: run
        data: {secret_free: "{{ 'yes' }}", n: 2}
        markdown: "{{ '# ' ~ 'done' }}"
      register: written
    - opsready.runbooks.evidence:
        dir: /proc/no-such-place
        name: run
        data: {}
      register: refused
      ignore_errors: true
    - opsready.runbooks.evidence:
        dir: "{{ out }}"
      register: incomplete
      ignore_errors: true
    - opsready.runbooks.evidence:
        dir: "{{ out }}"
        name: results
        data: {written: "{{ written }}", refused: "{{ refused }}", incomplete: "{{ incomplete }}"}
"""


def test_through_ansible_playbook_in_check_mode(tmp_path):
    """Check mode still writes the record (it is the plan); bad input and an unwritable place fail clearly. No
    module runs: the play needs no Python on any host."""
    (tmp_path / "play.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "--check", "-i", "localhost,",
                          "-c", "local", str(tmp_path / "play.yml"), "-e", "out=%s" % tmp_path],
                         cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    assert json.loads((tmp_path / "run.json").read_text()) == {"n": 2, "secret_free": "yes"}
    assert (tmp_path / "run.md").read_text() == "# done\n"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["written"]["changed"] is False and results["written"]["files"][0] == str(tmp_path / "run.json")
    assert results["refused"]["failed"] is True
    assert results["refused"]["msg"].startswith("cannot write the evidence run in /proc/no-such-place: ")
    assert results["incomplete"]["failed"] is True
    assert "missing required arguments: data, name" in results["incomplete"]["msg"]
