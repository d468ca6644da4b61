"""_runbook: what the skeleton says about hosts after a stop (a dead host is a state) and what an earlier run left.
Inputs are shaped as Ansible registers a loop run with ignore_unreachable (the real shape is proven on the lab by
extensions/molecule/fault)."""
import datetime

import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _runbook as runbook
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

DEAD = {"unreachable": True, "changed": False,
        "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 10.89.77.22 port 22: No route\n"
               "to host"}


def link(host, target):
    return {"item": host, "stat": {"exists": True, "islnk": True, "lnk_target": target}, "changed": False}


def test_hosts_now_reads_each_link_and_reports_a_dead_host_with_its_last_known_release():
    now = runbook.hosts_now([link("app1", "releases/1.0.0"), dict(DEAD, item="app2")],
                            {"app1": "1.0.0", "app2": "1.1.0"}, "2026-11-26T20:05:48Z")
    assert now["hosts"] == {"app1": "1.0.0", "app2": "unreachable"}
    assert now["unreachable"] == {"app2": {"at": "2026-11-26T20:05:48Z", "last_known": "1.1.0",
                                           "reason": "Task failed: Failed to connect to the host via ssh: ssh: connect "
                                                     "to host 10.89.77.22 port 22: No route to host"}}
    assert now["text"] == "app1 on 1.0.0, app2 unreachable at 2026-11-26T20:05:48Z (last known on 1.1.0)"
    assert now["way_back"] == ("app2 cannot be reached: what it runs now is not known, and the load balancers keep it "
                               "out of rotation; once it is back, run again (a host at the target but out of rotation "
                               "is put back in).")


def test_hosts_now_without_a_link_or_a_last_known_release_says_unknown():
    now = runbook.hosts_now([{"item": "app1", "stat": {"exists": False}}, dict(DEAD, item="app2"),
                             link("app3", "/srv/app/releases/1.2.0/")])
    assert now["hosts"] == {"app1": "unknown", "app2": "unreachable", "app3": "1.2.0"}
    assert now["text"] == "app1 on unknown, app2 unreachable, app3 on 1.2.0"
    assert now["way_back"].startswith("app2 cannot be reached") and "app1" not in now["way_back"]
    assert runbook.hosts_now([link("app1", "releases/1.0.0")])["way_back"] == ""


@pytest.mark.parametrize("results, last_known, message", [
    (None, {}, "hosts_now: expected the results of a loop over hosts"),
    ("app1", {}, "hosts_now: expected the results of a loop over hosts"),
    ([{"stat": {}}], {}, "hosts_now: expected the results of a loop over hosts"),
    ([link("app1", "releases/1.0.0")], ["1.0.0"], "hosts_now: last_known must be a dict"),
])
def test_hosts_now_refuses_what_is_not_a_loop_over_hosts(results, last_known, message):
    with pytest.raises(OpsreadyError, match=message):
        runbook.hosts_now(results, last_known)


def mode(host, state, **more):
    return {"item": host, "before": dict({"state": state}, **more), "changed": False}


def workers(host, stdout, rc=0):
    return {"item": host, "stdout": stdout, "rc": rc, "changed": False}


def server(lb, host, admin, failed=False, msg=""):
    result = {"item": [lb, host], "changed": False, "before": {"admin": admin, "operational": "UP"}}
    if failed:
        result = {"item": [lb, host], "failed": True, "msg": msg}
    return result


def test_leftovers_lists_maintenance_stopped_workers_and_drained_servers_per_host():
    left = runbook.leftovers(
        [mode("app1", "present", since="2026-11-26T20:05:31Z", reason="CHG-1"), mode("app2", "absent")],
        [workers("app1", "inactive\nactive", rc=3), workers("app2", "active\nactive")],
        [server("lb1", "app1", "READY"), server("lb1", "app2", "MAINT"), server("lb2", "app2", "DRAIN")],
        ["demo-worker", "demo-beat"])
    assert left["hosts"] == {"app1": ["maintenance on since 2026-11-26T20:05:31Z (CHG-1)",
                                      "workers not running: demo-worker inactive"],
                             "app2": ["in MAINT on lb1", "in DRAIN on lb2"]}
    assert left["text"] == ("app1: maintenance on since 2026-11-26T20:05:31Z (CHG-1), workers not running: demo-worker "
                            "inactive; app2: in MAINT on lb1, in DRAIN on lb2")
    assert (left["maintenance"], left["workers_stopped"], left["out_of_rotation"], left["unreachable"]) == (
        ["app1"], ["app1"], ["app2"], [])
    assert left["states"] == {"maintenance": {"app1": "present", "app2": "absent"},
                              "workers": {"app1": "inactive active", "app2": "active active"}}


def test_leftovers_of_a_clean_platform_are_empty_and_a_skipped_loop_counts_as_nothing():
    left = runbook.leftovers([mode("app1", "absent")], {"results": []}.get("results"),
                             [server("lb1", "app1", "READY")], [])
    nothing = {"hosts": {}, "text": "", "maintenance": [], "workers_stopped": [], "out_of_rotation": [],
               "unreachable": [], "to_finish": [], "record": "", "states": {"maintenance": {}, "workers": {}}}
    assert left == dict(nothing, states={"maintenance": {"app1": "absent"}, "workers": {}})
    assert runbook.leftovers() == nothing
    assert runbook.leftovers(None, [{"item": "app1", "skipped": True}]) == nothing


def test_leftovers_say_a_dead_host_once_and_a_load_balancer_that_cannot_tell():
    left = runbook.leftovers([dict(DEAD, item="app2")], [dict(DEAD, item="app2")],
                             [dict(DEAD, item=["lb1", "app1"]), server("lb1", "app2", None, failed=True,
                                                                       msg="no server app2 in backend app")],
                             ["demo-worker"])
    assert left["hosts"]["app2"] == [
        "unreachable (Task failed: Failed to connect to the host via ssh: ssh: connect to host 10.89.77.22 port 22: "
        "No route to host)", "state unknown on lb1 (no server app2 in backend app)"]
    assert left["hosts"]["app1"][0].startswith("load balancer lb1 unreachable (Task failed")
    assert (left["unreachable"], left["out_of_rotation"]) == (["app2"], ["app1", "app2"])
    assert left["states"] == {"maintenance": {"app2": "unreachable"}, "workers": {"app2": "unreachable"}}


@pytest.mark.parametrize("args, message", [
    (("nope",), r"leftovers \(maintenance\): expected the results of a loop over hosts"),
    (([], [{"stdout": "active"}]), r"leftovers \(workers\): expected the results of a loop over hosts"),
    (([], [], [{"item": "app1", "before": {"admin": "MAINT"}}]), r"each item must be \[load balancer, host\]"),
    (([], [], [], [], "app1"), r"leftovers: to_switch must be a list of hosts, got 'app1'"),
])
def test_leftovers_refuse_what_is_not_their_loops(args, message):
    with pytest.raises(OpsreadyError, match=message):
        runbook.leftovers(*args)


def test_odd_results_read_as_unknown_and_a_failed_read_is_not_nothing_left():
    now = runbook.hosts_now([{"item": "app1", "stat": "x"}, {"item": "app2", "stat": {"lnk_target": 5}},
                             link("app3", "/")])
    assert now["hosts"] == {"app1": "unknown", "app2": "unknown", "app3": "unknown"}
    left = runbook.leftovers([{"item": "app1", "failed": True, "msg": "maintenance name 'a b' is not a name"},
                              {"item": "app2", "before": "present"}], None,
                             [{"item": ["lb1", "app2"], "before": "MAINT"},
                              server("lb1", "app1", None, failed=True, msg="cannot talk to HAProxy")])
    assert left["hosts"] == {"app1": ["maintenance state unknown (maintenance name 'a b' is not a name)",
                                      "state unknown on lb1 (cannot talk to HAProxy)"]}
    with pytest.raises(OpsreadyError, match="services must be a list"):
        runbook.leftovers([], [], [], "demo-worker")


def test_leftovers_say_which_drained_hosts_this_run_puts_back_and_what_the_timeline_records():
    servers = [server("lb1", "app1", "MAINT"), server("lb1", "app2", "DRAIN")]
    left = runbook.leftovers(None, None, servers, None, ["app1"])
    assert left["to_finish"] == ["app2"]   # app1 is switched by this run and comes back with it
    assert left["record"] == "An earlier run left app1: in MAINT on lb1; app2: in DRAIN on lb1; put back in rotation: app2"
    assert runbook.leftovers(None, None, servers, None, ["app1", "app2"])["record"] == (
        "An earlier run left app1: in MAINT on lb1; app2: in DRAIN on lb1")


AT = datetime.datetime(2026, 11, 26, 23, 5, 1, 123456, tzinfo=datetime.timezone.utc)


def test_timeline_adds_an_entry_to_a_new_list_and_starts_one_from_nothing():
    first = runbook.timeline(None, "start", "rollback of app1", now=AT)
    assert first == [{"at": "2026-11-26T23:05:01.123456Z", "step": "start", "detail": "rollback of app1"}]
    second = runbook.timeline(first, "lock", None, now=AT)
    assert second[1] == {"at": "2026-11-26T23:05:01.123456Z", "step": "lock", "detail": ""}
    assert len(first) == 1   # the input is not changed: set_fact of the result is the only change
    assert runbook.timeline([], "plan", {"hosts": ["app1"]}, now=AT)[0]["detail"] == "{'hosts': ['app1']}"
    now = runbook.timeline([], "start")[0]["at"]
    assert now.endswith("Z") and len(now) == len("2026-11-26T23:05:01.123456Z")


@pytest.mark.parametrize("entries, step, message", [
    ("start", "lock", r"the timeline must be a list of entries \(dicts\), got 'start'"),
    ([1], "lock", r"the timeline must be a list of entries"),
    ({"step": "start"}, "lock", r"the timeline must be a list of entries"),
    ([], "", r"give the step's name \(a non-empty string\), got ''"),
    ([], "  ", r"give the step's name"),
    ([], None, r"give the step's name \(a non-empty string\), got None"),
    ([], 3, r"give the step's name"),
])
def test_timeline_refuses_odd_input(entries, step, message):
    with pytest.raises(OpsreadyError, match=message):
        runbook.timeline(entries, step)


def test_timeline_refuses_an_after_that_is_not_a_result():
    with pytest.raises(OpsreadyError, match=r"after is a task's registered result \(a dict\), got 'app1'"):
        runbook.timeline([], "workers stopped", after="app1")


@pytest.mark.parametrize("after", [
    {"changed": True, "results": [{"item": "app1", "changed": True}, {"item": "app2", "changed": False}]},
    {"skipped": True, "skip_reason": "Conditional result was False"},
    {"changed": False},
    {},
])
def test_timeline_records_a_step_whose_action_went_through_or_was_skipped(after):
    assert runbook.timeline([], "workers stopped", "worker", after=after, now=AT)[0]["step"] == "workers stopped"


@pytest.mark.parametrize("after, said", [
    # the loop over hosts with ignore_unreachable + ignore_errors: the dead host is an item, the task is not failed
    ({"changed": True, "msg": "All items completed", "results": [
        {"item": ["app1", "worker"], "changed": True, "ansible_loop_var": "item"},
        {"item": ["app2", "worker"], "unreachable": True, "msg": "Failed to connect to app2",
         "ansible_loop_var": "item"}]},
     "workers stopped: ['app2', 'worker']: Failed to connect to app2"),
    ({"failed": True, "msg": "One or more items failed", "results": [
        {"item": "app1", "failed": True, "msg": "Could not find the requested service worker:\n host",
         "ansible_loop_var": "item"}]},
     "workers stopped: app1: Could not find the requested service worker: host"),
    ({"unreachable": True, "msg": "ssh: connect to host app2 port 22: No route to host"},
     "workers stopped: ssh: connect to host app2 port 22: No route to host"),
    ({"failed": True}, "workers stopped: failed"),
])
def test_timeline_refuses_a_step_whose_action_failed_and_says_why(after, said):
    entries = [{"at": "x", "step": "start", "detail": ""}]
    with pytest.raises(OpsreadyError) as caught:
        runbook.timeline(entries, "workers stopped", "worker", after=after)
    assert str(caught.value) == said
    assert caught.value.result == {"step": True}  # the step's failure: the filter says it as it is
    assert len(entries) == 1
