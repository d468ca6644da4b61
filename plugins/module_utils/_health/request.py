# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""An HTTP(S) request within a check's budget, for the http and metrics checks: redirects, credentials kept to
the check's origin, a capped body, and URLs with their password masked."""

from __future__ import annotations

import base64
import io
from http import client as http_client
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import connect, tls_context

BODY_LIMIT = {"http": 1 << 20, "metrics": 16 << 20}  # bytes of a body read (the option body_limit's defaults)
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# Request headers that carry credentials: never sent to another origin than the check's URL (as curl and requests).
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


def mask_url(url):
    """The URL with the password of its user:password@ (or a lone user name, often a token) masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, colon, dummy = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc="%s@%s" % (user + ":********" if colon else "********", host)))


def request_headers(spec):
    """The headers to send: headers, secret_headers, and basic auth from a URL's user:password@."""
    headers = dict(spec.get("headers") or {})
    headers.update(spec.get("secret_headers") or {})
    parts = urlsplit(spec["url"])
    if parts.username is not None and not any(key.lower() == "authorization" for key in headers):
        pair = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def http_request(spec, method, headers, body, budget, follow_redirects):
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


def _one_request(url, method, headers, body, budget, spec):
    parts = urlsplit(url)
    context = tls_context(spec["validate_certs"], spec.get("ca_path")) if parts.scheme == "https" else None
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
