"""The systemd timer example (systemd/) for hosts without AWX: valid units, a command that runs, the right times.

systemd-analyze checks the units as systemd would load them (with the paths pointed at this checkout, since
/srv/runbooks does not exist here) and computes the timer's next runs; those must fall inside the weekly change
window the lab inventory declares. The service's command passes ansible-playbook's syntax check.
"""
import configparser
import datetime
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import yaml
from ansible_collections.opsready.runbooks.plugins.module_utils._change_window import decide

PROJECT = pathlib.Path(__file__).resolve().parents[2]
UNITS = PROJECT / "systemd"
SERVICE = UNITS / "opsready-maintenance-window.service"
TIMER = UNITS / "opsready-maintenance-window.timer"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
EXAMPLE_ROOT = "/srv/runbooks"


def unit(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def exec_start():
    """The service's command as argv, pointed at this checkout."""
    argv = shlex.split(unit(SERVICE)["Service"]["ExecStart"])
    assert argv[0] == EXAMPLE_ROOT + "/.venv/bin/ansible-playbook"
    return [str(ANSIBLE_PLAYBOOK)] + argv[1:]


def test_systemd_loads_both_units(tmp_path):
    text = SERVICE.read_text().replace(EXAMPLE_ROOT + "/.venv/bin/ansible-playbook", str(ANSIBLE_PLAYBOOK))
    (tmp_path / SERVICE.name).write_text(text.replace("WorkingDirectory=" + EXAMPLE_ROOT, "WorkingDirectory=%s" % PROJECT))
    shutil.copy(TIMER, tmp_path / TIMER.name)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
                         capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_the_service_runs_the_maintenance_window_playbook():
    argv = exec_start()
    assert unit(SERVICE)["Service"]["Type"] == "oneshot"
    assert "playbooks/maintenance_window.yml" in argv and "--check" not in argv
    # the reason keeps its space through systemd's quote removal and Ansible's key=value split
    from ansible.parsing.splitter import parse_kv
    assert parse_kv(argv[argv.index("-e") + 1]) == {"maintenance_window_reason": "weekly maintenance"}
    inventory = argv.index("-i") + 1
    argv[inventory] = "inventories/lab"          # the example names the user's production inventory
    run = subprocess.run(argv + ["--syntax-check"], cwd=PROJECT, capture_output=True, text=True,
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_timer_fires_inside_the_weekly_change_window():
    timer = unit(TIMER)["Timer"]
    assert timer["Persistent"] == "false"       # a missed window is not caught up days later
    run = subprocess.run(["systemd-analyze", "calendar", "--iterations=8", timer["OnCalendar"]],
                         capture_output=True, text=True, check=True, env=dict(os.environ, TZ="UTC", LC_ALL="C"))
    runs = [datetime.datetime.strptime(found, "%a %Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
            for found in re.findall(r"(?:Next elapse|Iter\. #\d+): (\w{3} [\d-]+ [\d:]+) UTC", run.stdout)]
    assert len(runs) == 8, run.stdout
    windows = yaml.safe_load((PROJECT / "inventories/lab/group_vars/app.yml").read_text())["maintenance_window_windows"]
    assert all(decide(windows, [], moment)["allowed"] for moment in runs), runs
    assert {moment.weekday() for moment in runs} == {2}


CERT_SERVICE = UNITS / "opsready-cert-renewal.service"
CERT_TIMER = UNITS / "opsready-cert-renewal.timer"


def test_systemd_loads_the_certificate_renewal_units(tmp_path):
    text = CERT_SERVICE.read_text().replace(EXAMPLE_ROOT + "/.venv/bin/ansible-playbook", str(ANSIBLE_PLAYBOOK))
    (tmp_path / CERT_SERVICE.name).write_text(text.replace("WorkingDirectory=" + EXAMPLE_ROOT,
                                                           "WorkingDirectory=%s" % PROJECT))
    shutil.copy(CERT_TIMER, tmp_path / CERT_TIMER.name)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / CERT_TIMER.name),
                          str(tmp_path / CERT_SERVICE.name)], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_the_certificate_renewal_runs_daily_and_its_command_passes_the_syntax_check():
    timer = unit(CERT_TIMER)["Timer"]
    assert timer["Persistent"] == "true"     # a day missed is caught up: renewals have no window
    run = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", timer["OnCalendar"]],
                         capture_output=True, text=True, check=True, env=dict(os.environ, TZ="UTC", LC_ALL="C"))
    runs = [datetime.datetime.strptime(found, "%a %Y-%m-%d %H:%M:%S")
            for found in re.findall(r"(?:Next elapse|Iter\. #\d+): (\w{3} [\d-]+ [\d:]+) UTC", run.stdout)]
    assert len(runs) == 3 and {b - a for a, b in zip(runs, runs[1:])} == {datetime.timedelta(days=1)}, run.stdout
    argv = shlex.split(unit(CERT_SERVICE)["Service"]["ExecStart"])
    assert argv[0] == EXAMPLE_ROOT + "/.venv/bin/ansible-playbook" and "playbooks/cert_renewal.yml" in argv
    argv[0], argv[argv.index("-i") + 1] = str(ANSIBLE_PLAYBOOK), "inventories/lab"
    run = subprocess.run(argv + ["--syntax-check"], cwd=PROJECT, capture_output=True, text=True,
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert run.returncode == 0, run.stdout + run.stderr
