"""Health checks: grading, validation of definitions, each probe against real loopback servers, sweep and wait."""
import http.server
import re
import sys
import threading
import types

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
@pytest.mark.parametrize("checks, message", [
    ([], "checks is empty"),
    ([{"name": "a", "tcp": {"host": "h", "port": 1}}, {"name": "a", "disk": {"path": "/"}}], "must be unique"),
    ([{"name": "a", "http": {"url": "localhost/health"}}], "must be an absolute http:// or https:// URL"),
    ([{"name": "a", "http": {"url": "http://h/", "body_regex": "(unclosed"}}], "not a valid regular expression"),
    ([{"name": "a", "http": {"url": "http://h/", "json": {"status ==": "ok"}}}], "not a valid JMESPath expression"),
    ([{"name": "a", "disk": {"path": "/", "disk_pct": {"warning": 95, "critical": 90}}}],
     "warning threshold 95.0 is beyond its critical threshold 90.0"),
    ([{"name": "a", "tls": {"host": "h", "cert_days": {"warning": 5, "critical": 10}}}], "beyond its critical"),
    ([{"name": "a", "command": {"cmd": "   "}}], "non-empty cmd or argv"),
    ([{"name": "a"}], r"give exactly one check type \(one of http, metrics, tcp, tls, postgres, redis, disk, "
                      r"command\), got none"),
    ([{"name": "a", "metrics": {"url": "http://h/metrics", "error_codes": "5(("}}], "error_codes .* not a valid"),
    ([{"name": "a", "metrics": {"url": "http://h/metrics", "window": 0}}], "window must be more than 0"),
    ([{"name": "a", "metrics": {"url": "h:8000/metrics"}}], "must be an absolute http"),
    ([{"name": "a", "http": {"url": "http://h/"}, "tcp": {"host": "h", "port": 1}}], "got http, tcp"),
])
def test_malformed_definitions_are_refused_with_what_to_fix(checks, message):
    with pytest.raises(OpsreadyError, match=message):
        if checks:
            prepared(*checks)
        else:
            health.prepare([], {}, 5)


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
    assert result["reason"].startswith("HTTP 200 in ")


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
        "certificate expires in %s days below the critical threshold 7 days" % health._num(
            result["observed"]["days_left"])]


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
    assert health._covers(pattern, name) is covered


# ------------------------------------------------------------------------------------------- postgres
class FakeOperationalError(Exception):
    pass


def test_postgres_wrong_password_is_reported_once_and_without_the_password(monkeypatch):
    libpq = ('connection to server at "db1" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed '
             'for user "monitor"\n')

    def connect(**kwargs):
        assert kwargs["password"] == "s3cret" and kwargs["connect_timeout"] == 5
        raise FakeOperationalError(libpq + libpq)  # libpq reports each attempt (SSL, then plain)

    monkeypatch.setitem(sys.modules, "psycopg2", types.SimpleNamespace(connect=connect))
    result = run_one({"name": "db", "postgres": {"login_host": "db1", "login_user": "monitor",
                                                 "login_password": "s3cret"}})
    assert result["state"] == "critical"
    assert result["reason"] == " ".join(libpq.split())
    assert "s3cret" not in repr(result)


def test_missing_driver_is_an_error_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    result = run_one({"name": "db", "postgres": {"login_host": "db1"}})
    assert result["state"] == "error"
    assert "psycopg2 is required" in result["reason"] and "python3-psycopg2" in result["reason"]


class FakeCursor:
    def __init__(self, rows):
        self.rows, self.queries = rows, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql):
        self.queries.append(sql)

    def fetchone(self):
        return self.rows.pop(0)

    def fetchall(self):
        return self.rows.pop(0)


class FakeConnection:
    def __init__(self, rows):
        self.cursor_ = FakeCursor(rows)
        self.autocommit = False

    def cursor(self):
        return self.cursor_

    def close(self):
        pass


def fake_postgres(monkeypatch, *rows):
    monkeypatch.setitem(sys.modules, "psycopg2", types.SimpleNamespace(connect=lambda **kw: FakeConnection(list(rows))))


def test_postgres_primary_grades_connections_and_replica_lag(monkeypatch):
    fake_postgres(monkeypatch, ("15.8", False, 85, 100),
                  [("db2", "10.0.0.32", "streaming", 45.0, 16384), ("db3", "10.0.0.33", "catchup", 2.0, 10)])
    result = run_one({"name": "db", "postgres": {"role": "primary", "min_replicas": 2}})
    assert result["state"] == "critical"  # min_replicas takes the check's severity; the rest are warnings
    assert result["observed"]["lag_seconds"] == 45.0 and result["observed"]["lag_bytes"] == 16384
    assert result["reason"].split("; ") == [
        "1 streaming replica(s), expected at least 2",
        "connections at 85% reached the warning threshold 80%",
        "replication lag 45 s reached the warning threshold 30 s"]


def test_postgres_replica_that_does_not_stream_and_a_wrong_role(monkeypatch):
    fake_postgres(monkeypatch, ("15.8", True, 3, 100), (0.0, 0, None, 0, None))
    result = run_one({"name": "db", "postgres": {"role": "primary"}})
    assert result["state"] == "critical"
    assert result["reason"] == ("is a replica, expected a primary; "
                                "replica is not streaming from its primary (WAL receiver: not running)")


@pytest.mark.parametrize("replayed_since, lag", [(True, 0.0), (False, 180.3)])
def test_postgres_replica_behind_only_by_wal_in_flight_has_no_lag(monkeypatch, replayed_since, lag):
    """Idle primary: a checkpoint record received, not replayed yet; the last commit was 3 minutes ago."""
    monkeypatch.setattr(health, "REPLAY_RECHECK_SECONDS", 0)
    fake_postgres(monkeypatch, ("15.8", True, 3, 100), (180.3, 104, "streaming", 1, "0/3000148"), (replayed_since,))
    result = run_one({"name": "db", "postgres": {"role": "replica"}})
    assert result["observed"]["lag_seconds"] == lag
    assert result["state"] == ("ok" if replayed_since else "warning")


def test_postgres_without_pg_monitor_says_to_grant_it(monkeypatch):
    fake_postgres(monkeypatch, ("15.8", True, 3, 100), (0.0, 0, None, 1, None))  # a receiver row, its status hidden
    result = run_one({"name": "db", "postgres": {"role": "replica"}})
    assert (result["state"], result["reason"]) == ("error", health.NEEDS_MONITOR)


# ----------------------------------------------------------------------------------------------- redis
class FakeRedis:
    keys = {"jobs": ("list", 150), "events": ("stream", 3), "name": ("string", None)}

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def ping(self):
        return True

    def info(self, section):
        return {"memory": {"used_memory": 60 << 20, "maxmemory": 64 << 20},
                "clients": {"connected_clients": 4}}[section]

    def type(self, key):
        return self.keys.get(key, ("none",))[0].encode()

    def llen(self, key):
        return self.keys[key][1]

    xlen = llen

    def close(self):
        pass


def test_redis_grades_memory_and_queues(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", types.SimpleNamespace(Redis=FakeRedis))
    result = run_one({"name": "redis", "redis": {"host": "r", "password": "pw",
                                                 "queues": ["jobs", "events", "missing", "name"]}})
    assert result["observed"]["queues"] == {"jobs": 150, "events": 3, "missing": 0, "name": "string"}
    assert result["observed"]["memory_pct"] == 93.8
    assert result["state"] == "critical"
    assert result["reason"].split("; ") == ["key name is a string, not a queue",
                                            "memory at 93.8% reached the warning threshold 80%",
                                            "queue jobs holds 150 items reached the warning threshold 100 items"]


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
    assert results[0]["reason"] == "no result within the overall deadline of 0.5 s"
    assert (results[0]["state"], results[1]["state"]) == ("critical", "ok")


def sweeps(monkeypatch, *states):
    """Make each sweep return one check in the next state; the last state repeats."""
    states = list(states)

    def sweep(checks, concurrency, deadline, check_mode=False):
        state = states.pop(0) if len(states) > 1 else states[0]
        return [{"name": "a", "state": state}]

    monkeypatch.setattr(health, "sweep", sweep)


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
    check["spec"]["_previous"] = health._scrape(check["spec"], 5)
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
    check["spec"]["_previous"] = health._scrape(check["spec"], 5)
    serve("api", 200, 0.03, 99)
    serve("api", 404, 0.03, 1)       # a client error is not an error of the app
    result = health.run_check(check)
    assert result["state"] == "warning" and "p95 latency 48.8 ms reached the warning threshold 40 ms" in result["reason"]
    assert result["observed"]["error_rate_pct"] == 0.0
    check["spec"]["_previous"] = health._scrape(check["spec"], 5)
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


def test_metrics_endpoint_without_the_counter_says_so(app_metrics, http_server):
    url, serve = app_metrics
    result = health.run_check(metrics_check(url, requests="nope_total", window=0.01))
    assert result["state"] == "critical" and result["reason"].endswith("has no counter nope_total")
    result = health.run_check(metrics_check(http_server + "/status/404", window=0.01))
    assert result["state"] == "critical" and "answered HTTP 404" in result["reason"]
