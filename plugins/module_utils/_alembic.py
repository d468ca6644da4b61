# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""db_migration backend=alembic: Alembic's own CLI, with the safety of the built-in backend.

Before anything runs, Alembic's offline mode (--sql) renders the plan: the SQL of every step. A downgrade step whose
SQL only moves Alembic's version row does nothing (a `pass` downgrade) and is refused as irreversible, like an empty
.down.sql. Steps are resolved to a revision through `alembic history`, so a preview and the real run agree.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._migrations import (
    _checked, _last, _run, find_tool, validate)

STEP = re.compile(r"^-- Running (upgrade|downgrade) (\S*) -> (\S+)\s*$", re.M)
# `alembic history`: "b2 -> c3 (head), message"; a merge is "c3, d4 -> e5 (head) (mergepoint), message"
HISTORY = re.compile(r"^(?P<down>.+?) -> (?P<rev>[^\s,]+)(?P<marks>(?: \([a-z ]+\))*),?")
UNKNOWN = re.compile(r"Can't locate revision identified by '([^']+)'")
CURRENT = re.compile(r"^Current revision\(s\) for ", re.M)  # `alembic current -v` says it even at base
REVISION = re.compile(r"^Rev: (\S+)", re.M)


def _alembic(params, *args):
    base = shlex.split(params.get("alembic_command") or "alembic") + ["-c", params.get("alembic_config") or "alembic.ini"]
    return " ".join(shlex.quote(part) for part in base + list(args))


def current(params, execute):
    """The current revision (None at base); refuses a database at several heads (branches). A revision this project
    does not have (a newer release's, seen from the release a rollback goes back to) is returned as it is. An
    answer without Alembic's "Current revision(s) for" line is no answer (a wrong alembic_command), not "at base"."""
    try:
        ran = _checked(execute, _alembic(params, "current", "-v"), params)
    except OpsreadyError as e:
        unknown = UNKNOWN.search(str(e))
        if unknown:
            return unknown.group(1)
        raise
    if not CURRENT.search(ran["output"]):
        raise OpsreadyError("%s gave no answer (no 'Current revision(s) for' line): is alembic_command Alembic, and "
                            "does the project's env.py run?" % ran["command"], executed=[ran])
    revisions = REVISION.findall(ran["output"])
    if len(revisions) > 1:
        raise OpsreadyError("the database is at several revisions (%s): merge the branches first" % ", ".join(revisions))
    return revisions[0] if revisions else None


def chain(params, execute):
    """Every revision from base to head, oldest first. db_migration follows one line of revisions: several heads,
    and a history that branched and merged again, are refused."""
    output = _checked(execute, _alembic(params, "history"), params)["output"]
    links, heads, merges = {}, [], []
    for line in output.splitlines():
        match = HISTORY.match(line.strip())
        if not match:
            continue
        down, revision, marks = match.group("down"), match.group("rev"), match.group("marks")
        if "(head)" in marks:
            heads.append(revision)
        if "," in down or "(mergepoint)" in marks:
            merges.append(revision)
        links.setdefault(down, []).append(revision)
    if len(heads) > 1:
        raise OpsreadyError("the project has several heads (%s): db_migration follows one line of revisions; merge "
                            "them first (alembic merge heads)" % ", ".join(sorted(heads)))
    branched = sorted(down for down, children in links.items() if len(children) > 1)
    if merges or branched:
        raise OpsreadyError("the project's history is not one line of revisions (%s): db_migration cannot tell "
                            "which steps a rollback or steps means" % "; ".join(
                                ["%s branches" % b for b in branched] + ["%s merges branches" % m for m in merges]))
    order, revision = [], "<base>"
    while revision in links:
        revision = links[revision][0]
        order.append(revision)
    return order


def steps_sql(output):
    """[(direction, from, to, sql)] from Alembic's offline output."""
    marks = list(STEP.finditer(output))
    blocks = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(output)
        body = output[mark.end():end].replace("COMMIT;", "")
        blocks.append((mark.group(1), mark.group(2) or "base", mark.group(3), body.strip()))
    return blocks


def does_nothing(sql, version_table):
    statements = [s.strip() for s in sql.split(";") if s.strip() and not s.strip().startswith("--")]
    return all(version_table in s for s in statements)


def run(params, check_mode=False, execute=None):
    validate(params)
    execute = execute or _run
    find_tool(params.get("alembic_command") or "alembic", params.get("chdir"), "alembic_command")
    history = chain(params, execute)
    now = current(params, execute)
    result = {"changed": False, "before": now, "after": now, "available": history, "executed": [], "plan": []}
    known = now is None or now in history
    result["applied"] = history[:history.index(now) + 1] if now in history else []
    result["pending"] = history[len(result["applied"]):] if known else []
    if not known:
        if params["state"] != "status":
            raise OpsreadyError("the database is at %s, a revision this project does not have (a newer release's?): "
                                "run this from the release that has it" % now, **result)
        result["msg"] = "schema at %s, a revision this project does not have (a newer release's?)" % now
        return result
    if params["state"] == "status":
        result["msg"] = "schema at %s; pending: %s" % (now or "base", ", ".join(result["pending"]) or "none")
        return result
    target = _target(params, history, result["applied"])
    result["after"] = None if target == "base" else target
    if target == (now or "base"):
        result["msg"] = "nothing to do: schema at %s" % (now or "base")
        return result
    verb = "downgrade" if params["state"] == "rolled_back" else "upgrade"
    preview = _checked(execute, _alembic(params, verb, "%s:%s" % (now or "base", target), "--sql"), params)["output"]
    blocks = steps_sql(preview)
    result["plan"] = [{"version": block[1] if verb == "downgrade" else block[2],
                       "direction": "down" if verb == "downgrade" else "up"} for block in blocks]
    result["sql"] = [dict(step, sql=block[3]) for step, block in zip(result["plan"], blocks)]
    if verb == "downgrade":
        table = params.get("alembic_version_table") or "alembic_version"
        empty = [block[1] for block in blocks if does_nothing(block[3], table)]
        if empty:
            raise OpsreadyError("refusing to roll back: %s cannot be undone (its downgrade() changes nothing but %s); "
                                "restore the backup taken before it was applied instead" % (", ".join(empty), table),
                                plan=result["plan"], sql=result["sql"])
    result["changed"] = True
    listed = ", ".join(step["version"] for step in result["plan"])
    if check_mode:
        result["msg"] = "would %s %s: schema %s -> %s" % (verb, listed, now or "base", target)
        return result
    ran = _checked(execute, _alembic(params, verb, target), params)
    result["executed"] = [dict(step, command=ran["command"]) for step in result["plan"]]
    reached = current(params, execute)
    if (reached or "base") != target:
        raise OpsreadyError("alembic %s %s ended at %s instead: %s" % (
            verb, target, reached or "base", _last(ran["output"], 3)), executed=result["executed"], after=reached)
    done = "rolled back" if verb == "downgrade" else "applied"
    result["msg"] = "%s %s: schema %s -> %s" % (done, listed, now or "base", target)
    return result


def _target(params, history, applied):
    target, count = params.get("target"), params.get("steps")
    if params["state"] == "rolled_back":
        if count is not None:
            if count > len(applied):
                raise OpsreadyError("asked to roll back %d step(s) but only %d revision(s) are applied (%s)"
                                    % (count, len(applied), ", ".join(applied) or "none"))
            return applied[-count - 1] if count < len(applied) else "base"
        if target in ("0", "base"):
            return "base"
        if target not in applied:
            raise OpsreadyError("target %s is not an applied revision (applied: %s; known: %s)"
                                % (target, ", ".join(applied) or "none", ", ".join(history) or "none"))
        return target
    if count is not None:
        pending = history[len(applied):]
        return pending[min(count, len(pending)) - 1] if pending else (applied[-1] if applied else "base")
    if target in (None, "head", "heads"):
        return history[-1] if history else "base"
    if target not in history:
        raise OpsreadyError("target %s is not a revision of this project; known: %s" % (target, ", ".join(history)))
    if target in applied and target != applied[-1]:
        raise OpsreadyError("target %s is below the current revision %s: that is a rollback, use state=rolled_back"
                            % (target, applied[-1]))
    return target
