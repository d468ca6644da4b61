# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The rollback's plan, decided before anything changes: the target release and the hosts to switch, whether the
schema's way back is given in full, where the schema goes, and its steps (the command backend's, a restore's).

Pure functions of what opsready.runbooks.release and db_migration returned and of the role's settings. The filters
in plugins/filter/rollback_plan.py give them to the role rollback (tasks/precheck.yml), one per step."""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

BACKENDS = ("builtin", "alembic", "command")
RESTORE_NEEDS_A_CHECK = (
    "rollback_restore_from needs a backend whose schema the role can check in the restored database (builtin, "
    "alembic); with command, restore with the role opsready.runbooks.db_backup (tasks_from restore, with "
    "db_backup_restore_check)")


def _kind(value):
    """The value as a user wrote it: 'the str ...' also for Ansible's own subclasses (a templated string's)."""
    if value is None:
        return "null"
    kind = next((kind for kind in (bool, int, float, str, list, dict) if isinstance(value, kind)), type(value))
    return "the %s %r" % (kind.__name__, kind(value) if kind is not type(value) else value)


def _text(name, value):
    if not isinstance(value, str):
        raise OpsreadyError("%s is %s: give a string" % (name, _kind(value)))
    return value


def _backend(backend):
    if backend not in BACKENDS:
        raise OpsreadyError("rollback_migrations_backend is %s: give one of %s"
                            % (_kind(backend), ", ".join(BACKENDS)))
    return backend


def _steps(steps):
    """rollback_migrations_steps as a number (an extra var on the command line comes as a string)."""
    if isinstance(steps, int) and not isinstance(steps, bool):
        return steps
    try:
        if isinstance(steps, str):
            return int(steps)
    except ValueError:
        pass
    raise OpsreadyError("rollback_migrations_steps is %s: give a number of migrations (0: none)" % _kind(steps))


def _result(name, result, keys):
    if not isinstance(result, dict):
        raise OpsreadyError("%s is %s: give the registered result of the task" % (name, _kind(result)))
    missing = [key for key in keys if key not in result]
    if missing:
        raise OpsreadyError("%s has no %s: give the registered result of the task that ran (was it skipped?)"
                            % (name, ", ".join(missing)))
    return result


def _list(name, value):
    if not isinstance(value, list):
        raise OpsreadyError("%s is %s: give a list" % (name, _kind(value)))
    return value


def release_plan(results):
    """The release part of the plan, from opsready.runbooks.release's check-mode results looped over the hosts (each
    result's `item` is its host): the target (the first host's), each host's live release, the hosts to switch, the
    installed releases (the first host's, oldest first), and what stops the rollback (empty when nothing does):
    `disagree` - the hosts would go to different releases; `newer` - the target is newer than a host's live release."""
    if not isinstance(results, list) or not results:
        raise OpsreadyError("expects the results of opsready.runbooks.release looped over the hosts (its registered "
                            "variable's results), got %s" % _kind(results))
    for number, result in enumerate(results, 1):
        _result("result %d" % number, result, ("item", "before", "after", "releases"))
        _text("result %d's item (its host)" % number, result["item"])
        _list("result %d's releases" % number, result["releases"])
    target, releases = results[0]["after"], results[0]["releases"]
    if target not in releases:
        raise OpsreadyError("the target %s is not among the installed releases of %s (%s)"
                            % (target, results[0]["item"], ", ".join(map(str, releases))))
    disagree = ""
    if any(result["after"] != target for result in results):
        going = ", ".join("%s: %s" % (result["item"], result["after"]) for result in results)
        disagree = ("The hosts would go to different releases (%s): they do not run the same release. Name the target "
                    "with rollback_version." % going)
    older = releases[:releases.index(target)]
    ahead = [result for result in results if result["before"] is not None and result["before"] in older]
    newer = ""
    if ahead:
        newer = ("%s is newer than the release live on %s: going forward is a deploy, which migrates the schema first: "
                 "ansible-playbook playbooks/deploy.yml -e deploy_version=%s. Nothing was changed."
                 % (target, ", ".join("%s (%s)" % (result["item"], result["before"]) for result in ahead), target))
    return {"target": target, "before": {result["item"]: result["before"] for result in results},
            "hosts_to_switch": [result["item"] for result in results if result.get("changed")],
            "releases": list(releases), "disagree": disagree, "newer": newer}


def problems(backend, release, target="", steps=0, restore_from=""):
    """What keeps the schema's way back from being given in full, before the schema is looked at: one message each."""
    command = _backend(backend) == "command"
    target, steps = _text("rollback_migrations_target", target), _steps(steps)
    restore_from = _text("rollback_restore_from", restore_from)
    found = []
    if command and bool(target) == (steps > 0):
        found.append("backend command cannot tell which schema release %s needs: give either rollback_migrations_steps "
                     "(how many migrations the releases after it added) or rollback_migrations_target" % release)
    if not command and steps > 0:
        found.append("rollback_migrations_steps is for backend command: %s finds the schema the target release needs "
                     "by itself (rollback_migrations_target names another)" % backend)
    if command and restore_from:
        found.append(RESTORE_NEEDS_A_CHECK)
    return found


def schema_target(target_schema, target="", steps=0):
    """Where the schema goes (db_migration's target): rollback_migrations_target, else the target release's newest
    migration or Alembic head (target_schema: db_migration's status in its directory, skipped when not needed), '0'
    when it has none; an empty string with rollback_migrations_steps (the schema then goes back that many)."""
    if _steps(steps) > 0:
        return ""
    if _text("rollback_migrations_target", target):
        return target
    if not isinstance(target_schema, dict):
        raise OpsreadyError("the target release's schema is %s: give db_migration's registered result"
                            % _kind(target_schema))
    available = _list("the target release's available migrations", target_schema.get("available", []))
    return available[-1] if available else "0"


def refusal(preview, schema_target, backup_host):
    """What db_migration's check-mode preview said when it refused, and for a migration that cannot be undone, the way
    past it: the backup taken at the schema to go back to, given as rollback_restore_from."""
    if not isinstance(preview, dict):
        raise OpsreadyError("the preview is %s: give db_migration's registered result" % _kind(preview))
    msg = preview.get("msg") or ""
    if "cannot be undone" not in msg:
        return msg
    return ("%s. Give that backup, taken at schema %s, with -e '{\"rollback_restore_from\": \"<its path on %s>\"}' "
            "(what was written since it is kept in the database it replaces)" % (msg, schema_target, backup_host))


def command_plan(preview, hosts_to_switch, target="", steps=0):
    """The command backend's schema plan: its tool cannot say where the schema is, so the step (target, or steps) is
    due only in a run that switches a host and whose preview (db_migration in check mode) did not say 'nothing to
    do'. `before` is unknown; the SQL is the tool's preview output, or what would run."""
    _result("the preview", preview, ("msg",))
    _text("the preview's msg", preview["msg"])
    _list("the hosts to switch", hosts_to_switch)
    _text("rollback_migrations_target", target)
    _steps(steps)
    step = {"version": target or "%s step(s)" % steps, "direction": "down"}
    due = bool(hosts_to_switch) and not preview["msg"].startswith("nothing to do")
    return {"before": None, "after": target or None, "plan": [step] if due else [],
            "sql": [dict(step, sql=preview.get("plan_output", preview["msg"]))] if due else []}


def restore_plan(newest, schema_target, backend):
    """The schema plan of a restore (rollback_restore_from), from db_migration's status in the newest release: every
    migration applied after schema_target goes (newest first), and what the restored database's migrations record
    must hold (`expect` - builtin: every version up to schema_target; alembic: schema_target alone)."""
    _result("the newest release's schema", newest, ("applied", "before"))
    _text("the schema to go back to", schema_target)
    applied = _list("the newest release's applied migrations", newest["applied"])
    kept = applied.index(schema_target) + 1 if schema_target in applied else 0
    preview = {"before": newest["before"], "after": schema_target,
               "plan": [{"version": version, "direction": "restore"} for version in reversed(applied[kept:])],
               "sql": []}
    expect = applied[:kept] if _backend(backend) == "builtin" else applied[kept - 1:kept]
    return {"preview": preview, "expect": expect}


def plan(schema, target, before, hosts_to_switch, restore_from="", backup_host=""):
    """The plan as the evidence records it: the release part, and the schema's from its preview (db_migration's
    check-mode result, command_plan's or restore_plan's; empty without migrations)."""
    if not isinstance(schema, dict):
        raise OpsreadyError("the schema plan is %s: give the preview (an empty dict without migrations)"
                            % _kind(schema))
    restore_from = _text("rollback_restore_from", restore_from)
    steps = _list("the schema plan's plan", schema.get("plan", []))
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict) or "version" not in step:
            raise OpsreadyError("step %d of the schema plan has no version: %s" % (number, _kind(step)))
    return {"target_release": target, "releases_before": before, "hosts_to_switch": hosts_to_switch,
            "schema_before": schema.get("before"), "schema_target": schema.get("after"),
            "schema_steps": schema.get("sql", []), "schema_versions": [step["version"] for step in steps],
            "schema_restore_from": "%s:%s" % (backup_host, restore_from) if restore_from else None}
