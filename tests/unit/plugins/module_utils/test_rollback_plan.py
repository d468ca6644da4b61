"""_rollback_plan: the rollback's pre-checks as pure functions (roles/rollback/tasks/precheck.yml calls them through
the filters of plugins/filter/rollback_plan.py). Inputs are shaped as opsready.runbooks.release and db_migration
return them; the messages asserted here are the ones the lab tests (extensions/molecule/rollback, deploy) read."""
import shlex

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.utils import vars as ansible_vars
from ansible_collections.opsready.runbooks.plugins.module_utils import _rollback_plan as planner
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

RELEASES = ["1.0.0", "1.1.0", "1.2.0"]


def checked(host, before, after, releases=None):
    """One host's result of release in check mode, as the loop over the hosts registers it."""
    return {"item": host, "before": before, "after": after, "changed": before != after,
            "releases": RELEASES if releases is None else releases, "ansible_loop_var": "item"}


# ------------------------------------------------------------------------------------------------- the release part
def test_every_host_goes_back_to_the_release_before():
    plan = planner.release_plan([checked("app1", "1.1.0", "1.0.0"), checked("app2", "1.1.0", "1.0.0")])
    assert plan == {"target": "1.0.0", "before": {"app1": "1.1.0", "app2": "1.1.0"}, "hosts_to_switch": ["app1", "app2"],
                    "releases": RELEASES, "disagree": "", "newer": ""}


def test_a_host_already_on_the_target_is_not_switched():
    plan = planner.release_plan([checked("app1", "1.0.0", "1.0.0"), checked("app2", "1.1.0", "1.0.0")])
    assert plan["hosts_to_switch"] == ["app2"] and plan["before"] == {"app1": "1.0.0", "app2": "1.1.0"}
    assert plan["disagree"] == plan["newer"] == ""


def test_nothing_to_do_when_every_host_runs_the_target():
    plan = planner.release_plan([checked("app1", "1.0.0", "1.0.0"), checked("app2", "1.0.0", "1.0.0")])
    assert plan["hosts_to_switch"] == [] and plan["disagree"] == plan["newer"] == ""


def test_a_host_without_a_live_release_is_switched_and_not_called_older():
    plan = planner.release_plan([checked("app1", None, "1.0.0"), checked("app2", "1.1.0", "1.0.0")])
    assert plan["hosts_to_switch"] == ["app1", "app2"] and plan["before"] == {"app1": None, "app2": "1.1.0"}
    assert plan["newer"] == ""


def test_hosts_that_disagree_stop_the_rollback():
    plan = planner.release_plan([checked("app1", "1.1.0", "1.0.0"), checked("app2", "1.2.0", "1.1.0")])
    assert plan["disagree"] == ("The hosts would go to different releases (app1: 1.0.0, app2: 1.1.0): they do not run "
                                "the same release. Name the target with rollback_version.")
    assert plan["target"] == "1.0.0"  # the first host's, as before the check


def test_releases_that_differ_only_in_case_are_different_releases():
    """The Jinja this replaced compared them with `unique`, which ignores case: v1 and V1 passed as one target."""
    releases = ["V1", "v1", "v2"]
    plan = planner.release_plan([checked("app1", "v2", "v1", releases), checked("app2", "v2", "V1", releases)])
    assert plan["disagree"].startswith("The hosts would go to different releases (app1: v1, app2: V1)")


def test_a_target_newer_than_the_live_release_points_at_the_deploy():
    plan = planner.release_plan([checked("app1", "1.1.0", "1.2.0"), checked("app2", "1.1.0", "1.2.0")])
    assert plan["newer"] == ("1.2.0 is newer than the release live on app1 (1.1.0), app2 (1.1.0): going forward is a "
                             "deploy, which migrates the schema first: ansible-playbook playbooks/deploy.yml -e "
                             "deploy_version=1.2.0. Nothing was changed.")
    assert plan["disagree"] == ""


def test_only_the_hosts_behind_the_target_are_named():
    plan = planner.release_plan([checked("app1", "1.2.0", "1.1.0"), checked("app2", "1.0.0", "1.1.0")])
    assert plan["newer"].startswith("1.1.0 is newer than the release live on app2 (1.0.0): going forward")


def test_a_live_release_that_is_not_installed_is_not_called_older():
    plan = planner.release_plan([checked("app1", "0.9.0", "1.0.0")])
    assert plan["newer"] == "" and plan["hosts_to_switch"] == ["app1"]


# ------------------------------------------------------------------------------ the schema's way back, given in full
NEEDS_STEPS_OR_TARGET = ("backend command cannot tell which schema release 1 needs: give either "
                         "rollback_migrations_steps (how many migrations the releases after it added) or "
                         "rollback_migrations_target")
RESTORE_NEEDS_A_CHECK = ("rollback_restore_from needs a backend whose schema the role can check in the restored "
                         "database (builtin, alembic); with command, restore with the role opsready.runbooks.db_backup "
                         "(tasks_from restore, with db_backup_restore_check)")


@pytest.mark.parametrize("backend, target, steps, restore_from, expected", [
    ("builtin", "", 0, "", []),
    ("alembic", "", 0, "/b.pgc", []),
    ("builtin", "0001", 0, "", []),
    ("command", "", 1, "", []),
    ("command", "", "1", "", []),  # -e rollback_migrations_steps=1 comes as a string
    ("command", "b2", 0, "", []),
    ("command", "", 0, "", [NEEDS_STEPS_OR_TARGET]),
    ("command", "b2", 2, "", [NEEDS_STEPS_OR_TARGET]),
    ("command", "", -1, "", [NEEDS_STEPS_OR_TARGET]),
    ("command", "", 1, "/b.pgc", [RESTORE_NEEDS_A_CHECK]),
    ("command", "", 0, "/b.pgc", [NEEDS_STEPS_OR_TARGET, RESTORE_NEEDS_A_CHECK]),
    ("builtin", "", 1, "", ["rollback_migrations_steps is for backend command: builtin finds the schema the target "
                            "release needs by itself (rollback_migrations_target names another)"]),
    ("alembic", "b2", "2", "", ["rollback_migrations_steps is for backend command: alembic finds the schema the "
                                "target release needs by itself (rollback_migrations_target names another)"]),
])
def test_problems(backend, target, steps, restore_from, expected):
    assert planner.problems(backend, "1", target, steps, restore_from) == expected


# ---------------------------------------------------------------------------------------- where the schema goes
@pytest.mark.parametrize("target_schema, target, steps, expected", [
    ({"available": ["0001", "0002"], "before": "0002"}, "", 0, "0002"),  # builtin: the target release's newest
    ({"available": ["a1", "b2"], "before": "c3"}, "", 0, "b2"),           # alembic: its head
    ({"available": []}, "", 0, "0"),                                      # a release without migrations
    ({"skipped": True, "changed": False}, "0001", 0, "0001"),             # rollback_migrations_target
    ({"skipped": True, "changed": False}, "b2", "0", "b2"),
    ({"skipped": True, "changed": False}, "", 1, ""),                     # command, by steps: no target
    ({"skipped": True, "changed": False}, "", 0, "0"),
])
def test_schema_target(target_schema, target, steps, expected):
    assert planner.schema_target(target_schema, target, steps) == expected


# --------------------------------------------------------------------------- a preview that refuses, and the way past
def test_a_migration_that_cannot_be_undone_names_the_backup_to_restore():
    preview = {"failed": True, "msg": "refusing to roll back: 0002 cannot be undone (0002_add_item_note has no "
                                      ".down.sql); restore the backup taken before they were applied instead"}
    assert planner.refusal(preview, "0001", "db1") == (
        "refusing to roll back: 0002 cannot be undone (0002_add_item_note has no .down.sql); restore the backup taken "
        "before they were applied instead. Give that backup, taken at schema 0001, with "
        """-e '{"rollback_restore_from": "<its path on db1>"}' (what was written since it is kept in the database it """
        "replaces)")


def test_any_other_refusal_is_said_as_it_is():
    said = "target 0042 is not a migration in this directory; known versions: 0001, 0002"
    assert planner.refusal({"failed": True, "msg": said}, "0042", "db1") == said
    assert planner.refusal({"changed": False, "skipped": True}, "0001", "db1") == ""


# ------------------------------------------------------------------------------------ the command backend's plan
WOULD_RUN = "would run: python3 -m alembic downgrade -1 (give commands.preview_rollback to see what it would do)"


def test_the_command_backend_plans_its_step_when_a_host_switches():
    plan = planner.command_plan({"changed": True, "msg": WOULD_RUN, "plan": []}, ["app1", "app2"], "", 1)
    assert plan == {"before": None, "after": None, "plan": [{"version": "1 step(s)", "direction": "down"}],
                    "sql": [{"version": "1 step(s)", "direction": "down", "sql": WOULD_RUN}]}


def test_the_command_backend_shows_the_tools_preview_and_its_target():
    preview = {"changed": True, "msg": "preview: DROP COLUMN note", "plan_output": "ALTER TABLE items DROP COLUMN note;\n"}
    plan = planner.command_plan(preview, ["app1"], "b2", 0)
    assert plan == {"before": None, "after": "b2", "plan": [{"version": "b2", "direction": "down"}],
                    "sql": [{"version": "b2", "direction": "down", "sql": "ALTER TABLE items DROP COLUMN note;\n"}]}


@pytest.mark.parametrize("preview, hosts_to_switch", [
    ({"changed": True, "msg": WOULD_RUN}, []),  # a second run: the tool cannot say the schema is back already
    ({"changed": False, "msg": "nothing to do, says the tool: at b2", "plan_output": "at b2"}, ["app1"]),
])
def test_the_command_backend_plans_nothing(preview, hosts_to_switch):
    nothing = {"before": None, "after": None, "plan": [], "sql": []}
    assert planner.command_plan(preview, hosts_to_switch, "", "1") == nothing


# ------------------------------------------------------------------------------------------------ the restore plan
@pytest.mark.parametrize("backend, applied, schema_target, versions, expect", [
    ("builtin", ["0001", "0002"], "0001", ["0002"], ["0001"]),
    ("builtin", ["0001", "0002", "0003"], "0001", ["0003", "0002"], ["0001"]),  # newest first
    ("builtin", ["0001", "0002", "0003"], "0002", ["0003"], ["0001", "0002"]),
    ("builtin", ["0001", "0002"], "0", ["0002", "0001"], []),  # a target release without migrations
    ("builtin", ["0001"], "0001", [], ["0001"]),                # nothing to restore
    ("alembic", ["a1", "b2", "c3"], "b2", ["c3"], ["b2"]),        # the version table holds the head alone
    ("alembic", ["a1", "b2", "c3"], "a1", ["c3", "b2"], ["a1"]),
    ("alembic", ["a1", "b2"], "x9", ["b2", "a1"], []),           # a target the newest release does not know
])
def test_restore_plan(backend, applied, schema_target, versions, expect):
    restore = planner.restore_plan({"before": applied[-1], "applied": applied, "changed": False}, schema_target, backend)
    assert restore == {"preview": {"before": applied[-1], "after": schema_target,
                                   "plan": [{"version": version, "direction": "restore"} for version in versions],
                                   "sql": []},
                       "expect": expect}


# ---------------------------------------------------------------------------------------------------- the plan
RELEASE = ("1.0.0", {"app1": "1.1.0", "app2": "1.1.0"}, ["app1", "app2"])
DOWN_0002 = {"version": "0002", "name": "add_item_note", "direction": "down"}


def test_the_plan_of_down_migrations_in_the_evidences_order():
    preview = {"changed": False, "before": "0002", "after": "0001", "plan": [DOWN_0002],
               "sql": [dict(DOWN_0002, sql="ALTER TABLE items DROP COLUMN note;\n")], "msg": "would roll back 0002"}
    plan = planner.plan(preview, *RELEASE)
    assert list(plan) == ["target_release", "releases_before", "hosts_to_switch", "schema_before", "schema_target",
                          "schema_steps", "schema_versions", "schema_restore_from"]
    assert plan == {"target_release": "1.0.0", "releases_before": {"app1": "1.1.0", "app2": "1.1.0"},
                    "hosts_to_switch": ["app1", "app2"], "schema_before": "0002", "schema_target": "0001",
                    "schema_steps": preview["sql"], "schema_versions": ["0002"], "schema_restore_from": None}


def test_the_plan_without_migrations():
    plan = planner.plan({}, *RELEASE)
    assert (plan["schema_before"], plan["schema_target"], plan["schema_steps"], plan["schema_versions"],
            plan["schema_restore_from"]) == (None, None, [], [], None)


def test_the_plan_of_alembic_with_nothing_to_roll_back_has_no_sql():
    plan = planner.plan({"before": "b2", "after": "b2", "plan": [], "msg": "nothing to do: schema at b2"}, *RELEASE)
    assert plan["schema_steps"] == [] and plan["schema_versions"] == []


def test_the_plan_of_a_restore_names_the_dump():
    restore = planner.restore_plan({"before": "0002", "applied": ["0001", "0002"]}, "0001", "builtin")
    plan = planner.plan(restore["preview"], *RELEASE, restore_from="/var/backups/x.pgc", backup_host="db1")
    assert plan["schema_restore_from"] == "db1:/var/backups/x.pgc"
    assert plan["schema_versions"] == ["0002"] and plan["schema_steps"] == []


# ------------------------------------------------------------------------------------- the commands they suggest
def suggested(message, monkeypatch):
    """What ansible-playbook makes of the message's -e argument, copied as printed (prose punctuation after it left
    out). tests/unit/test_docs_commands.py checks the suggestions written in YAML; these are written here."""
    value = shlex.split(message[message.index(" -e "):])[1].rstrip(".")
    with monkeypatch.context() as patch:
        patch.setattr(ansible_vars.context, "CLIARGS", {"extra_vars": (value,)})
        patch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)
        return dict(ansible_vars.load_extra_vars(DataLoader()))


def test_the_suggested_extra_vars_come_whole(monkeypatch):
    refused = planner.refusal({"failed": True, "msg": "0002 cannot be undone"}, "0001", "db1")
    assert suggested(refused, monkeypatch) == {"rollback_restore_from": "<its path on db1>"}
    newer = planner.release_plan([checked("app1", "1.1.0", "1.2.0")])["newer"]
    assert suggested(newer, monkeypatch) == {"deploy_version": "1.2.0"}


# --------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("function, args, message", [
    (planner.release_plan, ({"results": []},), "expects the results of opsready.runbooks.release looped over the "
                                               "hosts (its registered variable's results), got the dict"),
    (planner.release_plan, ([],), "got the list []"),
    (planner.release_plan, (None,), "got null"),
    (planner.release_plan, (["app1"],), "result 1 is the str 'app1': give the registered result of the task"),
    (planner.release_plan, ([{"item": "app1", "skipped": True}],), "result 1 has no before, after, releases: give "
                                                                   "the registered result of the task that ran"),
    (planner.release_plan, ([dict(checked("app1", "1.1.0", "1.0.0"), item=3)],), "item (its host) is the int 3"),
    (planner.release_plan, ([checked("app1", "1.1.0", "1.0.0", "1.0.0")],), "result 1's releases is the str '1.0.0'"),
    (planner.release_plan, ([checked("app1", "1.1.0", "9.9.9")],), "the target 9.9.9 is not among the installed "
                                                                   "releases of app1 (1.0.0, 1.1.0, 1.2.0)"),
    (planner.problems, ("flyway", "1"), "rollback_migrations_backend is the str 'flyway': give one of builtin, "
                                        "alembic, command"),
    (planner.problems, ("command", "1", "", "two"), "rollback_migrations_steps is the str 'two': give a number of "
                                                    "migrations (0: none)"),
    (planner.problems, ("command", "1", "", 1.5), "rollback_migrations_steps is the float 1.5"),
    (planner.problems, ("command", "1", "", True), "rollback_migrations_steps is the bool True"),
    (planner.problems, ("command", "1", None, 1), "rollback_migrations_target is null: give a string"),
    (planner.problems, ("builtin", "1", "", 0, ["/b.pgc"]), "rollback_restore_from is the list ['/b.pgc']"),
    (planner.schema_target, (None,), "the target release's schema is null: give db_migration's registered result"),
    (planner.schema_target, ({"available": "0001"},), "the target release's available migrations is the str '0001'"),
    (planner.schema_target, ({}, "", None), "rollback_migrations_steps is null"),
    (planner.refusal, ("refused", "0001", "db1"), "the preview is the str 'refused'"),
    (planner.command_plan, ({"changed": True}, ["app1"], "", 1), "the preview has no msg: give the registered "
     "result of the task that ran (was it skipped?)"),
    (planner.command_plan, ({"msg": None}, ["app1"], "", 1), "the preview's msg is null"),
    (planner.command_plan, ({"msg": WOULD_RUN}, "app1", "", 1), "the hosts to switch is the str 'app1': give a list"),
    (planner.command_plan, ({"msg": WOULD_RUN}, [], "", "x"), "rollback_migrations_steps is the str 'x'"),
    (planner.restore_plan, ({"skipped": True}, "0001", "builtin"), "the newest release's schema has no applied, "
                                                                   "before"),
    (planner.restore_plan, ({"before": "0002", "applied": None}, "0001", "builtin"), "the newest release's applied "
                                                                                     "migrations is null"),
    (planner.restore_plan, ({"before": "0002", "applied": []}, None, "builtin"), "the schema to go back to is null"),
    (planner.restore_plan, ({"before": "0002", "applied": []}, "0001", "Builtin"), "rollback_migrations_backend is "
                                                                                   "the str 'Builtin'"),
    (planner.plan, (None,) + RELEASE, "the schema plan is null: give the preview (an empty dict without migrations)"),
    (planner.plan, ({"plan": {"version": "0002"}},) + RELEASE, "the schema plan's plan is the dict"),
    (planner.plan, ({"plan": [{"name": "x"}]},) + RELEASE, "step 1 of the schema plan has no version: the dict"),
    (planner.plan, ({}, *RELEASE, 42), "rollback_restore_from is the int 42"),
])
def test_bad_input_is_refused_with_what_to_give(function, args, message):
    with pytest.raises(OpsreadyError) as refused:
        function(*args)
    assert message in str(refused.value)
