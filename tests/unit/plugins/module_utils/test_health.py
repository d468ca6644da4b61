"""Health checks: grading, validation of definitions, each probe against real loopback servers (well-behaved and
misbehaving ones, a real PostgreSQL and a real Redis), sweep and wait."""
import base64
import http.server
import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import prometheus_client
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.opsready.runbooks.plugins.module_utils import _health as health
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.modules.health_check import argument_spec
from prometheus_client.exposition import MetricsHandler


def prepared(*checks, **module_params):
    """Checks as the module sees them: validated (with defaults) by its real argument spec, then prepared."""
    result = ArgumentSpecValidator(argument_spec()).validate(dict(module_params, checks=list(checks)))
    assert not result.error_messages, result.error_messages
    params = result.validated_parameters
    health.check_settings(params)
    return health.prepare(params["checks"], params["thresholds"], params["timeout"])


def run_one(check, **module_params):
    return health.run_check(prepared(check, **module_params)[0])


def timed(check, **module_params):
    """(result, seconds the check took as seen from outside)."""
    check = prepared(check, **module_params)[0]
    start = time.monotonic()
    result = health.run_check(check)
    return result, time.monotonic() - start


# ------------------------------------------------------------------------------------------------- grading
@pytest.mark.parametrize("metric, value, expected", [
    ("latency_ms", 150, None),
    ("latency_ms", 200, "warning"),       # the state starts at the threshold
    ("latency_ms", 2500, "critical"),
    ("queue_length", 99, None),
    ("queue_length", 1000, "critical"),
    ("cert_days", 30, None),
    ("cert_days", 20.5, "warning"),       # days left falling below the threshold
    ("cert_days", 3, "critical"),
    ("cert_days", None, None),            # nothing measured, nothing graded
])
def test_grade_against_the_runbook_thresholds(metric, value, expected):
    findings = health.grade(metric, value, health.THRESHOLDS[metric])
    assert [finding[0] for finding in findings] == ([expected] if expected else [])


def test_grade_reason_names_value_threshold_and_unit():
    assert health.grade("queue_length", 150, {"warning": 100.0, "critical": 1000.0}, label="queue demo:jobs holds") \
        == [("warning", "queue demo:jobs holds 150 items reached the warning threshold 100 items")]
    assert health.grade("cert_days", 4.0, {"warning": 21, "critical": 7}, label="certificate expires in") \
        == [("critical", "certificate expires in 4 days below the critical threshold 7 days")]


def test_thresholds_resolve_check_over_module_over_runbook_defaults():
    check = {"name": "a", "tcp": {"host": "h", "port": 1, "latency_ms": {"critical": 900}}}
    limits = prepared(check, thresholds={"latency_ms": {"warning": 50}})[0]["limits"]["latency_ms"]
    assert limits == {"warning": 50, "critical": 900}
    assert prepared({"name": "b", "tcp": {"host": "h", "port": 1}})[0]["limits"]["latency_ms"] == \
        health.THRESHOLDS["latency_ms"]


# -------------------------------------------------------------------------------------------- bad input
def test_an_empty_list_is_refused():
    with pytest.raises(OpsreadyError, match="checks is empty"):
        health.prepare([], {}, 5)


@pytest.mark.parametrize("checks, message", [
    ([{"name": "a", "tcp": {"host": "h", "port": 1}}, {"name": "a", "disk": {"path": "/"}}], "must be unique"),
    ([{"name": "a", "http": {"url": "localhost/health"}}], "must be an absolute http:// or https:// URL"),
    ([{"name": "a", "http": {"url": "http://h/", "body_regex": "(unclosed"}}], "not a valid regular expression"),
    ([{"name": "a", "http": {"url": "http://h/", "json": {"status ==": "ok"}}}], "not a valid JMESPath expression"),
    ([{"name": "a", "disk": {"path": "/", "disk_pct": {"warning": 95, "critical": 90}}}],
     r"disk_pct: the warning threshold 95 \(disk.disk_pct.warning\) is above the critical threshold 90 "
     r"\(disk.disk_pct.critical\)"),
    ([{"name": "a", "tls": {"host": "h", "cert_days": {"warning": 5, "critical": 10}}}], "is below the critical"),
    ([{"name": "a", "command": {"cmd": "   "}}], "non-empty cmd or argv"),
    ([{"name": "a"}], r"give exactly one check type \(one of http, metrics, tcp, tls, postgres, redis, disk, "
                      r"command\), got none"),
    ([{"name": "a", "metrics": {"url": "http://h/metrics", "error_codes": "5(("}}], "error_codes .* not a valid"),
    ([{"name": "a", "metrics": {"url": "http://h/metrics", "window": 0}}], "window must be more than 0"),
    ([{"name": "a", "metrics": {"url": "h:8000/metrics"}}], "must be an absolute http"),
    ([{"name": "a", "http": {"url": "http://h/"}, "tcp": {"host": "h", "port": 1}}], "got http, tcp"),
])
def test_malformed_definitions_are_refused_with_what_to_fix(checks, message):
    assert re.search(message, prepared(*checks)[-1]["problem"])


def test_a_threshold_conflict_names_where_each_threshold_comes_from():
    """The newcomer's case: a check sets only its critical latency, below the runbook's warning."""
    check = prepared({"name": "api", "http": {"url": "http://h/", "latency_ms": {"critical": 100}}})[0]
    assert check["problem"] == ("latency_ms: the warning threshold 200 (the runbook default) is above the critical "
                                "threshold 100 (http.latency_ms.critical); the warning must come first: set both")
    check = prepared({"name": "api", "tcp": {"host": "h", "port": 1}}, thresholds={"latency_ms": {"warning": 5000}})[0]
    assert "warning threshold 5000 (thresholds.latency_ms.warning) is above the critical threshold 2000 (the " \
           "runbook default)" in check["problem"]


def test_a_check_defined_wrongly_is_an_error_row_and_the_others_still_run(tmp_path):
    checks = prepared({"name": "api", "http": {"url": "http://h/", "latency_ms": {"critical": 100}}},
                      {"name": "disk", "disk": {"path": str(tmp_path)}})
    results = health.sweep(checks, concurrency=2, deadline=10)
    assert [(r["name"], r["state"]) for r in results] == [("api", "error"), ("disk", "ok")]
    assert results[0]["reason"].startswith("not run, the check is defined wrongly: latency_ms: the warning threshold")
    assert health.message(health.summarize(results), checks) == (
        "2 checks: 1 ok, 1 error; not run, defined wrongly: api (%s)" % checks[0]["problem"])


def test_waiting_does_not_wait_for_a_check_defined_wrongly(tmp_path):
    checks = prepared({"name": "port", "tcp": {"host": "127.0.0.1", "port": 65536}})
    outcome = health.run(checks, 1, 10, wait_timeout=60, sleep=pytest.fail)
    assert outcome["attempts"] == 1 and outcome["checks"][0]["state"] == "error"
    assert outcome["checks"][0]["reason"].endswith("tcp.port 65536 is not a TCP port (1 to 65535)")


@pytest.mark.parametrize("check, message", [
    ({"name": "a", "htp": {"url": "http://h/"}}, "checks.htp"),
    ({"http": {"url": "http://h/"}}, "missing required arguments: name"),
    ({"name": "a", "tcp": {"host": "h", "port": "eighty"}}, "port"),
    ({"name": "a", "severity": "fatal", "disk": {"path": "/"}}, "severity must be one of"),
])
def test_unknown_types_and_wrong_shapes_fail_the_argument_spec(check, message):
    result = ArgumentSpecValidator(argument_spec()).validate({"checks": [check]})
    assert message in " ".join(result.error_messages)


@pytest.mark.parametrize("option, value", [("concurrency", 0), ("timeout", -1), ("deadline", 0), ("wait_timeout", -5),
                                           ("watch", -1)])
def test_module_numbers_must_make_sense(option, value):
    params = {"concurrency": 16, "timeout": 5, "deadline": 60, "wait_timeout": 0, "wait_interval": 5, "watch": 0,
              option: value}
    with pytest.raises(OpsreadyError, match=option):
        health.check_settings(params)


def test_watch_and_wait_exclude_each_other():
    params = {"concurrency": 16, "timeout": 5, "deadline": 60, "wait_timeout": 60, "wait_interval": 5, "watch": 60}
    with pytest.raises(OpsreadyError, match="exclude each other"):
        health.check_settings(params)


# ------------------------------------------------------------------------------------------------- http
def test_http_ok_with_json_expectations(http_server):
    result = run_one({"name": "api", "http": {"url": http_server + "/json",
                                              "json": {"status": "ok", "length(workers) > `1`": True}}})
    assert (result["state"], result["ok"]) == ("ok", True)
    assert result["observed"]["json"] == {"status": "ok", "length(workers) > `1`": True}
    assert result["reason"].startswith("HTTP 200, latency ")


def test_http_unexpected_status_gets_the_checks_severity_and_the_body(http_server):
    result = run_one({"name": "api", "severity": "warning",
                      "http": {"url": http_server + "/status/500", "json": {"status": "ok"}}})
    assert result["state"] == "warning"
    assert result["reason"] == 'HTTP 500, expected 200: {"status": "error", "reason": "boom"}'  # no JSON noise


def test_http_json_mismatch_says_what_was_seen(http_server):
    result = run_one({"name": "api", "http": {"url": http_server + "/json", "json": {"version": "2.0.0"}}})
    assert result["state"] == "critical"
    assert result["reason"] == 'JSON version is "1.1.0", expected "2.0.0"'


def test_http_invalid_json_body_is_a_finding_not_a_crash(http_server):
    result = run_one({"name": "api", "http": {"url": http_server + "/text", "json": {"status": "ok"}}})
    assert result["state"] == "critical"
    assert result["reason"].startswith("body is not JSON")


def test_http_over_latency_budget_is_a_warning(http_server):
    result = run_one({"name": "api", "http": {"url": http_server + "/slow/150", "latency_ms": {"warning": 50}}})
    assert result["state"] == "warning"
    assert re.fullmatch(r"latency 1\d\d(\.\d)? ms reached the warning threshold 50 ms", result["reason"])


def test_http_redirects_only_when_asked(http_server):
    assert run_one({"name": "a", "http": {"url": http_server + "/redirect"}})["observed"]["status"] == 302
    followed = run_one({"name": "b", "http": {"url": http_server + "/redirect", "follow_redirects": True}})
    assert (followed["state"], followed["observed"]["url"]) == ("ok", http_server + "/json")


def test_http_body_regex(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/text", "body_regex": "^<xml"}})
    assert result["reason"] == "body does not match /^<xml/"


def test_https_self_signed_certificate_is_not_trusted_unless_told(https_server):
    url = "https://localhost:%d/json" % https_server["port"]
    refused = run_one({"name": "a", "http": {"url": url}})
    assert refused["state"] == "critical"
    assert refused["reason"] == "TLS certificate not trusted: self-signed certificate"
    assert run_one({"name": "b", "http": {"url": url, "ca_path": https_server["cert"]}})["state"] == "ok"
    assert run_one({"name": "c", "http": {"url": url, "validate_certs": False}})["state"] == "ok"


def test_http_reason_labels_the_judged_latency(http_server):
    result = run_one({"name": "api", "http": {"url": http_server + "/json"}})
    assert re.fullmatch(r"HTTP 200, latency \d+(\.\d)? ms", result["reason"])
    assert result["observed"]["latency_ms"] <= result["latency_ms"]  # the request within the whole check


# ------------------------------------------------------------------------------------- redirects (14, 20, 21)
def test_http_redirect_loop_says_loop(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/loop", "follow_redirects": True}})
    assert result["state"] == "critical"
    assert result["reason"] == "redirect loop: %s/loop -> %s/loop" % (http_server, http_server)


def test_http_more_than_five_redirects_is_reported_and_five_are_followed(http_server):
    long = run_one({"name": "a", "http": {"url": http_server + "/chain/6", "follow_redirects": True}})
    assert long["reason"] == "more than 5 redirects: %s/chain/6 -> %s/chain/0" % (http_server, http_server)
    five = run_one({"name": "b", "http": {"url": http_server + "/chain/5", "follow_redirects": True}})
    assert (five["state"], five["observed"]["url"]) == ("ok", http_server + "/chain/0")


def test_http_unfollowed_redirect_says_where_it_goes(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/redirect"}})
    assert result["reason"] == "HTTP 302, expected 200 (redirects to %s/json)" % http_server


def redirect_to(http_server, target):
    return http_server + "/redirect-to?url=" + target


def test_http_credentials_are_dropped_on_a_redirect_to_another_origin(http_server, other_http_server):
    port = http_server.rsplit(":", 1)[1]
    headers = {"Authorization": "Bearer tok-4711", "Cookie": "session=abc", "Proxy-Authorization": "Basic eA==",
               "X-Plain": "kept"}
    gone = {"authorization": None, "cookie": None, "\"proxy-authorization\"": None, "\"x-plain\"": "kept",
            "\"x-api-key\"": None}
    for other in ("http://localhost:%s/headers" % port,                # another host
                  other_http_server + "/headers",                     # another port
                  ):
        result = run_one({"name": "a", "http": {"url": redirect_to(http_server, other), "headers": headers,
                                                "secret_headers": {"X-Api-Key": "key-4711"},
                                                "follow_redirects": True, "json": gone}})
        assert result["state"] == "ok", result["reason"]
    same = run_one({"name": "b", "http": {"url": redirect_to(http_server, "/headers"), "headers": headers,
                                          "secret_headers": {"X-Api-Key": "key-4711"}, "follow_redirects": True,
                                          "json": {"authorization": "Bearer tok-4711", "\"x-api-key\"": "key-4711"}}})
    assert same["state"] == "ok", same["reason"]


def test_http_user_and_password_in_the_url_are_sent_as_basic_auth_and_never_shown(http_server):
    url = http_server.replace("http://", "http://monitor:pa%20ss-4711@") + "/headers"
    auth = "Basic " + base64.b64encode(b"monitor:pa ss-4711").decode()
    result = run_one({"name": "a", "http": {"url": url, "json": {"authorization": auth}}})
    assert result["state"] == "ok", result["reason"]
    assert result["observed"]["url"] == http_server.replace("http://", "http://monitor:********@") + "/headers"
    assert "4711" not in repr(result)
    wrong = run_one({"name": "b", "http": {"url": url.replace("/headers", "/status/401")}})
    assert "4711" not in repr(wrong)
    looped = run_one({"name": "c", "http": {"url": url.replace("/headers", "/loop"), "follow_redirects": True}})
    assert looped["reason"].startswith("redirect loop: http://monitor:********@127.0.0.1:")
    assert "4711" not in repr(looped)


def test_mask_url():
    assert health.mask_url("https://u:p@h:8/x?y") == "https://u:********@h:8/x?y"
    assert health.mask_url("https://token@h/x") == "https://********@h/x"
    assert health.mask_url("https://h/x@y") == "https://h/x@y"


# ------------------------------------------------------------------------------------------ bodies (15, 16)
@pytest.mark.parametrize("expected, ok", [
    ({"enabled": True}, False), ({"disabled": False}, False), ({"list": [True, False]}, False),
    ({"count": True}, False), ({"really": 1}, False),
    ({"enabled": 1, "disabled": 0, "really": True, "list": [1, 0], "count": 1.0}, True),
])
def test_json_booleans_are_not_numbers(http_server, expected, ok):
    result = run_one({"name": "a", "http": {"url": http_server + "/flags", "json": expected}})
    assert (result["state"] == "ok") is ok, result["reason"]


def test_json_mismatch_of_a_boolean_says_what_was_seen(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/flags", "json": {"enabled": True}}})
    assert result["reason"] == "JSON enabled is 1, expected true"


def test_a_body_over_the_limit_is_said_to_be_cut_not_called_not_json(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/huge", "json": {"status": "ok"}}})
    assert result["state"] == "critical"
    assert result["reason"] == ("body is larger than body_limit 1048576 bytes and was cut, so the json expectations "
                                "cannot be checked: raise body_limit")
    assert result["observed"]["body_truncated"] is True
    raised = run_one({"name": "b", "http": {"url": http_server + "/huge", "json": {"status": "ok"},
                                            "body_limit": 2 << 20}})
    assert raised["state"] == "ok", raised["reason"]
    regex = run_one({"name": "c", "http": {"url": http_server + "/huge", "body_regex": "the end", "body_limit": 10}})
    assert regex["reason"] == "body does not match /the end/ (the body was cut at body_limit 10 bytes)"


# --------------------------------------------------------------------------------------------- maintenance
@pytest.mark.parametrize("path, seen", [("/maintenance", "503 Retry-After 300"),
                                        ("/maintenance-page", "503 (Down for maintenance page)")])
def test_a_maintenance_503_is_named_and_at_least_critical(http_server, path, seen):
    result = run_one({"name": "a", "severity": "warning", "http": {"url": http_server + path,
                                                                   "status_codes": [200, 503]}})
    assert (result["state"], result["reason"]) == ("critical", "maintenance: " + seen)
    assert result["observed"]["maintenance"] is True


def test_maintenance_that_is_expected_is_ok(http_server):
    result = run_one({"name": "a", "http": {"url": http_server + "/maintenance", "maintenance_expected": True}})
    assert (result["state"], result["reason"]) == ("ok", "maintenance (expected): 503 Retry-After 300")


def test_a_503_without_maintenance_signs_is_an_ordinary_failure(http_server):
    result = run_one({"name": "a", "severity": "warning", "http": {"url": http_server + "/overloaded"}})
    assert result["state"] == "warning"
    assert result["reason"].startswith("HTTP 503, expected 200: <html><body><h1>503 Service Unavailable</h1>")


def test_maintenance_detection_matches_what_maintenance_mode_serves():
    from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance
    assert health.MAINTENANCE_MARKER in _maintenance.DEFAULT_PAGE


# ------------------------------------------------------------------------------ TLS that is wrong (tests 13)
def test_https_expired_and_wrong_host_certificates(bad_tls_servers):
    expired = bad_tls_servers["expired"]
    result = run_one({"name": "a", "http": {"url": "https://localhost:%d/json" % expired["port"],
                                            "ca_path": expired["cert"]}})
    assert result["reason"] == "TLS certificate not trusted: certificate has expired"
    wrong = bad_tls_servers["wrong_host"]
    result = run_one({"name": "b", "http": {"url": "https://localhost:%d/json" % wrong["port"],
                                            "ca_path": wrong["cert"]}})
    assert result["reason"].startswith("TLS certificate not trusted: Hostname mismatch")


def test_tls_check_reads_an_expired_certificate(bad_tls_servers):
    expired = bad_tls_servers["expired"]
    result = run_one({"name": "cert", "tls": {"host": "127.0.0.1", "port": expired["port"],
                                              "server_name": "localhost", "ca_path": expired["cert"]}})
    assert result["state"] == "critical" and result["observed"]["days_left"] < 0
    assert result["reason"].split("; ")[0] == "certificate not trusted for localhost: certificate has expired"
    assert "certificate expired on " in result["reason"]


def test_tls_to_a_server_that_does_not_speak_tls(http_server):
    port = int(http_server.rsplit(":", 1)[1])
    result = run_one({"name": "a", "http": {"url": "https://127.0.0.1:%d/json" % port}})
    assert result["state"] == "critical" and "WRONG_VERSION_NUMBER" in result["reason"]
    result = run_one({"name": "b", "tls": {"host": "127.0.0.1", "port": port}})
    assert result["state"] == "critical" and "WRONG_VERSION_NUMBER" in result["reason"]


# ------------------------------------------------------------------ the timeout bounds the whole check (13)
def test_a_trickling_server_cannot_stretch_an_http_check(misbehaving):
    """One byte every 0.5 s: each read is quick, the whole answer takes 30 s. The check has 1 s."""
    url = "http://127.0.0.1:%d/health" % misbehaving["trickle"].server_port
    result, took = timed({"name": "a", "timeout": 1, "http": {"url": url}})
    assert took < 3
    assert (result["state"], result["reason"]) == ("critical", "timed out after 1 s")


def test_a_server_that_never_answers_times_out_at_the_timeout(misbehaving):
    port = misbehaving["silent"].server_port
    for check in ({"http": {"url": "http://127.0.0.1:%d/" % port}},
                  {"http": {"url": "https://127.0.0.1:%d/" % port, "validate_certs": False}},
                  {"tls": {"host": "127.0.0.1", "port": port}}):
        result, took = timed(dict(check, name="a", timeout=1))
        assert took < 3 and result["reason"] == "timed out after 1 s", (check, result["reason"])


def test_a_trickled_tls_handshake_times_out_at_the_timeout(misbehaving):
    port = misbehaving["tls_trickle"].server_port
    for check in ({"http": {"url": "https://127.0.0.1:%d/" % port, "validate_certs": False}},
                  {"tls": {"host": "127.0.0.1", "port": port}}):
        result, took = timed(dict(check, name="a", timeout=1))
        assert took < 3 and result["reason"] == "timed out after 1 s", (check, result["reason"])


def test_redirect_hops_share_one_timeout(http_server):
    """Five hops of 0.6 s each: every hop is within 1 s, the whole check is not."""
    result, took = timed({"name": "a", "timeout": 1, "http": {"url": http_server + "/slowchain/5",
                                                              "follow_redirects": True}})
    assert took < 2.5
    assert result["reason"] == "timed out after 1 s"


def test_a_hung_probe_is_given_up_at_its_timeout_and_not_started_again_while_hung(monkeypatch, tmp_path):
    """A probe blocked where no socket timeout reaches (a hung NFS mount under statvfs)."""
    release = threading.Event()

    def hung_statvfs(path):
        release.wait(30)
        raise OSError("stale file handle")

    monkeypatch.setattr(health.disk.os, "statvfs", hung_statvfs)
    check = prepared({"name": "nfs", "timeout": 0.3, "disk": {"path": str(tmp_path)}})[0]
    threads = threading.active_count()
    start = time.monotonic()
    first = health.run_check(check)
    assert time.monotonic() - start < 1.5
    assert (first["state"], first["reason"]) == ("critical", "timed out after 0.3 s")
    again = [health.run_check(check) for dummy in range(3)]  # three more sweeps of a watch
    assert all(r["reason"].startswith("not started: its run of ") and r["reason"].endswith(
        " s ago is still hung after timing out") for r in again)
    assert threading.active_count() <= threads + 1
    release.set()
    check["_hung"][0].join(5)
    assert "stale file handle" in health.run_check(check)["reason"]


def test_an_overall_deadline_tells_not_started_from_timed_out(tmp_path):
    checks = prepared({"name": "slow", "timeout": 5, "command": {"cmd": "sleep 3"}},
                      {"name": "waiting", "disk": {"path": str(tmp_path)}})
    results = health.sweep(checks, concurrency=1, deadline=0.5)
    assert re.fullmatch(r"timed out: no result by the overall deadline of 0\.5 s \(it ran 0\.\d s of its timeout "
                        r"5 s\)", results[0]["reason"])
    assert results[1]["reason"] == ("not started before the overall deadline of 0.5 s (concurrency 1: the checks "
                                    "before it took the time)")


def test_budget_left_runs_out():
    now = [100.0]
    budget = health.Budget(2, clock=lambda: now[0])
    assert budget.left() == 2
    now[0] = 102.0
    with pytest.raises(TimeoutError):
        budget.left()
    assert budget.spent()


# ---------------------------------------------------------------------------------------- tcp, unreachable
def test_tcp_connects(http_server):
    port = int(http_server.rsplit(":", 1)[1])
    assert run_one({"name": "a", "tcp": {"host": "127.0.0.1", "port": port}})["state"] == "ok"


def test_unreachable_hosts_say_why(closed_port):
    refused = run_one({"name": "a", "tcp": {"host": "127.0.0.1", "port": closed_port}})
    assert (refused["state"], refused["reason"]) == ("critical", "connection refused")
    unknown = run_one({"name": "b", "http": {"url": "http://no-such-host.invalid/health"}})
    assert unknown["reason"].startswith("cannot resolve the host name")


# ------------------------------------------------------------------------------------------------- tls
def test_tls_reads_an_untrusted_certificate_and_grades_its_expiry(https_server):
    result = run_one({"name": "cert", "tls": {"host": "127.0.0.1", "port": https_server["port"],
                                              "server_name": "localhost", "names": ["localhost", "api.example"]}})
    assert result["state"] == "critical"
    assert result["observed"]["trusted"] is False
    assert 4 < result["observed"]["days_left"] <= 5
    assert result["reason"].split("; ") == [
        "certificate not trusted for localhost: self-signed certificate",
        "certificate does not cover api.example (it names localhost)",
        "certificate expires in %s days below the critical threshold 7 days" % health.grading.num(
            result["observed"]["days_left"])]


def test_tls_says_which_certificate_is_served_serial_fingerprint_and_lifetime(https_server):
    import hashlib
    import pathlib
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    cert = x509.load_pem_x509_certificate(pathlib.Path(https_server["cert"]).read_bytes())
    observed = run_one({"name": "cert", "tls": {"host": "127.0.0.1", "port": https_server["port"],
                                                "server_name": "localhost"}})["observed"]
    assert observed["serial"] == "%X" % cert.serial_number
    assert observed["sha256"] == hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert observed["not_before"] == cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_tls_trusted_certificate_only_grades_expiry(https_server):
    result = run_one({"name": "cert", "tls": {"host": "127.0.0.1", "port": https_server["port"],
                                              "server_name": "localhost", "ca_path": https_server["cert"],
                                              "cert_days": {"warning": 3, "critical": 1}}})
    assert (result["state"], result["observed"]["trusted"]) == ("ok", True)
    assert result["observed"]["names"] == ["localhost"]


@pytest.mark.parametrize("pattern, name, covered", [
    ("*.example.com", "api.example.com", True), ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False), ("API.example.com", "api.example.com", True),
])
def test_certificate_name_coverage(pattern, name, covered):
    assert health.tls._covers(pattern, name) is covered


# ------------------------------------------------------------------------------------------- postgres
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


def pg_check(server, **options):
    """A postgres check of a real throwaway server (whichever name the argument spec gives the port)."""
    spec = {"login_host": server["login_host"], "login_port": server["login_port"], "login_user": server["login_user"],
            "login_password": server["login_password"], "login_db": server["login_db"], "ssl_mode": "disable"}
    return {"name": "db", "postgres": dict(spec, **options)}


def test_postgres_primary_against_a_real_server(pg_server):
    pytest.importorskip("psycopg2")
    result = run_one(pg_check(pg_server, role="primary"))
    assert result["state"] == "ok", result["reason"]
    assert result["observed"]["version"].startswith("15") and result["observed"]["role"] == "primary"
    assert re.fullmatch(r"primary, \d+/50 connections", result["reason"])
    assert result["observed"]["replicas"] == [] and result["observed"]["replication_visible"] is True


def test_postgres_role_replicas_and_connections_are_judged(pg_server):
    pytest.importorskip("psycopg2")
    result = run_one(pg_check(pg_server, role="replica", min_replicas=1, connections_pct={"warning": 0.01}))
    assert result["state"] == "critical"
    reasons = result["reason"].split("; ")
    assert reasons[:2] == ["is a primary, expected a replica", "0 streaming replica(s), expected at least 1"]
    assert re.fullmatch(r"connections at \d+(\.\d)?% reached the warning threshold 0\.01%", reasons[2])


@pytest.mark.parametrize("attrs, role", [("primary", "primary"), ("standby", "replica")])
def test_postgres_of_the_clusters_members_checks_the_one_asked_for_and_says_which(pg_pair, attrs, role):
    pytest.importorskip("psycopg2")
    members = "127.0.0.1:%d,127.0.0.1:%d" % (pg_pair["standby"]["login_port"], pg_pair["primary"]["login_port"])
    result = run_one(pg_check(pg_pair["primary"], login_host=members, login_port=5432, target_session_attrs=attrs, role=role))
    server = "127.0.0.1:%d" % pg_pair["primary" if role == "primary" else "standby"]["login_port"]
    assert result["state"] == "ok" and result["observed"]["server"] == server, result
    assert result["reason"].startswith("%s on %s, " % (role, server))


def test_postgres_with_no_member_of_the_role_asked_for_is_critical(pg_pair):
    pytest.importorskip("psycopg2")
    members = "127.0.0.1:%d" % pg_pair["standby"]["login_port"]
    result = run_one(pg_check(pg_pair["primary"], login_host=members, target_session_attrs="primary", role="primary"))
    assert result["state"] == "critical" and "hot standby" in result["reason"], result


@pytest.mark.parametrize("options, expected", [
    ({"login_password": "wrong-4711"}, 'password authentication failed for user "postgres"'),
    ({"login_db": "no_such_db"}, 'database "no_such_db" does not exist'),
    ({"login_user": "nobody_here"}, 'password authentication failed for user "nobody_here"'),
])
def test_postgres_connection_settings_are_used_and_failures_said_once(pg_server, options, expected):
    pytest.importorskip("psycopg2")
    result = run_one(pg_check(pg_server, **options))
    assert result["state"] == "critical" and expected in result["reason"]
    assert result["reason"].count(expected) == 1
    assert "wrong-4711" not in repr(result) and pg_server["login_password"] not in repr(result)


def test_postgres_that_never_answers_times_out_at_the_timeout(misbehaving):
    pytest.importorskip("psycopg2")
    result, took = timed({"name": "db", "timeout": 1, "postgres": {"login_host": "127.0.0.1",
                                                                   "login_port": misbehaving["silent"].server_port}})
    assert took < 3 and result["reason"] == "timed out after 1 s"


def test_missing_driver_is_an_error_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    result = run_one({"name": "db", "postgres": {"login_host": "db1"}})
    assert result["state"] == "error"
    assert "psycopg2 is required" in result["reason"] and "python3-psycopg2" in result["reason"]


@pytest.fixture(scope="module")
def pg_replica(pg_server):
    """A streaming replica of pg_server (pg_basebackup -R), and a login role without pg_monitor on both. As root the
    replica runs as the same user as pg_server's cluster."""
    psycopg2 = pytest.importorskip("psycopg2")
    base = pathlib.Path(tempfile.mkdtemp(prefix="opsready-pg-replica-"))
    prefix = []
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres" if "postgres" in {u.pw_name for u in pwd.getpwall()} else "nobody")
        os.chown(base, entry.pw_uid, entry.pw_gid)
        os.chmod(base, 0o700)
        prefix = ["runuser", "-u", entry.pw_name, "--"]
    primary = psycopg2.connect(pg_server["dsn"])
    primary.autocommit = True
    with primary.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS hc_nomon")
        cur.execute("CREATE ROLE hc_nomon LOGIN PASSWORD 'nomon-pw'")
    subprocess.run(prefix + [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pg_server["login_port"]),
                             "-U", "postgres", "-D", str(base / "data"), "-R", "-X", "stream", "-c", "fast"],
                   env=dict(os.environ, PGPASSWORD=pg_server["login_password"]), check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(prefix + [str(PG_BIN / "postgres"), "-D", str(base / "data"), "-p", str(port),
                                      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        with primary.cursor() as cur:
            while True:
                cur.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                if cur.fetchone()[0]:
                    break
                assert time.monotonic() < deadline and proc.poll() is None, "the replica did not stream"
                time.sleep(0.1)
        yield dict(pg_server, login_port=port)
    finally:
        proc.terminate()
        proc.wait(20)
        with primary.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS hc_nomon")
        primary.close()
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_replica_that_streams_against_a_real_replica(pg_replica):
    result = run_one(pg_check(pg_replica, role="replica"))
    assert result["state"] == "ok", result["reason"]
    assert (result["observed"]["wal_receiver"], result["observed"]["lag_bytes"]) == ("streaming", 0)
    assert re.fullmatch(r"replica, \d+/100 connections, replication lag 0 s", result["reason"])
    wrong = run_one(pg_check(pg_replica, role="primary"))
    assert (wrong["state"], wrong["reason"]) == ("critical", "is a replica, expected a primary")


def test_postgres_primary_sees_its_streaming_replica(pg_server, pg_replica):
    result = run_one(pg_check(pg_server, role="primary", min_replicas=1))
    assert result["state"] == "ok", result["reason"]
    assert [r["state"] for r in result["observed"]["replicas"]] == ["streaming"]
    assert run_one(pg_check(pg_server, min_replicas=2))["reason"] == "1 streaming replica(s), expected at least 2"


@pytest.mark.parametrize("replayed_soon", [True, False])
def test_postgres_replica_behind_only_by_wal_in_flight_has_no_lag(pg_server, pg_replica, replayed_soon):
    """Replay paused while WAL arrives: received, not replayed. Replayed within the probe's second look (0.2 s
    later) it was only WAL in flight, no lag; still not replayed, it is lag."""
    import psycopg2
    replica = psycopg2.connect(pg_server["dsn"].replace("port=%d" % pg_server["login_port"], "port=%d" % pg_replica["login_port"]))
    replica.autocommit = True
    primary = psycopg2.connect(pg_server["dsn"])
    primary.autocommit = True
    try:
        with replica.cursor() as cur, primary.cursor() as pcur:
            cur.execute("SELECT pg_wal_replay_pause()")
            pcur.execute("CREATE TABLE IF NOT EXISTS hc_wal (n int); INSERT INTO hc_wal VALUES (1)")
            deadline = time.monotonic() + 10
            while True:
                cur.execute("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")
                if cur.fetchone()[0]:
                    break
                assert time.monotonic() < deadline, "the replica received nothing"
                time.sleep(0.05)
            if replayed_soon:
                threading.Timer(0.05, lambda: replica.cursor().execute("SELECT pg_wal_replay_resume()")).start()
            result = run_one(pg_check(pg_replica, role="replica"))
            assert (result["observed"]["lag_bytes"] == 0) is replayed_soon, result["observed"]
    finally:
        with replica.cursor() as cur:
            cur.execute("SELECT pg_is_wal_replay_paused()")
            if cur.fetchone()[0]:
                cur.execute("SELECT pg_wal_replay_resume()")
        with primary.cursor() as pcur:
            pcur.execute("DROP TABLE IF EXISTS hc_wal")
        replica.close()
        primary.close()


def test_postgres_login_without_pg_monitor_is_told_to_grant_it(pg_server, pg_replica):
    for server in (pg_replica, pg_server):
        result = run_one(pg_check(server, login_user="hc_nomon", login_password="nomon-pw"))
        assert (result["state"], result["reason"]) == ("error", health.NEEDS_MONITOR)


def judged(options, status, replication):
    """judge_postgres on rows as PostgreSQL returns them (replication states a single server cannot show)."""
    check = prepared({"name": "db", "postgres": options})[0]
    return health.judge_postgres(check["spec"], check["limits"], status, replication)


def test_postgres_primary_grades_connections_and_replica_lag():
    observed, findings, summary = judged({"role": "primary", "min_replicas": 2}, ("15.8", False, 85, 100),
                                         [("db2", "10.0.0.32", "streaming", 45.0, 16384),
                                          ("db3", "10.0.0.33", "catchup", 2.0, 10)])
    assert observed["lag_seconds"] == 45.0 and observed["lag_bytes"] == 16384
    assert findings == [(None, "1 streaming replica(s), expected at least 2"),
                        ("warning", "connections at 85% reached the warning threshold 80%"),
                        ("warning", "replication lag 45 s reached the warning threshold 30 s")]


def test_postgres_replica_that_does_not_stream_and_a_wrong_role():
    observed, findings, summary = judged({"role": "primary"}, ("15.8", True, 3, 100), (0.0, 0, None, 0, None))
    assert findings == [(None, "is a replica, expected a primary"),
                        (None, "replica is not streaming from its primary (WAL receiver: not running)")]


def test_postgres_without_pg_monitor_says_to_grant_it():
    observed, findings, summary = judged({"role": "replica"}, ("15.8", True, 3, 100), (0.0, 0, None, 1, None))
    assert findings == [("error", health.NEEDS_MONITOR)]
    observed, findings, summary = judged({}, ("15.8", False, 3, 100), [("db2", "10.0.0.32", None, 0.0, 0)])
    assert findings == [("error", health.NEEDS_MONITOR)]


# ----------------------------------------------------------------------------------------------- redis
@pytest.fixture
def redis_client(redis_server):
    redis = pytest.importorskip("redis")
    client = redis.Redis(host=redis_server["host"], port=redis_server["port"], password=redis_server["password"],
                         db=5)
    client.delete("hc:jobs", "hc:events", "hc:name", "hc:missing")
    yield client
    client.delete("hc:jobs", "hc:events", "hc:name")
    client.config_set("maxmemory", 0)
    client.close()


def redis_check(redis_server, **options):
    return {"name": "redis", "redis": dict({"host": redis_server["host"], "port": redis_server["port"],
                                            "password": redis_server["password"], "db": 5}, **options)}


def test_redis_grades_memory_and_queues_of_its_database(redis_server, redis_client):
    redis_client.rpush("hc:jobs", *range(150))
    for n in range(3):
        redis_client.xadd("hc:events", {"n": n})
    redis_client.set("hc:name", "x")
    redis_client.config_set("maxmemory", 1 << 30)
    queues = ["hc:jobs", "hc:events", "hc:missing", "hc:name"]
    result = run_one(redis_check(redis_server, queues=queues, memory_pct={"warning": 0.0001}))
    assert result["observed"]["queues"] == {"hc:jobs": 150, "hc:events": 3, "hc:missing": 0, "hc:name": "string"}
    assert result["state"] == "critical"
    reasons = result["reason"].split("; ")
    assert reasons[0] == "key hc:name is a string, not a queue"
    assert re.fullmatch(r"memory at \d+(\.\d)?% reached the warning threshold 0\.0001%", reasons[1])
    assert reasons[2] == "queue hc:jobs holds 150 items reached the warning threshold 100 items"
    other_db = run_one(redis_check(redis_server, db=0, queues=["hc:jobs"]))
    assert other_db["state"] == "ok" and other_db["observed"]["queues"] == {"hc:jobs": 0}
    assert other_db["observed"]["memory_pct"] is not None  # maxmemory is set


def test_redis_wrong_password_is_a_clear_failure_without_the_password(redis_server, redis_client):
    result = run_one(redis_check(redis_server, password="wrong-4711"))
    assert result["state"] == "critical"
    assert "invalid" in result["reason"].lower() and "password" in result["reason"].lower()
    assert "wrong-4711" not in repr(result)


def test_redis_that_never_answers_times_out_once_without_retries(misbehaving):
    pytest.importorskip("redis")
    server = misbehaving["silent"]
    before = server.accepted
    result, took = timed({"name": "redis", "timeout": 1, "redis": {"host": "127.0.0.1", "port": server.server_port}})
    assert took < 3 and result["reason"] == "timed out after 1 s"
    time.sleep(0.5)  # a retry would connect again
    assert server.accepted - before == 1


# ---------------------------------------------------------------------------------------- disk, command
def test_disk_usage(tmp_path):
    assert run_one({"name": "d", "disk": {"path": str(tmp_path)}})["observed"]["used_pct"] > 0
    full = run_one({"name": "d", "disk": {"path": str(tmp_path), "disk_pct": {"warning": 0.001, "critical": 0.01}}})
    assert full["state"] == "critical" and "used" in full["reason"]
    missing = run_one({"name": "d", "disk": {"path": str(tmp_path / "nope")}})
    assert missing["state"] == "critical" and "No such file or directory" in missing["reason"]


def test_command_exit_code_output_and_timeout():
    assert run_one({"name": "c", "command": {"argv": ["sh", "-c", "echo active"], "stdout_regex": "^active"}}
                   )["state"] == "ok"
    failed = run_one({"name": "c", "command": {"cmd": "sh -c 'echo inactive; exit 3'"}})
    assert failed["reason"] == "sh exited 3, expected 0: inactive"
    slow = run_one({"name": "c", "timeout": 0.2, "command": {"cmd": "sleep 5"}})
    assert slow["reason"] == "sleep did not finish within 0.2 s"


def test_commands_run_in_check_mode_only_when_read_only():
    check = prepared({"name": "c", "command": {"cmd": "true"}})[0]
    assert health.run_check(check, check_mode=True)["state"] == "skipped"
    check["spec"]["read_only"] = True
    assert health.run_check(check, check_mode=True)["state"] == "ok"


# --------------------------------------------------------------------------------------- sweep and wait
def test_sweep_keeps_order_and_fails_what_misses_the_deadline(http_server):
    checks = prepared({"name": "slow", "timeout": 5, "command": {"cmd": "sleep 3"}},
                      {"name": "fast", "http": {"url": http_server + "/json"}})
    results = health.sweep(checks, concurrency=2, deadline=0.5)
    assert [r["name"] for r in results] == ["slow", "fast"]
    assert results[0]["reason"].startswith("timed out: no result by the overall deadline of 0.5 s")
    assert (results[0]["state"], results[1]["state"]) == ("critical", "ok")


def sweeps(monkeypatch, *states):
    """Make each sweep return one check in the next state; the last state repeats."""
    states = list(states)

    def sweep(checks, concurrency, deadline, check_mode=False):
        state = states.pop(0) if len(states) > 1 else states[0]
        return [{"name": "a", "state": state}]

    monkeypatch.setattr(health.running, "sweep", sweep)


class Clock:
    def __init__(self):
        self.now, self.pauses = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.now += seconds


def test_wait_sweeps_until_healthy_with_capped_back_off(monkeypatch):
    sweeps(monkeypatch, "critical", "critical", "critical", "critical", "ok")
    clock = Clock()
    outcome = health.run([], 1, 1, wait_timeout=60, wait_interval=3, clock=clock, sleep=clock.sleep)
    assert (outcome["attempts"], outcome["healthy"], clock.pauses) == (5, True, [1, 2, 3, 3])


def test_wait_gives_up_at_the_timeout_and_returns_the_last_results(monkeypatch):
    sweeps(monkeypatch, "critical")
    clock = Clock()
    outcome = health.run([], 1, 1, wait_timeout=10, wait_interval=4, clock=clock, sleep=clock.sleep)
    assert (outcome["healthy"], outcome["elapsed"], outcome["summary"]["state"]) == (False, 10, "critical")
    assert clock.pauses == [1, 2, 4, 3]


def test_watch_sweeps_until_unhealthy_at_a_steady_interval(monkeypatch):
    sweeps(monkeypatch, "ok", "ok", "critical", "ok")
    clock = Clock()
    outcome = health.run([], 1, 1, watch=60, wait_interval=10, clock=clock, sleep=clock.sleep)
    assert (outcome["attempts"], outcome["healthy"], clock.pauses) == (3, False, [10, 10])


def test_watch_that_stays_healthy_runs_its_whole_time(monkeypatch):
    sweeps(monkeypatch, "ok")
    clock = Clock()
    outcome = health.run([], 1, 1, watch=25, wait_interval=10, clock=clock, sleep=clock.sleep)
    assert (outcome["attempts"], outcome["healthy"], clock.pauses, outcome["elapsed"]) == (4, True, [10, 10, 5], 25)


def test_wait_until_warning_accepts_warnings(monkeypatch):
    sweeps(monkeypatch, "warning")
    outcome = health.run([], 1, 1, wait_timeout=10, wait_until="warning", clock=Clock(), sleep=pytest.fail)
    assert (outcome["attempts"], outcome["healthy"]) == (1, True)


@pytest.mark.parametrize("states, overall", [
    (["ok", "skipped"], "ok"), (["skipped", "ok"], "ok"), (["skipped", "skipped"], "skipped"),
    (["skipped", "warning", "ok"], "warning"), ([], "skipped"),
])
def test_skipped_checks_do_not_hide_the_others(states, overall):
    assert health.summarize([{"name": str(n), "state": state} for n, state in enumerate(states)])["state"] == overall


def test_summary_and_policy():
    pairs = [("a", "ok"), ("b", "warning"), ("c", "critical"), ("d", "error"), ("e", "skipped")]
    results = [{"name": name, "state": state} for name, state in pairs]
    summary = health.summarize(results, "critical")
    assert (summary["state"], summary["not_ok"], summary["failing"]) == ("error", ["b", "c", "d"], ["c", "d"])
    assert health.summarize(results, "warning")["failing"] == ["b", "c", "d"]
    assert health.summarize(results, "never")["failing"] == []
    assert health.message(summary) == "5 checks: 1 ok, 1 warning, 1 critical, 1 error, 1 skipped"


# ------------------------------------------------------------------------------------------------- metrics
@pytest.fixture
def app_metrics():
    """A real Prometheus endpoint on loopback (prometheus_client), with the demo app's metric names."""
    registry = prometheus_client.CollectorRegistry()
    requests = prometheus_client.Counter("demo_http_requests", "requests", ["handler", "code"], registry=registry)
    duration = prometheus_client.Histogram("demo_http_request_duration_seconds", "latency", ["handler"],
                                           buckets=(.01, .025, .05, .1, .5, 1, 2, 2.5, 5), registry=registry)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(registry))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(handler, code, seconds, count):
        for dummy in range(count):
            requests.labels(handler, str(code)).inc()
            duration.labels(handler).observe(seconds)

    yield "http://127.0.0.1:%d/metrics" % server.server_port, serve
    server.shutdown()


def metrics_check(url, **options):
    spec = dict(url=url, requests="demo_http_requests_total", duration="demo_http_request_duration_seconds",
                match={"handler": "api"})
    return prepared({"name": "app", "metrics": dict(spec, **options)})[0]


def test_parse_metrics_reads_names_labels_and_values():
    text = '# HELP x y\nreqs_total{code="500",path="a \\"b\\""} 3.0\nup 1\nlat_bucket{le="+Inf"} 7\n'
    assert health.parse_metrics(text) == [("reqs_total", {"code": "500", "path": 'a \\"b\\"'}, 3.0),
                                          ("up", {}, 1.0), ("lat_bucket", {"le": "+Inf"}, 7.0)]


@pytest.mark.parametrize("buckets, p95", [
    ({0.1: 50, 0.5: 90, 1.0: 100, float("inf"): 100}, 0.75),   # linear inside (0.5, 1]
    ({0.1: 100, float("inf"): 100}, 0.095),
    ({0.1: 0, 2.5: 0, float("inf"): 10}, 2.5),                 # beyond the last bound: that bound
    ({0.1: 0, float("inf"): 0}, None),
    ({}, None),
])
def test_quantile_as_prometheus_computes_it(buckets, p95):
    assert health.quantile(0.95, buckets) == pytest.approx(p95) if p95 is not None else health.quantile(0.95, buckets) is None


def test_increase_counts_from_a_restart_when_counters_went_down():
    before = {"requests": 100.0, "errors": 5.0, "buckets": {1.0: 100.0}}
    assert health.increase({"requests": 130.0, "errors": 6.0, "buckets": {1.0: 130.0}}, before) == \
        {"requests": 30.0, "errors": 1.0, "buckets": {1.0: 30.0}}
    restarted = {"requests": 4.0, "errors": 0.0, "buckets": {1.0: 4.0}}
    assert health.increase(restarted, before) == restarted


def test_metrics_error_rate_and_p95_over_the_window_only(app_metrics):
    url, serve = app_metrics
    serve("api", 500, 0.01, 50)      # before the window: must not count
    check = metrics_check(url)
    check["spec"]["_previous"] = health.metrics._scrape(check["spec"], health.Budget(5))
    serve("api", 200, 0.03, 90)
    serve("api", 500, 3.0, 10)
    serve("health", 503, 0.01, 500)  # not an api request: not counted (match)
    result = health.run_check(check)
    observed = result["observed"]
    assert (observed["requests"], observed["errors"], observed["error_rate_pct"]) == (100, 10, 10.0)
    assert observed["p95_ms"] == pytest.approx(3750.0)   # rank 95 in (2.5, 5]: 2.5 + 2.5 * 5/10 s
    assert result["state"] == "critical"
    assert result["reason"] == ("error rate 10% reached the critical threshold 5%; "
                                "p95 latency 3750 ms reached the critical threshold 2000 ms")


def test_metrics_healthy_window_and_its_thresholds(app_metrics):
    url, serve = app_metrics
    check = metrics_check(url, p95_ms={"warning": 40})
    check["spec"]["_previous"] = health.metrics._scrape(check["spec"], health.Budget(5))
    serve("api", 200, 0.03, 99)
    serve("api", 404, 0.03, 1)       # a client error is not an error of the app
    result = health.run_check(check)
    assert result["state"] == "warning" and "p95 latency 48.8 ms reached the warning threshold 40 ms" in result["reason"]
    assert result["observed"]["error_rate_pct"] == 0.0
    check["spec"]["_previous"] = health.metrics._scrape(check["spec"], health.Budget(5))
    serve("api", 200, 0.01, 30)      # the next sweep judges only what came after the previous one
    result = health.run_check(check)
    assert (result["state"], result["observed"]["requests"]) == ("ok", 30)
    assert result["reason"].startswith("30 requests in ") and result["reason"].endswith(": 0 errors (0%), p95 9.5 ms")


def test_metrics_first_sweep_scrapes_twice_and_too_few_requests_are_not_judged(app_metrics):
    url, serve = app_metrics
    serve("api", 500, 3.0, 5)
    result = health.run_check(metrics_check(url, window=0.05))
    assert result["state"] == "ok" and result["observed"]["requests"] == 0
    assert result["reason"].endswith("0 errors, p95 unknown; fewer than 20 requests, not judged")


def test_metrics_that_cannot_be_read_are_an_error_not_a_finding(app_metrics, http_server):
    """Issue 28: a 404 metrics URL read as critical, and a release watch rolled a healthy release back. A signal
    that cannot be evaluated is an error, whatever the check's severity."""
    url, serve = app_metrics
    result = health.run_check(metrics_check(url, requests="nope_total", window=0.01))
    assert result["state"] == "error" and result["reason"].endswith("has no counter nope_total")
    result = health.run_check(metrics_check(http_server + "/status/404", window=0.01))
    assert result["state"] == "error" and "answered HTTP 404" in result["reason"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = health.run_check(metrics_check("http://127.0.0.1:%d/metrics" % port, window=0.01))
    assert result["state"] == "error"
    assert result["reason"] == "metrics endpoint http://127.0.0.1:%d/metrics cannot be read: connection refused" % port


def test_metrics_answer_over_body_limit_is_an_error_not_wrong_counts(app_metrics):
    url, serve = app_metrics
    serve("api", 200, 0.01, 30)
    result = health.run_check(metrics_check(url, window=0.01, body_limit=100))
    assert result["state"] == "error"
    assert result["reason"] == ("metrics endpoint %s answered more than body_limit 100 bytes, and counts from a cut "
                                "answer would be wrong: raise body_limit" % url)
