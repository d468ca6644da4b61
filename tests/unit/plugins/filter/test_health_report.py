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


def test_a_host_with_ok_and_skipped_checks_is_ok():
    from ansible_collections.opsready.runbooks.plugins.module_utils._health import summarize
    checks = [{"name": "writes", "state": "skipped", "reason": "not run in check mode"},
              {"name": "api", "state": "ok", "reason": "HTTP 200, latency 3 ms"}]
    report = health_report({"app1": {"checks": checks, "summary": summarize(checks)}})
    assert report["hosts"] == {"app1": "ok"} and report["summary"]["state"] == "ok"
    report = health_report({"app1": {"checks": checks[:1], "summary": summarize(checks[:1])}})
    assert report["hosts"] == {"app1": "skipped"} and report["summary"]["state"] == "skipped"


def test_a_check_defined_wrongly_is_its_own_row_on_its_own_host():
    """Not one error row replacing the host's report (the newcomer's threshold mistake)."""
    lb1 = [{"name": "api", "state": "error", "reason": "not run, the check is defined wrongly: latency_ms: ..."},
           {"name": "redis", "state": "ok", "reason": "PONG, 3 clients"}]
    report = health_report({"lb1": {"checks": lb1, "summary": {"state": "error"}}, "app1": result("ok")})
    assert [(c["host"], c["name"], c["state"]) for c in report["checks"]] == [
        ("lb1", "api", "error"), ("lb1", "redis", "ok"), ("app1", "check0", "ok")]
    assert report["findings"] == ["lb1/api is error: not run, the check is defined wrongly: latency_ms: ..."]


def test_the_markdown_report_names_the_latency_it_shows():
    import pathlib

    import jinja2
    template = pathlib.Path(__file__).resolve().parents[4] / "roles/health_check/templates/health_report.md.j2"
    checks = [{"name": "api", "state": "ok", "latency_ms": 325.8, "reason": "HTTP 200, latency 98 ms"}]
    report = dict(health_report({"lb1": {"checks": checks, "summary": {"state": "ok"}}}), generated_at="now")
    text = jinja2.Template(template.read_text(), trim_blocks=True).render(health_check_report=report)
    assert "| host | check | state | check took ms | reason |" in text
    assert "| lb1 | api | ok | 325.8 | HTTP 200, latency 98 ms |" in text
    assert "The latency thresholds judge the `latency` in the reason" in text
