"""execution-environment.yml: the EE AWX runs the runbooks in. `ansible-builder create` writes its build context
offline (no registry, no Galaxy, no PyPI: building the image needs them, creating the context does not); the context
is checked here: the Containerfile and its base image, the collection, Python and system requirements, and the
collection itself, installable from the context offline as the image build's galaxy stage installs it."""
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from bindep.depends import Depends

PROJECT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
DEFINITION = yaml.safe_load((PROJECT / "execution-environment.yml").read_text())
UNREACHABLE = "http://127.0.0.1:9/"   # discard port: any attempt to reach a Galaxy fails at once


def offline_env(base):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(base / "home"), ANSIBLE_GALAXY_SERVER=UNREACHABLE, PIP_NO_INDEX="1",
               HTTP_PROXY=UNREACHABLE, HTTPS_PROXY=UNREACHABLE, http_proxy=UNREACHABLE, https_proxy=UNREACHABLE)
    return env


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    base = tmp_path_factory.mktemp("ee")
    created = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(PROJECT / "execution-environment.yml"),
                              "-c", str(base / "context"), "--output-filename", "Containerfile"],
                             cwd=base, env=offline_env(base), capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    return base / "context"


def test_the_definition_is_ansible_builder_v3_with_a_public_base_image():
    assert DEFINITION["version"] == 3
    assert DEFINITION["images"]["base_image"]["name"].startswith("quay.io/ansible/awx-ee:")


def test_the_containerfile_builds_from_the_base_image_given_as_a_build_arg(context):
    containerfile = (context / "Containerfile").read_text()
    image = DEFINITION["images"]["base_image"]["name"]
    assert containerfile.splitlines()[0] == 'ARG EE_BASE_IMAGE="%s"' % image   # --build-arg EE_BASE_IMAGE=...
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in containerfile
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile


def test_the_collection_requirements_are_this_collection_and_its_dependencies(context):
    collections = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    assert {"name": "opsready_runbooks", "type": "dir"} in collections
    galaxy = yaml.safe_load((PROJECT / "galaxy.yml").read_text())
    assert {item["name"]: item["version"] for item in collections if "version" in item} == galaxy["dependencies"]


def test_the_python_requirements_are_what_runs_in_the_ee_pinned_as_the_project_pins_them(context):
    wanted = [line.strip() for line in (context / "_build" / "requirements.txt").read_text().splitlines()]
    pinned = {}
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (PROJECT / name).read_text().splitlines():
            requirement = line.split("#")[0].strip()
            if "==" in requirement:
                pinned[requirement.split("==")[0]] = requirement
    for package in ("jmespath", "psycopg2-binary", "redis"):
        assert pinned[package] in wanted, package
    assert "cryptography" in wanted


def test_the_system_requirements_are_bindep_lines_for_the_ee_only(context):
    bindep = (context / "_build" / "bindep.txt").read_text().splitlines()
    assert "openssh-clients [platform:rpm]" in bindep and "openssh-client [platform:dpkg]" in bindep
    assert not [line for line in bindep if line.startswith("postgresql")]   # pg_dump runs on the database host
    rules = Depends("\n".join(bindep) + "\n")   # bindep's own parser (ansible-builder's dependency) reads it
    for platform, package in (("platform:rpm", "openssh-clients"), ("platform:dpkg", "openssh-client")):
        assert [rule[0] for rule in rules.active_rules([platform])] == [package]


def test_the_collection_is_in_the_context_and_installs_from_it_offline(context, tmp_path):
    """What the image's galaxy stage runs, from the context's _build (its /build): the collection only (--no-deps;
    its dependencies come from Galaxy or the base image), no Galaxy reachable."""
    build = context / "_build"
    collection = build / "opsready_runbooks"
    for path in ("galaxy.yml", "meta/runtime.yml", "plugins/modules/health_check.py", "roles/deploy/tasks/main.yml",
                 "playbooks/health_check.yml"):
        assert (collection / path).is_file(), path
    for absent in (".venv", ".git", "lab", "extensions", "inventories"):
        assert not (collection / absent).exists(), absent
    (tmp_path / "only.yml").write_text(yaml.safe_dump({"collections": [{"name": "opsready_runbooks", "type": "dir"}]}))
    installed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-r",
                                str(tmp_path / "only.yml"), "--collections-path", str(tmp_path / "ee")],
                               cwd=build, env=offline_env(tmp_path), capture_output=True, text=True, timeout=300,
                               check=False)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    root = tmp_path / "ee" / "ansible_collections" / "opsready" / "runbooks"
    assert (root / "MANIFEST.json").is_file() and (root / "roles" / "health_check" / "tasks" / "main.yml").is_file()
    assert (root / "plugins" / "modules" / "health_check.py").is_file()
