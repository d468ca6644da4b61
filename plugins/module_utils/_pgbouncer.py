# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""PgBouncer: its admin console (SHOW DATABASES, SHOW POOLS, PAUSE, RESUME, RELOAD) and the entry of one database in
its configuration file (a text edit, pure). The client side of repointing a PostgreSQL platform's clients: PAUSE
makes new queries wait in PgBouncer while the server behind it changes, RELOAD takes the new target, RESUME lets
them through."""

from __future__ import annotations

import os
import re
import tempfile
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, one_line
from ansible_collections.opsready.runbooks.plugins.module_utils import _postgres
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import answers_within

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")      # a database name PgBouncer's console and file take as is
HOST = re.compile(r"[A-Za-z0-9_:/][A-Za-z0-9_.:/-]{0,252}")  # a name, an address or a socket directory (no list, no space)
SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")


def connection_spec():
    """PgBouncer's admin console, as an argument_spec fragment: PostgreSQL's connection options (its console speaks
    the protocol) with PgBouncer's port and admin user, and no login_db (the console is the database pgbouncer) nor target_session_attrs (one PgBouncer)."""
    spec = {key: dict(value) for key, value in _postgres.connection_spec().items() if key not in ("login_db", "target_session_attrs")}
    spec["login_port"]["default"] = 6432
    spec["login_user"]["default"] = "pgbouncer"
    return spec


def validate(params):
    """Refuse odd input before anything is read or changed."""
    database = params.get("database")
    if not isinstance(database, str) or not NAME.fullmatch(database):
        raise OpsreadyError("database must be the name of a PgBouncer database (letters, digits, _ . -, at most 63), "
                            "got %r" % (database,))
    for key, most in (("pause_timeout", 3600), ("connect_timeout", 300)):
        seconds = params.get(key)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 < seconds <= most:
            raise OpsreadyError("%s must be more than 0 and at most %d seconds, got %r" % (key, most, seconds))
    if len(_postgres.servers(dict({"login_host": "localhost"}, **params))) != 1:
        raise OpsreadyError("login_host names one PgBouncer, got %r" % (params.get("login_host"),))
    target = params.get("target")
    if target is None and params.get("reload") is False:
        raise OpsreadyError("reload=false applies with target only (it writes the target in the file, nothing else)")
    if target is None:
        return
    if not isinstance(target.get("host"), str) or not HOST.fullmatch(target["host"]):
        raise OpsreadyError("target.host must be one host name, address or socket directory (letters, digits, _ . : / -), got %r"
                            % (target.get("host"),))
    if target.get("port") is not None and not 0 < target["port"] < 65536:
        raise OpsreadyError("target.port must be from 1 to 65535, got %r" % (target["port"],))
    if target.get("dbname") is not None and not NAME.fullmatch(target["dbname"]):
        raise OpsreadyError("target.dbname must be a database name (letters, digits, _ . -), got %r"
                            % (target["dbname"],))
    if not params.get("config"):
        raise OpsreadyError("target needs config, the PgBouncer configuration file that holds the database's entry")


def _pairs(text, database="the database"):
    """key=value pairs of a [databases] entry, in order; values may be single-quoted ('' is a quote inside)."""
    pairs, i = [], 0
    pattern = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^\s']*)")
    while i < len(text):
        if not text[i:].strip():
            break
        found = pattern.match(text, i)
        if not found:   # the entry may hold a password: say where, not what
            raise OpsreadyError("cannot read the entry of %s in [databases]: expected key=value pairs, then something "
                                "else at character %d (a comment after an entry is not allowed)" % (database, i + 1))
        pairs.append([found.group(1), found.group(2)])
        i = found.end()
    return pairs


def _value(raw):
    return raw[1:-1].replace("''", "'") if raw.startswith("'") else raw


def entry_target(entry, database="the database"):
    """{host, port, dbname} of a [databases] entry's text (port an int; None for what the entry leaves out)."""
    values = {key: _value(raw) for key, raw in _pairs(entry, database)}
    port = values.get("port")
    return {"host": values.get("host"), "port": int(port) if port and port.isdigit() else port,
            "dbname": values.get("dbname")}


def retarget(text, database, target, path="the configuration"):
    """The configuration `text` with `database`'s entry in [databases] pointed at `target` ({host, port, dbname};
    None leaves a key as it is), every other key and line kept (line endings too): (new text, the entry's target
    before). Spaces inside the entry come out as one between pairs."""
    lines = text.splitlines(True)
    section, found_at = None, []
    entry = re.compile(r"(\s*)(%s)(\s*=\s*)(.*)" % re.escape(database), re.DOTALL)
    for n, line in enumerate(lines):
        body = line.rstrip("\r\n")
        header = SECTION.match(body)
        if header:
            section = header.group(1).strip()
            continue
        if section == "databases" and not body.lstrip().startswith((";", "#")) and entry.fullmatch(body):
            found_at.append(n)
    if not found_at:
        raise OpsreadyError("%s has no entry for %s in its [databases] section (an entry in an %%include'd file, or "
                            "the fallback '*', cannot be repointed here: give it a line of its own)" % (path, database))
    if len(found_at) > 1:
        raise OpsreadyError("%s has %d entries for %s in its [databases] section (PgBouncer runs the last): keep one"
                            % (path, len(found_at), database))
    n = found_at[0]
    body = lines[n].rstrip("\r\n")
    found = entry.fullmatch(body)
    pairs = _pairs(found.group(4), database)
    before = entry_target(found.group(4), database)
    for key in ("host", "port", "dbname"):
        if target.get(key) is None:
            continue
        value = str(target[key])
        for pair in pairs:
            if pair[0] == key:
                pair[1] = value
                break
        else:
            pairs.append([key, value])
    lines[n] = "%s%s%s%s%s" % (found.group(1), found.group(2), found.group(3),
                               " ".join("%s=%s" % (k, v) for k, v in pairs), lines[n][len(body):])
    return "".join(lines), before


def write_atomically(path, text):
    """Replace the file at `path` (a link: the file it points to) with `text`, its mode kept (and its owner, when run
    as root), on disk before it replaces the old one: a reader sees the old file or the new one."""
    path = os.path.realpath(path)
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    directory = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_text(path):
    """The file's text, line endings as they are."""
    try:
        with open(path, newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise OpsreadyError("cannot read %s: %s" % (path, e))


def _show(conn, what):
    with conn.cursor() as cur:
        cur.execute("SHOW %s" % what)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def read(conn, database):
    """The database as PgBouncer runs it now: {target {host, port, dbname}, paused, disabled, connections}."""
    rows = _show(conn, "DATABASES")
    for row in rows:
        if row.get("name") == database:
            return {"target": {"host": row.get("host"), "port": row.get("port"), "dbname": row.get("database")},
                    "paused": bool(row.get("paused")), "disabled": bool(row.get("disabled")),
                    "connections": row.get("current_connections")}
    names = sorted(str(r.get("name"))[:64] for r in rows if r.get("name") != "pgbouncer")
    raise OpsreadyError("PgBouncer has no database %s (it has: %s%s)" % (
        database, ", ".join(names[:10]) or "none", " and %d more" % (len(names) - 10) if len(names) > 10 else ""))


def busy(conn, database):
    """What keeps a PAUSE waiting: the pools' server connections in a transaction, and their clients."""
    pools = [p for p in _show(conn, "POOLS") if p.get("database") == database]
    return {"sv_active": sum(p.get("sv_active") or 0 for p in pools),
            "cl_active": sum(p.get("cl_active") or 0 for p in pools),
            "cl_waiting": sum(p.get("cl_waiting") or 0 for p in pools)}


def _command(conn, command, database):
    with conn.cursor() as cur:
        cur.execute("%s %s" % (command, database))


def same_target(now, want):
    return all(want.get(k) is None or str(want[k]) == str(now.get(k)) for k in ("host", "port", "dbname"))


def apply(params, connect, check_mode=False, read_file=read_text, write_file=write_atomically, clock=time.monotonic):
    """Bring `database` to the target and state asked for: the target first (the entry rewritten when PgBouncer or
    its file differ from it, RELOAD, seen taken; otherwise the file put back), then PAUSE (sent even when PgBouncer
    says paused: a PAUSE still waiting says so too; at most pause_timeout, then undone with RESUME) or RESUME.
    connect(seconds) opens an admin console session. Returns the module's result; a failure says what was done."""
    validate(params)
    database, target, want = params["database"], params.get("target"), params["state"]
    timings, done = {}, []
    conn = connect(params["connect_timeout"])
    try:
        with answers_within(params["connect_timeout"]):
            before = read(conn, database)
        after = dict(before, target=dict(before["target"]))
        try:
            if target and params.get("reload") is False:
                return _stage(params, before, read_file, write_file, check_mode)
            if target:
                text = read_file(params["config"])
                new, in_file = retarget(text, database, target, params["config"])
                if not same_target(before["target"], target) or not same_target(in_file, target):
                    after["target"] = {k: target[k] if target.get(k) is not None else before["target"][k]
                                       for k in ("host", "port", "dbname")}
                    if not check_mode:
                        timings["reload"] = _repoint(conn, connect, params, (text, new), in_file, after["target"],
                                                     write_file, clock)
                    done.append("repointed from %s to %s" % (_said(before["target"]), _said(after["target"])))
            if want == "paused" and not check_mode:
                started = clock()
                _pause(conn, params, connect, clock)
                timings["pause"] = round(clock() - started, 3)
            if want == "paused" and not before["paused"]:
                after["paused"] = True
                done.append("paused (new queries wait in PgBouncer)")
            elif want == "running" and before["paused"]:
                if not check_mode:
                    started = clock()
                    with answers_within(params["connect_timeout"]):
                        _command(conn, "RESUME", database)
                    timings["resume"] = round(clock() - started, 3)
                after["paused"] = False
                done.append("resumed")
            if not check_mode:
                with answers_within(params["connect_timeout"]):
                    after = read(conn, database)
        except Exception as e:
            if done and not check_mode:
                raise OpsreadyError("%s (done before it: %s)" % (one_line(e), "; ".join(done)),
                                    **getattr(e, "result", {}))
            raise
    finally:
        conn.close()
    state = "paused" if after["paused"] else "running"
    if not done:
        msg = "%s: %s, %s; nothing to do" % (database, _said(before["target"]), state)
    else:
        msg = "%s%s: %s; now %s, %s" % ("would do: " if check_mode else "", database, "; ".join(done),
                                        _said(after["target"]), state)
    return {"changed": bool(done), "msg": msg, "database": database, "before": before, "after": after,
            "timings": timings, "diff": {"before": before, "after": after}}


def _stage(params, before, read_file, write_file, check_mode):
    """reload=false: the target written in the file only, for a RELOAD sent later (pg_switchover's); PgBouncer is
    not touched."""
    database, config = params["database"], params["config"]
    text = read_file(config)
    new, in_file = retarget(text, database, params["target"], config)
    staged = not same_target(in_file, params["target"])
    if staged and not check_mode:
        try:
            write_file(config, new)
        except OSError as e:
            raise OpsreadyError("cannot write %s: %s; nothing changed" % (config, e))
    wanted = {k: params["target"][k] if params["target"].get(k) is not None else in_file[k]
              for k in ("host", "port", "dbname")}
    msg = "%s%s: %s in %s (PgBouncer runs %s until its next RELOAD)" % (
        "would write: " if check_mode and staged else "", database, "%s written, was %s" % (_said(wanted), _said(in_file))
        if staged else "%s already" % _said(in_file), config, _said(before["target"]))
    return {"changed": staged, "msg": msg, "database": database, "before": before, "after": before, "timings": {},
            "file": {"before": in_file, "after": wanted},
            "diff": {"before": {"file": in_file}, "after": {"file": wanted}}}


def _repoint(conn, connect, params, texts, in_file, wanted, write_file, clock):
    """Write the new entry, RELOAD, and see PgBouncer run it; otherwise put the file back and RELOAD it (on a session
    of its own: the first may be what failed). Seconds."""
    (text, new), database, target, started = texts, params["database"], params["target"], clock()
    try:
        write_file(params["config"], new)
    except OSError as e:
        raise OpsreadyError("cannot write %s: %s; nothing changed" % (params["config"], e))
    try:
        with answers_within(params["connect_timeout"]):
            _command(conn, "RELOAD", "")
            taken = read(conn, database)["target"]
        if not same_target(taken, target):
            raise OpsreadyError("PgBouncer did not take the new entry after RELOAD (it runs %s; its log says why)"
                                % _said(taken))
    except Exception as e:
        reloaded = "reloaded"
        try:
            write_file(params["config"], text)
            other = connect(params["connect_timeout"])
            try:
                with answers_within(params["connect_timeout"]):
                    _command(other, "RELOAD", "")
            finally:
                other.close()
        except Exception as again:
            reloaded = "not reloaded (%s): see the file, then RELOAD on PgBouncer's console" % one_line(again)
        raise OpsreadyError("repointing %s to %s failed: %s. The previous entry (%s) is back in %s, %s"
                            % (database, _said(wanted), one_line(e), _said(in_file), params["config"], reloaded))
    return round(clock() - started, 3)


def _pause(conn, params, connect, clock):
    database, seconds, started = params["database"], params["pause_timeout"], clock()
    try:
        with answers_within(seconds):
            _command(conn, "PAUSE", database)
        return
    except Exception as e:
        waited = one_line(e)
    timed_out = clock() - started >= seconds * 0.9
    # PgBouncer may still be pausing (its console session is gone): undo it, so no client is left waiting
    still, resumed = None, False
    try:
        other = connect(params["connect_timeout"])
        try:
            with answers_within(params["connect_timeout"]):
                still = busy(other, database)
                _command(other, "RESUME", database)
                resumed = True
        finally:
            other.close()
    except Exception as e:
        raise OpsreadyError(
            "PAUSE of %s failed (%s), and RESUME failed too: %s. Clients of %s may be waiting: RESUME %s on "
            "PgBouncer's console" % (database, waited, one_line(e), database, database), paused=True)
    if not timed_out:
        raise OpsreadyError("PAUSE of %s failed after %.1f s: %s. RESUMEd: nothing is left paused"
                            % (database, clock() - started, waited), paused=False)
    raise OpsreadyError(
        "PAUSE of %s did not finish within %s s: %d server connection(s) still in a transaction (%d client(s) active, "
        "%d waiting). RESUMEd: nothing is left paused. A long transaction holds it up: end it, or raise pause_timeout"
        % (database, seconds, still["sv_active"], still["cl_active"], still["cl_waiting"]), paused=not resumed)


def _said(target):
    return "%s:%s/%s" % (target.get("host"), target.get("port"), target.get("dbname"))
