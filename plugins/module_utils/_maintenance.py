# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Maintenance mode through nginx: what the files say, what they should say, and switching between the two.

A site in maintenance is three files on the host, all written at once and removed at once:
  <http_dir>/opsready-maintenance-<name>.conf   http level: who is exempt (geo + maps)
  <server_dir>/<name>.conf                      server level: the 503, the bypass path, the page; its first line
                                                records the state (JSON, never the secret)
  <state_dir>/<name>.html                       the page
plus, with an expiry, a systemd timer that removes the first two and reloads nginx at that time: the host ends
maintenance itself, whether or not anyone comes back.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import re
import shlex
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

MARKER = "# opsready.runbooks maintenance_mode "
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9._~-]{16,128}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
COOKIE_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
DEFAULT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body><h1>Down for maintenance</h1><p>We are doing planned maintenance and will be back shortly.</p></body></html>
"""


def parse_time(value):
    """ISO 8601 with a time zone (2026-11-25T17:00:00Z, ...+01:00) -> aware datetime in UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise OpsreadyError("expires=%r is not an ISO 8601 time; write it like 2026-11-25T17:00:00Z" % value)
    if parsed.tzinfo is None:
        raise OpsreadyError("expires=%r has no time zone; add Z for UTC or an offset like +01:00" % value)
    return parsed.astimezone(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def paths(params):
    name = params["name"]
    return {
        "http": os.path.join(params["http_dir"], "opsready-maintenance-%s.conf" % name),
        "server": os.path.join(params["server_dir"], "%s.conf" % name),
        "page": os.path.join(params["state_dir"], "%s.html" % name),
        "service": os.path.join(params["systemd_dir"], "opsready-maintenance-expire-%s.service" % name),
        "timer": os.path.join(params["systemd_dir"], "opsready-maintenance-expire-%s.timer" % name),
    }


def validate(params, now):
    if not NAME_RE.match(params["name"]):
        raise OpsreadyError("name=%r: use lower-case letters, digits, - and _ (at most 40), it names files and "
                            "nginx variables" % params["name"])
    secret = params.get("secret")
    if secret is not None and not SECRET_RE.match(secret):
        raise OpsreadyError("the secret must be 16 to 128 URL-safe characters (letters, digits, . _ ~ -); "
                            "for example the output of `openssl rand -hex 16`")
    for path in params["exempt_paths"]:
        if not PATH_RE.match(path):
            raise OpsreadyError("exempt path %r must start with / and hold only URL-safe characters" % path)
    if not COOKIE_RE.match(params["bypass_cookie"]):
        raise OpsreadyError("bypass_cookie=%r: use letters, digits and _ only (nginx reads it as $cookie_<name>)"
                            % params["bypass_cookie"])
    if not HEADER_RE.match(params["bypass_header"]):
        raise OpsreadyError("bypass_header=%r: use letters, digits and - only" % params["bypass_header"])
    for net in params["allow"]:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise OpsreadyError("allow: %r is not an IP address or network (10.0.0.0/8, 2001:db8::/32, 192.0.2.7)"
                                % net)
    if params["retry_after"] < 1:
        raise OpsreadyError("retry_after must be a positive number of seconds")
    expires = params.get("expires")
    if expires:
        moment = parse_time(expires)
        if moment <= now:
            raise OpsreadyError("expires=%s is already past (now %s): maintenance would end at once; give a "
                                "future time" % (iso(moment), iso(now)))


def token(name, secret):
    """The bypass cookie's value: derived from the secret, so a copied cookie does not give the secret away."""
    return hashlib.sha256(("opsready-maintenance:%s:%s" % (name, secret)).encode()).hexdigest()


def desired(params, previous, now):
    """The state to record. `since` stays what it was while maintenance stays on (re-runs are idempotent)."""
    if params["state"] == "off":
        return {"state": "off"}
    expires = params.get("expires")
    return {
        "state": "on",
        "since": previous.get("since") if previous.get("state") == "on" else iso(now),
        "expires": iso(parse_time(expires)) if expires else None,
        "retry_after": params["retry_after"],
        "allow": list(params["allow"]),
        "exempt_paths": list(params["exempt_paths"]),
        "bypass": params.get("secret") is not None,
        "bypass_cookie": params["bypass_cookie"],
        "bypass_header": params["bypass_header"],
        "reason": params.get("reason") or "",
    }


def read_state(files):
    """What the host says now: the first line of the server-level file, or off when it is absent."""
    try:
        with open(files["server"]) as f:
            first = f.readline()
    except FileNotFoundError:
        return {"state": "off"}
    if not first.startswith(MARKER):
        raise OpsreadyError("%s exists but was not written by maintenance_mode; move it away or choose another "
                            "name" % files["server"])
    try:
        return json.loads(first[len(MARKER):])
    except ValueError:
        raise OpsreadyError("the state line of %s is damaged; turn maintenance off to clean it up" % files["server"])


def _var(name):
    return "$opsready_mm_" + name.replace("-", "_")


def _exactly(text):
    """A map key that matches exactly this text, as a regex: long keys (the secret) do not fit nginx's map hash
    buckets, regex keys are not hashed. The secret and token hold only [A-Za-z0-9._~-]; only the dot needs escaping."""
    return '"~^%s$"' % text.replace(".", "\\.")


def render_http(name, state, secret):
    """geo + maps: 1 when a request gets the maintenance page, 0 when it goes through."""
    v = _var(name)
    lines = ["# opsready.runbooks maintenance_mode %s (http level), written by Ansible: do not edit" % name,
             "geo %s_ip {" % v, "    default 1;"]
    lines += ["    %s 0;" % net for net in state["allow"]]
    lines += ["}"]
    fallback = "%s_ip" % v
    if state["bypass"]:
        lines += ["map $cookie_%s %s_cookie {" % (state["bypass_cookie"], v), "    default %s_ip;" % v,
                  '    %s 0;' % _exactly(token(name, secret)), "}",
                  "map $http_%s %s_header {" % (state["bypass_header"].lower().replace("-", "_"), v),
                  "    default %s_cookie;" % v, '    %s 0;' % _exactly(secret), "}"]
        fallback = "%s_header" % v
    # volatile: re-read after the internal redirect to the maintenance page (nginx caches map values otherwise)
    lines += ["map $uri %s {" % v, "    volatile;", "    default %s;" % fallback, '    "/__opsready_maintenance_%s.html" 0;' % name]
    lines += ['    "%s" 0;' % p for p in state["exempt_paths"]]
    if state["bypass"]:
        lines += ['    %s 0;' % _exactly("/" + secret)]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def render_server(name, state, secret, page_path):
    v = _var(name)
    page = "/__opsready_maintenance_%s.html" % name
    record = dict(state)
    lines = [MARKER + json.dumps(record, sort_keys=True),
             "# Included in the server block; written by Ansible: do not edit. Maintenance is on while this file exists.",
             "error_page 503 %s;" % page,
             "location = %s {" % page,
             "    internal;",
             "    default_type text/html;",
             "    alias %s;" % page_path,
             '    add_header Retry-After "%d" always;' % state["retry_after"],
             '    add_header Cache-Control "no-store" always;',
             "}"]
    if state["bypass"]:
        lines += ["location = /%s {" % secret,
                  '    add_header Set-Cookie "%s=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax" always;'
                  % (state["bypass_cookie"], token(name, secret)),
                  "    return 302 /;",
                  "}"]
    lines += ["if (%s) {" % v, "    return 503;", "}"]
    return "\n".join(lines) + "\n"


def _unit_escape(text):
    return text.replace("%", "%%").replace("$", "$$")


def render_units(name, state, files, reload_command):
    epoch = int(parse_time(state["expires"]).timestamp())
    service = "\n".join([
        "# Written by opsready.runbooks maintenance_mode: ends maintenance %s at its expiry." % name,
        "[Unit]",
        "Description=End maintenance mode %s at %s (opsready.runbooks)" % (name, state["expires"]),
        "",
        "[Service]",
        "Type=oneshot",
        # The timer also fires at boot and when armed: act only once the expiry has come.
        # $$ and %% are systemd's escapes for a literal $ and %
        "ExecCondition=/bin/sh -c 'test \"$$(date +%%%%s)\" -ge %d'" % epoch,
        "ExecStart=/bin/rm -f %s %s" % (files["server"], files["http"]),
        "ExecStart=%s" % _unit_escape(reload_command),
        "ExecStart=/bin/sh -c 'echo \"maintenance %s ended by its expiry (%s)\"'" % (name, state["expires"]),
        ""])
    timer = "\n".join([
        "# Written by opsready.runbooks maintenance_mode.",
        "[Unit]",
        "Description=Expiry of maintenance mode %s (opsready.runbooks)" % name,
        "",
        "[Timer]",
        "OnCalendar=%s UTC" % state["expires"].replace("T", " ").rstrip("Z"),
        "OnActiveSec=1s",
        "OnBootSec=10s",
        "AccuracySec=1s",
        "",
        "[Install]",
        "WantedBy=timers.target",
        ""])
    return service, timer


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write(path, content, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".opsready-tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _put(files, contents):
    """Make the files hold `contents` (None removes). Returns what they held before, to put back on failure."""
    before = {key: _read(files[key]) for key in contents}
    for key, content in contents.items():
        if content is None:
            if before[key] is not None:
                os.unlink(files[key])
        elif content != before[key]:
            _write(files[key], content, 0o640 if key in ("http", "server") else 0o644)
    return before


def wanted_files(params, state, files):
    if state["state"] == "off":
        contents = dict.fromkeys(("http", "server", "service", "timer"), None)
        return contents
    contents = {"http": render_http(params["name"], state, params.get("secret")),
                "server": render_server(params["name"], state, params.get("secret"), files["page"]),
                "page": params.get("page") or DEFAULT_PAGE}
    if state["expires"]:
        contents["service"], contents["timer"] = render_units(params["name"], state, files, params["reload_command"])
    else:
        contents["service"] = contents["timer"] = None
    return contents


def _run(run, args, what):
    rc, out, err = run(args)
    if rc != 0:
        raise OpsreadyError("%s failed (rc=%d): %s" % (what, rc, (err or out).strip()))
    return out


def _arm(run, timer):
    _run(run, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
    _run(run, ["systemctl", "enable", "--now", timer], "arming the expiry timer %s" % timer)


def fetch(url, headers, timeout=5):
    """One request, no redirects followed: (status, lower-cased headers); status is the error text on no answer."""
    try:
        response = open_url(url, headers=headers, timeout=timeout, follow_redirects="none", validate_certs=False)
        return response.status, {k.lower(): v for k, v in response.headers.items()}
    except HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}
    except (URLError, OSError) as e:
        return str(e), {}


def apply(params, run, check_mode=False, now=None, get=fetch):
    """Bring the host to params['state']. `run(argv) -> (rc, out, err)`, `fetch(url, headers) -> (status, headers)`."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    validate(params, now)
    files = paths(params)
    previous = read_state(files)
    state = desired(params, previous, now)
    contents = wanted_files(params, state, files)
    changed = any(_read(files[key]) != content for key, content in contents.items())
    result = {"changed": changed, "previous": previous, "maintenance": state,
              "timer": os.path.basename(files["timer"]) if state.get("expires") else None,
              "diff": {"before": json.dumps(previous, indent=2, sort_keys=True) + "\n",
                       "after": json.dumps(state, indent=2, sort_keys=True) + "\n"}}
    if check_mode or not changed:
        result["msg"] = "maintenance %s is %s%s" % (params["name"], state["state"],
                                                    "" if not changed else " (would change, check mode)")
        return result
    timer = os.path.basename(files["timer"])
    if _read(files["timer"]) is not None:
        run(["systemctl", "disable", "--now", timer])  # an old expiry must not fire in the middle of the change
    before = _put(files, contents)
    try:
        _run(run, [params["nginx_command"], "-t", "-q"], "nginx -t (configuration test)")
        if state["state"] == "on":
            dump = _run(run, [params["nginx_command"], "-T", "-q"], "nginx -T")
            if "# configuration file %s:" % files["server"] not in dump:
                raise OpsreadyError("nginx does not read %s: add `include %s/*.conf;` to the server block that "
                                    "serves the site (and check %s is read at the http level)"
                                    % (files["server"], params["server_dir"], params["http_dir"]))
        _run(run, shlex.split(params["reload_command"]), "reloading nginx (%s)" % params["reload_command"])
    except OpsreadyError as e:
        _put(files, before)
        if before["timer"] is not None:
            _arm(run, timer)
        raise OpsreadyError("%s; the previous maintenance files are back" % e)
    if contents["timer"] is not None:
        _arm(run, timer)
    elif before["timer"] is not None:
        _run(run, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
    result["msg"] = "maintenance %s is now %s" % (params["name"], state["state"])
    if params.get("verify_url"):
        result["verified"] = verify(params, state, get)
    return result


def verify(params, state, get, timeout=10.0):
    """Ask nginx itself: a public request gets 503 + Retry-After while on, anything else while off; the bypass
    header goes through. nginx swaps workers on reload, so allow it a few seconds."""
    url, deadline, delay = params["verify_url"], time.monotonic() + timeout, 0.1
    while True:
        seen = []
        status, headers = get(url, {})
        seen.append("%s -> %s" % (url, status))
        ok = (status == 503 and "retry-after" in headers) if state["state"] == "on" else status != 503
        if ok and state.get("bypass"):
            status, _headers = get(url, {state["bypass_header"]: params["secret"]})
            seen.append("%s with the bypass header -> %s" % (url, status))
            ok = status != 503
        if ok:
            return seen
        if time.monotonic() >= deadline:
            raise OpsreadyError("maintenance %s was switched %s but nginx does not answer as expected: %s"
                                % (params["name"], state["state"], "; ".join(seen)), changed=True)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
