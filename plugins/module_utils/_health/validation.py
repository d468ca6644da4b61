# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Preparing the checks before anything runs: each check's type, timeout and thresholds resolved and validated
beyond the argument spec, the settings of the whole run, and the values never to show."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import (
    LOWER_IS_WORSE, METRICS, THRESHOLDS, num)
from ansible_collections.opsready.runbooks.plugins.module_utils._health.http import import_jmespath
from ansible_collections.opsready.runbooks.plugins.module_utils._health.request import CREDENTIAL_HEADERS, mask_url

TYPES = ("http", "metrics", "tcp", "tls", "postgres", "redis", "disk", "command")
PORTS = {"tcp": "port", "tls": "port", "redis": "port", "postgres": "port"}
CA_FILES = {"http": "ca_path", "metrics": "ca_path", "tls": "ca_path", "redis": "ca_path", "postgres": "ca_cert"}


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
                                    "timeout of %s s)" % (num(entry["timeout"]), num(default_timeout)))
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
                            "must come first: set both" % (metric, num(warning), origin["warning"],
                                                           "below" if lower else "above", num(critical),
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
            raise OpsreadyError("metrics.window must be more than 0 seconds, got %s" % num(spec["window"]))
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
            jmespath = import_jmespath()
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


def secrets(spec):
    """Values of a check that must never be shown: passwords, secret headers, credentials in headers and URLs."""
    found = [spec.get(key) for key in ("login_password", "password")]
    found += list((spec.get("secret_headers") or {}).values())
    found += [value for key, value in (spec.get("headers") or {}).items() if key.lower() in CREDENTIAL_HEADERS]
    if spec.get("url"):
        parts = urlsplit(spec["url"])
        found += [parts.password, parts.username if parts.password is None else None]
    return [str(value) for value in found if value]


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
