# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The metrics check: the app's own signals, counters and a latency histogram in the Prometheus text format,
compared between two scrapes. Only the difference counts (what happened in the window), as Prometheus's
increase() would have it."""

from __future__ import annotations

import re
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num
from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import describe
from ansible_collections.opsready.runbooks.plugins.module_utils._health.request import (
    http_request, mask_url, request_headers)

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
        response = http_request(spec, "GET", request_headers(spec), None, budget, False)
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
        requests, num(seconds), errors, " (%s%%)" % num(observed["error_rate_pct"]) if requests else "",
        "%s ms" % num(observed["p95_ms"]) if p95 is not None else "unknown")
    if requests < spec["min_requests"]:
        return observed, [], summary + "; fewer than %d requests, not judged" % spec["min_requests"]
    findings = grade("error_rate_pct", observed["error_rate_pct"], limits["error_rate_pct"], label="error rate")
    findings += grade("p95_ms", observed["p95_ms"], limits["p95_ms"], label="p95 latency")
    return observed, findings, summary
