# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Running the prepared checks: one check within its timeout, a concurrent sweep with an overall deadline, and the
wait (sweep until healthy) and watch (sweep until unhealthy) loops."""

from __future__ import annotations

import importlib
import queue
import ssl
import threading
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.command import probe_command
from ansible_collections.opsready.runbooks.plugins.module_utils._health.disk import probe_disk
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import RANK, num, summarize, worst
from ansible_collections.opsready.runbooks.plugins.module_utils._health.http import probe_http
from ansible_collections.opsready.runbooks.plugins.module_utils._health.metrics import probe_metrics
from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import Budget, describe, tls_context
from ansible_collections.opsready.runbooks.plugins.module_utils._health.postgres import probe_postgres
from ansible_collections.opsready.runbooks.plugins.module_utils._health.redis import probe_redis
from ansible_collections.opsready.runbooks.plugins.module_utils._health.tcp import probe_tcp
from ansible_collections.opsready.runbooks.plugins.module_utils._health.tls import probe_tls

PROBES = {"http": probe_http, "metrics": probe_metrics, "tcp": probe_tcp, "tls": probe_tls, "postgres": probe_postgres,
          "redis": probe_redis, "disk": probe_disk, "command": probe_command}
DRIVERS = {"postgres": "psycopg2", "redis": "redis", "tls": "cryptography.x509", "http": "jmespath"}
# A check that outlives its timeout by this much is given up (reported as timed out, its sockets shut down).
GRACE = 0.5


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
                    % num(round(time.monotonic() - hung[1], 1)))
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
        observed, findings = {}, [(None, "timed out after %s s" % num(float(seconds)))]
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
                tls_context(spec["validate_certs"], spec.get("ca_path"))
                tls_context(False)
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
                    num(float(deadline)), num(round(now - started[index], 1)), num(float(check["timeout"])))
            else:
                reason = ("not started before the overall deadline of %s s (concurrency %d: the checks before it "
                          "took the time)" % (num(float(deadline)), concurrency))
            results[index] = {"name": check["name"], "type": check["type"], "severity": check["severity"],
                              "state": check["severity"], "ok": False, "observed": {}, "latency_ms": None,
                              "reason": reason}
    return results


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
