"""failure_message: a loop's failure says why, item by item, instead of "One or more items failed"."""
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils._runbook import failure_message


def test_a_loop_names_each_failed_item_with_its_own_message():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"item": "app1", "failed": True, "msg": "1.0.0 is the oldest installed release;\n there is no previous one",
         "ansible_loop_var": "item"},
        {"item": "app2", "failed": False, "changed": False, "ansible_loop_var": "item"},
        {"__host": "app3", "failed": True, "stderr": "boom", "ansible_loop_var": "__host"},
        {"item": {"name": "x"}, "_ansible_item_label": "lb1", "unreachable": True, "ansible_loop_var": "item"},
    ]}
    assert failure_message(result) == ("app1: 1.0.0 is the oldest installed release; there is no previous one; "
                                       "app3: boom; lb1: unreachable")


@pytest.mark.parametrize("result, said", [
    ({"failed": True, "msg": "plain\nfailure"}, "plain failure"),
    ({"failed": True, "msg": "", "stderr": "from stderr"}, "from stderr"),
    ({"failed": True}, "failed"),
    ({"failed": True, "msg": "One or more items failed", "results": []}, "One or more items failed"),
    ({"failed": True, "msg": "One or more items failed", "results": ["odd"]}, "One or more items failed"),
    ("a string", "a string"),
    (None, "None"),
    ({"failed": True, "msg": "x", "results": [{"item": 3, "failed": True, "msg": "three"}]}, "3: three"),
])
def test_other_shapes(result, said):
    assert failure_message(result) == said


def test_a_failure_raised_by_one_of_our_filters_is_said_as_the_filter_said_it():
    wrapped = ("Task failed: Finalization of task args for 'ansible.builtin.set_fact' failed: Error while resolving "
               "value for 'rollback_timeline': The filter plugin 'opsready.runbooks.timeline' failed: workers "
               "restarted: app2: Failed to connect\n to app2")
    assert failure_message({"failed": True, "msg": wrapped}) == "workers restarted: app2: Failed to connect to app2"
    other = "The filter plugin 'community.general.json_query' failed: boom"
    assert failure_message({"failed": True, "msg": other}) == other  # only ours: another's error keeps its context
