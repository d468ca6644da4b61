"""The filters of plugins/filter/rollback_plan.py, which roles/rollback/tasks/precheck.yml calls: loaded by their FQCN
in a real ansible-playbook (the pre-checks' order, a block's vars as precheck.yml uses them), documented one by one
for ansible-doc, and a refusal of odd input that names the filter. The logic itself is tested in
tests/unit/plugins/module_utils/test_rollback_plan.py."""
import inspect
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.filter import rollback_plan as plugin
from ansible_collections.opsready.runbooks.plugins.module_utils import _rollback_plan as planner

PROJECT = pathlib.Path(__file__).resolve().parents[4]
FILTERS = plugin.FilterModule().filters()
ENV = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))


def ansible(command, *args):
    return subprocess.run([str(pathlib.Path(sys.executable).parent / command), *args], cwd=PROJECT, env=ENV,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("name, args, message", [
    ("rollback_release_plan", ({"results": []},), "rollback_release_plan: expects the results of "
                                                  "opsready.runbooks.release looped over the hosts"),
    ("rollback_problems", ("command", "1", "", "two"), "rollback_problems: rollback_migrations_steps is the str 'two'"),
    ("rollback_schema_target", (None,), "rollback_schema_target: the target release's schema is null"),
    ("rollback_refusal", (None, "0001", "db1"), "rollback_refusal: the preview is null"),
    ("rollback_command_plan", ({}, [], "", 1), "rollback_command_plan: the preview has no msg"),
    ("rollback_restore_plan", ({}, "0001", "builtin"), "rollback_restore_plan: the newest release's schema has no"),
    ("rollback_plan", (None, "1.0.0", {}, []), "rollback_plan: the schema plan is null"),
])
def test_a_refusal_names_the_filter(name, args, message):
    with pytest.raises(AnsibleFilterError, match="^" + message):
        FILTERS[name](*args)


# ------------------------------------------------------------------------------------------------ documentation
def sidecar(name):
    return yaml.safe_load((PROJECT / "plugins" / "filter" / ("%s.yml" % name)).read_text())


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_is_documented_with_its_own_arguments(name):
    """Its own YAML file (a .py file's DOCUMENTATION would be every filter's), options as the function takes them."""
    doc = sidecar(name)
    documentation = doc["DOCUMENTATION"]
    assert documentation["name"] == name and documentation["short_description"]
    parameters = list(inspect.signature(getattr(planner, plugin.FILTERS[name])).parameters)
    assert list(documentation["options"]) == ["_input"] + parameters[1:]
    assert documentation.get("positional", "_input") == ", ".join(["_input"] + parameters[1:])
    for option, spec in documentation["options"].items():
        required = inspect.signature(getattr(planner, plugin.FILTERS[name])).parameters[parameters[0] if option == "_input" else option]
        assert spec.get("required", False) is (required.default is inspect.Parameter.empty), option
    assert "opsready.runbooks." + name in doc["EXAMPLES"] and yaml.safe_load(doc["EXAMPLES"])
    assert doc["RETURN"]["_value"]["description"]


def test_ansible_doc_shows_each_filter_its_own_documentation():
    run = ansible("ansible-doc", "-t", "filter", "--json", *("opsready.runbooks." + name for name in sorted(FILTERS)))
    assert run.returncode == 0, run.stderr[-3000:]
    shown = json.loads(run.stdout)
    assert sorted(shown) == sorted("opsready.runbooks." + name for name in FILTERS)
    for fqcn, doc in shown.items():
        assert doc["doc"]["name"] == fqcn.rsplit(".", 1)[1] and doc["return"]["_value"]


# ------------------------------------------------------------------------------------------------ in a playbook
RESULTS = [{"item": host, "before": "1.1.0", "after": "1.0.0", "changed": True, "releases": ["1.0.0", "1.1.0"]}
           for host in ("app1", "app2")]
PREVIEW = {"changed": True, "msg": "would run: tool rollback 1 (give commands.preview_rollback to see what it would do)"}
NEWEST = {"changed": False, "before": "0002", "applied": ["0001", "0002"]}
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The release plan, as a block's vars
      vars:
        release: "{{ results | opsready.runbooks.rollback_release_plan }}"
      block:
        - name: The hosts agree on the target
          ansible.builtin.assert:
            that: not release.disagree
            fail_msg: "{{ release.disagree }}"
            quiet: true

        - name: Target, and the hosts to switch
          ansible.builtin.set_fact:
            target: "{{ release.target }}"
            before: "{{ release.before }}"
            hosts_to_switch: "{{ release.hosts_to_switch }}"

    - name: The way back is given in full
      vars:
        problems: "{{ backend | opsready.runbooks.rollback_problems(target, migrations_target, steps, restore_from) }}"
      ansible.builtin.assert:
        that: problems | length == 0
        fail_msg: "{{ problems | join('; ') }}"
        quiet: true

    - name: Every other filter
      ansible.builtin.set_fact:
        out:
          release: "{{ results | opsready.runbooks.rollback_release_plan }}"
          schema_target: "{{ {'skipped': true} | opsready.runbooks.rollback_schema_target('', steps) }}"
          refusal: "{{ {'failed': true, 'msg': '0002 cannot be undone'} | opsready.runbooks.rollback_refusal('0001', 'db1') }}"
          command: "{{ preview | opsready.runbooks.rollback_command_plan(hosts_to_switch, migrations_target, steps) }}"
          restore: "{{ newest | opsready.runbooks.rollback_restore_plan('0001', 'builtin') }}"
          plan: >-
            {{ preview | opsready.runbooks.rollback_command_plan(hosts_to_switch, migrations_target, steps)
               | opsready.runbooks.rollback_plan(target, before, hosts_to_switch, restore_from, 'db1') }}

    - name: Keep
      ansible.builtin.copy:
        content: "{{ out | to_json }}"
        dest: "{{ out_path }}"
        mode: '0644'
"""


@pytest.fixture
def playbook(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)

    def run(**settings):
        settings = dict({"results": RESULTS, "preview": PREVIEW, "newest": NEWEST, "backend": "command",
                         "migrations_target": "", "steps": 1, "restore_from": "",
                         "out_path": str(tmp_path / "out.json")}, **settings)
        (tmp_path / "vars.json").write_text(json.dumps(settings))
        ran = ansible("ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
                      "-e", "@%s" % (tmp_path / "vars.json"), "-e", "ansible_python_interpreter=%s" % sys.executable)
        return ran, (tmp_path / "out.json")
    return run


def test_every_filter_by_its_fqcn_in_ansible_playbook(playbook):
    ran, out = playbook()
    assert ran.returncode == 0, ran.stdout[-3000:]
    command = planner.command_plan(PREVIEW, ["app1", "app2"], "", 1)
    assert json.loads(out.read_text()) == {
        "release": planner.release_plan(RESULTS),
        "schema_target": "",
        "refusal": planner.refusal({"failed": True, "msg": "0002 cannot be undone"}, "0001", "db1"),
        "command": command,
        "restore": planner.restore_plan(NEWEST, "0001", "builtin"),
        "plan": planner.plan(command, "1.0.0", {"app1": "1.1.0", "app2": "1.1.0"}, ["app1", "app2"], "", "db1"),
    }
    assert json.loads(out.read_text())["plan"]["schema_steps"][0]["version"] == "1 step(s)"


def test_in_ansible_playbook_the_messages_and_refusals_come_through(playbook):
    ran, dummy = playbook(results=[RESULTS[0], dict(RESULTS[1], after="1.1.0", changed=False)])
    said = " ".join(ran.stdout.split())
    assert ran.returncode != 0 and ("The hosts would go to different releases (app1: 1.0.0, app2: 1.1.0): they do not "
                                    "run the same release. Name the target with rollback_version.") in said, said[-3000:]
    ran, dummy = playbook(steps=0)
    said = " ".join(ran.stdout.split())
    assert ran.returncode != 0 and "backend command cannot tell which schema release 1.0.0 needs" in said, said[-3000:]
    ran, dummy = playbook(steps="two")
    said = " ".join(ran.stdout.split())
    assert ran.returncode != 0 and ("rollback_problems: rollback_migrations_steps is the str 'two': give a number of "
                                    "migrations (0: none)") in said, said[-3000:]
