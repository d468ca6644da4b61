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
from ansible.module_utils.six.moves.urllib.parse import unquote, urlsplit
from ansible.module_utils.urls import open_url
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

MARKER = "# opsready.runbooks maintenance_mode "
# whole-string patterns (re.fullmatch): `$` alone would let a trailing newline through into the nginx configuration
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SECRET_RE = re.compile(r"[A-Za-z0-9._~-]{16,128}")
PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]*")
COOKIE_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
HEADER_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# what would break `alias <dir>/...;` in nginx or `ExecStart=/bin/rm -f <dir>/...` in the expiry unit
UNSAFE_DIR_RE = re.compile(r"[\x00-\x20\x7f\"'`;{}$#%\\]")
DIRS = ("server_dir", "http_dir", "state_dir", "systemd_dir")
# state lines written before state became present/absent
LEGACY_STATES = {"on": "present", "off": "absent"}
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


def _validate_url(url):
    if CONTROL_RE.search(url) or " " in url:
        raise OpsreadyError("verify_url=%r holds a space or control character" % url)
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port out of range
    except ValueError as e:
        raise OpsreadyError("verify_url=%r: %s (check the host and port)" % (url, e))
    if parts.scheme not in ("http", "https"):
        raise OpsreadyError("verify_url=%r: give an http:// or https:// URL, for example http://127.0.0.1/" % url)
    if not parts.hostname:
        raise OpsreadyError("verify_url=%r: give an http:// or https:// URL with a host, for example "
                            "http://127.0.0.1/" % url)


def _validate_command(option, command):
    if not command or not command.strip():
        raise OpsreadyError("%s is empty: give the command" % option)
    if CONTROL_RE.search(command):
        raise OpsreadyError("%s=%r holds a control character (a newline?); give one command line" % (option, command))


def validate(params, now):
    """Refuse odd input before anything is read or changed; every message names the option."""
    if params["state"] not in ("present", "absent"):
        raise OpsreadyError("state=%r: use present (maintenance on) or absent (off)" % (params["state"],))
    if not NAME_RE.fullmatch(params["name"]):
        raise OpsreadyError("name=%r: use lower-case letters, digits, - and _ (at most 40, starting with a letter or "
                            "digit); it names files, the expiry timer and nginx variables" % params["name"])
    secret = params.get("secret")
    if secret is not None and not SECRET_RE.fullmatch(secret):
        raise OpsreadyError("secret: use 16 to 128 URL-safe characters (letters, digits, . _ ~ -), for example the "
                            "output of `openssl rand -hex 16`; quotes, spaces and newlines would break the nginx "
                            "configuration")
    for path in params["exempt_paths"]:
        if not path.startswith("/"):
            raise OpsreadyError("exempt_paths: %r must start with /" % path)
        if not PATH_RE.fullmatch(path):
            raise OpsreadyError("exempt_paths: %r must start with / and hold only URL-safe characters (letters, "
                                "digits, . _ ~ - /)" % path)
    if not COOKIE_RE.fullmatch(params["bypass_cookie"]):
        raise OpsreadyError("bypass_cookie=%r: use letters, digits and _ only (nginx reads it as $cookie_<name>)"
                            % params["bypass_cookie"])
    if not HEADER_RE.fullmatch(params["bypass_header"]):
        raise OpsreadyError("bypass_header=%r: use letters, digits and - only (an HTTP header name; nginx ignores "
                            "header names with _ unless told otherwise)" % params["bypass_header"])
    for net in params["allow"]:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise OpsreadyError("allow: %r is not an IP address or network (10.0.0.0/8, 2001:db8::/32, 192.0.2.7)"
                                % net)
    if params["retry_after"] < 1:
        raise OpsreadyError("retry_after=%d: give a positive number of seconds" % params["retry_after"])
    expires = params.get("expires")
    if expires:
        moment = parse_time(expires)
        if moment <= now:
            raise OpsreadyError("expires=%s is already past (now %s): maintenance would end at once; give a "
                                "future time" % (iso(moment), iso(now)))
    if params.get("verify_url") is not None:
        _validate_url(params["verify_url"])
        path = unquote(urlsplit(params["verify_url"]).path) or "/"
        if params["state"] == "present" and path in params["exempt_paths"]:
            raise OpsreadyError("verify_url=%r: %s is one of exempt_paths, which answer normally during maintenance, "
                                "so the 503 cannot be seen there; point verify_url at a page of the app that is not "
                                "exempt (one that answers 200, for example /api/items in the lab)"
                                % (params["verify_url"], path))
    _validate_command("nginx_command", params["nginx_command"])
    _validate_command("reload_command", params["reload_command"])
    try:
        shlex.split(params["reload_command"])
    except ValueError as e:
        raise OpsreadyError("reload_command=%r cannot be parsed: %s" % (params["reload_command"], e))
    for option in DIRS:
        directory = params[option]
        if not os.path.isabs(directory):
            raise OpsreadyError("%s=%r must be an absolute path" % (option, directory))
        if UNSAFE_DIR_RE.search(directory):
            raise OpsreadyError("%s=%r: spaces, quotes, control characters and ; { } $ # %% \\ would break the nginx "
                                "configuration or the expiry unit; choose another directory" % (option, directory))


def token(name, secret):
    """The bypass cookie's value: derived from the secret, so a copied cookie does not give the secret away."""
    return hashlib.sha256(("opsready-maintenance:%s:%s" % (name, secret)).encode()).hexdigest()


def desired(params, previous, now):
    """The state to record. `since` stays what it was while maintenance stays on (re-runs are idempotent)."""
    if params["state"] == "absent":
        return {"state": "absent"}
    expires = params.get("expires")
    return {
        "state": "present",
        "since": previous.get("since") if previous.get("state") == "present" else iso(now),
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
    """What the host says now: the first line of the server-level file, or absent when there is no such file."""
    try:
        with open(files["server"]) as f:
            first = f.readline()
    except (FileNotFoundError, NotADirectoryError):  # no such file
        return {"state": "absent"}
    if not first.startswith(MARKER):
        raise OpsreadyError("%s exists but was not written by maintenance_mode; move it away or choose another "
                            "name" % files["server"])
    try:
        state = json.loads(first[len(MARKER):])
    except ValueError:
        raise OpsreadyError("the state line of %s is damaged; turn maintenance off (state=absent) to clean it up"
                            % files["server"])
    state["state"] = LEGACY_STATES.get(state.get("state"), state.get("state"))
    return state


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
                  "    default %s_cookie;" % v, '    %s 0;' % _exactly(secret), "}",
                  # The bypass cookie is Secure when the visit came over https: to nginx itself, or to a proxy in
                  # front that ends TLS and says so in X-Forwarded-Proto (its first value, the client's side).
                  'map "$scheme:$http_x_forwarded_proto" %s_secure {' % v, '    default "";',
                  '    "~^https:" "; Secure";', '    "~*^http:[ ]*https[ ]*(,|$)" "; Secure";', "}"]
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
        # A relative Location (/): the browser stays on the scheme, host and port it used, behind a proxy that ends
        # TLS too, whatever the Host or X-Forwarded-* headers say. Never cached: the answer carries the cookie.
        lines += ["location = /%s {" % secret,
                  "    absolute_redirect off;",
                  '    add_header Set-Cookie "%s=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax%s_secure" always;'
                  % (state["bypass_cookie"], token(name, secret), v),
                  '    add_header Cache-Control "no-store" always;',
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
    except (FileNotFoundError, NotADirectoryError):  # no such file
        return None


def _write(path, content, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".opsready-tmp"
    try:
        with open(tmp, "w") as f:
            f.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _put(files, contents):
    """Make the files hold `contents` (None removes), in order; stops at the first error."""
    for key, content in contents.items():
        current = _read(files[key])
        if content is None:
            if current is not None:
                os.unlink(files[key])
        elif content != current:
            _write(files[key], content, 0o640 if key in ("http", "server") else 0o644)


def wanted_files(params, state, files):
    if state["state"] == "absent":
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


def _describe(error):
    if isinstance(error, OpsreadyError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        return "%s%s" % (error.strerror, ": %s" % error.filename if error.filename else "")
    return "%s: %s" % (type(error).__name__, error)


def _switch(params, run, files, contents, before, state):
    """Write the files, test them, reload nginx, arm or disarm the expiry timer. Whatever fails on the way (this
    collection's error, a missing binary, an unwritable directory, anything), the previous files are put back, with
    nginx and the timer as they were, and OpsreadyError says what failed and what was put back."""
    timer = os.path.basename(files["timer"])
    nginx, reload_command = params["nginx_command"], params["reload_command"]
    done = {"disarmed": False, "reloaded": False, "armed": False}
    step = "writing the maintenance files"
    try:
        if before["timer"] is not None:
            step = "disarming the expiry timer %s" % timer
            done["disarmed"] = True
            run(["systemctl", "disable", "--now", timer])  # an old expiry must not fire in the middle of the change
        step = "writing the maintenance files"
        _put(files, contents)
        step = "nginx -t (configuration test, nginx_command=%s)" % nginx
        _run(run, [nginx, "-t", "-q"], step)
        if state["state"] == "present":
            step = "nginx -T (nginx_command=%s)" % nginx
            dump = _run(run, [nginx, "-T", "-q"], step)
            if "# configuration file %s:" % files["server"] not in dump:
                raise OpsreadyError("nginx does not read %s: add `include %s/*.conf;` to the server block that "
                                    "serves the site (and check %s is read at the http level)"
                                    % (files["server"], params["server_dir"], params["http_dir"]))
        step = "reloading nginx (reload_command=%s)" % reload_command
        _run(run, shlex.split(reload_command), step)
        done["reloaded"] = True
        if contents["timer"] is not None:
            step = "arming the expiry timer %s" % timer
            done["armed"] = True
            _arm(run, timer)
        elif before["timer"] is not None:
            step = "systemctl daemon-reload"
            _run(run, ["systemctl", "daemon-reload"], step)
    except BaseException as error:  # whatever it is (even an interrupt), the previous files must come back
        problem = str(error) if isinstance(error, OpsreadyError) else "%s failed: %s" % (step, _describe(error))
        undone, complete = _undo(params, run, files, before, done, timer)
        raise OpsreadyError("%s; %s" % (problem, undone), changed=not complete)


def _undo(params, run, files, before, done, timer):
    """Put the previous files back, then the timer and nginx as they were. Never raises: returns (what it did,
    whether everything is back)."""
    notes, complete = [], True
    failed = []
    for key, content in before.items():
        try:
            _put(files, {key: content})
        except Exception as e:
            failed.append("%s (%s)" % (files[key], _describe(e)))
    if failed:
        complete = False
        notes.append("could NOT put back %s: put them back by hand" % ", ".join(failed))
    else:
        notes.append("the previous maintenance files are back")
    try:
        if before["timer"] is not None and (done["disarmed"] or done["armed"]):
            _arm(run, timer)
            notes.append("the expiry timer %s is armed again" % timer)
        elif done["armed"]:
            run(["systemctl", "disable", "--now", timer])
            _run(run, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
            notes.append("the new expiry timer %s is disarmed" % timer)
    except Exception as e:
        complete = False
        notes.append("the expiry timer %s is NOT as it was (%s): check it with systemctl status %s"
                     % (timer, _describe(e), timer))
    if done["reloaded"]:
        try:
            _run(run, shlex.split(params["reload_command"]), "reloading nginx")
            notes.append("nginx reloaded with them")
        except Exception as e:
            complete = False
            notes.append("reloading nginx with them failed (%s): nginx serves the new configuration until it is "
                         "reloaded" % _describe(e))
    else:
        notes.append("nginx was not reloaded")
    return ", ".join(notes), complete


def fetch(url, headers, timeout=5):
    """One request, no redirects followed: (status, lower-cased headers); status is the error text on no answer."""
    try:
        response = open_url(url, headers=headers, timeout=timeout, follow_redirects="none", validate_certs=False)
        return response.status, {k.lower(): v for k, v in response.headers.items()}
    except HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}
    except (URLError, OSError) as e:
        return str(e), {}


def _state_or_none(files):
    try:
        return read_state(files)
    except Exception:
        return None


def _left(params, state, timer):
    """What a host is left with after a switch, in words."""
    if state["state"] == "absent":
        return "this host is out of maintenance (its files removed, nginx reloaded)"
    return "this host is in maintenance (its files in place, nginx reloaded; %s)" % (
        "the expiry timer %s ends it at %s" % (timer, state["expires"]) if state.get("expires") else "no expiry timer")


def apply(params, run, check_mode=False, now=None, get=fetch, clock=time.monotonic, sleep=time.sleep):
    """Bring the host to params['state'] (present: maintenance on, absent: off). `run(argv) -> (rc, out, err)` may
    also raise (a missing binary), `get(url, headers) -> (status, headers)`; clock and sleep pace the verification."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    validate(params, now)
    files = paths(params)
    previous = read_state(files)
    state = desired(params, previous, now)
    contents = wanted_files(params, state, files)
    before = {key: _read(files[key]) for key in contents}
    changed = any(before[key] != content for key, content in contents.items())
    result = {"changed": changed, "before": previous, "after": state,
              "timer": os.path.basename(files["timer"]) if state.get("expires") else None,
              "diff": {"before": json.dumps(previous, indent=2, sort_keys=True) + "\n",
                       "after": json.dumps(state, indent=2, sort_keys=True) + "\n"}}
    words = {"present": "on", "absent": "off"}
    if check_mode or not changed:
        result["msg"] = "maintenance %s is %s%s" % (params["name"], words[state["state"]],
                                                    "" if not changed else " (would change, check mode)")
        return result
    try:
        _switch(params, run, files, contents, before, state)
    except OpsreadyError as e:
        raise OpsreadyError(str(e), **dict(e.result, before=previous,
                                           after=previous if not e.result["changed"] else _state_or_none(files)))
    result["msg"] = "maintenance %s is now %s" % (params["name"], words[state["state"]])
    if params.get("verify_url"):
        try:
            result["verified"] = verify(params, state, get, clock=clock, sleep=sleep,
                                        left=_left(params, state, os.path.basename(files["timer"])))
        except OpsreadyError as e:
            raise OpsreadyError(str(e), **dict(e.result, before=previous, after=state))
    return result


def verify(params, state, get, timeout=10.0, clock=time.monotonic, sleep=time.sleep, left=None):
    """Ask nginx itself: while on, a public request gets 503 + Retry-After; while off, an answer other than 503 (no
    answer at all is a failure); the bypass header gets an answer other than 503. nginx swaps workers on reload, so
    allow it a few seconds."""
    url, deadline, delay = params["verify_url"], clock() + timeout, 0.1
    on = state["state"] == "present"
    while True:
        seen = []
        status, headers = get(url, {})
        seen.append("%s -> %s" % (url, status))
        ok = (status == 503 and "retry-after" in headers) if on else (isinstance(status, int) and status != 503)
        if ok and state.get("bypass"):
            status, _headers = get(url, {state["bypass_header"]: params["secret"]})
            seen.append("%s with the bypass header -> %s" % (url, status))
            ok = isinstance(status, int) and status != 503
        if ok:
            return seen
        if clock() >= deadline:
            raise OpsreadyError(
                "verify_url: maintenance %s was turned %s, but nginx does not answer as expected: %s (expected %s). "
                "Left: %s" % (params["name"], "on" if on else "off", "; ".join(seen),
                              "503 with Retry-After without the secret, an answer other than 503 with the bypass "
                              "header" if on else "an answer other than 503", left or "the new state"),
                changed=True)
        sleep(delay)
        delay = min(delay * 2, 1.0)
