"""The change_window role through real ansible-playbook runs (localhost only, no lab): a rehearsal time
(change_window_at) is honoured in check mode only; a real run with it needs the override reason."""
import datetime
import json
import os
import pathlib
import subprocess
import sys

import pytest

PROJECT = pathlib.Path(__file__).resolve().parents[3]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The guard
      block:
        - ansible.builtin.include_role:
            name: opsready.runbooks.change_window
      rescue:
        - ansible.builtin.set_fact:
            refusal: "{{ ansible_failed_result.msg }}"
      always:
        - opsready.runbooks.evidence:
            dir: "{{ out }}"
            name: decision
            data: {decision: "{{ change_window_decision | default(none) }}", refusal: "{{ refusal | default(none) }}"}
"""


@pytest.fixture(scope="module")
def window():
    """A whole-day window three days from today (UTC): now is outside it, the rehearsal time inside."""
    day = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
    windows = [{"days": DAYS[day.weekday()], "start": "00:00", "end": "24:00", "timezone": "UTC", "name": "test"}]
    return windows, day.strftime("%Y-%m-%dT12:00:00Z")


def guard(tmp_path, extra, *options):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(dict(extra, out=str(tmp_path / "out"))))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                          "local", str(tmp_path / "play.yml"), "-e", "@%s" % (tmp_path / "vars.json"), *options],
                         cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    return json.loads((tmp_path / "out" / "decision.json").read_text())


def test_a_real_run_with_a_rehearsal_time_inside_the_window_is_refused(tmp_path, window):
    windows, inside = window
    result = guard(tmp_path, {"change_window_windows": windows, "change_window_at": inside})
    assert result["decision"]["started"] == "refused" and result["decision"]["rehearsal"] is True
    refusal = " ".join(result["refusal"].split())
    assert refusal.startswith("Refusing to start: %s is inside the change window test" % inside)
    assert "a rehearsal time is honoured in check mode only: a real run with one needs an override reason. " \
           "Leave out change_window_at to decide for now." in refusal
    assert refusal.endswith("""-e '{"change_window_override_reason": "<ticket>: <why>"}'""")


def test_check_mode_with_a_rehearsal_time_inside_the_window_is_allowed(tmp_path, window):
    windows, inside = window
    result = guard(tmp_path, {"change_window_windows": windows, "change_window_at": inside}, "--check")
    assert result["refusal"] is None
    assert result["decision"]["started"] == "allowed" and result["decision"]["rehearsal"] is True
    assert result["decision"]["at"] == inside and result["decision"]["window"] == "test"


def test_a_real_run_with_a_rehearsal_time_and_an_override_reason_starts_by_override(tmp_path, window):
    windows, inside = window
    result = guard(tmp_path, {"change_window_windows": windows, "change_window_at": inside,
                              "change_window_override_reason": "CHG-9 rehearsal on staging"})
    assert result["refusal"] is None
    assert result["decision"]["started"] == "by override"
    assert result["decision"]["override_reason"] == "CHG-9 rehearsal on staging"


def test_a_real_run_without_a_rehearsal_time_decides_for_now(tmp_path, window):
    windows, inside = window
    result = guard(tmp_path, {"change_window_windows": windows})
    assert result["decision"]["started"] == "refused" and result["decision"]["rehearsal"] is False
    assert "is outside every change window (test)" in result["refusal"]
