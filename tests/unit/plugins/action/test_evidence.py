"""opsready.runbooks.evidence: the controller-side writer, through a real ansible-playbook run and on its own."""
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys

import pytest
from ansible_collections.opsready.runbooks.plugins.action.evidence import write_evidence
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

PROJECT = pathlib.Path(__file__).resolve().parents[4]


def test_writes_json_and_markdown_whole_and_makes_the_directory(tmp_path):
    directory = tmp_path / "evidence" / "nested"
    files = write_evidence(str(directory), "rollback-x", {"b": 1, "a": ["é"]}, "# Rollback")
    assert files == [str(directory / "rollback-x.json"), str(directory / "rollback-x.md")]
    assert json.loads((directory / "rollback-x.json").read_text()) == {"a": ["é"], "b": 1}
    assert (directory / "rollback-x.json").read_text().startswith('{\n    "a"')  # sorted, indented
    assert (directory / "rollback-x.md").read_text() == "# Rollback\n"
    assert sorted(os.listdir(directory)) == ["rollback-x.json", "rollback-x.md"]  # no scratch file left


def mode(path):
    return oct(path.stat().st_mode & 0o777)


def test_evidence_is_private_and_so_are_the_directories_it_makes(tmp_path):
    """Issue 23: evidence files were world-readable (0644)."""
    tmp_path.chmod(0o755)
    files = write_evidence(str(tmp_path / "evidence" / "nested"), "run", {"a": 1}, "# run")
    assert [mode(pathlib.Path(f)) for f in files] == ["0o600", "0o600"]
    assert (mode(tmp_path / "evidence"), mode(tmp_path / "evidence" / "nested")) == ("0o700", "0o700")
    assert mode(tmp_path) == "0o755"   # a directory that was there is left as it was


def test_never_overwrites_evidence_already_there(tmp_path):
    """Issue 27: names have one-second resolution; two runs in the same second overwrote each other's evidence."""
    first = write_evidence(str(tmp_path), "watch", {"held": False}, "first")
    second = write_evidence(str(tmp_path), "watch", {"held": True}, "second")
    third = write_evidence(str(tmp_path), "watch", {"held": None})
    assert first == [str(tmp_path / "watch.json"), str(tmp_path / "watch.md")]
    assert second == [str(tmp_path / "watch-2.json"), str(tmp_path / "watch-2.md")]
    assert third == [str(tmp_path / "watch-3.json")]
    assert json.loads((tmp_path / "watch.json").read_text()) == {"held": False}
    assert (tmp_path / "watch.md").read_text() == "first\n"
    assert json.loads((tmp_path / "watch-2.json").read_text()) == {"held": True}
    assert sorted(os.listdir(tmp_path)) == ["watch-2.json", "watch-2.md", "watch-3.json", "watch.json", "watch.md"]


def test_a_name_taken_by_its_markdown_alone_moves_both_files_on(tmp_path):
    (tmp_path / "run.md").write_text("someone else's\n")
    files = write_evidence(str(tmp_path), "run", {}, "mine")
    assert files == [str(tmp_path / "run-2.json"), str(tmp_path / "run-2.md")]
    assert sorted(os.listdir(tmp_path)) == ["run-2.json", "run-2.md", "run.md"]
    assert (tmp_path / "run.md").read_text() == "someone else's\n"


def test_runs_writing_the_same_name_at_once_each_keep_their_own(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        written = list(pool.map(lambda n: write_evidence(str(tmp_path), "race", {"run": n}, "run %d" % n), range(8)))
    assert len({files[0] for files in written}) == 8
    assert sorted(json.loads(pathlib.Path(files[0]).read_text())["run"] for files in written) == list(range(8))
    assert all(pathlib.Path(files[1]).read_text() == "run %d\n" % n for n, files in enumerate(written))
    assert len(os.listdir(tmp_path)) == 16   # no scratch file left


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "..", "run\n", ".hidden"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    with pytest.raises(OpsreadyError, match="name"):
        write_evidence(str(tmp_path), name, {})
    assert os.listdir(tmp_path) == []


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
    assert results["refused"]["msg"].startswith("cannot write the evidence run in dir=/proc/no-such-place: ")
    assert results["incomplete"]["failed"] is True
    assert "missing required arguments: data, name" in results["incomplete"]["msg"]


# ------------------------------------------------------------------------------------------------------ bad input
# (id, the task's options; {case} is the case's own directory, which must stay empty; the option the message names)
BAD_INPUT = [
    ("name-empty", {"dir": "{case}/evidence", "name": "", "data": {}}, "name"),
    ("name-newline", {"dir": "{case}/evidence", "name": "run\n2", "data": {}}, "name"),
    ("name-trailing-newline", {"dir": "{case}/evidence", "name": "run\n", "data": {}}, "name"),
    ("name-tab", {"dir": "{case}/evidence", "name": "run\t2", "data": {}}, "name"),
    ("name-escape-sequence", {"dir": "{case}/evidence", "name": "run\u001b[31m", "data": {}}, "name"),
    ("name-delete-character", {"dir": "{case}/evidence", "name": "run\u007f", "data": {}}, "name"),
    ("name-slash", {"dir": "{case}/evidence", "name": "a/b", "data": {}}, "name"),
    ("name-parent-path", {"dir": "{case}/evidence", "name": "../escape", "data": {}}, "name"),
    ("name-dotdot", {"dir": "{case}/evidence", "name": "..", "data": {}}, "name"),
    ("name-dotdot-inside", {"dir": "{case}/evidence", "name": "run..2", "data": {}}, "name"),
    ("name-dot", {"dir": "{case}/evidence", "name": ".", "data": {}}, "name"),
    ("name-hidden", {"dir": "{case}/evidence", "name": ".run", "data": {}}, "name"),
    ("name-too-long", {"dir": "{case}/evidence", "name": "x" * 201, "data": {}}, "name"),
    ("name-missing", {"dir": "{case}/evidence", "data": {}}, "name"),
    ("data-missing", {"dir": "{case}/evidence", "name": "run"}, "data"),
    ("dir-missing", {"name": "run", "data": {}}, "dir"),
    ("dir-empty", {"dir": "", "name": "run", "data": {}}, "dir"),
    ("dir-newline", {"dir": "{case}/evi\ndence", "name": "run", "data": {}}, "dir"),
    ("dir-is-a-file", {"dir": "{case}/a-file", "name": "run", "data": {}}, "dir"),
]

BAD_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - opsready.runbooks.evidence:
        dir: "{{ item.args.dir | default(omit) }}"
        name: "{{ item.args.name | default(omit) }}"
        data: "{{ item.args.data | default(omit) }}"
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.id }}"
      register: refused
      ignore_errors: true
    - opsready.runbooks.evidence:
        dir: "{{ out }}"
        name: results
        data: "{{ dict(refused.results | map(attribute='item.id') | zip(refused.results | map('dict2items')
                  | map('selectattr', 'key', 'in', ['failed', 'msg', 'files']) | map('items2dict'))) }}"
"""


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """One real ansible-playbook run with every bad input (each case in its own directory); what each task said."""
    root = tmp_path_factory.mktemp("bad-input")
    cases = []
    for case_id, args, option in BAD_INPUT:
        (root / case_id).mkdir()
        if case_id == "dir-is-a-file":
            (root / case_id / "a-file").write_text("not a directory\n")
        cases.append({"id": case_id, "args": {key: value.replace("{case}", str(root / case_id))
                                              if key == "dir" else value for key, value in args.items()}})
    (root / "cases.json").write_text(json.dumps({"cases": cases, "out": str(root / "out")}))
    (root / "play.yml").write_text(BAD_PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                          "local", str(root / "play.yml"), "-e", "@%s" % (root / "cases.json")],
                         cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    return root, json.loads((root / "out" / "results.json").read_text())


@pytest.mark.parametrize("case_id, option", [(case[0], case[2]) for case in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_and_writes_nothing(refused, case_id, option):
    root, results = refused
    result = results[case_id]
    assert result["failed"] is True and "files" not in result
    assert option in result["msg"], result["msg"]
    expected = ["a-file"] if case_id == "dir-is-a-file" else []
    assert sorted(os.listdir(root / case_id)) == expected
    if case_id == "dir-is-a-file":
        assert (root / case_id / "a-file").read_text() == "not a directory\n"
