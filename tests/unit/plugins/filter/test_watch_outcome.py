"""watch_outcome: a trigger that fired rolls back; a signal that could not be read does not, unless asked."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.filter.watch_outcome import watch_outcome


def watched(*checks, healthy=None):
    checks = [{"name": name, "state": state, "reason": reason} for name, state, reason in checks]
    return {"checks": checks, "healthy": all(c["state"] == "ok" for c in checks) if healthy is None else healthy,
            "elapsed": 8.1, "attempts": 3}


OK = ("liveness", "ok", "HTTP 200")
FIRED = ("api error rate and p95", "critical", "error rate 100% reached the critical threshold 5%")
LOST = ("api error rate and p95", "error", "metrics endpoint http://app1/metrics answered HTTP 404")


def test_held():
    outcome = watch_outcome({"app1": watched(OK), "app2": watched(OK)}, 8)
    assert outcome["held"] and not outcome["roll_back"] and outcome["triggers"] == outcome["unknown"] == []
    assert outcome["message"] == "Held for 8 s on app1, app2: no trigger fired"
    assert outcome["hosts"]["app1"] == {"held": True, "elapsed": 8.1, "sweeps": 3,
                                        "checks": [["liveness", "ok", "HTTP 200"]]}


def test_a_trigger_that_fired_rolls_back():
    outcome = watch_outcome({"app1": watched(OK, FIRED), "app2": watched(OK)}, 120)
    assert not outcome["held"] and outcome["roll_back"]
    assert outcome["triggers"] == ["app1 api error rate and p95: error rate 100% reached the critical threshold 5%"]
    assert outcome["message"] == ("The release did not hold: app1 api error rate and p95: error rate 100% reached the "
                                  "critical threshold 5%. Rolled back (see the rollback evidence).")


def test_in_check_mode_it_says_it_would_roll_back():
    outcome = watch_outcome({"app1": watched(FIRED)}, 120, check_mode=True)
    assert outcome["roll_back"] and outcome["check_mode"] is True
    assert outcome["message"].endswith("Would roll back (check mode: nothing changed; the plan is above).")
    assert "Rolled back" not in outcome["message"]


def test_a_lost_signal_is_not_a_trigger():
    """Issue 28: a 404 metrics URL rolled a healthy release back and dropped a column."""
    outcome = watch_outcome({"app1": watched(OK, LOST), "app2": watched(OK)}, 120)
    assert not outcome["held"] and not outcome["roll_back"] and outcome["triggers"] == []
    assert outcome["unknown"] == ["app1 api error rate and p95: metrics endpoint http://app1/metrics answered HTTP 404"]
    assert "Not rolled back: no trigger fired, and release_watch_rollback_on_unknown is false" in outcome["message"]
    assert watch_outcome({"app1": watched(LOST)}, 120, rollback_on_unknown=True)["roll_back"] is True


def test_a_host_without_a_result_is_not_judged():
    outcome = watch_outcome({"app1": watched(OK), "app2": {"unreachable": True, "msg": "ssh: connect timed out"}}, 60)
    assert not outcome["held"] and not outcome["roll_back"]
    assert outcome["unknown"] == ["app2: no result (ssh: connect timed out)"]
    assert outcome["hosts"]["app2"] == {"held": False, "elapsed": None, "sweeps": 0, "checks": []}


def test_without_rollback_it_only_reports():
    outcome = watch_outcome({"app1": watched(FIRED)}, 60, rollback=False)
    assert not outcome["roll_back"]
    assert outcome["message"].endswith("Not rolled back (release_watch_rollback is false): run playbooks/rollback.yml.")


def test_a_warning_is_a_trigger_when_the_watch_runs_until_ok():
    outcome = watch_outcome({"app1": watched(("p95", "warning", "p95 1500 ms"))}, 60)
    assert outcome["roll_back"] and outcome["triggers"] == ["app1 p95: p95 1500 ms"]


@pytest.mark.parametrize("bad", [None, [], "app1"])
def test_bad_input(bad):
    with pytest.raises(AnsibleFilterError, match="expects a dict of host name to health_check result"):
        watch_outcome(bad, 60)
