# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The critical section of a planned PostgreSQL switchover in one call, run on the old primary's host: every
PgBouncer paused, this server fenced (standby.signal) and stopped cleanly, its last position read, the target
promoted once it has received all of it, every PgBouncer reloaded (its file already names the target) and resumed.
A failure before the promotion puts everything back (the server started again, the clients resumed to it); after
it, the clients can only go forward, and what is left paused is said."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import time

from ansible_collections.opsready.runbooks.plugins.module_utils import _pgbouncer, _promote
from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, one_line
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within, servers

SERVICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9@_.:\\-]{0,199}")   # a systemd unit's name
CONTROL = {"state": re.compile(r"^Database cluster state:\s+(.+?)\s*$", re.M),
           "checkpoint": re.compile(r"^Latest checkpoint location:\s+(\S+)\s*$", re.M),
           "identifier": re.compile(r"^Database system identifier:\s+(\d+)\s*$", re.M),
           "timeline": re.compile(r"^Latest checkpoint's TimeLineID:\s+(\d+)\s*$", re.M),
           "segment": re.compile(r"^Bytes per WAL segment:\s+(\d+)\s*$", re.M),
           "block": re.compile(r"^WAL block size:\s+(\d+)\s*$", re.M)}
SHUTDOWN_RECORD = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+),.*desc: CHECKPOINT_SHUTDOWN")


def validate(params):
    """Every option checked before anything is read or changed."""
    _promote.validate(dict(params, min_lsn=None, max_lag_bytes=0, accept_data_loss=False, data_loss_reason=None))
    seconds = params.get("stop_timeout")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise OpsreadyError("stop_timeout must be more than 0 and at most 3600 seconds, got %r" % (seconds,))
    data = params.get("data_directory")
    if not isinstance(data, str) or not os.path.isabs(data):
        raise OpsreadyError("data_directory must be an absolute path, got %r" % (data,))
    if not os.path.isfile(os.path.join(data, "PG_VERSION")):
        raise OpsreadyError("data_directory %s is not a PostgreSQL data directory (no PG_VERSION)" % data)
    if params.get("service") is not None and not SERVICE.fullmatch(params["service"]):
        raise OpsreadyError("service must be a systemd unit's name (letters, digits, @ _ . : \\ -), got %r"
                            % (params["service"],))
    for key in ("stop_command", "start_command"):
        command = params.get(key)
        if command is not None and (not command or not all(isinstance(w, str) and w for w in command)):
            raise OpsreadyError("%s must be a non-empty list of words (a program and its arguments), got %r"
                                % (key, command))
    for program in (params.get("pg_controldata") or "", _waldump(params)):
        if not os.access(program, os.X_OK):
            name = os.path.basename(program) or "pg_controldata"
            raise OpsreadyError("%s %r is not a program this host can run" % (name, program))
    consoles = params.get("pgbouncers")
    if not consoles:
        raise OpsreadyError("pgbouncers must name at least one PgBouncer console (the clients to pause and repoint)")
    seen = set()
    for console in consoles:
        _pgbouncer.validate(dict(console, database=params.get("database"), pause_timeout=params.get("pause_timeout"),
                                 connect_timeout=params.get("connect_timeout"), target=None))
        where = servers(dict({"login_port": 6432}, **console))[0]
        if where in seen:
            raise OpsreadyError("pgbouncers names %s:%d twice" % where)
        seen.add(where)
    _pgbouncer.validate(dict(params, login_host="localhost", target=params.get("pgbouncer_target"), config="-"))


def _said(console):
    return "%s:%d" % servers(dict({"login_port": 6432}, **console))[0]


def _waldump(params):
    return os.path.join(os.path.dirname(params.get("pg_controldata") or ""), "pg_waldump")


def _run(argv, timeout):
    """(exit status, output) of a command, in the C locale, bounded by `timeout` seconds. The output goes to a file,
    not a pipe: a server the command starts keeps its inherited descriptors, and a pipe would never end."""
    with tempfile.TemporaryFile() as out:
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                  env=dict(os.environ, LC_ALL="C"), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise OpsreadyError("%s did not finish within %s s" % (" ".join(argv), timeout))
        except OSError as e:
            raise OpsreadyError("cannot run %s: %s" % (argv[0], e))
        out.seek(0)
        return done.returncode, out.read(65536).decode("utf-8", "replace")


def _failed(argv, status, out):
    said = " ".join(out.split())[:300]
    return "%s failed (exit %d)%s" % (" ".join(argv), status, ": " + said if said else "")


def _command(params, action):
    given = params.get("%s_command" % action)
    return list(given) if given else ["systemctl", action, params["service"]]


def controldata(params, run=_run):
    """{state, checkpoint, identifier, timeline, segment, block} of the data directory, from pg_controldata."""
    status, out = run([params["pg_controldata"], params["data_directory"]], 30)
    found = {key: pattern.search(out) for key, pattern in CONTROL.items()}
    if status != 0 or not all(found.values()):
        said = _failed(["pg_controldata"], status, out)
        raise OpsreadyError("pg_controldata %s: %s" % (params["data_directory"], said))
    return {key: match.group(1) for key, match in found.items()}


def record_end(start, total, block=8192, segment=16 << 20):
    """The position just after a WAL record of `total` bytes that starts at LSN `start`, in bytes: the record's
    bytes go on after each page header it meets (40 bytes at a segment's start, else 24)."""
    position, left = replication.lsn_bytes(start), total
    while left > 0:
        if position % block == 0:
            position += 40 if position % segment == 0 else 24
        take = min(block - position % block, left)
        position, left = position + take, left - take
    return position


def lsn_text(position):
    return "%X/%X" % (position >> 32, position & 0xFFFFFFFF)


def _checkpoint_end(params, found, run):
    """Where the shutdown checkpoint record ends (what the target must have received): its length from pg_waldump."""
    status, out = run([_waldump(params), "-p", os.path.join(params["data_directory"], "pg_wal"), "-t",
                       found["timeline"], "-s", found["checkpoint"], "-n", "1"], 30)
    length = SHUTDOWN_RECORD.search(out)
    if not length:
        raise OpsreadyError("pg_waldump did not show the shutdown checkpoint at %s (exit %s): %s"
                            % (found["checkpoint"], status, " ".join(out.split())[:300]))
    return lsn_text(record_end(found["checkpoint"], int(length.group(1)), int(found["block"]), int(found["segment"])))


def _signal(params):
    return os.path.join(params["data_directory"], "standby.signal")


def _write_signal(params):
    """standby.signal, a regular file owned as the data directory (never through a link the directory's owner
    planted: this runs as root)."""
    owner = os.stat(params["data_directory"])
    fd = os.open(_signal(params), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OpsreadyError("%s is not a regular file" % _signal(params))
        if os.geteuid() == 0:
            os.fchown(fd, owner.st_uid, owner.st_gid)
    finally:
        os.close(fd)


def postmaster(params):
    """The server's state from its postmaster.pid: stopped (no file, or no such process), or the status PostgreSQL
    writes there - starting, stopping, ready (taking sessions), standby (a standby taking read-only ones)."""
    try:
        with open(os.path.join(params["data_directory"], "postmaster.pid")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return "stopped"
    try:
        os.kill(int(lines[0]), 0)
    except ProcessLookupError:
        return "stopped"
    except PermissionError:
        pass
    except (ValueError, IndexError):
        return "starting"   # being written
    return lines[7].strip() if len(lines) > 7 and lines[7].strip() else "starting"


def _fence(params, run):
    """standby.signal in place, the server stopped: pg_controldata's findings, with `end` (where its shutdown
    checkpoint record ends)."""
    _write_signal(params)
    status, out = run(_command(params, "stop"), params["stop_timeout"])
    if status != 0:
        raise OpsreadyError(_failed(_command(params, "stop"), status, out))
    found = controldata(params, run)
    if found["state"] != "shut down" or postmaster(params) != "stopped":
        raise OpsreadyError("after the stop, pg_controldata says %r and postmaster.pid %r, not 'shut down' and "
                            "stopped" % (found["state"], postmaster(params)))
    found["end"] = _checkpoint_end(params, found, run)
    return found


def _unfence(params, run, clock, sleep):
    """This server the primary again, taking sessions: a shutdown under way ends first (within stop_timeout),
    standby.signal removed, the server started when stopped. Returns what was done. Raises otherwise - with
    standby.signal in place again whenever the server is stopped."""
    deadline = clock() + params["stop_timeout"]
    state = postmaster(params)
    while state in ("stopping", "starting") and clock() < deadline:
        sleep(0.1)
        state = postmaster(params)
    if state not in ("ready", "stopped"):
        raise OpsreadyError("this server is %s after %s s%s: it is left so, standby.signal in place" % (
            state, params["stop_timeout"], " (a smart shutdown waits for its sessions)" if state == "stopping" else ""))
    if os.path.lexists(_signal(params)):
        os.unlink(_signal(params))
    if state == "ready":
        return "this server never stopped: standby.signal removed, it runs on as the primary"
    try:
        status, out = run(_command(params, "start"), max(1, deadline - clock()))
        if status != 0:
            raise OpsreadyError(_failed(_command(params, "start"), status, out))
        while postmaster(params) in ("starting", "stopped") and clock() < deadline:
            sleep(0.1)
        if postmaster(params) != "ready":
            raise OpsreadyError("started, it is %s, not taking sessions, after %s s"
                                % (postmaster(params), params["stop_timeout"]))
    except Exception:
        if postmaster(params) == "stopped":
            _write_signal(params)
        raise
    return "this server unfenced and started again"


def _console(params, console):
    return dict(console, database=params["database"], pause_timeout=params["pause_timeout"],
                connect_timeout=params["connect_timeout"], login_db="pgbouncer")


def switch(params, connect_target, connect_console, check_mode=False, run=_run, clock=time.monotonic,
           sleep=time.sleep):
    """The critical section. connect_target(): a session on the target (autocommit); connect_console(params,
    seconds): a session on a PgBouncer console. Returns the module's result; raises OpsreadyError with it, saying
    what was put back and what is left."""
    validate(params)
    started = clock()
    result = {"changed": False, "last_lsn": None, "promotion": None, "pgbouncers": [], "paused": False,
              "fenced": False, "promote_asked": False, "put_back": [], "timings": {}}
    consoles = [_console(params, c) for c in params["pgbouncers"]]
    sessions = {}
    target, where = None, "PgBouncer"
    try:
        try:
            for console in consoles:
                where = "PgBouncer on %s" % _said(console)
                sessions[_said(console)] = connect_console(console, params["connect_timeout"])
                with answers_within(params["connect_timeout"]):
                    before = _pgbouncer.read(sessions[_said(console)], params["database"])
                result["pgbouncers"].append({"pgbouncer": _said(console), "before": before, "after": before})
            where = "this server"
            here = controldata(params, run)
            if here["state"] != "in production":
                raise OpsreadyError("this server is not a running primary: pg_controldata says %r" % here["state"])
            where = "the target"
            target = connect_target()
            now = replication.read(target)
            if now["role"] != "standby":
                raise OpsreadyError("the target is a %s, not a standby: nothing to promote" % now["role"])
            with target.cursor() as cur:
                cur.execute("SELECT system_identifier::text FROM pg_control_system()")
                identifier = cur.fetchone()[0]
            # the same system; not the timelines: both as read may lag (a standby's last restartpoint's without a WAL
            # receiver, a new primary's last checkpoint's until its first one after the promotion)
            if identifier != here["identifier"]:
                raise OpsreadyError("it is not a standby of this server: system %s, this server is system %s"
                                    % (identifier, here["identifier"]))
            _promote.promote(target, dict(params, min_lsn=None, max_lag_bytes=0, accept_data_loss=False), True)
        except Exception as e:
            raise OpsreadyError("%s: %s. Nothing was changed" % (where, one_line(e).rstrip(".")), **result)
        t = _step(result, "check", started, clock)
        if check_mode:
            result.update(changed=True, msg="would pause %d PgBouncer(s), fence and stop this server, promote the "
                          "target (%s) once it has received all of it, then reload and resume every PgBouncer"
                          % (len(consoles), replication.summary(now)))
            return result
        return _critical(params, result, consoles, sessions, target, connect_console, run, clock, sleep, t)
    finally:
        for session in list(sessions.values()) + [target]:
            if session is not None:
                session.close()


def _step(result, name, since, clock):
    """The step's seconds in the timings; the time the next one starts."""
    result["timings"][name] = round(clock() - since, 3)
    return clock()


def _critical(params, result, consoles, sessions, target, connect_console, run, clock, sleep, t):
    critical = t

    def step(name, since):
        return _step(result, name, since, clock)

    def back(why):
        """Put back what was done before the promotion - this server only while the target is seen a standby (else
        two primaries could run) - then raise `why` with what was and is left."""
        left = []
        if result["fenced"]:
            role = _role(target)
            if role != "standby":
                raise OpsreadyError("%s. The target is %s now: this server stays stopped and fenced and the clients "
                                    "paused (until PgBouncer's query_wait_timeout): read the target before anything "
                                    "else" % (why, role), **result)
            try:
                result["put_back"].append(_unfence(params, run, clock, sleep))
                result["fenced"] = False
            except Exception as e:
                result["put_back"].append("this server NOT put back: %s" % one_line(e))
        if not result["fenced"]:   # the clients go back to the running server
            left = _resume(params, consoles, sessions, connect_console, result)
            result["paused"] = bool(left)
        raise OpsreadyError("%s. Nothing was promoted; %s%s%s" % (
            why, "; ".join(result["put_back"]) or "nothing had changed",
            "; clients still paused: %s" % "; ".join(left) if left else
            "; clients still paused on every PgBouncer" if result["paused"] else "",
            "; each PgBouncer's file names the target (staged): write this server back in them" if result["changed"]
            or result["put_back"] else ""), **result)

    try:   # PAUSE: new queries wait in PgBouncer (each waits at most pause_timeout for the transactions in flight)
        for console in consoles:
            result["paused"] = True
            _pgbouncer._pause(sessions[_said(console)], console,
                              lambda seconds, c=console: connect_console(c, seconds), clock)
    except Exception as e:
        back("PAUSE on %s failed: %s" % (_said(console), one_line(e)))
    t = step("pause", t)
    result["changed"] = True
    try:
        result["fenced"] = True
        found = _fence(params, run)
        result["last_lsn"] = found["checkpoint"]
    except Exception as e:
        back("fencing this server failed: %s" % one_line(e))
    t = step("fence", t)
    try:   # the shutdown checkpoint's record whole, not only its start: else this server could not follow the target
        _promote._wait(lambda: _received(target, found["end"]), params["replay_timeout"],
                       "the target did not receive WAL up to %s (this server's shutdown checkpoint at %s, whole)"
                       % (found["end"], found["checkpoint"]), sleep, clock)
    except Exception as e:
        back(one_line(e))
    t = step("receive", t)
    try:
        promotion = _promote.promote(target, dict(params, min_lsn=found["end"], max_lag_bytes=0,
                                                  accept_data_loss=False, data_loss_reason=None), False, clock, sleep)
        result["promotion"] = _kept(promotion)
    except Exception as e:
        partial = getattr(e, "result", {})
        result["promotion"] = _kept(partial)
        if not partial.get("promote_asked"):
            back("the promotion failed: %s" % one_line(e))
        result["promote_asked"] = True
        raise OpsreadyError("%s: %s. This server stays stopped and fenced, the clients stay paused (until PgBouncer's "
                            "query_wait_timeout): read the target's state before anything else" % (
                                "the target was promoted, but" if "promote" in partial.get("timings", {}) else
                                "the promotion was asked for and its end is not known", one_line(e)), **result)
    if not promotion["changed"]:   # primary already: not this run's promotion, and not behind its guard
        raise OpsreadyError("the target became a primary before this run promoted it (%s): whether it has all this "
                            "server wrote is not known. This server stays stopped and fenced, the clients stay paused: "
                            "read the target's state before anything else" % promotion["msg"], **result)
    result["promote_asked"] = True
    t = step("promote", t)
    left = _resume(params, consoles, sessions, connect_console, result, params["pgbouncer_target"])
    result["paused"] = bool(left)
    step("repoint", t)
    result["timings"]["critical"] = round(clock() - critical, 3)
    if left:
        raise OpsreadyError("the target is promoted (%s), but %s: clients there still wait; repoint them at the "
                            "target" % (promotion["msg"], "; ".join(left)), **result)
    result["msg"] = "switched over in %.3f s (first PAUSE to last RESUME): this server stopped at %s and fenced; " \
                    "target %s; %d PgBouncer(s) repointed and resumed" % (
                        result["timings"]["critical"], result["last_lsn"], promotion["msg"], len(consoles))
    return result


def _received(conn, lsn):
    state = replication.read(conn)
    if state["role"] != "standby":
        raise OpsreadyError("the target is no longer a standby (%s)" % replication.summary(state))
    positions = [p for p in (state["lsn"]["received"], state["lsn"]["replayed"]) if p is not None]
    return any(replication.lsn_bytes(p) >= replication.lsn_bytes(lsn) for p in positions)


def _role(conn):
    """The target's role now, or why it cannot be said."""
    try:
        return replication.read(conn)["role"]
    except Exception as e:
        return "unknown (%s)" % one_line(e)


def _resume(params, consoles, sessions, connect_console, result, target=None):
    """RESUME on every PgBouncer (after a RELOAD that must show `target`, when given); [what is left paused]."""
    left = []
    for console, entry in zip(consoles, result["pgbouncers"]):
        where = _said(console)
        try:
            session = sessions.get(where)
            if session is None or session.closed:
                session = sessions[where] = connect_console(console, params["connect_timeout"])
            with answers_within(params["connect_timeout"]):
                if target:
                    _pgbouncer._command(session, "RELOAD", "")
                    taken = _pgbouncer.read(session, params["database"])["target"]
                    if not _pgbouncer.same_target(taken, target):
                        raise OpsreadyError("it did not take the target after RELOAD (it runs %s: is the target in "
                                            "its file?)" % _pgbouncer._said(taken))
                if _pgbouncer.read(session, params["database"])["paused"]:
                    _pgbouncer._command(session, "RESUME", params["database"])
                entry["after"] = _pgbouncer.read(session, params["database"])
        except Exception as e:
            left.append("%s left paused (%s)" % (where, one_line(e)))
    return left


def _kept(promotion):
    return {k: promotion.get(k) for k in ("lsn_at_promotion", "guard", "synchronous_standby_names", "timings", "msg")
            if k in promotion}
