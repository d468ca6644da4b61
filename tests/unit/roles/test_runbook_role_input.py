"""The runbook role's steps (tasks_from begin, lock, notify, evidence, where, stop, leftovers) refuse bad input with a clear message and
write nothing: one real ansible-playbook run on localhost (no lab), each row in a block of its own whose rescue keeps
the refusal. Grow the table with every option."""

import pytest


GOOD_EVIDENCE = {"runbook_kind": "myrunbook", "runbook_evidence": {"result": "done"}}
WINDOW = {"override_variable": "myrunbook_override_reason"}
GOOD_BEGIN = {"runbook_kind": "myrunbook", "runbook_timeline_name": "myrunbook_timeline", "runbook_change_window": WINDOW}
LOCK = {"name": "platform", "reason": "test", "ttl": 60}
GOOD_NOTIFY = {"runbook_event": "start", "runbook_text": "starts", "runbook_notify": {"url": "http://127.0.0.1:9/"}}
ROWS = [
    # name, entry point, vars, what the refusal says
    ("begin: no timeline", "begin", {"runbook_kind": "myrunbook", "runbook_change_window": WINDOW},
     "missing required arguments: runbook_timeline_name"),
    ("begin: a timeline name that is no variable name", "begin", dict(GOOD_BEGIN, runbook_timeline_name="my timeline"),
     "my timeline"),
    ("begin: no override variable", "begin", dict(GOOD_BEGIN, runbook_change_window={}), "override_variable"),
    ("begin: windows that are a number", "begin",
     dict(GOOD_BEGIN, runbook_change_window=dict(WINDOW, windows=5)), "windows"),
    ("begin: a window without days", "begin",
     dict(GOOD_BEGIN, runbook_change_window=dict(WINDOW, windows=[{"start": "16:00", "end": "18:00"}])), "days"),
    ("begin: a lock without a reason", "begin", dict(GOOD_BEGIN, runbook_lock={"name": "platform", "ttl": 60}),
     "missing required arguments: reason found in runbook_lock"),
    ("lock: a lock that is text", "lock", {"runbook_kind": "myrunbook", "runbook_timeline_name": "t",
                                           "runbook_lock": "platform"}, "runbook_lock"),
    ("lock: a ttl that is not a number", "lock", {"runbook_kind": "myrunbook", "runbook_timeline_name": "t",
                                                  "runbook_lock": dict(LOCK, ttl="ten")}, "ttl"),
    ("lock: no lock", "lock", {"runbook_kind": "myrunbook", "runbook_timeline_name": "t"},
     "missing required arguments: runbook_lock"),
    ("notify: no event", "notify", {"runbook_text": "x", "runbook_notify": {}}, "missing required arguments: runbook_event"),
    ("notify: a webhook that refuses the connection", "notify", GOOD_NOTIFY, "Connection refused"),
    ("evidence: no kind", "evidence", {"runbook_evidence": {"result": "done"}},
     "missing required arguments: runbook_kind"),
    ("evidence: a kind that is a path", "evidence", dict(GOOD_EVIDENCE, runbook_kind="../etc/passwd"),
     "../etc/passwd"),
    ("evidence: a kind with a newline", "evidence", dict(GOOD_EVIDENCE, runbook_kind="a\nb"), "holds a control character"),
    ("evidence: no evidence", "evidence", {"runbook_kind": "myrunbook"}, "missing required arguments: runbook_evidence"),
    ("evidence: evidence that is text", "evidence", dict(GOOD_EVIDENCE, runbook_evidence="done"),
     "runbook_evidence"),
    ("evidence: a timeline that is text", "evidence", dict(GOOD_EVIDENCE, runbook_timeline="start"),
     "runbook_timeline"),
    ("evidence: a missing Markdown template", "evidence",
     dict(GOOD_EVIDENCE, runbook_markdown_template="/nonexistent/report.md.j2"), "/nonexistent/report.md.j2"),
    ("where: no live link", "where", {"runbook_hosts": []}, "missing required arguments: runbook_link_path"),
    ("where: last known that is a list", "where",
     {"runbook_hosts": [], "runbook_link_path": "/srv/app/current", "runbook_last_known": ["1.0.0"]},
     "runbook_last_known"),
    ("stop: no title", "stop", {"runbook_stopped": {}}, "missing required arguments: runbook_title"),
    ("stop: a stop that is text", "stop", {"runbook_title": "Myrunbook", "runbook_stopped": "broken"},
     "runbook_stopped"),
    ("leftovers: services that are a number", "leftovers",
     {"runbook_hosts": [], "runbook_worker_services": 5, "runbook_lb_hosts": []},
     "leftovers: services must be a list of service names, got 5"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory, run_refusals):
    tmp_path = tmp_path_factory.mktemp("runbook_role")
    out, messages = run_refusals(tmp_path, [
        (name, {"name": "opsready.runbooks.runbook", "tasks_from": entry},
         dict(variables, runbook_evidence_dir=str(tmp_path / "evidence" / str(n))))
        for n, (name, entry, variables, dummy) in enumerate(ROWS)], timeout=300)
    return tmp_path, messages


@pytest.mark.parametrize("n, name, message", [(n, row[0], row[3]) for n, row in enumerate(ROWS)], ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_clearly_and_writes_nothing(refused, n, name, message):
    tmp_path, messages = refused
    assert name in messages, "%s was not refused" % name
    assert message in messages[name]
    assert "Traceback" not in messages[name] and "pw-secret" not in messages[name]
    written = tmp_path / "evidence" / str(n)
    assert not written.exists() or list(written.iterdir()) == []


def test_the_table_names_each_row_once():
    assert len({row[0] for row in ROWS}) == len(ROWS) == 23
