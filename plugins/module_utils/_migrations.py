# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Database migrations in the built-in convention: a directory of NNNN_name.up.sql / NNNN_name.down.sql files and
a table (version, name, applied_at) recording what is applied. Each step's SQL and its row change run in the same
transaction; by default the whole plan is one transaction, so a failure leaves the schema exactly as it was.

plan() is pure: it decides what would run from what is on disk and what is applied, and refuses what cannot be
undone. execute() runs a plan under an advisory lock that keeps two runs from migrating one database at once.
"""

from __future__ import annotations

import os
import re
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

FILE = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.(up|down)\.sql$")
LOCK_KEY = 0x6F707372  # pg advisory lock key "opsr": one migration run per database at a time


def discover(path):
    """{version: {"name", "up", "down"}} from a migrations directory (file paths; "down" may be missing)."""
    if not os.path.isdir(path):
        raise OpsreadyError("migrations directory %s does not exist on this host" % path)
    steps = {}
    for entry in sorted(os.listdir(path)):
        match = FILE.match(entry)
        if not match:
            continue
        version, name, direction = match.groups()
        step = steps.setdefault(version, {"name": name})
        if step["name"] != name:
            raise OpsreadyError("migration %s has two names in %s: %s and %s" % (version, path, step["name"], name))
        step[direction] = os.path.join(path, entry)
    for version, step in steps.items():
        if "up" not in step:
            raise OpsreadyError("migration %s_%s in %s has no .up.sql file" % (version, step["name"], path))
    return steps


def read_sql(path):
    with open(path) as f:
        return f.read()


def is_empty(sql):
    """True when the SQL has no statement at all (only blanks and comments): such a down migration undoes nothing."""
    text = re.sub(r"/\*.*?\*/", "", sql, flags=re.S)
    return not any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())


def plan(steps, applied, state, target=None, count=None):
    """The ordered steps to run: [{"version", "name", "direction", "file"}]. Raises OpsreadyError for anything
    that cannot be done as asked (unknown target, too many steps, an applied version with no files, a step with
    no real down migration)."""
    known = sorted(steps, key=int)
    if target is not None and target not in steps and not (state == "rolled_back" and target == "0"):
        raise OpsreadyError("target %s is not a migration in this directory; known versions: %s (use 0 to roll "
                            "back everything)" % (target, ", ".join(known) or "none"))
    if state == "applied":
        current = max(applied, key=int) if applied else None
        if target is not None and current is not None and int(target) < int(current) and target in applied:
            raise OpsreadyError("target %s is below the current version %s: that is a rollback, use "
                                "state=rolled_back" % (target, current))
        pending = [v for v in known if v not in applied and (target is None or int(v) <= int(target))]
        if count is not None:
            pending = pending[:count]
        return [{"version": v, "name": steps[v]["name"], "direction": "up", "file": steps[v]["up"]} for v in pending]
    # rolled_back: newest applied first
    newest_first = sorted(applied, key=int, reverse=True)
    if count is not None:
        if count > len(newest_first):
            raise OpsreadyError("asked to roll back %d step(s) but only %d migration(s) are applied (%s)"
                                % (count, len(newest_first), ", ".join(sorted(applied)) or "none"))
        chosen = newest_first[:count]
    else:
        if target != "0" and target not in applied:
            raise OpsreadyError("target %s is not applied (applied: %s); use state=applied to go forward"
                                % (target, ", ".join(sorted(applied)) or "none"))
        chosen = [v for v in newest_first if int(v) > int(target)]
    unknown = [v for v in chosen if v not in steps]
    if unknown:
        raise OpsreadyError("applied migration(s) %s have no files in this directory, so they cannot be rolled back "
                            "from here: use the migrations of the release that introduced them" % ", ".join(unknown))
    irreversible = [v for v in chosen if not steps[v].get("down") or is_empty(read_sql(steps[v]["down"]))]
    if irreversible:
        raise OpsreadyError("refusing to roll back: %s cannot be undone (%s); restore the backup taken before "
                            "they were applied instead" % (", ".join(irreversible), "; ".join(
                                "%s_%s has %s" % (v, steps[v]["name"], "an empty .down.sql" if steps[v].get("down")
                                                  else "no .down.sql") for v in irreversible)))
    return [{"version": v, "name": steps[v]["name"], "direction": "down", "file": steps[v]["down"]} for v in chosen]


def irreversible(steps):
    return sorted(v for v, step in steps.items() if not step.get("down") or is_empty(read_sql(step["down"])))


def _table(table):
    from psycopg2 import sql

    return sql.Identifier(*table.split(".", 1))


def applied_versions(conn, table):
    """Applied versions, oldest first; [] when the table does not exist yet (nothing applied)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return []
        from psycopg2 import sql

        cur.execute(sql.SQL("SELECT version FROM {}").format(_table(table)))
        versions = [row[0] for row in cur.fetchall()]
    odd = [v for v in versions if not v.isdigit()]
    if odd:
        raise OpsreadyError("%s holds versions that are not numbers (%s): is it another tool's table?"
                            % (table, ", ".join(odd)))
    return sorted(versions, key=int)


def execute(conn, table, steps, atomic=True):
    """Run the planned steps; returns what ran [{version, name, direction, seconds}]. On failure raises
    OpsreadyError saying which step failed, what had already run, and in which state the schema is."""
    from psycopg2 import sql

    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cur.fetchone()[0]:
            raise OpsreadyError("another migration run holds the lock on this database (pg advisory lock %d); "
                                "wait for it to finish" % LOCK_KEY)
    conn.autocommit = False
    done, committed = [], []
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, name text NOT NULL, "
                                "applied_at timestamptz NOT NULL DEFAULT now())").format(_table(table)))
        for step in steps:
            start = time.monotonic()
            try:
                with conn.cursor() as cur:
                    cur.execute(read_sql(step["file"]))
                    if step["direction"] == "up":
                        cur.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(_table(table)),
                                    (step["version"], step["name"]))
                    else:
                        cur.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(_table(table)),
                                    (step["version"],))
                        if cur.rowcount != 1:
                            raise OpsreadyError("migration %s was not recorded as applied" % step["version"])
                if not atomic:
                    conn.commit()
            except Exception as e:
                conn.rollback()
                committed = done if not atomic else []
                undone = "the whole plan was rolled back, the schema is as it was before this run" if atomic else (
                    "this step was rolled back; %s stay done" % (", ".join(s["version"] for s in committed)
                                                                 if committed else "no earlier step"))
                raise OpsreadyError("%s migration %s_%s failed: %s; %s" % (
                    step["direction"], step["version"], step["name"], " ".join(str(e).split()), undone),
                    executed=committed, failed_step=step["version"])
            done.append(dict(step, seconds=round(time.monotonic() - start, 3)))
        conn.commit()
        return done
    finally:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def run(params, check_mode=False, want_diff=False):
    """The whole module: status, or plan and (unless check_mode) execute. Returns the module result."""
    from ansible_collections.opsready.runbooks.plugins.module_utils import _postgres

    if params.get("steps") is not None and params["steps"] < 1:
        raise OpsreadyError("steps must be 1 or more, got %d" % params["steps"])
    steps = discover(params["path"])
    conn = _postgres.connect(params)
    try:
        applied = applied_versions(conn, params["table"])
        result = {"changed": False, "applied": applied, "current": applied[-1] if applied else None,
                  "available": sorted(steps, key=int),
                  "pending": [v for v in sorted(steps, key=int) if v not in applied],
                  "irreversible": irreversible(steps), "executed": [], "plan": []}
        if params["state"] == "status":
            result["msg"] = "schema at %s; pending: %s" % (result["current"] or "nothing applied",
                                                           ", ".join(result["pending"]) or "none")
            return result
        todo = plan(steps, applied, params["state"], params.get("target"), params.get("steps"))
        result["plan"] = [{k: step[k] for k in ("version", "name", "direction")} for step in todo]
        after = _after(applied, todo)
        result.update(changed=bool(todo), version_after=after[-1] if after else None)
        if check_mode or want_diff:
            result["sql"] = [dict(result["plan"][n], sql=read_sql(step["file"])) for n, step in enumerate(todo)]
        if want_diff:
            result["diff"] = {"before": "applied: %s\n" % " ".join(applied), "after": "applied: %s\n" % " ".join(after),
                              "before_header": params["table"], "after_header": params["table"],
                              "prepared": "".join("-- %s %s_%s\n%s\n" % (s["direction"], s["version"], s["name"],
                                                                         s["sql"].strip()) for s in result["sql"])}
        if not todo:
            result["msg"] = "nothing to do: schema at %s" % (result["current"] or "nothing applied")
            return result
        verb = "roll back" if params["state"] == "rolled_back" else "apply"
        listed = ", ".join("%s_%s" % (s["version"], s["name"]) for s in todo)
        if check_mode:
            result["msg"] = "would %s %s: schema %s -> %s" % (verb, listed, result["current"] or "none",
                                                              result["version_after"] or "none")
            return result
        result["executed"] = execute(conn, params["table"], todo, params["atomic"])
        done = "rolled back" if verb == "roll back" else "applied"
        result["msg"] = "%s %s: schema %s -> %s" % (done, listed, result["current"] or "none",
                                                    result["version_after"] or "none")
        return result
    finally:
        conn.close()


def _after(applied, todo):
    versions = set(applied)
    for step in todo:
        (versions.add if step["direction"] == "up" else versions.discard)(step["version"])
    return sorted(versions, key=int)


# ----------------------------------------------------------------------------------- backend: command
# For migration tools this collection does not drive itself (Laravel, Prisma, Flyway...): the user gives the
# commands; we run them without a shell, preview in check mode, and never report "nothing happened" as success.
NOTHING = (r"(?i)nothing to (roll ?back|migrate)|no (pending )?migrations? (to (apply|roll ?back)|were)|"
           r"already (up to date|in sync)")


def run_commands(params, check_mode=False, execute=None):
    execute = execute or _run
    commands = params.get("commands") or {}
    action = {"applied": "apply", "rolled_back": "rollback"}.get(params["state"])

    def command(kind):
        text = commands.get(kind)
        if not text:
            return None
        for key in ("steps", "target"):
            text = text.replace("{%s}" % key, "" if params.get(key) is None else str(params[key]))
        return text

    result = {"changed": False, "executed": [], "plan": []}
    if command("status"):
        result["status_output"] = _checked(execute, command("status"), params)["output"]
    if action is None:
        result["msg"] = ("status: " + _last(result["status_output"], 3) if "status_output" in result
                         else "no status command given (commands.status)")
        return result
    if not command(action):
        raise OpsreadyError("backend command needs commands.%s for state=%s" % (action, params["state"]))
    nothing = re.compile(params.get("nothing_regex") or NOTHING)
    if check_mode:
        preview = command("preview_" + action)
        if not preview:
            result.update(changed=True, msg="would run: %s (give commands.preview_%s to see what it would do)"
                          % (command(action), action))
            return result
        ran = _checked(execute, preview, params)
        result["plan_output"] = ran["output"]
        result["changed"] = not nothing.search(ran["output"])
        result["msg"] = ("preview: " if result["changed"] else "nothing to do, says the tool: ") + _last(ran["output"])
        return result
    ran = _checked(execute, command(action), params)
    result["executed"] = [ran]
    if nothing.search(ran["output"]):
        if action == "rollback":
            raise OpsreadyError("asked to roll back%s, but the tool rolled back nothing: %s" % (
                " %s step(s)" % params["steps"] if params.get("steps") else "", _last(ran["output"])),
                executed=result["executed"])
        result["msg"] = "nothing to apply, says the tool: " + _last(ran["output"])
        return result
    result.update(changed=True, msg="%s: %s" % (command(action), _last(ran["output"])))
    return result


def _checked(execute, command, params):
    rc, output = execute(command, params.get("chdir"))
    ran = {"command": command, "rc": rc, "output": output}
    if rc != 0:
        raise OpsreadyError("%s exited %d: %s" % (command, rc, _last(output, 5)), executed=[ran])
    return ran


def _last(output, lines=1):
    kept = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) or "(no output)"


def _run(command, chdir=None):
    import shlex
    import subprocess

    try:
        done = subprocess.run(shlex.split(command), cwd=chdir, capture_output=True, text=True, errors="replace",
                              check=False)
    except OSError as e:
        raise OpsreadyError("cannot run %s: %s" % (command, e.strerror))
    return done.returncode, (done.stdout + done.stderr)
