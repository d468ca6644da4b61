"""The maintenance window's plan: what there is to do, and the refusals that keep a half-done or half-dead site from
being called "nothing to do" or closed around a dead host."""
import pytest

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._maintenance_window import plan

NO_MIGRATIONS = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
PENDING = {"changed": True, "plan": [{"version": "0004", "name": "add index"}, {"version": "0005"}]}
NOTHING = {"tasks_file": "", "commands": [], "once_commands": []}
CLEAN = {"text": "", "unreachable": [], "hosts": {}}
HALF_DONE = {"text": "app1: maintenance on since 2026-11-27T06:00:00Z", "unreachable": [], "hosts": {"app1": ["x"]}}
DEAD = {"text": "app2: unreachable (Failed to connect)", "unreachable": ["app2"], "hosts": {"app2": ["x"]}}


def test_pending_migrations_and_work_are_the_plan_in_words():
    said = plan(PENDING, {"tasks_file": "/srv/work.yml", "commands": [["true"]], "once_commands": [["a"], ["b"]]}, CLEAN)
    assert said == {"todo": True, "migrations": ["0004", "0005"],
                    "text": "migrations 0004, 0005; tasks file /srv/work.yml; 3 command(s)"}


@pytest.mark.parametrize("preview", [NO_MIGRATIONS, None, {"changed": False, "plan": []}, {}])
def test_nothing_pending_and_no_work_is_nothing_to_do(preview):
    assert plan(preview, NOTHING, CLEAN) == {
        "todo": False, "migrations": [],
        "text": "no migration pending; 0 command(s): nothing to do, the site stays up and nothing changes"}


def test_a_site_left_half_done_is_not_nothing_to_do():
    with pytest.raises(OpsreadyError) as caught:
        plan(NO_MIGRATIONS, NOTHING, HALF_DONE)
    assert str(caught.value).startswith("Nothing is pending, but an earlier run left app1: maintenance on since")
    assert "-e '{\"maintenance_window_finish\": true}'" in str(caught.value)
    assert caught.value.result == {"step": True}   # the runbook's refusal, said as it is


def test_finish_makes_finishing_the_work_and_new_work_goes_on_with_it():
    assert plan(NO_MIGRATIONS, NOTHING, HALF_DONE, finish=True)["todo"] is True
    with_work = plan(PENDING, NOTHING, HALF_DONE)
    assert with_work["todo"] is True and with_work["text"].endswith(
        "; an earlier run left app1: maintenance on since 2026-11-27T06:00:00Z")


@pytest.mark.parametrize("finish", [False, True])
@pytest.mark.parametrize("preview", [NO_MIGRATIONS, PENDING])
def test_a_host_that_cannot_be_reached_refuses_the_window_whatever_there_is_to_do(preview, finish):
    if preview is NO_MIGRATIONS and not finish:
        expected = "Nothing is pending, but an earlier run left app2: unreachable"   # said first: it names the host too
    else:
        expected = "Cannot reach app2: app2: unreachable (Failed to connect). Run again once every app host answers"
    with pytest.raises(OpsreadyError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        plan(preview, NOTHING, DEAD, finish=finish)


@pytest.mark.parametrize("preview, work, leftovers, finish, message", [
    ("0004", NOTHING, CLEAN, False, r"expected the registered result of opsready.runbooks.db_migration"),
    ({"plan": "0004"}, NOTHING, CLEAN, False, r"with plan, a list of \{version\}"),
    ({"plan": [{"version": 4}]}, NOTHING, CLEAN, False, r"with plan, a list of \{version\}"),
    ({"plan": ["0004"]}, NOTHING, CLEAN, False, r"with plan, a list of \{version\}"),
    (NO_MIGRATIONS, None, CLEAN, False, r"work is \{tasks_file, commands, once_commands\}, got None"),
    (NO_MIGRATIONS, [["true"]], CLEAN, False, r"work is \{tasks_file, commands, once_commands\}"),
    (NO_MIGRATIONS, {"commands": "true"}, CLEAN, False, r"commands and once_commands \(lists"),
    (NO_MIGRATIONS, {"once_commands": {"a": 1}}, CLEAN, False, r"commands and once_commands \(lists"),
    (NO_MIGRATIONS, {"tasks_file": ["a.yml"]}, CLEAN, False, r"tasks_file \(a path\)"),
    (NO_MIGRATIONS, NOTHING, None, False, r"leftovers is the runbook role's runbook_leftovers, got None"),
    (NO_MIGRATIONS, NOTHING, "app1 in MAINT", False, r"leftovers is the runbook role's runbook_leftovers"),
    (NO_MIGRATIONS, NOTHING, {"text": ["x"]}, False, r"leftovers is the runbook role's runbook_leftovers"),
    (NO_MIGRATIONS, NOTHING, CLEAN, "yes", r"finish is true or false, got 'yes'"),
    (NO_MIGRATIONS, NOTHING, CLEAN, 1, r"finish is true or false, got 1"),
])
def test_bad_input_is_refused_naming_the_filter(preview, work, leftovers, finish, message):
    with pytest.raises(OpsreadyError, match=message) as caught:
        plan(preview, work, leftovers, finish)
    assert caught.value.result == {}   # a refusal of odd input: the filter's name goes in front
