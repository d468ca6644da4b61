# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Health checks: probes per check type, threshold grading, a concurrent sweep with a deadline, and the wait loop.

A probe returns (observed, findings, summary): what it measured, a list of (state, reason) for everything that is
not ok (state None means "failed": the check's own severity decides), and a short line for when all is well.
Only prepare() raises OpsreadyError for bad input; a probe that cannot reach its target simply reports it.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import json
import os
import queue
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time
from http import client as http_client
from urllib.parse import urljoin, urlsplit

from ansible_collections.opsready.runbooks.plugins.module_utils import _postgres
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

TYPES = ("http", "metrics", "tcp", "tls", "postgres", "redis", "disk", "command")
RANK = {"ok": 0, "skipped": 0, "warning": 1, "critical": 2, "error": 3}
FAILING = {"never": (), "critical": ("critical", "error"), "warning": ("warning", "critical", "error")}

# Thresholds from our runbooks; every check of a type that measures the metric uses them unless it sets its own.
THRESHOLDS = {
    "latency_ms": {"warning": 200, "critical": 2000},
    "cert_days": {"warning": 21, "critical": 7},
    "connections_pct": {"warning": 80, "critical": 95},
    "replication_lag_seconds": {"warning": 30, "critical": None},
    "replication_lag_bytes": {"warning": None, "critical": None},
    "memory_pct": {"warning": 80, "critical": 95},
    "queue_length": {"warning": 100, "critical": 1000},
    "disk_pct": {"warning": 75, "critical": 90},
    "error_rate_pct": {"warning": None, "critical": 5},
    "p95_ms": {"warning": None, "critical": 2000},
}
METRICS = {
    "http": ("latency_ms",), "metrics": ("error_rate_pct", "p95_ms"), "tcp": ("latency_ms",), "tls": ("cert_days",),
    "postgres": ("connections_pct", "replication_lag_seconds", "replication_lag_bytes"),
    "redis": ("memory_pct", "queue_length"), "disk": ("disk_pct",), "command": (),
}
LOWER_IS_WORSE = ("cert_days",)
UNITS = {"latency_ms": " ms", "cert_days": " days", "connections_pct": "%", "replication_lag_seconds": " s",
         "replication_lag_bytes": " bytes", "memory_pct": "%", "queue_length": " items", "disk_pct": "%",
         "error_rate_pct": "%", "p95_ms": " ms"}
BODY_LIMIT = 1 << 20


# ---------------------------------------------------------------------------------------------------- grading
def grade(metric, value, limits, label=None):
    """[(state, reason)] for value against {warning, critical}: [] when within both (or value is None).

    Higher is worse (the state starts at the threshold) except for cert_days, where falling below it is worse.
    """
    if value is None:
        return []
    lower = metric in LOWER_IS_WORSE
    for state in ("critical", "warning"):
        limit = limits.get(state)
        if limit is not None and (value < limit if lower else value >= limit):
            unit = UNITS[metric]
            what = label or metric.replace("_", " ")
            relation = "below" if lower else "reached"
            text = "%s %s%s %s the %s threshold %s%s" % (what, _num(value), unit, relation, state, _num(limit), unit)
            return [(state, text)]
    return []


def _num(value):
    return ("%.1f" % value).rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def worst(states):
    return max(states, key=RANK.__getitem__, default="ok")


# -------------------------------------------------------------------------------------------------- preparing
def prepare(checks, thresholds, default_timeout):
    """Validate check definitions beyond the argument spec and resolve each one's type, timeout and limits."""
    if not checks:
        raise OpsreadyError("checks is empty: give at least one check (a health check that checks nothing "
                            "would always pass)")
    prepared, seen = [], set()
    for index, check in enumerate(checks):
        name = check["name"]
        where = "check %d (%s)" % (index + 1, name)
        if name in seen:
            raise OpsreadyError("%s: check names must be unique, %r appears twice" % (where, name))
        seen.add(name)
        kinds = [kind for kind in TYPES if check.get(kind) is not None]
        if len(kinds) != 1:
            raise OpsreadyError("%s: give exactly one check type (one of %s), got %s"
                                % (where, ", ".join(TYPES), ", ".join(kinds) or "none"))
        kind = kinds[0]
        spec = dict(check[kind])
        limits = {}
        for metric in METRICS[kind]:
            merged = dict(THRESHOLDS[metric])
            for override in ((thresholds or {}).get(metric), spec.pop(metric, None)):
                merged.update((key, value) for key, value in (override or {}).items() if value is not None)
            _check_order(where, metric, merged)
            limits[metric] = merged
        _validate(where, kind, spec)
        prepared.append({"name": name, "type": kind, "spec": spec, "limits": limits, "severity": check["severity"],
                         "timeout": check.get("timeout") or default_timeout})
    return prepared


def _check_order(where, metric, limits):
    warning, critical = limits.get("warning"), limits.get("critical")
    if warning is None or critical is None:
        return
    if (warning < critical) if metric in LOWER_IS_WORSE else (warning > critical):
        raise OpsreadyError("%s: %s warning threshold %s is beyond its critical threshold %s; for %s the warning "
                            "comes first" % (where, metric, warning, critical,
                                             "days left" if metric in LOWER_IS_WORSE else "this metric"))


def _validate(where, kind, spec):
    for option in ("body_regex", "stdout_regex", "issuer"):
        if spec.get(option):
            try:
                re.compile(spec[option])
            except re.error as e:
                raise OpsreadyError("%s: %s %r is not a valid regular expression: %s"
                                    % (where, option, spec[option], e))
    if kind == "metrics":
        try:
            re.compile(spec["error_codes"])
        except re.error as e:
            raise OpsreadyError("%s: error_codes %r is not a valid regular expression: %s" % (where, spec["error_codes"], e))
        if spec["window"] <= 0 or spec["min_requests"] < 1:
            raise OpsreadyError("%s: window must be more than 0 seconds and min_requests at least 1" % where)
    if kind in ("http", "metrics"):
        if urlsplit(spec["url"]).scheme not in ("http", "https") or not urlsplit(spec["url"]).hostname:
            raise OpsreadyError("%s: url %r must be an absolute http:// or https:// URL" % (where, spec["url"]))
        if spec.get("json"):
            jmespath = _import_jmespath()
            for expression in spec["json"]:
                try:
                    jmespath.compile(expression)
                except jmespath.exceptions.JMESPathError as e:
                    raise OpsreadyError("%s: json expectation %r is not a valid JMESPath expression: %s"
                                        % (where, expression, str(e).replace("\n", " ")))
    if kind == "command" and not (spec.get("argv") or (spec.get("cmd") or "").strip()):
        raise OpsreadyError("%s: command needs a non-empty cmd or argv" % where)


def _import_jmespath():
    try:
        import jmespath
    except ImportError:
        raise OpsreadyError("the Python package jmespath is required for json expectations on the host running "
                            "the checks (Debian: python3-jmespath, PyPI: jmespath)")
    return jmespath


# ----------------------------------------------------------------------------------------------------- probes
def probe_http(spec, limits, timeout):
    context = _tls_context(spec["validate_certs"], spec.get("ca_path")) if spec["url"].startswith("https") else None
    headers = dict(spec.get("headers") or {})
    body = spec.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    start = time.monotonic()
    status, payload, url = _http_request(spec["url"], spec["method"], headers, body, timeout, context,
                                         spec["follow_redirects"])
    latency = round((time.monotonic() - start) * 1000, 1)
    observed = {"status": status, "url": url, "latency_ms": latency}
    findings = []
    text = payload.decode("utf-8", "replace")
    if status not in spec["status_codes"]:  # the body of an error page says nothing about the expectations
        snippet = " ".join(text[:200].split())[:120]
        detail = ": " + snippet if snippet else ""
        findings.append((None, "HTTP %d, expected %s%s" % (status, _codes(spec["status_codes"]), detail)))
    else:
        if spec.get("body_regex") and not re.search(spec["body_regex"], text):
            findings.append((None, "body does not match /%s/" % spec["body_regex"]))
        if spec.get("json"):
            findings += _json_findings(spec["json"], text, observed)
    findings += grade("latency_ms", latency, limits["latency_ms"], label="latency")
    return observed, findings, "HTTP %d in %s ms" % (status, _num(latency))


def _codes(codes):
    return codes[0] if len(codes) == 1 else "one of " + ", ".join(str(code) for code in codes)


def _json_findings(expectations, text, observed):
    jmespath = _import_jmespath()
    try:
        document = json.loads(text)
    except ValueError as e:
        return [(None, "body is not JSON (%s), so the json expectations cannot hold" % e)]
    observed["json"] = {}
    findings = []
    for expression, expected in expectations.items():
        actual = jmespath.search(expression, document)
        observed["json"][expression] = actual
        if actual != expected:
            findings.append((None, "JSON %s is %s, expected %s" % (expression, json.dumps(actual),
                                                                   json.dumps(expected))))
    return findings


def _http_request(url, method, headers, body, timeout, context, follow_redirects):
    """(status, body bytes, final URL); follows up to 5 redirects when asked."""
    for hop in range(6):
        parts = urlsplit(url)
        if parts.scheme == "https":
            conn = http_client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
        elif parts.scheme == "http":
            conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        else:
            raise ValueError("redirected to %s, which is not http(s)" % url)
        try:
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read(BODY_LIMIT)
            location = response.getheader("Location")
        finally:
            conn.close()
        if not (follow_redirects and location and response.status in (301, 302, 303, 307, 308) and hop < 5):
            return response.status, payload, url
        url = urljoin(url, location)
        if response.status == 303:
            method, body = "GET", None
    raise ValueError("more than 5 redirects")


@functools.lru_cache(maxsize=None)
def _tls_context(validate, ca_path=None):
    """One context per trust setting for the whole sweep (loading the CA store per check costs milliseconds)."""
    if validate:
        return ssl.create_default_context(cafile=ca_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# The app's own signals: counters and a latency histogram in the Prometheus text format, compared between two
# scrapes. Only the difference counts (what happened in the window), as Prometheus's increase() would have it.
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, labels, value)] of every sample in a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        found = SAMPLE_RE.match(line)
        if found and not line.startswith("#"):
            labels = dict(LABEL_RE.findall(found.group(2) or ""))
            samples.append((found.group(1), labels, float(found.group(3))))
    return samples


def tally(samples, spec):
    """The counts that matter at one scrape: requests, errors, and the latency histogram's cumulative buckets."""
    match = spec.get("match") or {}

    def matching(labels):
        return all(labels.get(key) == str(value) for key, value in match.items())

    requests = errors = 0.0
    buckets = {}
    for name, labels, value in samples:
        if not matching(labels):
            continue
        if name == spec["requests"]:
            requests += value
            if re.fullmatch(spec["error_codes"], labels.get(spec["code_label"], "")):
                errors += value
        elif name == spec["duration"] + "_bucket" and "le" in labels:
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
    return {"requests": requests, "errors": errors, "buckets": buckets}


def increase(now, before):
    """now - before; after a counter reset (the app restarted: counts went down) the counts since the restart."""
    if now["requests"] < before["requests"]:
        return now
    return {"requests": now["requests"] - before["requests"], "errors": now["errors"] - before["errors"],
            "buckets": {bound: count - before["buckets"].get(bound, 0.0) for bound, count in now["buckets"].items()}}


def quantile(q, buckets):
    """Prometheus's histogram_quantile: linear inside the bucket holding the rank; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for index, bound in enumerate(bounds):
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return bounds[index - 1] if index else None
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1)
        lower, below = bound, buckets[bound]
    return None


def _scrape(spec, timeout):
    context = _tls_context(spec["validate_certs"], spec.get("ca_path")) if spec["url"].startswith("https") else None
    status, payload, url = _http_request(spec["url"], "GET", dict(spec.get("headers") or {}), None, timeout, context, False)
    if status != 200:
        raise ValueError("metrics endpoint %s answered HTTP %d" % (url, status))
    text = payload.decode("utf-8", "replace")
    declared = re.findall(r"^# TYPE (\S+) counter", text, re.M)  # a counter with no request yet has no samples
    family = re.sub(r"_total$", "", spec["requests"])
    samples = parse_metrics(text)
    if not {family, spec["requests"]} & set(declared) and not any(name == spec["requests"] for name, labels, value in samples):
        raise ValueError("%s has no counter %s" % (url, spec["requests"]))
    return tally(samples, spec), time.monotonic()


def probe_metrics(spec, limits, timeout):
    """Error rate and p95 latency over a window: since this check's previous scrape in this run (a watch sweeps
    again and again), or over spec["window"] seconds on the first sweep."""
    before = spec.get("_previous")
    if before is None:
        before = _scrape(spec, timeout)
        time.sleep(spec["window"])
    now = _scrape(spec, timeout)
    spec["_previous"] = now
    window = increase(now[0], before[0])
    seconds = round(now[1] - before[1], 1)
    requests, errors = int(window["requests"]), int(window["errors"])
    p95 = quantile(0.95, window["buckets"])
    observed = {"window_s": seconds, "requests": requests, "errors": errors,
                "error_rate_pct": round(100.0 * errors / requests, 2) if requests else None,
                "p95_ms": round(p95 * 1000, 1) if p95 is not None else None}
    summary = "%d requests in %s s: %d errors%s, p95 %s" % (
        requests, _num(seconds), errors, " (%s%%)" % _num(observed["error_rate_pct"]) if requests else "",
        "%s ms" % _num(observed["p95_ms"]) if p95 is not None else "unknown")
    if requests < spec["min_requests"]:
        return observed, [], summary + "; fewer than %d requests, not judged" % spec["min_requests"]
    findings = grade("error_rate_pct", observed["error_rate_pct"], limits["error_rate_pct"], label="error rate")
    findings += grade("p95_ms", observed["p95_ms"], limits["p95_ms"], label="p95 latency")
    return observed, findings, summary


def probe_tcp(spec, limits, timeout):
    start = time.monotonic()
    with socket.create_connection((spec["host"], spec["port"]), timeout=timeout):
        latency = round((time.monotonic() - start) * 1000, 1)
    return ({"latency_ms": latency}, grade("latency_ms", latency, limits["latency_ms"], label="connect time"),
            "connected in %s ms" % _num(latency))


def probe_tls(spec, limits, timeout):
    try:
        from cryptography import x509
    except ImportError:
        raise OpsreadyError("the Python package cryptography is required for tls checks on the host running "
                            "them (Debian: python3-cryptography, PyPI: cryptography)")
    server_name = spec.get("server_name") or spec["host"]
    findings = []
    try:
        der, version = _peer_certificate(spec, server_name, _tls_context(spec["validate_certs"], spec.get("ca_path")),
                                         timeout)
        trusted = spec["validate_certs"] or None
    except ssl.SSLCertVerificationError as e:
        findings.append((None, "certificate not trusted for %s: %s" % (server_name, e.verify_message)))
        der, version = _peer_certificate(spec, server_name, _tls_context(False), timeout)
        trusted = False
    cert = x509.load_der_x509_certificate(der)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(
        tzinfo=datetime.timezone.utc)
    days_left = round((not_after - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400, 1)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    observed = {"days_left": days_left, "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                "names": names, "trusted": trusted, "protocol": version}
    if spec.get("issuer") and not re.search(spec["issuer"], observed["issuer"]):
        findings.append((None, "issuer %s does not match /%s/" % (observed["issuer"], spec["issuer"])))
    missing = [name for name in spec.get("names") or [] if not any(_covers(pattern, name) for pattern in names)]
    if missing:
        findings.append((None, "certificate does not cover %s (it names %s)"
                         % (", ".join(missing), ", ".join(names) or "nothing")))
    if days_left <= 0:
        findings.append(("critical", "certificate expired on %s" % observed["not_after"]))
    else:
        findings += grade("cert_days", days_left, limits["cert_days"], label="certificate expires in")
    return observed, findings, "certificate valid for %s more days" % _num(days_left)


def _peer_certificate(spec, server_name, context, timeout):
    with socket.create_connection((spec["host"], spec["port"]), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True), tls.version()


def _covers(pattern, name):
    pattern, name = pattern.lower(), name.lower()
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return pattern == name


PG_STATUS = """SELECT current_setting('server_version'), pg_is_in_recovery(),
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  current_setting('max_connections')::int"""
PG_REPLICAS = """SELECT application_name, coalesce(client_addr::text, 'local'), state,
  coalesce(extract(epoch FROM replay_lag), 0)::float8, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::int8
  FROM pg_stat_replication ORDER BY application_name"""
# On a replica, lag is 0 while everything received is replayed (an idle primary makes the replay timestamp old).
PG_REPLICA_LAG = """SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8,
  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::int8,
  (SELECT status FROM pg_stat_wal_receiver), (SELECT count(*) FROM pg_stat_wal_receiver),
  pg_last_wal_receive_lsn()::text"""
# WAL received but not yet replayed that holds no transaction (a checkpoint record on an idle primary) would count
# as the time since the last replayed commit: minutes of "lag" on a replica that is up to date. So when it is
# behind, look again shortly: replayed up to what it had received means it was only WAL in flight.
PG_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn"
REPLAY_RECHECK_SECONDS = 0.2
NEEDS_MONITOR = "the login role cannot see replication state: grant it pg_monitor"


def probe_postgres(spec, limits, timeout):
    conn = _postgres.connect(spec, connect_timeout=timeout, statement_timeout=timeout)
    try:
        with conn.cursor() as cur:
            cur.execute(PG_STATUS)
            version, in_recovery, used, max_connections = cur.fetchone()
            observed = {"version": version, "in_recovery": in_recovery,
                        "role": "replica" if in_recovery else "primary", "connections": used,
                        "max_connections": max_connections,
                        "connections_pct": round(100.0 * used / max_connections, 1)}
            if in_recovery:
                cur.execute(PG_REPLICA_LAG)
                lag_seconds, lag_bytes, receiver, receivers, received = cur.fetchone()
                if lag_bytes and received and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", received):
                    time.sleep(REPLAY_RECHECK_SECONDS)
                    cur.execute(PG_REPLAYED % received)
                    if cur.fetchone()[0]:
                        lag_seconds, lag_bytes = 0.0, 0
                observed.update(wal_receiver=receiver, replication_visible=not (receivers and receiver is None))
            else:
                cur.execute(PG_REPLICAS)
                replicas = [dict(zip(("name", "address", "state", "lag_seconds", "lag_bytes"), row))
                            for row in cur.fetchall()]
                observed.update(replicas=replicas, replication_visible=all(r["state"] for r in replicas))
                lag_seconds = max((r["lag_seconds"] for r in replicas), default=None)
                lag_bytes = max((r["lag_bytes"] for r in replicas), default=None)
    finally:
        conn.close()
    observed.update(lag_seconds=None if lag_seconds is None else round(lag_seconds, 1), lag_bytes=lag_bytes)
    findings = []
    if spec["role"] != "any" and spec["role"] != observed["role"]:
        findings.append((None, "is a %s, expected a %s" % (observed["role"], spec["role"])))
    if not observed["replication_visible"]:
        findings.append(("error", NEEDS_MONITOR))
    elif in_recovery and spec["require_streaming"] and observed["wal_receiver"] != "streaming":
        findings.append((None, "replica is not streaming from its primary (WAL receiver: %s)"
                         % (observed["wal_receiver"] or "not running")))
    if not in_recovery and observed["replication_visible"]:
        streaming = [r for r in observed["replicas"] if r["state"] == "streaming"]
        if len(streaming) < spec["min_replicas"]:
            findings.append((None, "%d streaming replica(s), expected at least %d"
                             % (len(streaming), spec["min_replicas"])))
    findings += grade("connections_pct", observed["connections_pct"], limits["connections_pct"],
                      label="connections at")
    findings += grade("replication_lag_seconds", observed["lag_seconds"], limits["replication_lag_seconds"],
                      label="replication lag")
    findings += grade("replication_lag_bytes", lag_bytes, limits["replication_lag_bytes"], label="replication lag")
    summary = "%s, %d/%d connections" % (observed["role"], used, max_connections)
    if observed["lag_seconds"] is not None:
        summary += ", replication lag %s s" % _num(observed["lag_seconds"])
    return observed, findings, summary


QUEUE_LENGTH = {"list": "llen", "stream": "xlen", "zset": "zcard", "set": "scard", "hash": "hlen"}


def probe_redis(spec, limits, timeout):
    try:
        import redis
    except ImportError:
        raise OpsreadyError("the Python package redis is required for redis checks on the host running them "
                            "(Debian: python3-redis, PyPI: redis)")
    kwargs = {"host": spec["host"], "port": spec["port"], "db": spec["db"], "username": spec.get("username"),
              "password": spec.get("password"), "socket_timeout": timeout, "socket_connect_timeout": timeout}
    if spec["tls"]:
        kwargs.update(ssl=True, ssl_ca_certs=spec.get("ca_path"))
    client = redis.Redis(**kwargs)
    try:
        client.ping()
        memory, clients = client.info("memory"), client.info("clients")
        queues = {key: _queue_length(client, key) for key in spec.get("queues") or []}
    finally:
        client.close()
    maxmemory = memory.get("maxmemory") or 0
    observed = {"used_memory": memory["used_memory"], "maxmemory": maxmemory,
                "memory_pct": round(100.0 * memory["used_memory"] / maxmemory, 1) if maxmemory else None,
                "connected_clients": clients["connected_clients"], "queues": queues}
    findings = grade("memory_pct", observed["memory_pct"], limits["memory_pct"], label="memory at")
    for key, length in queues.items():
        if isinstance(length, str):
            findings.append((None, "key %s is a %s, not a queue" % (key, length)))
        else:
            findings += grade("queue_length", length, limits["queue_length"], label="queue %s holds" % key)
    summary = "PONG, %d clients" % observed["connected_clients"]
    if queues:
        summary += ", " + ", ".join("%s=%s" % item for item in queues.items())
    return observed, findings, summary


def _queue_length(client, key):
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "none":
        return 0
    return getattr(client, QUEUE_LENGTH[kind])(key) if kind in QUEUE_LENGTH else kind


def probe_disk(spec, limits, timeout):
    stat = os.statvfs(spec["path"])
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    available = stat.f_bavail * stat.f_frsize
    pct = round(100.0 * used / (used + available), 1) if used + available else 0.0
    observed = {"used_pct": pct, "used_bytes": used, "available_bytes": available}
    return observed, grade("disk_pct", pct, limits["disk_pct"], label="%s used" % spec["path"]), \
        "%s%% used, %d MiB free" % (_num(pct), available >> 20)


def probe_command(spec, limits, timeout):
    argv = spec.get("argv") or shlex.split(spec["cmd"])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return {"rc": None}, [(None, "%s did not finish within %s s" % (argv[0], _num(timeout)))], ""
    stdout = done.stdout.strip()
    observed = {"rc": done.returncode, "stdout": stdout[:500], "stderr": done.stderr.strip()[:500]}
    findings = []
    if done.returncode != spec["rc"]:
        output = (stdout or observed["stderr"])[:120]
        detail = ": " + output if output else ""
        findings.append((None, "%s exited %d, expected %d%s" % (argv[0], done.returncode, spec["rc"], detail)))
    if spec.get("stdout_regex") and not re.search(spec["stdout_regex"], done.stdout):
        findings.append((None, "output does not match /%s/" % spec["stdout_regex"]))
    return observed, findings, "exit %d%s" % (done.returncode, ": " + stdout[:60] if stdout else "")


PROBES = {"http": probe_http, "metrics": probe_metrics, "tcp": probe_tcp, "tls": probe_tls, "postgres": probe_postgres,
          "redis": probe_redis, "disk": probe_disk, "command": probe_command}


# -------------------------------------------------------------------------------------------------- running
def run_check(check, check_mode=False):
    """Run one prepared check; never raises. The result names its state and a reason a human can act on."""
    result = {"name": check["name"], "type": check["type"], "severity": check["severity"]}
    if check_mode and check["type"] == "command" and not check["spec"]["read_only"]:
        return dict(result, state="skipped", ok=True, latency_ms=0, observed={},
                    reason="not run in check mode (set read_only: true if the command changes nothing)")
    start = time.monotonic()
    try:
        observed, findings, summary = PROBES[check["type"]](check["spec"], check["limits"], check["timeout"])
    except OpsreadyError as e:
        observed, findings = {}, [("error", str(e))]
    except Exception as e:  # the target's failure (refused, timed out, bad TLS, auth...) is the finding
        observed, findings = {}, [(None, describe(e, check["timeout"]))]
    findings = sorted(((state or check["severity"], reason) for state, reason in findings),
                      key=lambda finding: -RANK[finding[0]])
    state = worst(state for state, reason in findings)
    return dict(result, state=state, ok=state == "ok", observed=observed,
                latency_ms=round((time.monotonic() - start) * 1000, 1),
                reason="; ".join(reason for s, reason in findings) if findings else summary)


def describe(error, timeout):
    """One line for an exception raised while talking to a target."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted: %s" % error.verify_message
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out after %s s" % _num(float(timeout))
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "cannot resolve the host name (%s)" % error.strerror
    lines = []  # libpq repeats its message once per attempt (SSL, then plain): keep each line once
    for line in str(error).splitlines():
        line = " ".join(line.split())
        if line and line not in lines:
            lines.append(line)
    text = " ".join(lines) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


DRIVERS = {"postgres": "psycopg2", "redis": "redis", "tls": "cryptography.x509", "http": "jmespath"}


def warm_up(checks):
    """Import the drivers the checks need once, up front, so no check's latency includes an import."""
    for module in {DRIVERS[c["type"]] for c in checks if c["type"] in DRIVERS}:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the check reports it, naming the package


def sweep(checks, concurrency, deadline, check_mode=False):
    """Run every check on a bounded pool of daemon threads; a check without a result by the deadline fails."""
    pending, done = queue.Queue(), queue.Queue()
    for index in range(len(checks)):
        pending.put(index)

    def worker():
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            done.put((index, run_check(checks[index], check_mode)))

    for dummy in range(min(concurrency, len(checks))):
        threading.Thread(target=worker, daemon=True).start()
    results = [None] * len(checks)
    end = time.monotonic() + deadline
    for dummy in checks:
        try:
            index, result = done.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            break
        results[index] = result
    for index, check in enumerate(checks):
        if results[index] is None:
            results[index] = {"name": check["name"], "type": check["type"], "severity": check["severity"],
                              "state": check["severity"], "ok": False, "observed": {}, "latency_ms": None,
                              "reason": "no result within the overall deadline of %s s" % _num(float(deadline))}
    return results


def summarize(results, fail_on="never", label=lambda result: result["name"]):
    counts = {state: 0 for state in ("ok", "warning", "critical", "error", "skipped")}
    for result in results:
        counts[result["state"]] += 1
    return dict(counts, total=len(results), state=worst(r["state"] for r in results),
                not_ok=[label(r) for r in results if r["state"] not in ("ok", "skipped")],
                failing=[label(r) for r in results if r["state"] in FAILING[fail_on]])


def run(checks, concurrency, deadline, wait_timeout=0, wait_interval=5, wait_until="ok", check_mode=False,
        fail_on="never", clock=time.monotonic, sleep=time.sleep, watch=0):
    """Sweep; with wait_timeout, sweep again (back-off from 1 s up to wait_interval) until no check is worse
    than wait_until or the time is up. With watch, the other way round: sweep every wait_interval seconds until
    a check is worse than wait_until or the time is up (the watch after a deploy).
    Returns the last sweep's results, its summary, attempts and elapsed."""
    warm_up(checks)
    start = clock()
    attempts, pause = 0, min(1.0, wait_interval) if not watch else wait_interval
    while True:
        attempts += 1
        results = sweep(checks, concurrency, deadline, check_mode)
        summary = summarize(results, fail_on)
        healthy = RANK[summary["state"]] <= RANK[wait_until]
        remaining = (watch or wait_timeout) - (clock() - start)
        if remaining <= 0 or (healthy != bool(watch)):
            break
        sleep(min(pause, remaining))
        pause = pause if watch else min(pause * 2, wait_interval)
    return {"checks": results, "summary": summary, "attempts": attempts, "elapsed": round(clock() - start, 3),
            "healthy": healthy}


def message(summary):
    counts = ", ".join("%d %s" % (summary[state], state) for state in ("ok", "warning", "critical", "error",
                                                                       "skipped") if summary[state])
    return "%d checks: %s" % (summary["total"], counts or "none")


def check_settings(params):
    """The module-level numbers must make sense before anything runs."""
    for option in ("concurrency", "timeout", "deadline", "wait_interval"):
        if params[option] <= 0:
            raise OpsreadyError("%s must be greater than 0, got %s" % (option, params[option]))
    if params["wait_timeout"] < 0:
        raise OpsreadyError("wait_timeout must be 0 (one sweep) or more seconds, got %s" % params["wait_timeout"])
    if params["watch"] < 0:
        raise OpsreadyError("watch must be 0 (no watch) or more seconds, got %s" % params["watch"])
    if params["watch"] and params["wait_timeout"]:
        raise OpsreadyError("watch (sweep until unhealthy) and wait_timeout (sweep until healthy) exclude each "
                            "other: give one")
