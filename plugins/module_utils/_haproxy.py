# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""One HAProxy server drained, in maintenance or back in rotation, through the admin socket (one command per
connection, standard library only).

"Ready" means HAProxy's own health check passed after the change. What HAProxy 2.6 does when a server leaves MAINT
(server.c, srv_update_status: `check->health = check->rise; /* start OK but check immediately */`): the server is
UP at once, with health = rise and the check status of its last check before MAINT, and the first check runs right
away. One failed check takes it DOWN (health rise - 1 < rise); one passed check raises health to rise + 1 when
fall >= 2. So UP with health > rise proves a check passed since the server left MAINT. With fall 1 the maximum
health is rise and health proves nothing: the server is then set DOWN by hand (`set server B/S health down`) right
after leaving MAINT, so that HAProxy's check must pass `rise` times to bring it UP.
Leaving MAINT goes to DRAIN first (checked, no new request), and to READY only once the check passed: the stale UP
never takes traffic (on the lab, `state ready` straight from MAINT let about 350 ms of requests reach a stopped app).
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import stat
import tempfile
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")  # what HAProxy accepts in proxy and server names
GRACE = 5.0  # seconds for the commands that finish a timed-out wait (MAINT, the read-back, the state file)
ANSWER = 1.0  # seconds any command may take, even near the deadline (HAProxy answers in milliseconds)

# include/haproxy/server-t.h, enum srv_admin; enum srv_state; include/haproxy/check-t.h
ADMF_FMAINT, ADMF_MAINT, ADMF_DRAIN = 0x01, 0x23, 0x18
OPERATIONAL = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}
CHK_ST_ENABLED = 0x04
CHECK_STATUS = ["UNK", "INI", "START", "CHECKED", "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT",
                "L6RSP", "L7TOUT", "L7RSP", "L57DATA", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"]


# --- Parsing (pure) -------------------------------------------------------------------------------------------

def parse_servers_state(text):
    """`show servers state [<backend>]` (format 1: a version line, a `# ` header, one row per server) -> dicts
    keyed by the header's names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# "):
        raise OpsreadyError("unexpected answer to `show servers state` (format 1 expected): %s" % _snippet(text))
    names = lines[1][2:].split()
    return [dict(zip(names, line.split())) for line in lines[2:]]


def parse_stat(text):
    """`show stat` CSV (a `# ` header line, one row per proxy or server) -> dicts; empty fields are None."""
    if not text.startswith("# pxname,"):
        raise OpsreadyError("unexpected answer to `show stat` (CSV expected): %s" % _snippet(text))
    rows = csv.reader(io.StringIO(text[2:]))
    names = next(rows)
    return [{name: value or None for name, value in zip(names, row) if name} for row in rows if row]


def parse_backends(text):
    """`show backend` -> the backend names."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def view(state_row, stat_row):
    """One server as this module reports it, from its `show servers state` row and its `show stat` row.

    `show stat` hides the check fields of a server in MAINT; the check status then comes from `show servers
    state` (the last check before MAINT), and rise/fall are unknown (None)."""
    admin, check_state = int(state_row["srv_admin_state"]), int(state_row["srv_check_state"])
    code = int(state_row["srv_check_status"])
    shown = stat_row.get("check_status") or ""
    # "* L7STS": a check is running; meanwhile HAProxy shows the last status without its code and information
    running, status = shown.startswith("* "), shown.lstrip("* ") or None
    if status is None and check_state & CHK_ST_ENABLED and code < len(CHECK_STATUS):
        status = CHECK_STATUS[code]
    port = int(state_row["srv_port"])
    return {
        "admin": "MAINT" if admin & ADMF_MAINT else "DRAIN" if admin & ADMF_DRAIN else "READY",
        "operational": OPERATIONAL.get(int(state_row["srv_op_state"]), state_row["srv_op_state"]),
        "status": stat_row.get("status"),
        "check_enabled": bool(check_state & CHK_ST_ENABLED),
        "check_status": status,
        "check_running": running,
        "check_code": _int(stat_row.get("check_code")) or None,
        "check_desc": stat_row.get("check_desc"),
        "check_info": stat_row.get("last_chk"),
        "check_health": int(state_row["srv_check_health"]),
        "check_rise": _int(stat_row.get("check_rise")),
        "check_fall": _int(stat_row.get("check_fall")),
        "sessions": _int(stat_row.get("scur")) or 0,
        "address": "%s:%d" % (state_row["srv_addr"], port) if port else state_row["srv_addr"],
        "forced_maint": bool(admin & ADMF_FMAINT),
    }


def find(states, stats, backend, server):
    """The view of backend/server from parsed dumps; an unknown server is named with the backend's servers."""
    state_row = next((r for r in states if r.get("be_name") == backend and r.get("srv_name") == server), None)
    if state_row is None:
        names = [r["srv_name"] for r in states if r.get("be_name") == backend]
        raise OpsreadyError("server %s is not in backend %s; its servers: %s"
                            % (server, backend, ", ".join(names) or "none"))
    stat_row = next((r for r in stats if r.get("pxname") == backend and r.get("svname") == server), {})
    return view(state_row, stat_row)


def proven(server, trust_up=True, admin=("READY",)):
    """HAProxy's own check says the server is healthy (and in rotation, with the default `admin`).

    UP (or STARTING, slowstart) and health above rise: a check passed since health was last reset (leaving
    MAINT resets it to rise). With fall 1, health never exceeds rise; UP counts only when `trust_up` (the server
    did not just leave MAINT, or it was set DOWN by hand after leaving it)."""
    if server["admin"] not in admin or server["operational"] not in ("UP", "STARTING") or not server["check_enabled"]:
        return False
    if server["check_rise"] is None:
        return False
    if server["check_fall"] == 1:
        return trust_up
    return server["check_health"] > server["check_rise"]


def describe(server):
    """'DOWN, check L7STS 503 (Layer7 wrong status: Service Unavailable), health 0/3, 0 sessions'."""
    check = " ".join(str(part) for part in (server["check_status"], server["check_code"]) if part)
    detail = ": ".join(part for part in (server["check_desc"], server["check_info"]) if part)
    parts = ["%s %s" % (server["admin"], server["operational"]) if server["admin"] != "READY"
             else server["operational"]]
    if server["check_enabled"]:
        parts.append("check %s%s" % (check or "none yet", " (%s)" % detail if detail else ""))
        if server["check_rise"] is not None:
            parts.append("health %d/%d" % (server["check_health"], server["check_rise"] + server["check_fall"] - 1))
    else:
        parts.append("no health check")
    parts.append("%d session%s" % (server["sessions"], "" if server["sessions"] == 1 else "s"))
    return ", ".join(parts)


def public(server):
    """The returned before/after (the internal keys dropped)."""
    return {k: v for k, v in server.items() if k not in ("forced_maint",)}


def diff_text(name, admin, operational):
    return "%s admin: %s\n%s operational: %s\n" % (name, admin, name, operational)


# --- Validation (before anything is sent) ------------------------------------------------------------------------

def validate(params):
    for option in ("backend", "server"):
        value = params[option]
        if not NAME.match(value or ""):
            raise OpsreadyError("%s %r is not a HAProxy name (letters, digits, '_', '.', ':' and '-' only)"
                                % (option, value))
    for option in ("wait_timeout", "drain_timeout"):
        if params[option] is None or params[option] <= 0:
            raise OpsreadyError("%s must be greater than 0 seconds, got %s" % (option, params[option]))
    path = params["socket"]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise OpsreadyError("socket %s does not exist: is HAProxy running on this host, with `stats socket %s level "
                            "admin` in its global section?" % (path, path))
    except OSError as e:
        raise OpsreadyError("socket %s cannot be read: %s" % (path, e.strerror))
    if not stat.S_ISSOCK(mode):
        raise OpsreadyError("socket %s is not a socket (HAProxy's `stats socket` path expected)" % path)
    state_file = params.get("state_file")
    if state_file:
        directory = os.path.dirname(state_file) or "."
        if not os.path.isdir(directory):
            raise OpsreadyError("state_file %s: directory %s does not exist" % (state_file, directory))
        if os.path.isdir(state_file):
            raise OpsreadyError("state_file %s is a directory; give the file HAProxy's server-state-file names"
                                % state_file)


# --- Side effects (the seams apply() takes) ------------------------------------------------------------------------

def send(path, command, deadline, clock=time.monotonic):
    """One command on its own connection to the admin socket; the whole exchange ends by `deadline` (clock)."""
    def remaining():
        left = deadline - clock()
        if left <= 0:
            raise socket.timeout()
        return left

    chunks = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(remaining())
            conn.connect(path)
            conn.sendall(command.encode() + b"\n")
            while True:
                conn.settimeout(remaining())
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except socket.timeout:
        raise OpsreadyError("HAProxy did not answer `%s` on %s in time (wait_timeout)" % (command, path))
    except ConnectionRefusedError:
        raise OpsreadyError("nothing listens on %s (HAProxy stopped? a stale socket file?)" % path)
    except OSError as e:
        raise OpsreadyError("cannot talk to HAProxy on %s (`%s`): %s" % (path, command, e.strerror or e))
    return b"".join(chunks).decode("utf-8", "replace")


def refused(address, timeout):
    """Why the server's address takes no connection (refused, unreachable), or None if it takes one or the
    probe is inconclusive (a timeout: a busy network is not a dead server; HAProxy's check will tell)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except socket.timeout:
        return None
    except OSError as e:
        return "its address %s takes no connection (%s)" % (address, e.strerror or e)
    return None


def save(path, text):
    """Write HAProxy's server states where its `server-state-file` points: a temporary file renamed over it."""
    directory = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temporary, os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# --- The change ----------------------------------------------------------------------------------------------

class _Run:
    """One run: its seams, and what it sent and saw, so that every failure carries it (the audit trail)."""

    def __init__(self, params, check_mode, ask, clock, write):
        self.params, self.check_mode, self.ask, self.clock, self.write = params, check_mode, ask, clock, write
        self.name = "%s/%s" % (params["backend"], params["server"])
        self.start = clock()
        self.deadline = self.start + params["wait_timeout"]
        self.commands, self.before, self.after, self.planned = [], None, None, False

    def elapsed(self):
        return round(self.clock() - self.start, 2)

    def fail(self, msg):
        return OpsreadyError(msg, changed=bool(self.commands), commands=self.commands, elapsed=self.elapsed(),
                             before=public(self.before) if self.before else None,
                             after=public(self.after) if self.after else None)

    def finishing(self):
        """The deadline of the commands that finish a wait, even one that ran out of time."""
        return max(self.deadline, self.clock() + GRACE)

    def due(self):
        """The deadline of a command: the run's, but never less than ANSWER from now (the last read of a wait)."""
        return max(self.deadline, self.clock() + ANSWER)

    def read(self, deadline=None):
        backend, server, deadline = self.params["backend"], self.params["server"], deadline or self.due()
        try:
            states_text = self.ask("show servers state %s" % backend, deadline)
            if states_text.strip() == "Can't find backend.":
                backends = parse_backends(self.ask("show backend", deadline))
                raise OpsreadyError("backend %s is not in HAProxy's configuration; its backends: %s"
                                    % (backend, ", ".join(backends) or "none"))
            states = parse_servers_state(states_text)
            return find(states, parse_stat(self.ask("show stat %s 4 -1" % backend, deadline)), backend, server)
        except OpsreadyError as e:
            raise e if e.result else self.fail(str(e))

    def set(self, what, deadline=None):
        command = "set server %s %s" % (self.name, what)
        try:
            answer = self.ask(command, deadline or self.due()).strip()
        except OpsreadyError as e:
            raise self.fail("%s (its effect is unknown)" % e)
        if answer:
            hint = " (the socket must be `level admin`)" if "ermission" in answer else ""
            raise self.fail("HAProxy refused `%s`: %s%s" % (command, answer, hint))
        self.commands.append(command)

    def save(self):
        """After a change, HAProxy's server states to its server-state-file, so that a reload keeps them."""
        path = self.params.get("state_file")
        if not path or not self.commands:
            return
        try:
            self.write(path, self.ask("show servers state", self.finishing()))
        except OSError as e:
            raise self.fail("cannot write state_file %s: %s" % (path, e.strerror or e))
        except OpsreadyError as e:
            raise self.fail("%s; state_file %s not written" % (e, path))


def apply(params, check_mode=False, ask=None, clock=time.monotonic, sleep=time.sleep, probe=refused, write=save):
    """Bring params['backend']/params['server'] to params['state']; returns the module result (with a diff).

    Seams: ask(command, deadline) sends one command and returns HAProxy's answer (default: send() on
    params['socket']); probe(address, timeout) says why an address takes no connection; write(path, text) saves
    the state file."""
    validate(params)
    if ask is None:
        def ask(command, deadline):
            return send(params["socket"], command, deadline, clock)

    run = _Run(params, check_mode, ask, clock, write)
    run.before = run.after = run.read()
    if params["state"] == "ready":
        if not run.before["check_enabled"]:
            raise run.fail("%s has no health check enabled (`check` on its server line, or `enable health %s`): "
                           "HAProxy cannot prove it ready, so it is not put in rotation" % (run.name, run.name))
        msg, target = _ready(run, sleep), ("READY", "UP")
    else:
        msg = _drain(run, sleep, probe) if params["state"] == "drained" else _maint(run)
        target = ("MAINT", "DOWN")
    run.save()
    after = target if check_mode else (run.after["admin"], run.after["operational"])
    return {"changed": bool(run.commands) or run.planned, "msg": msg, "commands": run.commands,
            "elapsed": run.elapsed(), "before": public(run.before), "after": public(run.after),
            "diff": {"before": diff_text(run.name, run.before["admin"], run.before["operational"]),
                     "after": diff_text(run.name, *after)}}


def _maint(run):
    if run.before["forced_maint"]:
        return "%s is already in MAINT" % run.name
    if run.check_mode:
        run.planned = True
        return "would send `set server %s state maint` (now %s)" % (run.name, describe(run.before))
    run.set("state maint")
    run.after = run.read(run.finishing())
    return "%s put in MAINT (was %s)" % (run.name, describe(run.before))


def _drain(run, sleep, probe):
    """drained: DRAIN, then MAINT once its sessions are gone or after drain_timeout; MAINT at once when HAProxy
    already sees it DOWN or its address refuses connections."""
    before, timeout = run.before, run.params["drain_timeout"]
    if before["forced_maint"]:
        return "%s is already in MAINT" % run.name
    if before["operational"] == "DOWN":
        dead = "HAProxy sees it %s" % describe(before)
    else:
        dead = probe(before["address"], max(0.05, min(1.0, run.deadline - run.clock())))
    run.planned = run.check_mode
    if dead:
        if run.check_mode:
            return "would send `set server %s state maint` at once: %s" % (run.name, dead)
        run.set("state maint")
        run.after = run.read(run.finishing())
        return "%s put in MAINT at once: %s" % (run.name, dead)
    if run.check_mode:
        return ("would send `set server %s state drain`, then `state maint` once its %d current session%s end (at "
                "most %s s)" % (run.name, before["sessions"], "" if before["sessions"] == 1 else "s", _num(timeout)))
    if before["admin"] != "DRAIN":
        run.set("state drain")
    drain_end, pause = min(run.start + timeout, run.deadline), 0.05
    while True:
        current = run.read()
        if current["sessions"] == 0 or current["operational"] == "DOWN" or run.clock() >= drain_end:
            break
        sleep(max(0.0, min(pause, drain_end - run.clock())))
        pause = min(pause * 2, 0.5)
    waited = run.elapsed()
    run.set("state maint", run.finishing())
    run.after = run.read(run.finishing())
    if current["sessions"] == 0:
        how = "no session left after %s s" % _num(waited)
    elif current["operational"] == "DOWN":
        how = "it went DOWN while draining: %s" % describe(current)
    else:
        how = "%d session%s still open after %s s (drain_timeout %s s)" % (
            current["sessions"], "" if current["sessions"] == 1 else "s", _num(waited), _num(timeout))
    return "%s drained: DRAIN, then MAINT; %s" % (run.name, how)


def _ready(run, sleep):
    """ready: out of MAINT/DRAIN, and reported ready only once HAProxy's own check passed after the change; when
    it does not within wait_timeout, on_fail=maint puts it back in MAINT and the run fails."""
    before, params = run.before, run.params
    if proven(before):
        return "%s is already in rotation: %s" % (run.name, describe(before))
    if run.check_mode:
        run.planned = before["admin"] != "READY"
        if before["admin"] == "MAINT":
            return ("would send `set server %s state drain` (checked, no new request), wait up to %s s for HAProxy's "
                    "check to pass, then `state ready` (now %s)"
                    % (run.name, _num(params["wait_timeout"]), describe(before)))
        action = "wait" if before["admin"] == "READY" else "send `set server %s state ready` once it passes" % run.name
        return "would wait up to %s s for HAProxy's check to pass%s (now %s)" % (
            _num(params["wait_timeout"]), "" if action == "wait" else ", then " + action.replace(" once it passes", ""),
            describe(before))
    left_maint = before["admin"] == "MAINT"
    if left_maint:
        # Out of MAINT into DRAIN first: HAProxy checks the server again but sends it no new request, so the stale
        # UP it shows on leaving MAINT never takes traffic. READY only once a check passed.
        run.set("state drain")
    forced, pause, complete = False, 0.05, None
    while True:
        current = run.after = run.read()
        complete = current if not current["check_running"] else complete  # for the report: a finished check
        if left_maint and not forced and current["check_fall"] == 1:
            run.set("health down")  # fall 1: UP after leaving MAINT proves nothing; the check must bring it UP
            forced = True
            continue
        if proven(current, trust_up=not left_maint or forced, admin=("READY", "DRAIN")):
            if current["admin"] != "READY":
                run.set("state ready")
                current = run.after = run.read()
            return "%s back in rotation: HAProxy's check passed after the change, in %s s (%s)" % (
                run.name, _num(run.elapsed()), describe(current))
        if run.clock() >= run.deadline:
            break
        sleep(max(0.0, min(pause, run.deadline - run.clock())))
        pause = min(pause * 2, 0.5)
    msg = "%s did not pass HAProxy's health check within %s s: %s" % (run.name, _num(params["wait_timeout"]),
                                                                      describe(complete or current))
    if params["on_fail"] == "maint":
        run.set("state maint", run.finishing())
        run.after = run.read(run.finishing())
        msg += "; put back in MAINT (on_fail=maint), so it takes no traffic"
    else:
        if run.after["admin"] != "READY":
            run.set("state ready", run.finishing())  # leave it to HAProxy: in rotation once its check passes
            run.after = run.read(run.finishing())
        msg += "; left %s (on_fail=leave)" % run.after["admin"]
    run.save()
    raise run.fail(msg)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _num(value):
    return ("%.1f" % value).rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _snippet(text):
    text = text.strip()
    return repr(text[:200]) if text else "nothing"
