# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The maintenance window's plan: what there is to do, and whether the window may go on (pure, no I/O)."""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

FINISH = "-e '{\"maintenance_window_finish\": true}'"


def _versions(preview):
    if preview is None or (isinstance(preview, dict) and (preview.get("skipped") or "plan" not in preview)):
        return []
    if not isinstance(preview, dict) or not isinstance(preview.get("plan"), list) or not all(
            isinstance(step, dict) and isinstance(step.get("version"), str) for step in preview["plan"]):
        raise OpsreadyError("maintenance_window_plan: expected the registered result of opsready.runbooks.db_migration "
                            "in check mode (with plan, a list of {version}), got %r" % (preview,))
    return [step["version"] for step in preview["plan"]]


def _work(work):
    if not isinstance(work, dict):
        raise OpsreadyError("maintenance_window_plan: work is {tasks_file, commands, once_commands}, got %r" % (work,))
    tasks_file = work.get("tasks_file") or ""
    commands, once = work.get("commands") or [], work.get("once_commands") or []
    if not isinstance(tasks_file, str) or not isinstance(commands, list) or not isinstance(once, list):
        raise OpsreadyError("maintenance_window_plan: work is {tasks_file (a path), commands and once_commands (lists "
                            "of argv lists)}, got %r" % (work,))
    return tasks_file, commands, once


def plan(preview, work, leftovers, finish=False):
    """What the window has to do, from the pending migrations (`preview`, db_migration's check-mode result, skipped when
    no migrations are configured), the user's `work` ({tasks_file, commands, once_commands}) and what an earlier run
    left (`leftovers`, the runbook role's runbook_leftovers: text, unreachable). Returns {todo, migrations, text}
    (text: the timeline's words for it).

    Refuses (OpsreadyError with step=True, said as it is) a site an earlier run left half-done when there is nothing
    else to do, unless `finish` (finishing it is then the work), and any app host that cannot be reached: the site is
    never closed around a dead host."""
    migrations = _versions(preview)
    tasks_file, commands, once = _work(work)
    if not isinstance(leftovers, dict) or not isinstance(leftovers.get("text", ""), str):
        raise OpsreadyError("maintenance_window_plan: leftovers is the runbook role's runbook_leftovers, got %r"
                            % (leftovers,))
    left, unreachable = leftovers.get("text") or "", list(leftovers.get("unreachable") or [])
    if not isinstance(finish, bool):
        raise OpsreadyError("maintenance_window_plan: finish is true or false, got %r" % (finish,))
    todo = bool(migrations or tasks_file or commands or once)
    if not todo and not finish and left:
        raise OpsreadyError(
            "Nothing is pending, but an earlier run left %s. To finish it (workers started, the health gate seen through "
            "maintenance, maintenance off, every host back in rotation), run again with %s; to keep the site closed "
            "while you work, playbooks/maintenance.yml." % (left, FINISH), step=True)
    if unreachable:
        raise OpsreadyError(
            "Cannot reach %s: %s. Run again once every app host answers, or leave it out with "
            "-e '{\"maintenance_window_hosts\": \"<the others>\"}'." % (", ".join(unreachable), left), step=True)
    todo = todo or (finish and bool(left))
    text = "%s; %s%d command(s)%s%s" % (
        "migrations " + ", ".join(migrations) if migrations else "no migration pending",
        "tasks file %s; " % tasks_file if tasks_file else "",
        len(commands) + len(once),
        "" if todo else ": nothing to do, the site stays up and nothing changes",
        "; an earlier run left " + left if left else "")
    return {"todo": todo, "migrations": migrations, "text": text}
