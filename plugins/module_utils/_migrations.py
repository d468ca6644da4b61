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
CONVENTION = ("NNNN_name.up.sql and NNNN_name.down.sql: a version of digits, an underscore, a name of letters a-z A-Z, "
              "digits and _, then .up.sql or .down.sql")
IGNORED = (".md", ".txt", ".rst")  # notes beside the migrations (README.md); hidden files and directories too
LOCK_KEY = 0x6F707372  # pg advisory lock key "opsr": one migration run per database at a time
MAX_STEPS = 10000
MAX_LOCK_TIMEOUT = 3600
MAX_LOCK_RETRIES = 10
TABLE_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PLACEHOLDERS = ("steps", "target")
COMMANDS = ("status", "apply", "rollback", "preview_apply", "preview_rollback")


# ------------------------------------------------------------------------------ input, checked before anything
def validate(params):
    """Refuse, before anything runs (no connection, no tool), what no backend can do as asked. Each message names
    the option to fix."""
    backend, state = params.get("backend") or "builtin", params.get("state") or "status"
    steps = params.get("steps")
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise OpsreadyError("steps must be between 1 and %d, got %d" % (MAX_STEPS, steps))
    for option in ("steps", "target"):
        if state == "status" and params.get(option) is not None:
            raise OpsreadyError("%s is for state=applied or state=rolled_back; state=status only reads (did you mean "
                                "state=rolled_back?)" % option)
    if params.get("target") is not None and not str(params["target"]).strip():
        raise OpsreadyError("target is empty: give a version (or leave target out)")
    _number(params, "lock_timeout", MAX_LOCK_TIMEOUT)
    _number(params, "timeout")
    retries = params.get("lock_retries")
    if retries is not None and not 0 <= retries <= MAX_LOCK_RETRIES:
        raise OpsreadyError("lock_retries must be between 0 and %d, got %d" % (MAX_LOCK_RETRIES, retries))
    if params.get("table") is not None:
        check_table(params["table"])
    for option in ("commands", "nothing_regex"):
        if params.get(option) and backend != "command":
            raise OpsreadyError("%s is for backend=command; backend is %s" % (option, backend))
    if params.get("nothing_regex"):
        try:
            re.compile(params["nothing_regex"])
        except re.error as e:
            raise OpsreadyError("nothing_regex is not a regular expression: %s" % e)
    if backend == "builtin":
        if not params.get("path"):
            raise OpsreadyError("path is required with backend=builtin (the migrations directory)")
        if not os.path.isdir(params["path"]):
            raise OpsreadyError("path %s is not a directory on this host (the migrations directory)%s" % (
                params["path"], "" if os.path.exists(params["path"]) else ": it does not exist"))
    elif params.get("chdir") and not os.path.isdir(params["chdir"]):
        raise OpsreadyError("chdir %s is not a directory on this host (the project's directory)" % params["chdir"])
    if backend == "command":
        check_commands(params)


def _number(params, option, most=None):
    value = params.get(option)
    if value is None:
        return
    if value <= 0:
        raise OpsreadyError("%s must be more than 0 seconds, got %s" % (option, _seconds(value)))
    if most is not None and value > most:
        raise OpsreadyError("%s must be at most %d seconds, got %s" % (option, most, _seconds(value)))


def _seconds(value):
    return ("%g" % value) if isinstance(value, float) else str(value)


def check_table(table):
    """The migrations table: a name, or schema.name, each of letters, digits, _ and $ (not first), at most 63
    characters; taken as written, case included (quoted in SQL)."""
    parts = table.split(".")
    if len(parts) > 2 or not all(TABLE_PART.match(part) for part in parts):
        raise OpsreadyError("table %r is not a table name: give name or schema.name, each starting with a letter or _ "
                            "and made of letters a-z A-Z, digits, _ and $, at most 63 characters" % table)


def check_commands(params):
    """The command templates against what is given: every placeholder known; in the commands this state runs, every
    placeholder given a value and, in the command that moves the schema and its preview, every given value used."""
    commands = params.get("commands") or {}
    action = {"applied": "apply", "rolled_back": "rollback"}.get(params.get("state") or "status")
    if action and not commands.get(action):
        raise OpsreadyError("backend command needs commands.%s for state=%s" % (action, params.get("state")))
    runs = [kind for kind in ("status", action, action and "preview_" + action) if kind and commands.get(kind)]
    for kind in COMMANDS:
        text = commands.get(kind) or ""
        used = set(PLACEHOLDER.findall(text))
        unknown = sorted(used.difference(PLACEHOLDERS))
        if unknown:
            raise OpsreadyError("commands.%s has an unknown placeholder {%s} (known: {steps}, {target})"
                                % (kind, unknown[0]))
        if kind not in runs:
            continue
        for key in sorted(used):
            if params.get(key) is None:
                raise OpsreadyError("commands.%s uses {%s} but %s is not given: the tool would get an empty value"
                                    % (kind, key, key))
        if kind in (action, "preview_" + str(action)):
            for key in PLACEHOLDERS:
                if params.get(key) is not None and key not in used:
                    raise OpsreadyError("%s is given but commands.%s has no {%s}: the tool would not be told %s" % (
                        key, kind, key, "how many to roll back" if key == "steps" and action == "rollback" else
                        "how many to apply" if key == "steps" else "where to stop"))


def mask(text, secrets):
    """text with every secret replaced by ********."""
    for secret in secrets or ():
        if secret:
            text = text.replace(secret, "********")
    return text


# ------------------------------------------------------------------------------------------ migration files
def discover(path):
    """{version: {"name", "up", "down"}} from a migrations directory (file paths; "down" may be missing). A file
    that is not a migration is an error (every such file listed, with the convention), except notes (.md, .txt,
    .rst), hidden files and directories, which are left alone."""
    if not os.path.isdir(path):
        raise OpsreadyError("path %s is not a directory on this host (the migrations directory)" % path)
    steps, strangers = {}, []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith(IGNORED) or os.path.isdir(os.path.join(path, entry)):
            continue
        match = FILE.match(entry)
        if not match:
            strangers.append(entry)
            continue
        version, name, direction = match.groups()
        step = steps.setdefault(version, {"name": name})
        if step["name"] != name:
            raise OpsreadyError("migration %s has two names in %s: %s and %s" % (version, path, step["name"], name))
        step[direction] = os.path.join(path, entry)
    if strangers:
        raise OpsreadyError("%s in path %s (migration files are named %s; notes may end in %s). Rename or move them" % (
            "; ".join("%s: not a migration file" % name for name in strangers), path, CONVENTION, ", ".join(IGNORED)))
    for version, step in steps.items():
        if "up" not in step:
            raise OpsreadyError("migration %s_%s in %s has no .up.sql file" % (version, step["name"], path))
    return steps


def read_sql(path):
    with open(path) as f:
        return f.read()


# ------------------------------------------------------------------------------------------ reading the SQL
TOKEN = re.compile(r"""(?P<space>\s+)|(?P<line>--[^\n]*)|(?P<block>/\*)|(?P<semi>;)
    |(?P<estring>[Ee]')|(?P<string>')|(?P<ident>")|(?P<dollar>\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)
    |(?P<word>[A-Za-z_\x80-\uffff][\w$\x80-\uffff]*)|(?P<other>.)""", re.X | re.S)
TOKEN_KINDS = {"word": "word", "ident": "ident", "string": "string", "estring": "string", "dollar": "string"}
# Statements that end or start a transaction. ROLLBACK TO, SAVEPOINT and RELEASE stay inside it and are fine.
TRANSACTION_CONTROL = {"begin": "BEGIN", "commit": "COMMIT", "end": "END", "rollback": "ROLLBACK", "abort": "ABORT",
                       ("start", "transaction"): "START TRANSACTION", ("prepare", "transaction"): "PREPARE TRANSACTION"}


def statements(sql):
    """[(line, [words])]: the top-level statements of a SQL text, each with the line it starts on and its words
    (lower case), as PostgreSQL reads them: strings ('', E'', $tag$ bodies), quoted identifiers and comments (nested
    /* */ too) hold no words, and a ; inside BEGIN ATOMIC ... END of a function does not end the statement."""
    return [(statement["line"], statement["words"]) for statement in split(sql)]


def split(sql):
    """[{"line", "words", "tokens"}]: the statements as statements() reads them, each with its tokens too: every
    token but blanks and comments, in order, as (kind, text as written, offset in sql); kind is word, ident (a
    quoted identifier, quotes included), string ('', E'' or a $tag$ body, quotes included) or symbol (one
    character; a ; inside BEGIN ATOMIC ... END is one). A statement's words are its word tokens in lower case,
    after "" when it starts with another token."""
    found, current, depth, line, pos = [], None, 0, 1, 0
    while pos < len(sql):
        match = TOKEN.match(sql, pos)
        kind, text = match.lastgroup, match.group()
        end = match.end()
        if kind == "block":
            nesting, end = 1, pos + 2
            while nesting and end < len(sql):
                if sql.startswith("/*", end):
                    nesting, end = nesting + 1, end + 2
                elif sql.startswith("*/", end):
                    nesting, end = nesting - 1, end + 2
                else:
                    end += 1
        elif kind in ("string", "estring", "ident"):
            quote, end = text[-1], match.end()
            while end < len(sql):
                if kind == "estring" and sql[end] == "\\":
                    end += 2
                elif sql[end] == quote and sql.startswith(quote * 2, end):
                    end += 2
                elif sql[end] == quote:
                    end += 1
                    break
                else:
                    end += 1
        elif kind == "dollar":
            if pos and re.match(r"[\w$]", sql[pos - 1]):  # a$b$ is a name, $1 a parameter: not a quote
                kind, end = "other", pos + 1
            else:
                close = sql.find(text, end)
                end = len(sql) if close < 0 else close + len(text)
        if kind == "semi" and depth <= 0:
            if current:
                found.append(current)
            current, depth = None, 0
        elif kind not in ("space", "line", "block"):
            if current is None:  # a statement that starts with a symbol, e.g. (SELECT 1), has "" as first word
                current = {"line": line, "words": [] if kind == "word" else [""], "tokens": []}
            current["tokens"].append((TOKEN_KINDS.get(kind, "symbol"), sql[pos:end], pos))
            if kind == "word":
                words = current["words"]
                words.append(text.lower())
                if words[:2] in (["create", "function"], ["create", "procedure"]) or words[:4] in (
                        ["create", "or", "replace", "function"], ["create", "or", "replace", "procedure"]):
                    depth += {"begin": 1, "case": 1, "end": -1}.get(words[-1], 0)
        line += sql.count("\n", pos, end)
        pos = end
    if current:
        found.append(current)
    return found


def transaction_control(sql):
    """[(line, "COMMIT")] for each statement that starts or ends a transaction. A COMMIT inside a dollar-quoted
    procedure or DO body is not one of them: PostgreSQL itself refuses it inside the migration's transaction."""
    found = []
    for line, words in statements(sql):
        name = TRANSACTION_CONTROL.get(tuple(words[:2])) or TRANSACTION_CONTROL.get(words[0])
        if name and not (words[0] == "rollback" and words[1:2] == ["to"]):
            found.append((line, name))
    return found


def is_empty(sql):
    """True when the SQL has no statement at all (only blanks and comments): such a down migration undoes nothing."""
    return not statements(sql)


def refuse_transaction_control(todo):
    """Refuse, before anything runs, a planned step whose SQL would end (or start) the transaction it runs in."""
    found = ["%s line %d: %s" % (os.path.basename(step["file"]), line, name)
             for step in todo for line, name in transaction_control(read_sql(step["file"]))]
    if found:
        raise OpsreadyError("refusing to run: %s. A migration must not end or start transactions: db_migration runs "
                            "each step and its row in the migrations table in one transaction (with atomic, the whole "
                            "plan); remove these statements" % "; ".join(found))


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
    """Applied versions, oldest first; [] when the table does not exist yet (nothing applied). The table is looked
    up by the same quoted name it is created with, so a mixed-case name is found again."""
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (_table(table).as_string(conn),))
        if cur.fetchone()[0] is None:
            return []
        cur.execute(sql.SQL("SELECT version FROM {}").format(_table(table)))
        versions = [row[0] for row in cur.fetchall()]
    odd = [v for v in versions if not v.isdigit()]
    if odd:
        raise OpsreadyError("%s holds versions that are not numbers (%s): is it another tool's table?"
                            % (table, ", ".join(odd)))
    return sorted(versions, key=int)


class _StepFailed(Exception):
    def __init__(self, step, error):
        super().__init__(str(error))
        self.step, self.error = step, error


def _lock_timeout(error):
    return getattr(error, "pgcode", None) == "55P03"  # lock_not_available: lock_timeout ran out


def execute(conn, table, steps, atomic=True, lock_retries=0, lock_timeout=None, blockers=None, sleep=time.sleep):
    """Run the planned steps; returns what ran [{version, name, direction, seconds}]. On failure raises
    OpsreadyError saying which step failed, what had already run, and in which state the schema is.

    A step that waits longer than the session's lock_timeout for a lock fails, its transaction is rolled back, and
    after a pause as long as lock_timeout (the application's queries go through meanwhile) it is tried again, up to
    lock_retries more times; blockers() names the sessions seen blocking it."""
    from psycopg2 import extensions

    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cur.fetchone()[0]:
            raise OpsreadyError("another migration run holds the lock on this database (pg advisory lock %d); "
                                "wait for it to finish" % LOCK_KEY)
    conn.autocommit = False
    done = []
    try:
        for group in [steps] if atomic else [[step] for step in steps]:
            for attempt in range(1, lock_retries + 2):
                try:
                    done.extend(_transaction(conn, table, group, extensions))
                    break
                except _StepFailed as failed:
                    conn.rollback()
                    if isinstance(failed.error, OpsreadyError):  # the step ended the transaction itself
                        recorded = failed.error.result["recorded"]
                        executed = [s for s in done + failed.error.result["ran"]
                                    if (s["version"] in recorded) == (s["direction"] == "up")]
                        raise OpsreadyError(str(failed.error), executed=executed, failed_step=failed.step["version"],
                                            after=recorded[-1] if recorded else None)
                    if _lock_timeout(failed.error) and attempt <= lock_retries:
                        sleep(lock_timeout or 0)
                        continue
                    raise _failure(failed, done if not atomic else [], atomic, attempt,
                                   lock_timeout, (blockers or list)())
        return done
    finally:
        conn.rollback()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _transaction(conn, table, steps, extensions):
    """One transaction: the migrations table (created when missing), then each step's SQL and its row; committed."""
    from psycopg2 import sql

    ran = []
    with conn.cursor() as cur:
        try:
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, name text NOT NULL, "
                                "applied_at timestamptz NOT NULL DEFAULT now())").format(_table(table)))
        except Exception as e:
            raise _StepFailed(steps[0], e)
        for step in steps:
            start = time.monotonic()
            try:
                cur.execute(read_sql(step["file"]))
                if conn.info.transaction_status != extensions.TRANSACTION_STATUS_INTRANS:
                    raise _ended(conn, table, step, ran)
                if step["direction"] == "up":
                    cur.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(_table(table)),
                                (step["version"], step["name"]))
                else:
                    cur.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(_table(table)),
                                (step["version"],))
                    if cur.rowcount != 1:
                        raise ValueError("migration %s was not recorded as applied" % step["version"])
            except Exception as e:
                raise _StepFailed(step, e)
            ran.append(dict(step, seconds=round(time.monotonic() - start, 3)))
    conn.commit()
    return ran


def _ended(conn, table, step, ran):
    """The truth when a step's SQL ended the transaction itself (what the up-front reading should have refused):
    what the migrations table records now, read back."""
    conn.rollback()
    recorded = applied_versions(conn, table)
    conn.rollback()
    return OpsreadyError(
        "%s migration %s_%s ended the transaction itself (a COMMIT or ROLLBACK in its SQL): what ran before that "
        "point is committed and not rolled back; the migrations table now records %s (%s is %s); check the schema "
        "before running again" % (step["direction"], step["version"], step["name"], ", ".join(recorded) or "nothing",
                                  step["version"], "recorded" if step["version"] in recorded else "not recorded"),
        recorded=recorded, ran=ran)


def _failure(failed, committed, atomic, attempts, lock_timeout, blockers):
    step, error = failed.step, failed.error
    undone = "the whole plan was rolled back, the schema is as it was before this run" if atomic else (
        "this step was rolled back; %s stay done" % (", ".join(s["version"] for s in committed)
                                                     if committed else "no earlier step"))
    extra = {}
    if _lock_timeout(error):
        extra["blockers"] = blockers
        named = "; ".join(_blocker(b) for b in blockers) or "a session that let go before it could be named"
        way = (" Run again once that session is done, or end it: %s" % "; ".join(
            "SELECT pg_terminate_backend(%d)" % b["pid"] for b in blockers)) if blockers else ""
        why = "waited more than %s s for a lock (lock_timeout), %d attempt(s): blocked by %s; %s.%s" % (
            _seconds(lock_timeout), attempts, named, undone, way)
    else:
        why = "failed: %s; %s" % (" ".join(str(error).split()), undone)
    return OpsreadyError("%s migration %s_%s %s" % (step["direction"], step["version"], step["name"], why),
                         executed=committed, failed_step=step["version"], **extra)


def _blocker(b):
    return "pid %d (application %s, user %s, %s%s, last query: %s)" % (
        b["pid"], b["application_name"] or "unnamed", b["usename"], b["state"],
        " since %s" % b["state_change"] if b.get("state_change") else "", b["query"] or "none")


def run(params, check_mode=False, want_diff=False):
    """The whole module: status, or plan and (unless check_mode) execute. Returns the module result."""
    from ansible_collections.opsready.runbooks.plugins.module_utils import _postgres

    validate(params)
    table = params.get("table") or "schema_migrations"
    lock_timeout = params.get("lock_timeout") or 5
    steps = discover(params["path"])
    conn = _postgres.connect(params, lock_timeout=lock_timeout)
    try:
        applied = applied_versions(conn, table)
        before = applied[-1] if applied else None
        result = {"changed": False, "applied": applied, "before": before, "after": before,
                  "available": sorted(steps, key=int),
                  "pending": [v for v in sorted(steps, key=int) if v not in applied],
                  "irreversible": irreversible(steps), "executed": [], "plan": []}
        if params["state"] == "status":
            result["msg"] = "schema at %s; pending: %s" % (before or "nothing applied",
                                                           ", ".join(result["pending"]) or "none")
            return result
        todo = plan(steps, applied, params["state"], params.get("target"), params.get("steps"))
        refuse_transaction_control(todo)
        result["plan"] = [{k: step[k] for k in ("version", "name", "direction")} for step in todo]
        after = _after(applied, todo)
        result.update(changed=bool(todo), after=after[-1] if after else None)
        if check_mode or want_diff:
            result["sql"] = [dict(result["plan"][n], sql=read_sql(step["file"])) for n, step in enumerate(todo)]
        if want_diff:
            result["diff"] = {"before": "applied: %s\n" % " ".join(applied), "after": "applied: %s\n" % " ".join(after),
                              "before_header": table, "after_header": table,
                              "prepared": "".join("-- %s %s_%s\n%s\n" % (s["direction"], s["version"], s["name"],
                                                                         s["sql"].strip()) for s in result["sql"])}
        if not todo:
            result["msg"] = "nothing to do: schema at %s" % (before or "nothing applied")
            return result
        verb = "roll back" if params["state"] == "rolled_back" else "apply"
        listed = ", ".join("%s_%s" % (s["version"], s["name"]) for s in todo)
        if check_mode:
            result["msg"] = "would %s %s: schema %s -> %s" % (verb, listed, before or "none", result["after"] or "none")
            return result
        with _postgres.BlockerWatch(params, conn, interval=min(0.2, lock_timeout / 4)) as watch:
            try:
                result["executed"] = execute(conn, table, todo, params.get("atomic", True),
                                             params.get("lock_retries") or 0, lock_timeout, watch.seen)
            except OpsreadyError as e:
                executed = e.result.get("executed", [])
                now = e.result.get("after", (_after(applied, executed) or [None])[-1])
                raise OpsreadyError(str(e), **dict(result, changed=bool(executed) or now != before, after=now,
                                                   **{k: v for k, v in e.result.items() if k != "after"}))
        done = "rolled back" if verb == "roll back" else "applied"
        result["msg"] = "%s %s: schema %s -> %s" % (done, listed, before or "none", result["after"] or "none")
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
DEFAULT_TIMEOUT = 3600


def run_commands(params, check_mode=False, execute=None):
    validate(params)
    execute = execute or _run
    commands = params.get("commands") or {}
    action = {"applied": "apply", "rolled_back": "rollback"}.get(params["state"])
    for kind in COMMANDS:  # every tool there before anything runs, so status and check mode find a missing one
        if commands.get(kind):
            find_tool(commands[kind], params.get("chdir"), "commands." + kind)

    def command(kind):
        text = commands.get(kind)
        if not text:
            return None
        for key in PLACEHOLDERS:
            text = text.replace("{%s}" % key, "" if params.get(key) is None else str(params[key]))
        return text

    result = {"changed": False, "executed": [], "plan": []}
    if command("status"):
        result["status_output"] = _checked(execute, command("status"), params)["output"]
    if action is None:
        result["msg"] = ("status: " + _last(result["status_output"], 3) if "status_output" in result
                         else "no status command given (commands.status)")
        return result
    nothing = re.compile(params.get("nothing_regex") or NOTHING)
    if check_mode:
        preview = command("preview_" + action)
        if not preview:
            result.update(changed=True, msg="would run: %s (give commands.preview_%s to see what it would do)"
                          % (mask(command(action), params.get("secrets")), action))
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
    result.update(changed=True, msg="%s: %s" % (ran["command"], _last(ran["output"])))
    return result


def find_tool(command, chdir, option):
    """Refuse a command whose program is not there: a name must be on PATH, a path (relative to chdir) an
    executable file."""
    import shlex
    import shutil

    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError) as e:
        raise OpsreadyError("%s is not a command line: %s" % (option, e or "it is empty"))
    if "/" in program:
        where = os.path.join(chdir or os.getcwd(), program)
        if not (os.path.isfile(where) and os.access(where, os.X_OK)):
            raise OpsreadyError("%s: %s is not an executable file%s" % (
                option, program, "" if os.path.isabs(program) else " in %s" % (chdir or os.getcwd())))
    elif not shutil.which(program):
        raise OpsreadyError("%s: %s is not found on this host's PATH" % (option, program))


def _checked(execute, command, params):
    """Run a command; the result with every secret masked. A non-zero exit is an error carrying the output."""
    secrets = params.get("secrets")
    rc, output = execute(command, params.get("chdir"), params.get("timeout") or DEFAULT_TIMEOUT)
    ran = {"command": mask(command, secrets), "rc": rc, "output": mask(output, secrets)}
    if rc is None:
        raise OpsreadyError("%s did not finish within %s s (timeout): killed with every process it started; %s" % (
            ran["command"], _seconds(params.get("timeout") or DEFAULT_TIMEOUT), _last(ran["output"], 3)),
            executed=[ran])
    if rc != 0:
        raise OpsreadyError("%s exited %d: %s" % (ran["command"], rc, _last(ran["output"], 5)), executed=[ran])
    return ran


def _last(output, lines=1):
    kept = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) or "(no output)"


def _run(command, chdir=None, timeout=None):
    """(returncode, stdout + stderr) of a command run without a shell, in its own process group; (None, output so
    far) when it outlives timeout seconds: then the whole group is killed (TERM, and KILL 2 s later)."""
    import shlex
    import signal
    import subprocess

    argv = shlex.split(command)
    try:
        proc = subprocess.Popen(argv, cwd=chdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    except OSError as e:  # the program only: its arguments may hold a secret
        raise OpsreadyError("cannot run %s: %s" % (argv[0], e.strerror))
    try:
        output = proc.communicate(timeout=timeout)[0]  # communicate, not wait: a full pipe would block the tool
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        pass
    output = ""
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the whole group: the tool and every process it started
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            output = proc.communicate(timeout=2)[0]
            break
        except subprocess.TimeoutExpired:
            continue
    return None, output or ""
