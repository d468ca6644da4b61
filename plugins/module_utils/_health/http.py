# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The http check: status codes, body and JSON expectations, latency, and a site in maintenance."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urljoin

from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num
from ansible_collections.opsready.runbooks.plugins.module_utils._health.request import (
    REDIRECTS, http_request, mask_url, request_headers)

# The page maintenance_mode serves with its 503 (a custom page still comes with Retry-After).
MAINTENANCE_MARKER = re.search(r"<title>(.*?)</title>", _maintenance.DEFAULT_PAGE).group(1)


def probe_http(spec, limits, budget):
    headers = request_headers(spec)
    body = spec.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    start = time.monotonic()
    response = http_request(spec, spec["method"], headers, body, budget, spec["follow_redirects"])
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
    return observed, findings, "HTTP %d, latency %s ms" % (status, num(latency))


def _maintenance_503(response, text):
    """'503 Retry-After 300' for a site in maintenance (a 503 with Retry-After, or maintenance_mode's page)."""
    if response["status"] != 503:
        return None
    if response["retry_after"] is not None:
        return "503 Retry-After %s" % response["retry_after"]
    if MAINTENANCE_MARKER in text:
        return "503 (%s page)" % MAINTENANCE_MARKER
    return None


def _codes(codes):
    return codes[0] if len(codes) == 1 else "one of " + ", ".join(str(code) for code in codes)


def import_jmespath():
    try:
        import jmespath
    except ImportError:
        raise OpsreadyError("the Python package jmespath is required for json expectations on the host running "
                            "the checks (Debian: python3-jmespath, PyPI: jmespath)")
    return jmespath


def _json_findings(expectations, text, observed):
    jmespath = import_jmespath()
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
