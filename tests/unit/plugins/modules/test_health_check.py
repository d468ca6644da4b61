"""The module as Ansible runs it: main() with real arguments, its JSON output, its failures."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import health_check


def run_module(capsys, args, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        health_check.main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out


def test_reports_without_failing_by_default(capsys, http_server, closed_port):
    rc, result, dummy = run_module(capsys, {"checks": [
        {"name": "api", "http": {"url": http_server + "/json", "json": {"status": "ok"}}},
        {"name": "redis port", "tcp": {"host": "127.0.0.1", "port": closed_port}},
    ]})
    assert rc == 0 and result["changed"] is False
    assert [c["state"] for c in result["checks"]] == ["ok", "critical"]
    assert result["summary"]["not_ok"] == ["redis port"] and result["summary"]["failing"] == []
    assert result["msg"] == "2 checks: 1 ok, 1 critical"
    assert result["attempts"] == 1 and result["elapsed"] >= 0 and result["healthy"] is False


def test_fail_on_critical_fails_with_every_reason_and_still_returns_results(capsys, closed_port):
    rc, result, out = run_module(capsys, {"fail_on": "critical", "checks": [
        {"name": "redis port", "tcp": {"host": "127.0.0.1", "port": closed_port}},
        {"name": "disk", "disk": {"path": "/", "disk_pct": {"warning": 0.001}}, "severity": "warning"},
    ]})
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == ("2 checks: 1 warning, 1 critical; failing (fail_on=critical): "
                             "redis port is critical: connection refused")
    assert len(result["checks"]) == 2
    assert "Traceback" not in out


def test_check_mode_changes_nothing_and_skips_commands_that_may_write(capsys, tmp_path):
    marker = tmp_path / "written"
    rc, result, dummy = run_module(capsys, {"checks": [
        {"name": "writes", "command": {"argv": ["touch", str(marker)]}},
        {"name": "reads", "command": {"cmd": "true", "read_only": True}},
    ]}, check_mode=True)
    assert rc == 0 and not marker.exists()
    assert [c["state"] for c in result["checks"]] == ["skipped", "ok"]


def test_secrets_never_appear_in_output(capsys, closed_port):
    secret = "pg-Secret-4711"
    rc, result, out = run_module(capsys, {"fail_on": "critical", "checks": [
        {"name": "db", "postgres": {"login_host": "127.0.0.1", "port": closed_port, "login_password": secret}},
        {"name": "redis", "redis": {"host": "127.0.0.1", "port": closed_port, "password": secret}},
    ]})
    assert rc == 1
    assert secret not in out


def test_credentials_in_urls_and_headers_never_appear_in_output(capsys, http_server):
    """Not in the results, not in the reasons, not in the invocation shown at -vvv."""
    url = http_server.replace("http://", "http://monitor:url-Secret-4711@")
    rc, result, out = run_module(capsys, {"checks": [
        {"name": "basic", "http": {"url": url + "/headers", "json": {"authorization": "nope"}}},
        {"name": "token", "http": {"url": http_server + "/headers", "secret_headers": {"X-Api-Key": "key-Secret-4711"},
                                   "headers": {"Authorization": "Bearer auth-Secret-4711", "Accept": "application/json"},
                                   "json": {"\"x-api-key\"": "key-Secret-4711"}}},
        {"name": "metrics", "metrics": {"url": url + "/status/500", "secret_headers": {"X-Token": "tok-Secret-4711"},
                                        "window": 0.01}},
    ]})
    assert rc == 0 and "Secret-4711" not in out
    assert result["checks"][1]["state"] == "ok", result["checks"][1]["reason"]  # the secret header was sent
    assert result["checks"][0]["observed"]["url"] == url.replace("url-Secret-4711", "********") + "/headers"
    assert result["invocation"]["module_args"]["checks"][1]["http"]["headers"]["Accept"] == "application/json"


def _compare(doc, spec, path=""):
    """Differences between documented options and the argument spec: names, types, defaults, aliases, choices."""
    problems = []
    if set(doc) != set(spec):
        problems.append("%s: documented %s, argument spec %s" % (path or "options", sorted(set(doc) - set(spec)),
                                                                 sorted(set(spec) - set(doc))))
    for name in set(doc) & set(spec):
        documented, actual = doc[name], spec[name]
        for key in ("type", "default", "aliases", "choices", "elements", "required"):
            expected = actual.get(key, {"type": "str", "required": False}.get(key))
            if documented.get(key, {"required": False}.get(key)) != expected:
                problems.append("%s%s.%s: documented %r, argument spec %r" % (path, name, key, documented.get(key),
                                                                              expected))
        problems += _compare(documented.get("suboptions") or {}, actual.get("options") or {}, path + name + ".")
    return problems


def test_the_documentation_matches_the_argument_spec():
    import yaml
    documented = yaml.safe_load(health_check.DOCUMENTATION)["options"]
    assert _compare(documented, health_check.argument_spec()) == []
