# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The runbooks' thresholds (the one place they are written: the module's docs, docs/health_check.md and the
unit tests are checked against THRESHOLDS), grading a value against them, and the summary of a sweep."""

from __future__ import annotations

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
            text = "%s %s%s %s the %s threshold %s%s" % (what, num(value), unit, relation, state, num(limit), unit)
            return [(state, text)]
    return []


def num(value):
    """A number as people write it: 45, 93.8, 0.01 (not 45.0, nor 0 for a small threshold)."""
    if not isinstance(value, float):
        return str(value)
    return ("%.*f" % (1 if abs(value) >= 1 else 6, value)).rstrip("0").rstrip(".") or "0"


def worst(states):
    return max(states, key=RANK.__getitem__, default="ok")


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


def message(summary, checks=()):
    counts = ", ".join("%d %s" % (summary[state], state) for state in ("ok", "warning", "critical", "error",
                                                                       "skipped") if summary[state])
    text = "%d checks: %s" % (summary["total"], counts or "none")
    wrong = ["%s (%s)" % (check["name"], check["problem"]) for check in checks if check.get("problem")]
    if wrong:
        text += "; not run, defined wrongly: " + "; ".join(wrong)
    return text
