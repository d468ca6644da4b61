"""This repository as an AWX project: a fresh clone, synced the way AWX syncs a project, resolves every role.

AWX clones the repository (no scripts/setup.sh, so no .ansible link), then, from the project's root, runs
`ansible-galaxy collection install -r collections/requirements.yml` with ANSIBLE_COLLECTIONS_PATH set to a cache
that the jobs get first on their collections path (awx/playbooks/project_update.yml). The jobs run from the
project's root, so its ansible.cfg applies, but not what setup.sh made. Here the same, with no Galaxy reachable:
- without the sync, the clone does not resolve opsready.runbooks (the bug: the link was doing the work);
- the sync installs the collection from the clone itself, offline, the dependencies found already installed;
- every playbook passes --syntax-check and --list-tasks, with the project's ansible.cfg and with a blank one;
- every role, and every tasks file a role includes from another (include_role ... tasks_from), imports by FQCN.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
PLAYBOOKS = sorted("playbooks/" + path.name for path in (PROJECT / "playbooks").glob("*.yml"))
UNREACHABLE = "http://127.0.0.1:9/"   # discard port: any attempt to reach a Galaxy fails at once


def run(argv, cwd, env, timeout=300):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def awx_env(base, collections_path, config=None):
    """The environment of an AWX sync or job here: nothing of this checkout's ANSIBLE_* settings, a blank home,
    the collections path AWX sets, no Galaxy."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(base / "home"), ANSIBLE_COLLECTIONS_PATH=str(collections_path),
               ANSIBLE_GALAXY_SERVER=UNREACHABLE, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A fresh clone of this repository's HEAD, synced as AWX syncs a project."""
    base = tmp_path_factory.mktemp("awx")
    clone = base / "project"
    cloned = run(["git", "clone", "-q", str(PROJECT), str(clone)], base, dict(os.environ))
    assert cloned.returncode == 0, cloned.stderr
    (base / "blank.cfg").write_text("")
    unsynced = run([str(BIN / "ansible-playbook"), "--syntax-check", "playbooks/health_check.yml"], clone,
                   awx_env(base, base / "nothing"))
    cache = base / "requirements_collections"
    sync = run([str(BIN / "ansible-galaxy"), "collection", "install", "-r", "collections/requirements.yml"], clone,
               awx_env(base, cache))
    return {"base": base, "clone": clone, "cache": cache, "unsynced": unsynced, "sync": sync}


def job_env(project, config):
    """A job's environment: the project's own ansible.cfg (the job runs from its root), or a blank one."""
    return awx_env(project["base"], project["cache"], None if config == "project" else project["base"] / "blank.cfg")


def test_without_the_sync_a_fresh_clone_does_not_resolve_the_collection(project):
    """The control: nothing else (the .ansible link, ~/.ansible, site-packages) makes the clone work."""
    assert not (project["clone"] / ".ansible").exists()
    assert project["unsynced"].returncode != 0
    assert "the role 'opsready.runbooks.health_check' was not found" in project["unsynced"].stderr


def test_the_sync_installs_the_collection_from_the_clone_offline(project):
    sync = project["sync"]
    assert sync.returncode == 0, sync.stdout[-3000:] + sync.stderr[-3000:]
    installed = project["cache"] / "ansible_collections" / "opsready" / "runbooks"
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    galaxy = yaml.safe_load((PROJECT / "galaxy.yml").read_text())
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("opsready", "runbooks", galaxy["version"])
    assert manifest["dependencies"] == galaxy["dependencies"]   # found installed: no Galaxy was asked
    for ignored in (".git", "collections", "lab", "extensions"):   # installed as built: build_ignore applies
        assert not (installed / ignored).exists(), ignored


@pytest.mark.parametrize("config", ["project", "blank"])
def test_every_playbook_passes_syntax_check_and_lists_its_tasks(project, config):
    env = job_env(project, config)
    checked = run([str(BIN / "ansible-playbook"), "--syntax-check"] + PLAYBOOKS, project["clone"], env)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    listed = run([str(BIN / "ansible-playbook"), "--list-tasks"] + PLAYBOOKS, project["clone"], env)
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    for playbook in PLAYBOOKS:
        for play in yaml.safe_load((PROJECT / playbook).read_text()):
            for role in play.get("roles", []):
                name = role["role"] if isinstance(role, dict) else role
                assert "%s : Validating arguments" % name in listed.stdout, (playbook, name)


def role_includes():
    """(role, tasks_from) for every role in roles/, and every include_role/import_role in roles/ and playbooks/."""
    found = {("opsready.runbooks." + path.name, "main") for path in (PROJECT / "roles").iterdir()
             if (path / "tasks" / "main.yml").exists()}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role",
                           "import_role"):
                    found.add((value["name"], value.get("tasks_from", "main")))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(PROJECT.glob("roles/*/tasks/*.yml")) + sorted(PROJECT.glob("playbooks/**/*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return sorted(found)


def test_every_role_and_every_included_tasks_file_resolves_by_its_fully_qualified_name(project):
    """include_role is resolved only when it runs: import each one statically, as --list-tasks then must load it."""
    includes = role_includes()
    names = sorted({name for name, tasks_from in includes})
    assert all(name.startswith("opsready.runbooks.") for name in names), names
    assert ("opsready.runbooks.db_backup", "restore_stage") in includes   # the walk finds tasks_from
    imports = [{"name": "%s %s" % (name, tasks_from),
                "ansible.builtin.import_role": {"name": name, "tasks_from": tasks_from}}
               for name, tasks_from in includes]
    play = [{"name": "Every role", "hosts": "localhost", "gather_facts": False, "tasks": imports}]
    playbook = project["base"] / "every_role.yml"
    playbook.write_text(yaml.safe_dump(play))
    listed = run([str(BIN / "ansible-playbook"), "--list-tasks", str(playbook)], project["clone"],
                 job_env(project, "blank"))
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    for name in names:
        assert name + " : " in listed.stdout, name
