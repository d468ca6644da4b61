# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Health checks: probes per check type, threshold grading, a concurrent sweep with a deadline, and the wait loop.

A probe returns (observed, findings, summary): what it measured, a list of (state, reason) for everything that is
not ok (state None means "failed": the check's own severity decides), and a short line for when all is well.
A probe gets a Budget: the check's timeout bounds the whole check, every network operation gets only what is left.
prepare() raises OpsreadyError only for settings of the whole run; a check defined wrongly is not run and gets the
state error naming the setting, and a probe that cannot reach its target simply reports it.
"""

from __future__ import annotations

import base64
import datetime
import functools
import importlib
import io
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
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance
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
BODY_LIMIT = {"http": 1 << 20, "metrics": 16 << 20}  # bytes of a body read (the option body_limit's defaults)
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# Request headers that carry credentials: never sent to another origin than the check's URL (as curl and requests).
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
# A check that outlives its timeout by this much is given up (reported as timed out, its sockets shut down).
GRACE = 0.5
# The page maintenance_mode serves with its 503 (a custom page still comes with Retry-After).
MAINTENANCE_MARKER = re.search(r"<title>(.*?)</title>", _maintenance.DEFAULT_PAGE).group(1)
PORTS = {"tcp": "port", "tls": "port", "redis": "port", "postgres": "port"}
CA_FILES = {"http": "ca_path", "metrics": "ca_path", "tls": "ca_path", "redis": "ca_path", "postgres": "ca_cert"}


class Budget:
    """The time one check may take, counted from its start. Every network operation asks left() for what is left
    (a timeout once it is spent), and whoever gives up waiting can cancel(): the sockets the check registered are
    shut down, which wakes a thread blocked on them."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.end = clock() + seconds
        self._closers = []

    def left(self):
        left = self.end - self.clock()
        if left <= 0:
            raise socket.timeout("timed out")
        return left

    def spent(self):
        return self.clock() >= self.end

    def on_cancel(self, closer):
        self._closers.append(closer)

    def cancel(self):
        for closer in self._closers:
            try:
                closer()
            except Exception:  # already closed: nothing left to wake
                pass


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
    """A number as people write it: 45, 93.8, 0.01 (not 45.0, nor 0 for a small threshold)."""
    if not isinstance(value, float):
        return str(value)
    return ("%.*f" % (1 if abs(value) >= 1 else 6, value)).rstrip("0").rstrip(".") or "0"


def worst(states):
    return max(states, key=RANK.__getitem__, default="ok")


# -------------------------------------------------------------------------------------------------- preparing
def prepare(checks, thresholds, default_timeout):
    """Resolve each check's type, timeout and limits, and validate it beyond the argument spec.

    Only an empty list raises: a check defined wrongly gets a `problem` (the setting and what is wrong with it), is
    not run and is reported as an error, so the other checks still run and are reported."""
    if not checks:
        raise OpsreadyError("checks is empty: give at least one check (a health check that checks nothing "
                            "would always pass)")
    prepared, seen = [], set()
    for check in checks:
        name = check["name"]
        kinds = [kind for kind in TYPES if check.get(kind) is not None]
        kind = kinds[0] if len(kinds) == 1 else "invalid"
        entry = {"name": name, "type": kind, "spec": dict(check[kind]) if kind in TYPES else {}, "limits": {},
                 "severity": check["severity"], "timeout": default_timeout if check.get("timeout") is None
                 else check["timeout"]}
        try:
            if name in seen:
                raise OpsreadyError("name: check names must be unique, %r appears twice" % name)
            seen.add(name)
            if len(kinds) != 1:
                raise OpsreadyError("give exactly one check type (one of %s), got %s"
                                    % (", ".join(TYPES), ", ".join(kinds) or "none"))
            if entry["timeout"] <= 0:
                raise OpsreadyError("timeout must be more than 0 seconds, got %s (leave it out for the module's "
                                    "timeout of %s s)" % (_num(entry["timeout"]), _num(default_timeout)))
            entry["limits"] = _limits(kind, entry["spec"], thresholds or {})
            _validate(kind, entry["spec"])
        except OpsreadyError as e:
            entry["problem"] = str(e)
        prepared.append(entry)
    return prepared


def _limits(kind, spec, thresholds):
    """{metric: {warning, critical}}: the runbook's, the module's thresholds, the check's own, key by key."""
    limits = {}
    for metric in METRICS[kind]:
        merged, origin = dict(THRESHOLDS[metric]), dict.fromkeys(("warning", "critical"), "the runbook default")
        for source, override in (("thresholds.%s" % metric, thresholds.get(metric)),
                                 ("%s.%s" % (kind, metric), spec.pop(metric, None))):
            for key, value in (override or {}).items():
                if value is not None:
                    merged[key], origin[key] = value, "%s.%s" % (source, key)
        _check_order(metric, merged, origin)
        limits[metric] = merged
    return limits


def _check_order(metric, limits, origin):
    warning, critical = limits.get("warning"), limits.get("critical")
    if warning is None or critical is None:
        return
    lower = metric in LOWER_IS_WORSE
    if (warning < critical) if lower else (warning > critical):
        raise OpsreadyError("%s: the warning threshold %s (%s) is %s the critical threshold %s (%s); the warning "
                            "must come first: set both" % (metric, _num(warning), origin["warning"],
                                                           "below" if lower else "above", _num(critical),
                                                           origin["critical"]))


def _validate(kind, spec):
    for option in ("body_regex", "stdout_regex", "issuer"):
        if spec.get(option):
            try:
                re.compile(spec[option])
            except re.error as e:
                raise OpsreadyError("%s.%s %r is not a valid regular expression: %s" % (kind, option, spec[option], e))
    if kind in PORTS:
        option = "login_port" if spec.get("login_port") is not None else PORTS[kind]
        port = spec.get(option)
        if port is not None and not 0 < port < 65536:
            raise OpsreadyError("%s.%s %s is not a TCP port (1 to 65535)" % (kind, option, port))
    if kind in ("tcp", "tls") and not spec["host"].strip():
        raise OpsreadyError("%s.host is empty" % kind)
    ca_file = spec.get(CA_FILES.get(kind, ""))
    if ca_file and not os.path.isfile(ca_file):
        raise OpsreadyError("%s.%s %s %s" % (kind, CA_FILES[kind], ca_file, "is a directory, not a CA bundle file"
                                             if os.path.isdir(ca_file) else "does not exist"))
    if kind == "metrics":
        try:
            re.compile(spec["error_codes"])
        except re.error as e:
            raise OpsreadyError("metrics.error_codes %r is not a valid regular expression: %s" % (spec["error_codes"], e))
        if spec["window"] <= 0:
            raise OpsreadyError("metrics.window must be more than 0 seconds, got %s" % _num(spec["window"]))
        if spec["min_requests"] < 1:
            raise OpsreadyError("metrics.min_requests must be at least 1, got %d" % spec["min_requests"])
    if kind in ("http", "metrics"):
        parts = urlsplit(spec["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OpsreadyError("%s.url %r must be an absolute http:// or https:// URL with a host"
                                % (kind, mask_url(spec["url"])))
        try:
            parts.port
        except ValueError as e:
            raise OpsreadyError("%s.url %r: %s" % (kind, mask_url(spec["url"]), e))
        if spec["body_limit"] < 1:
            raise OpsreadyError("%s.body_limit must be at least 1 byte, got %d" % (kind, spec["body_limit"]))
    if kind == "http":
        wrong = [code for code in spec["status_codes"] if not 100 <= code <= 599]
        if wrong or not spec["status_codes"]:
            raise OpsreadyError("http.status_codes must be HTTP status codes (100 to 599), got %s"
                                % (", ".join(str(code) for code in wrong) or "none"))
        if spec.get("json"):
            jmespath = _import_jmespath()
            for expression in spec["json"]:
                try:
                    jmespath.compile(expression)
                except jmespath.exceptions.JMESPathError as e:
                    raise OpsreadyError("http.json expectation %r is not a valid JMESPath expression: %s"
                                        % (expression, str(e).replace("\n", " ")))
    if kind == "redis" and spec["db"] < 0:
        raise OpsreadyError("redis.db must be 0 or more, got %d" % spec["db"])
    if kind == "postgres" and spec["min_replicas"] < 0:
        raise OpsreadyError("postgres.min_replicas must be 0 or more, got %d" % spec["min_replicas"])
    if kind == "command" and not (spec.get("argv") or (spec.get("cmd") or "").strip()):
        raise OpsreadyError("command needs a non-empty cmd or argv")


def _import_jmespath():
    try:
        import jmespath
    except ImportError:
        raise OpsreadyError("the Python package jmespath is required for json expectations on the host running "
                            "the checks (Debian: python3-jmespath, PyPI: jmespath)")
    return jmespath


def mask_url(url):
    """The URL with the password of its user:password@ (or a lone user name, often a token) masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, colon, dummy = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc="%s@%s" % (user + ":********" if colon else "********", host)))


def secrets(spec):
    """Values of a check that must never be shown: passwords, secret headers, credentials in headers and URLs."""
    found = [spec.get(key) for key in ("login_password", "password")]
    found += list((spec.get("secret_headers") or {}).values())
    found += [value for key, value in (spec.get("headers") or {}).items() if key.lower() in CREDENTIAL_HEADERS]
    if spec.get("url"):
        parts = urlsplit(spec["url"])
        found += [parts.password, parts.username if parts.password is None else None]
    return [str(value) for value in found if value]


# ----------------------------------------------------------------------------------------------------- probes
def probe_http(spec, limits, budget):
    headers = _request_headers(spec)
    body = spec.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    start = time.monotonic()
    response = _http_request(spec, spec["method"], headers, body, budget, spec["follow_redirects"])
    latency = round((time.monotonic() - start) * 1000, 1)
    status = response["status"]
    observed = {"status": status, "url": mask_url(response["url"]), "latency_ms": latency}
    if response["truncated"]:
        observed["body_truncated"] = True
    findings = []
    text = response["payload"].decode("utf-8", "replace")
    maintenance = _maintenance_503(response, text)
    if maintenance:
        observed["maintenance"] = True
        if spec["maintenance_expected"]:
            return observed, [], "maintenance (expected): %s" % maintenance
        findings.append(("critical", "maintenance: %s" % maintenance))  # users are shut out, whatever the severity
    elif status not in spec["status_codes"]:  # the body of an error page says nothing about the expectations
        snippet = " ".join(text[:200].split())[:120]
        detail = ": " + snippet if snippet else ""
        if status in REDIRECTS and response["location"]:
            detail = " (redirects to %s)" % mask_url(urljoin(response["url"], response["location"]))
        findings.append((None, "HTTP %d, expected %s%s" % (status, _codes(spec["status_codes"]), detail)))
    else:
        cut = " (the body was cut at body_limit %d bytes)" % spec["body_limit"] if response["truncated"] else ""
        if spec.get("body_regex") and not re.search(spec["body_regex"], text):
            findings.append((None, "body does not match /%s/%s" % (spec["body_regex"], cut)))
        if spec.get("json"):
            if response["truncated"]:
                findings.append((None, "body is larger than body_limit %d bytes and was cut, so the json "
                                       "expectations cannot be checked: raise body_limit" % spec["body_limit"]))
            else:
                findings += _json_findings(spec["json"], text, observed)
    findings += grade("latency_ms", latency, limits["latency_ms"], label="latency")
    return observed, findings, "HTTP %d, latency %s ms" % (status, _num(latency))


def _maintenance_503(response, text):
    """'503 Retry-After 300' for a site in maintenance (a 503 with Retry-After, or maintenance_mode's page)."""
    if response["status"] != 503:
        return None
    if response["retry_after"] is not None:
        return "503 Retry-After %s" % response["retry_after"]
    if MAINTENANCE_MARKER in text:
        return "503 (%s page)" % MAINTENANCE_MARKER
    return None


def _request_headers(spec):
    """The headers to send: headers, secret_headers, and basic auth from a URL's user:password@."""
    headers = dict(spec.get("headers") or {})
    headers.update(spec.get("secret_headers") or {})
    parts = urlsplit(spec["url"])
    if parts.username is not None and not any(key.lower() == "authorization" for key in headers):
        pair = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


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
        if not same(actual, expected):
            findings.append((None, "JSON %s is %s, expected %s" % (expression, json.dumps(actual),
                                                                   json.dumps(expected))))
    return findings


def same(actual, expected):
    """Equal as JSON values: true is not 1 and false is not 0 (in Python they are), in lists and objects too."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(same(a, e) for a, e in zip(actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[key], expected[key]) for key in actual)
    return actual == expected


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _http_request(spec, method, headers, body, budget, follow_redirects):
    """One request, following up to MAX_REDIRECTS redirects when asked, all within the budget.

    Returns {status, payload (at most body_limit bytes), truncated, url (final), location, retry_after}. Credentials
    (CREDENTIAL_HEADERS and secret_headers) go only to the origin of the check's URL."""
    url, origin = spec["url"], _origin(spec["url"])
    private = set(CREDENTIAL_HEADERS) | {key.lower() for key in spec.get("secret_headers") or {}}
    seen = [url]
    while True:
        sent = headers if _origin(url) == origin else {k: v for k, v in headers.items() if k.lower() not in private}
        response = _one_request(url, method, sent, body, budget, spec)
        if not (follow_redirects and response["location"] and response["status"] in REDIRECTS):
            return response
        target = urljoin(url, response["location"])
        if urlsplit(target).scheme not in ("http", "https"):
            raise ValueError("redirected to %s, which is not http(s)" % mask_url(target))
        if target in seen:
            raise ValueError("redirect loop: %s" % " -> ".join(mask_url(u) for u in seen[seen.index(target):] + [target]))
        if len(seen) > MAX_REDIRECTS:
            raise ValueError("more than %d redirects: %s -> %s" % (MAX_REDIRECTS, mask_url(seen[0]), mask_url(target)))
        seen.append(target)
        url = target
        if response["status"] == 303 or (response["status"] in (301, 302) and method == "POST"):
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}


class _Reader(io.RawIOBase):
    """A socket's reading end where every read waits only for what is left of the budget."""

    def __init__(self, sock, budget):
        super().__init__()
        self.sock, self.budget = sock, budget

    def readable(self):
        return True

    def readinto(self, buffer):
        self.sock.settimeout(self.budget.left())
        return self.sock.recv_into(buffer)


class _Socket:
    """What http.client needs of a socket, every operation bounded by the budget; closed by its owner."""

    def __init__(self, sock, budget):
        self.sock, self.budget = sock, budget

    def sendall(self, data):
        self.sock.settimeout(self.budget.left())
        self.sock.sendall(data)

    def makefile(self, mode, *args, **kwargs):
        return io.BufferedReader(_Reader(self.sock, self.budget))

    def close(self):
        pass  # http.client closes before the body is read; _one_request closes the real socket at the end


class _Connection(http_client.HTTPConnection):
    def __init__(self, parts, budget, context):
        super().__init__(parts.hostname, parts.port or (443 if context else 80))
        self.budget, self.context, self.raw = budget, context, None

    def connect(self):
        self.raw = connect(self.host, self.port, self.budget, self.context, self.host)
        self.sock = _Socket(self.raw, self.budget)


def connect(host, port, budget, context=None, server_name=None):
    """A connected socket (TLS when a context is given), connect and handshake within the budget; cancelling the
    budget shuts it down."""
    sock = socket.create_connection((host, port), timeout=budget.left())
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
            sock.settimeout(budget.left())  # the handshake as a whole, not each of its reads
            budget.on_cancel(functools.partial(sock.shutdown, socket.SHUT_RDWR))
            sock.do_handshake()
        else:
            budget.on_cancel(functools.partial(sock.shutdown, socket.SHUT_RDWR))
    except BaseException:
        sock.close()
        raise
    return sock


def _one_request(url, method, headers, body, budget, spec):
    parts = urlsplit(url)
    context = _tls_context(spec["validate_certs"], spec.get("ca_path")) if parts.scheme == "https" else None
    conn = _Connection(parts, budget, context)
    try:
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read(spec["body_limit"] + 1)
        return {"status": response.status, "url": url, "payload": payload[:spec["body_limit"]],
                "truncated": len(payload) > spec["body_limit"], "location": response.getheader("Location"),
                "retry_after": response.getheader("Retry-After")}
    finally:
        conn.close()
        if conn.raw is not None:
            conn.raw.close()


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


def _scrape(spec, budget):
    """The counters now. Any failure to read them is an error (the signal cannot be evaluated), not the check's
    severity: a release watch must never roll back because its metrics URL is wrong."""
    try:
        response = _http_request(spec, "GET", _request_headers(spec), None, budget, False)
    except OpsreadyError:
        raise
    except Exception as e:
        raise OpsreadyError("metrics endpoint %s cannot be read: %s" % (
            mask_url(spec["url"]), describe(e, budget.seconds, spent=budget.end <= budget.clock())))
    url = mask_url(response["url"])
    if response["status"] != 200:
        raise OpsreadyError("metrics endpoint %s answered HTTP %d" % (url, response["status"]))
    if response["truncated"]:
        raise OpsreadyError("metrics endpoint %s answered more than body_limit %d bytes, and counts from a cut "
                            "answer would be wrong: raise body_limit" % (url, spec["body_limit"]))
    text = response["payload"].decode("utf-8", "replace")
    declared = re.findall(r"^# TYPE (\S+) counter", text, re.M)  # a counter with no request yet has no samples
    family = re.sub(r"_total$", "", spec["requests"])
    samples = parse_metrics(text)
    if not {family, spec["requests"]} & set(declared) and not any(name == spec["requests"] for name, labels, value in samples):
        raise OpsreadyError("%s has no counter %s" % (url, spec["requests"]))
    return tally(samples, spec), time.monotonic()


def probe_metrics(spec, limits, budget):
    """Error rate and p95 latency over a window: since this check's previous scrape in this run (a watch sweeps
    again and again), or over spec["window"] seconds on the first sweep (its budget includes the window)."""
    before = spec.get("_previous")
    if before is None:
        before = _scrape(spec, budget)
        time.sleep(min(spec["window"], budget.left()))
    now = _scrape(spec, budget)
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


def probe_tcp(spec, limits, budget):
    start = time.monotonic()
    connect(spec["host"], spec["port"], budget).close()
    latency = round((time.monotonic() - start) * 1000, 1)
    return ({"latency_ms": latency}, grade("latency_ms", latency, limits["latency_ms"], label="connect time"),
            "connect time %s ms" % _num(latency))


def probe_tls(spec, limits, budget):
    try:
        from cryptography import x509
    except ImportError:
        raise OpsreadyError("the Python package cryptography is required for tls checks on the host running "
                            "them (Debian: python3-cryptography, PyPI: cryptography)")
    server_name = spec.get("server_name") or spec["host"]
    findings = []
    try:
        der, version = _peer_certificate(spec, server_name, _tls_context(spec["validate_certs"], spec.get("ca_path")),
                                         budget)
        trusted = spec["validate_certs"] or None
    except ssl.SSLCertVerificationError as e:
        findings.append((None, "certificate not trusted for %s: %s" % (server_name, e.verify_message)))
        der, version = _peer_certificate(spec, server_name, _tls_context(False), budget)
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


def _peer_certificate(spec, server_name, context, budget):
    with connect(spec["host"], spec["port"], budget, context, server_name) as tls:
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


def probe_postgres(spec, limits, budget):
    status, replication = postgres_state(spec, budget)
    return judge_postgres(spec, limits, status, replication)


def postgres_state(spec, budget):
    """(PG_STATUS row, PG_REPLICA_LAG row on a replica or the PG_REPLICAS rows on a primary), within the budget:
    libpq's connect_timeout and the server's statement_timeout get what is left; cancelling shuts the socket."""
    conn = _postgres.connect(spec, connect_timeout=budget.left(), statement_timeout=budget.left())
    budget.on_cancel(functools.partial(_shutdown_connection, conn))
    try:
        with conn.cursor() as cur:
            cur.execute(PG_STATUS)
            status = cur.fetchone()
            if not status[1]:
                cur.execute(PG_REPLICAS)
                return status, cur.fetchall()
            cur.execute(PG_REPLICA_LAG)
            lag = cur.fetchone()
            received = lag[4]
            if lag[1] and received and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", received):
                time.sleep(min(REPLAY_RECHECK_SECONDS, budget.left()))
                cur.execute(PG_REPLAYED % received)
                if cur.fetchone()[0]:
                    lag = (0.0, 0) + tuple(lag[2:])
            return status, lag
    finally:
        conn.close()


def _shutdown_connection(conn):
    """Wake a thread blocked in libpq: shut the connection's socket down (through a duplicate of its descriptor)."""
    if not conn.closed:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def judge_postgres(spec, limits, status, replication):
    """Observed values, findings and summary from what postgres_state() read."""
    version, in_recovery, used, max_connections = status
    observed = {"version": version, "in_recovery": in_recovery, "role": "replica" if in_recovery else "primary",
                "connections": used, "max_connections": max_connections,
                "connections_pct": round(100.0 * used / max_connections, 1)}
    if in_recovery:
        lag_seconds, lag_bytes, receiver, receivers, dummy = replication
        observed.update(wal_receiver=receiver, replication_visible=not (receivers and receiver is None))
    else:
        replicas = [dict(zip(("name", "address", "state", "lag_seconds", "lag_bytes"), row)) for row in replication]
        observed.update(replicas=replicas, replication_visible=all(r["state"] for r in replicas))
        lag_seconds = max((r["lag_seconds"] for r in replicas), default=None)
        lag_bytes = max((r["lag_bytes"] for r in replicas), default=None)
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


def probe_redis(spec, limits, budget):
    try:
        import redis
    except ImportError:
        raise OpsreadyError("the Python package redis is required for redis checks on the host running them "
                            "(Debian: python3-redis, PyPI: redis)")
    kwargs = {"host": spec["host"], "port": spec["port"], "db": spec["db"], "username": spec.get("username"),
              "password": spec.get("password"), "socket_timeout": budget.left(),
              "socket_connect_timeout": budget.left(), "retry_on_timeout": False, "single_connection_client": True}
    try:  # no retry: redis-py 6 retries three times with back-off by default, a retry would outlive the budget
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        kwargs["retry"] = Retry(NoBackoff(), 0)
    except ImportError:  # redis-py before 4.1 retries only when asked
        pass
    if spec["tls"]:
        kwargs.update(ssl=True, ssl_ca_certs=spec.get("ca_path"))
    client = redis.Redis(**kwargs)
    budget.on_cancel(client.connection_pool.disconnect)
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


def probe_disk(spec, limits, budget):
    stat = os.statvfs(spec["path"])
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    available = stat.f_bavail * stat.f_frsize
    pct = round(100.0 * used / (used + available), 1) if used + available else 0.0
    observed = {"used_pct": pct, "used_bytes": used, "available_bytes": available}
    return observed, grade("disk_pct", pct, limits["disk_pct"], label="%s used" % spec["path"]), \
        "%s%% used, %d MiB free" % (_num(pct), available >> 20)


def probe_command(spec, limits, budget):
    argv = spec.get("argv") or shlex.split(spec["cmd"])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=budget.left(), check=False, text=True,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return {"rc": None}, [(None, "%s did not finish within %s s" % (argv[0], _num(budget.seconds)))], ""
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
    """Run one prepared check within its timeout; never raises. The result names its state and a reason a human
    can act on. The probe runs on its own daemon thread: one that is still blocked at the timeout (a hung read the
    socket timeouts cannot end, a hung file system) is given up and reported as timed out, and while it stays
    blocked the check is not started again (so hung threads cannot pile up across sweeps)."""
    result = {"name": check["name"], "type": check["type"], "severity": check["severity"]}
    if check.get("problem"):
        return dict(result, state="error", ok=False, latency_ms=None, observed={},
                    reason="not run, the check is defined wrongly: %s" % check["problem"])
    if check_mode and check["type"] == "command" and not check["spec"]["read_only"]:
        return dict(result, state="skipped", ok=True, latency_ms=0, observed={},
                    reason="not run in check mode (set read_only: true if the command changes nothing)")
    hung = check.get("_hung")
    if hung is not None and hung[0].is_alive():
        return dict(result, state=check["severity"], ok=False, latency_ms=None, observed={},
                    reason="not started: its run of %s s ago is still hung after timing out"
                    % _num(round(time.monotonic() - hung[1], 1)))
    seconds = check["timeout"]
    if check["type"] == "metrics" and check["spec"].get("_previous") is None:
        seconds += check["spec"]["window"]  # the first sweep scrapes twice, the window apart
    budget = Budget(seconds)
    outcome = {}

    def probe():
        try:
            outcome["value"] = PROBES[check["type"]](check["spec"], check["limits"], budget)
        except BaseException as e:
            outcome["error"] = e

    start = time.monotonic()
    thread = threading.Thread(target=probe, name="health check %s" % check["name"], daemon=True)
    thread.start()
    thread.join(seconds + GRACE)
    summary = ""
    if thread.is_alive():
        budget.cancel()
        check["_hung"] = (thread, start)
        observed, findings = {}, [(None, "timed out after %s s" % _num(float(seconds)))]
    elif isinstance(outcome.get("error"), OpsreadyError):
        observed, findings = {}, [("error", str(outcome["error"]))]
    elif "error" in outcome:  # the target's failure (refused, timed out, bad TLS, auth...) is the finding
        observed, findings = {}, [(None, describe(outcome["error"], seconds, budget.spent()))]
    else:
        observed, findings, summary = outcome["value"]
    findings = sorted(((state or check["severity"], reason) for state, reason in findings),
                      key=lambda finding: -RANK[finding[0]])
    state = worst(state for state, reason in findings)
    return dict(result, state=state, ok=state == "ok", observed=observed,
                latency_ms=round((time.monotonic() - start) * 1000, 1),
                reason="; ".join(reason for s, reason in findings) if findings else summary)


def describe(error, timeout, spent=False):
    """One line for an exception raised while talking to a target (`spent`: the check's time was up)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted: %s" % error.verify_message
    if isinstance(error, (socket.timeout, TimeoutError)) or spent:
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
    """Import the drivers the checks need, and load the TLS trust stores they use, once, up front: no check's
    latency includes an import or the loading of a CA store."""
    for module in {DRIVERS[c["type"]] for c in checks if c["type"] in DRIVERS}:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the check reports it, naming the package
    for check in checks:
        spec = check.get("spec") or {}
        if check["type"] in ("http", "metrics", "tls") and "validate_certs" in spec:
            try:
                _tls_context(spec["validate_certs"], spec.get("ca_path"))
                _tls_context(False)
            except (OSError, ssl.SSLError):
                pass  # the check reports it, naming the file


def sweep(checks, concurrency, deadline, check_mode=False):
    """Run every check on a bounded pool of daemon threads. By the overall deadline a check still running is
    reported as timed out, and one not started yet as not started (no worker took it up after the deadline)."""
    pending, done, stop = queue.Queue(), queue.Queue(), threading.Event()
    started = {}
    for index in range(len(checks)):
        pending.put(index)

    def worker():
        while not stop.is_set():
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            started[index] = time.monotonic()
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
    stop.set()
    now = time.monotonic()
    for index, check in enumerate(checks):
        if results[index] is None:
            if index in started:
                reason = "timed out: no result by the overall deadline of %s s (it ran %s s of its timeout %s s)" % (
                    _num(float(deadline)), _num(round(now - started[index], 1)), _num(float(check["timeout"])))
            else:
                reason = ("not started before the overall deadline of %s s (concurrency %d: the checks before it "
                          "took the time)" % (_num(float(deadline)), concurrency))
            results[index] = {"name": check["name"], "type": check["type"], "severity": check["severity"],
                              "state": check["severity"], "ok": False, "observed": {}, "latency_ms": None,
                              "reason": reason}
    return results


def summarize(results, fail_on="never", label=lambda result: result["name"]):
    """Counts per state and the overall state: the worst state, skipped checks aside (skipped only when every
    check was skipped)."""
    counts = {state: 0 for state in ("ok", "warning", "critical", "error", "skipped")}
    for result in results:
        counts[result["state"]] += 1
    ran = [result["state"] for result in results if result["state"] != "skipped"]
    return dict(counts, total=len(results), state=worst(ran) if ran else "skipped",
                not_ok=[label(r) for r in results if r["state"] not in ("ok", "skipped")],
                failing=[label(r) for r in results if r["state"] in FAILING[fail_on]])


def run(checks, concurrency, deadline, wait_timeout=0, wait_interval=5, wait_until="ok", check_mode=False,
        fail_on="never", clock=time.monotonic, sleep=time.sleep, watch=0):
    """Sweep; with wait_timeout, sweep again (back-off from 1 s up to wait_interval) until no check is worse
    than wait_until or the time is up (a check defined wrongly never heals: then one sweep). With watch, the other
    way round: sweep every wait_interval seconds until a check is worse than wait_until or the time is up (the
    watch after a deploy). Returns the last sweep's results, its summary, attempts and elapsed."""
    warm_up(checks)
    start = clock()
    attempts, pause = 0, min(1.0, wait_interval) if not watch else wait_interval
    defined_wrongly = any(check.get("problem") for check in checks)
    while True:
        attempts += 1
        results = sweep(checks, concurrency, deadline, check_mode)
        summary = summarize(results, fail_on)
        healthy = RANK[summary["state"]] <= RANK[wait_until]
        remaining = (watch or wait_timeout) - (clock() - start)
        if remaining <= 0 or (healthy != bool(watch)) or defined_wrongly:
            break
        sleep(min(pause, remaining))
        pause = pause if watch else min(pause * 2, wait_interval)
    return {"checks": results, "summary": summary, "attempts": attempts, "elapsed": round(clock() - start, 3),
            "healthy": healthy}


def message(summary, checks=()):
    counts = ", ".join("%d %s" % (summary[state], state) for state in ("ok", "warning", "critical", "error",
                                                                       "skipped") if summary[state])
    text = "%d checks: %s" % (summary["total"], counts or "none")
    wrong = ["%s (%s)" % (check["name"], check["problem"]) for check in checks if check.get("problem")]
    if wrong:
        text += "; not run, defined wrongly: " + "; ".join(wrong)
    return text


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
