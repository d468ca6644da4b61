"""The role's report: every host's results in one place, silent hosts made loud."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.filter.health_report import health_report


def result(*states):
    checks = [{"name": "check%d" % n, "state": state, "reason": "r%d" % n} for n, state in enumerate(states)]
    worst = max(states, key=["ok", "warning", "critical", "error"].index)
    return {"checks": checks, "summary": {"state": worst}}


def test_merges_hosts_and_names_checks_by_host():
    report = health_report({"lb1": result("ok", "warning"), "app1": result("critical"),
                            "redis1": {"skipped": True, "changed": False}}, "critical")
    assert report["hosts"] == {"lb1": "warning", "app1": "critical", "redis1": "skipped"}
    assert [(c["host"], c["name"]) for c in report["checks"]] == [("lb1", "check0"), ("lb1", "check1"),
                                                                  ("app1", "check0")]
    assert report["summary"]["failing"] == ["app1/check0"]
    assert report["summary"]["not_ok"] == ["lb1/check1", "app1/check0"]
    assert report["findings"] == ["lb1/check1 is warning: r1", "app1/check0 is critical: r0"]


def test_a_host_without_result_is_an_error_not_a_silent_pass():
    report = health_report({"lb1": result("ok"), "db2": {}, "app2": {"failed": True, "msg": "module failure"}})
    assert report["hosts"]["db2"] == "error"
    assert report["summary"]["failing"] == ["db2/host answered", "app2/host answered"]
    assert report["findings"][1] == "app2/host answered is error: module failure"


@pytest.mark.parametrize("value, fail_on, message", [([], "critical", "expects a dict"),
                                                     ({}, "sometimes", "fail_on must be one of")])
def test_bad_input(value, fail_on, message):
    with pytest.raises(AnsibleFilterError, match=message):
        health_report(value, fail_on)
