"""The runbook playbooks as an operator starts them: a host pattern that matches no host is refused with a clear
message before anything runs (it used to end rc 0 with "skipping: no hosts matched" and nothing done)."""
import os
import pathlib
import subprocess
import sys

import pytest

PROJECT = pathlib.Path(__file__).resolve().parents[2]
PATTERNS = {"deploy": "deploy_hosts", "rollback": "rollback_hosts", "maintenance_window": "maintenance_window_hosts",
            "maintenance": "maintenance_hold_hosts", "release_watch": "release_watch_hosts",
            "health_check": "health_check_hosts", "db_switchover": "db_switchover_hosts",
            "db_failover": "db_failover_hosts", "db_rejoin": "db_rejoin_hosts"}


# Runbooks that run on the controller, their hosts named in their own settings (checked against the inventory there).
ON_THE_CONTROLLER = {"cert_renewal"}


def test_every_runbook_playbook_is_covered():
    assert sorted(set(PATTERNS) | ON_THE_CONTROLLER) == sorted(path.stem for path in (PROJECT / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("playbook", sorted(PATTERNS))
def test_a_pattern_matching_no_host_is_refused(tmp_path, playbook):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[app]\napp1 ansible_host=192.0.2.1\n")  # never reached: the refusal comes first
    variable = PATTERNS[playbook]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(PROJECT / ".ansible"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(PROJECT / "playbooks" / (playbook + ".yml")),
                          "-e", "%s=app9" % variable], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "%s=app9 matches no host of the inventory" % variable in run.stdout
    assert "Hosts and groups: app, app1." in " ".join(run.stdout.split())
    assert "app1" not in run.stdout.split("PLAY RECAP")[1]  # no task ran on any host
