"""Every bad input the health_check module can be given, through the whole module (main()): a setting of the run
fails the task before anything runs, naming the setting; a check defined wrongly is not run and is reported as an
error naming its setting, while the other checks still run and are reported."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import health_check

GOOD = {"name": "disk", "disk": {"path": "/"}}
MISSING = "/nonexistent/ca.pem"


def bad(**definition):
    return dict({"name": "bad"}, **definition)


# (id, the check defined wrongly, what its reason must say)
ROWS = [
    ("check timeout 0", bad(timeout=0, tcp={"host": "h", "port": 1}), "timeout must be more than 0 seconds, got 0"),
    ("check timeout negative", bad(timeout=-2, tcp={"host": "h", "port": 1}),
     "timeout must be more than 0 seconds, got -2"),
    ("tcp port 0", bad(tcp={"host": "h", "port": 0}), "tcp.port 0 is not a TCP port (1 to 65535)"),
    ("tcp port 65536", bad(tcp={"host": "h", "port": 65536}), "tcp.port 65536 is not a TCP port"),
    ("tcp port -1", bad(tcp={"host": "h", "port": -1}), "tcp.port -1 is not a TCP port"),
    ("tcp host empty", bad(tcp={"host": " ", "port": 80}), "tcp.host is empty"),
    ("tls port 70000", bad(tls={"host": "h", "port": 70000}), "tls.port 70000 is not a TCP port"),
    ("redis port 65536", bad(redis={"port": 65536}), "redis.port 65536 is not a TCP port"),
    ("postgres port 0", bad(postgres={"port": 0}), "port 0 is not a TCP port"),
    ("http ca_path missing", bad(http={"url": "https://h/", "ca_path": MISSING}),
     "http.ca_path %s does not exist" % MISSING),
    ("metrics ca_path missing", bad(metrics={"url": "https://h/metrics", "ca_path": MISSING}),
     "metrics.ca_path %s does not exist" % MISSING),
    ("tls ca_path missing", bad(tls={"host": "h", "ca_path": MISSING}), "tls.ca_path %s does not exist" % MISSING),
    ("tls ca_path a directory", bad(tls={"host": "h", "ca_path": "/"}), "tls.ca_path / is a directory"),
    ("redis ca_path missing", bad(redis={"tls": True, "ca_path": MISSING}), "redis.ca_path %s does not exist" % MISSING),
    ("postgres ca_cert missing", bad(postgres={"ssl_mode": "verify-full", "ca_cert": MISSING}),
     "postgres.ca_cert %s does not exist" % MISSING),
    ("check critical below the default warning", bad(http={"url": "http://h/", "latency_ms": {"critical": 100}}),
     "latency_ms: the warning threshold 200 (the runbook default) is above the critical threshold 100 "
     "(http.latency_ms.critical)"),
    ("check warning above its critical", bad(disk={"path": "/", "disk_pct": {"warning": 95, "critical": 90}}),
     "disk_pct: the warning threshold 95 (disk.disk_pct.warning) is above the critical threshold 90"),
    ("cert_days warning below critical", bad(tls={"host": "h", "cert_days": {"warning": 5, "critical": 10}}),
     "cert_days: the warning threshold 5 (tls.cert_days.warning) is below the critical threshold 10"),
    ("no check type", bad(), "give exactly one check type (one of http, metrics, tcp, tls, postgres, redis, disk, "
                             "command), got none"),
    ("two check types", bad(http={"url": "http://h/"}, tcp={"host": "h", "port": 1}), "got http, tcp"),
    ("url scheme ftp", bad(http={"url": "ftp://h/"}), "http.url 'ftp://h/' must be an absolute http:// or https:// URL"),
    ("url without host", bad(http={"url": "http:///health"}), "http.url 'http:///health' must be an absolute"),
    ("url relative", bad(http={"url": "/health"}), "http.url '/health' must be an absolute"),
    ("url port out of range", bad(http={"url": "http://h:99999/"}), "http.url 'http://h:99999/': Port out of range"),
    ("url password masked in the error", bad(http={"url": "ftp://u:pw-4711@h/"}),
     "http.url 'ftp://u:********@h/' must be"),
    ("metrics url scheme", bad(metrics={"url": "h:8000/metrics"}), "metrics.url 'h:8000/metrics' must be"),
    ("body_limit 0", bad(http={"url": "http://h/", "body_limit": 0}), "http.body_limit must be at least 1 byte, got 0"),
    ("body_limit negative", bad(metrics={"url": "http://h/m", "body_limit": -5}),
     "metrics.body_limit must be at least 1 byte, got -5"),
    ("status code 99", bad(http={"url": "http://h/", "status_codes": [200, 99]}),
     "http.status_codes must be HTTP status codes (100 to 599), got 99"),
    ("status code 600", bad(http={"url": "http://h/", "status_codes": [600]}), "(100 to 599), got 600"),
    ("status codes empty", bad(http={"url": "http://h/", "status_codes": []}), "(100 to 599), got none"),
    ("body_regex invalid", bad(http={"url": "http://h/", "body_regex": "(unclosed"}),
     "http.body_regex '(unclosed' is not a valid regular expression"),
    ("json not JMESPath", bad(http={"url": "http://h/", "json": {"[": 1}}),
     "http.json expectation '[' is not a valid JMESPath expression"),
    ("tls issuer invalid", bad(tls={"host": "h", "issuer": "*lab"}), "tls.issuer '*lab' is not a valid regular"),
    ("metrics window 0", bad(metrics={"url": "http://h/m", "window": 0}), "metrics.window must be more than 0 seconds"),
    ("metrics min_requests 0", bad(metrics={"url": "http://h/m", "min_requests": 0}),
     "metrics.min_requests must be at least 1, got 0"),
    ("metrics error_codes invalid", bad(metrics={"url": "http://h/m", "error_codes": "5(("}),
     "metrics.error_codes '5((' is not a valid regular expression"),
    ("command empty", bad(command={"cmd": "  "}), "command needs a non-empty cmd or argv"),
    ("redis db negative", bad(redis={"db": -1}), "redis.db must be 0 or more, got -1"),
    ("postgres min_replicas negative", bad(postgres={"min_replicas": -1}), "postgres.min_replicas must be 0 or more"),
]

# (id, module arguments, what the failure must say): refused before anything runs
FAILURES = [
    ("checks empty", {"checks": []}, "checks is empty"),
    ("concurrency 0", {"concurrency": 0}, "concurrency must be greater than 0, got 0"),
    ("timeout 0", {"timeout": 0}, "timeout must be greater than 0, got 0"),
    ("timeout negative", {"timeout": -1}, "timeout must be greater than 0, got -1"),
    ("deadline 0", {"deadline": 0}, "deadline must be greater than 0"),
    ("wait_interval 0", {"wait_interval": 0}, "wait_interval must be greater than 0"),
    ("wait_timeout negative", {"wait_timeout": -5}, "wait_timeout must be 0 (one sweep) or more seconds, got -5"),
    ("watch negative", {"watch": -1}, "watch must be 0 (no watch) or more seconds"),
    ("watch and wait", {"watch": 60, "wait_timeout": 60}, "exclude each other"),
    ("unknown check type", {"checks": [bad(htp={"url": "http://h/"})]}, "checks.htp"),
    ("port not a number", {"checks": [bad(tcp={"host": "h", "port": "eighty"})]}, "port"),
    ("timeout not a number", {"checks": [bad(timeout="soon", disk={"path": "/"})]}, "timeout"),
    ("severity unknown", {"checks": [bad(severity="fatal", disk={"path": "/"})]}, "severity must be one of"),
    ("fail_on unknown", {"fail_on": "sometimes"}, "fail_on must be one of"),
    ("wait_until unknown", {"wait_until": "critical"}, "wait_until must be one of"),
    ("check without a name", {"checks": [{"disk": {"path": "/"}}]}, "missing required arguments: name"),
    ("http without url", {"checks": [bad(http={})]}, "missing required arguments: url"),
    ("command with cmd and argv", {"checks": [bad(command={"cmd": "true", "argv": ["true"]})]},
     "mutually exclusive: cmd|argv"),
]


def run_module(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        health_check.main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out


@pytest.mark.parametrize("check, message", [case[1:] for case in ROWS], ids=[case[0] for case in ROWS])
def test_a_check_defined_wrongly_is_reported_as_an_error_and_the_others_run(capsys, check, message):
    rc, result, out = run_module(capsys, {"checks": [check, GOOD]})
    assert rc == 0 and "Traceback" not in out
    wrong, good = result["checks"]
    assert (wrong["name"], wrong["state"]) == ("bad", "error")
    assert wrong["reason"].startswith("not run, the check is defined wrongly: ") and message in wrong["reason"]
    assert (good["name"], good["state"]) == ("disk", "ok")
    assert "not run, defined wrongly: bad (" in result["msg"]
    assert "4711" not in out


def test_a_duplicate_name_is_reported_on_the_second_check(capsys):
    rc, result, out = run_module(capsys, {"checks": [GOOD, dict(GOOD, disk={"path": "/tmp"})]})
    assert [c["state"] for c in result["checks"]] == ["ok", "error"]
    assert "name: check names must be unique, 'disk' appears twice" in result["checks"][1]["reason"]


def test_fail_on_critical_fails_on_a_check_defined_wrongly(capsys):
    rc, result, out = run_module(capsys, {"fail_on": "critical", "checks": [bad(tcp={"host": "h", "port": 0}), GOOD]})
    assert rc == 1 and "bad is error: not run, the check is defined wrongly: tcp.port 0" in result["msg"]
    assert [c["state"] for c in result["checks"]] == ["error", "ok"]


@pytest.mark.parametrize("args, message", [case[1:] for case in FAILURES], ids=[case[0] for case in FAILURES])
def test_a_bad_setting_of_the_run_fails_before_anything_runs(capsys, args, message):
    rc, result, out = run_module(capsys, dict({"checks": [GOOD]}, **args))
    assert rc == 1 and result["failed"] is True
    assert message in result["msg"]
    assert "Traceback" not in out and "checks" not in {key for key in result if key != "invocation"}


def test_the_table_is_as_long_as_we_say():
    assert len(ROWS) + len(FAILURES) + 1 == 59  # + the duplicate name
