"""db_switchover_plan: the planned switchover's plan from each member's pg_replication_info result, and each refusal."""
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._switchover import plan


SYSTEM = "7311234567890123456"


def primary(name="db1", lsn="0/3000148", timeline=1, system=SYSTEM):
    return {"item": name, "role": "primary", "timeline": timeline, "lsn": {"current": lsn, "received": None, "replayed": None},
            "standbys": [], "wal_receiver": None, "replay_paused": False, "msg": "primary", "system_identifier": system}


def standby(name="db2", replayed="0/3000148", status="streaming", sender="db1", timeline=1, paused=False, system=SYSTEM):
    return {"item": name, "role": "standby", "timeline": timeline,
            "lsn": {"current": None, "received": replayed, "replayed": replayed}, "standbys": [],
            "wal_receiver": {"status": status, "sender_host": sender, "slot": name} if status else None,
            "replay_paused": paused, "msg": "standby", "system_identifier": system}


def down(name, msg="Failed to connect to the host via ssh: connect to host db2 port 22: No route to host"):
    return {"item": name, "unreachable": True, "msg": msg}


def test_the_standby_streaming_from_the_primary_takes_over():
    result = plan([primary(), standby()])
    assert result == {"todo": True, "primary": "db1", "target": "db2", "target_slot": "db2", "synchronous": False,
                      "members": "db1: primary at 0/3000148, db2: standby streaming from db1",
                      "text": "db1 -> db2 (db1: primary at 0/3000148, db2: standby streaming from db1)"}


@pytest.mark.parametrize("names, synchronous", [("*", True), ("FIRST 1 (db1, db2)", True), ("", False), ("  ", False)])
def test_a_target_with_a_synchronous_setting_of_its_own_is_said(names, synchronous):
    """Promoted, it would wait for a standby of its own: the switchover suspends it until the old primary streams."""
    assert plan([primary(), dict(standby(), synchronous_standby_names=names)])["synchronous"] is synchronous


def test_the_target_named_of_two_standbys():
    assert plan([primary(), standby("db2"), standby("db3")], to="db3")["target"] == "db3"


def test_the_target_already_primary_is_nothing_to_do():
    result = plan([standby("db1", sender="db2"), primary("db2")], to="db2")
    assert result["todo"] is False and result["text"].startswith("db2 is already primary: nothing to do (")


def test_a_small_lag_within_the_budget_goes_on():
    assert plan([primary(lsn="0/3001000"), standby(replayed="0/3000000")], max_lag_bytes=4096)["todo"] is True


@pytest.mark.parametrize("results, to, lag, message", [
    ([primary(), down("db2")], "", 0, "A switchover needs every member up, and db2 did not answer. Now: db1: primary at "
     "0/3000148, db2: did not answer (Failed to connect to the host via ssh: connect to host db2 port 22: No route to "
     "host). Nothing was changed. For a primary that is lost, run playbooks/db_failover.yml."),
    ([down("db1", "Connection refused"), standby()], "db2", 0, "db1 did not answer"),
    ([{"item": "db1", "failed": True, "msg": "replication state of /var/run/postgresql: connection refused"}, standby()],
     "", 0, "db1: did not answer (replication state of /var/run/postgresql: connection refused)"),
    ([standby("db1", sender="db2"), standby()], "", 0, "No member is primary. Now: db1: standby streaming from db2, "
     "db2: standby streaming from db1. Nothing was changed"),
    ([primary("db1"), primary("db2")], "", 0, "db1 and db2 are all primary (split brain)"),
    ([primary(), standby()], "db9", 0, "The member to switch over to, db9, is not one of the cluster's members (db1, db2)"),
    ([primary(), standby("db2"), standby("db3")], "", 0, "Name the standby to switch over to, one of db2, db3"),
    ([primary(), standby(status=None)], "", 0, "Name the standby to switch over to, one of none streaming"),
    ([primary(), standby(status="startup")], "db2", 0, "db2 is not streaming from db1 (WAL receiver: startup)"),
    ([primary(), standby(status=None)], "db2", 0, "db2 is not streaming from db1 (WAL receiver: not running)"),
    ([primary(timeline=2), standby(timeline=1)], "", 0, "db2 is on timeline 1, db1 on 2: it does not follow this primary"),
    ([primary(), standby(sender="db9", replayed="5/0", system="7399999999999999999")], "", 0,
     "db2 is not a copy of db1 (system identifier 7399999999999999999, db1's 7311234567890123456): it streams from "
     "another cluster"),
    ([dict(primary(), lsn=None), standby()], "", 0, "A switchover needs every member up, and db1 did not answer"),
    ([primary(lsn="0/4000000"), standby(replayed="0/3000000")], "", 1024,
     "db2 is 16777216 bytes behind db1, over db_switchover_max_lag_bytes (1024): the clients would wait"),
    ([primary(), standby(paused=True, status="stopping")], "db2", 0, "db2: standby not streaming, replay paused"),
])
def test_a_switchover_that_must_not_start_is_refused_saying_why(results, to, lag, message):
    with pytest.raises(OpsreadyError) as caught:
        plan(results, to=to, max_lag_bytes=lag)
    assert message in str(caught.value), str(caught.value)
    assert caught.value.result.get("step") is True


@pytest.mark.parametrize("results, to, lag, message", [
    ([], "", 0, "the input is the registered results of pg_replication_info over the cluster's members "
     "(db_switchover_members, by default the group db: is it empty?)"),
    (None, "", 0, "the input is the registered results"),
    ([{"role": "primary"}], "", 0, "each result names its member (item)"),
    (["db1"], "", 0, "each result names its member (item)"),
    ([primary(), standby()], None, 0, "to is a member's name or empty, got None"),
    ([primary(), standby()], "", -1, "max_lag_bytes is a whole number of bytes, 0 or more, got -1"),
    ([primary(), standby()], "", "16MB", "max_lag_bytes is a whole number of bytes"),
    ([primary(), standby()], "", True, "max_lag_bytes is a whole number of bytes"),
    ([primary(lsn="not-an-lsn"), standby()], "", 0, "'not-an-lsn' is not a PostgreSQL LSN"),
])
def test_bad_input_is_refused_clearly(results, to, lag, message):
    with pytest.raises(OpsreadyError) as caught:
        plan(results, to=to, max_lag_bytes=lag)
    assert message in str(caught.value)


# ------------------------------------------------------------------------------------------------- after a failure
from ansible_collections.opsready.runbooks.plugins.module_utils._switchover import members_text, recovery  # noqa: E402

PLAN = {"todo": True, "primary": "db1", "target": "db2"}


@pytest.mark.parametrize("plan_, paused, fenced, target, action, words", [
    (None, False, False, {}, "none", "Nothing was stopped and the clients were never paused."),
    ({"todo": False, "primary": "db2", "target": "db2"}, False, False, {}, "none", "Nothing was stopped"),
    (PLAN, False, False, {}, "none", "the clients were never paused"),
    (PLAN, True, False, {}, "resume", "db1 runs as the primary (never stopped, or started again): PgBouncer points the "
     "clients at it and lets them through."),
    (PLAN, True, True, standby(), "undo", "db2 was not promoted: db1 is started again as the primary"),
    (PLAN, True, True, primary("db2"), "forward", "db2 is the primary now: the clients are repointed at it. db1 stays "
     "fenced (standby.signal): if it is stopped, start it and it rejoins as a standby"),
    (PLAN, True, True, down("db2", "Connection refused"), "hold", "db1 is stopped and fenced, and db2 could not be read "
     "(Connection refused): whether it becomes the primary is unknown, so nothing more is done and the platform lock "
     "stays held"),
    (PLAN, True, True, {"failed": True, "role": "primary", "msg": "timeout"}, "hold", "could not be read (timeout)"),
    (PLAN, True, True, {}, "hold", "could not be read (no answer)"),
])
def test_after_a_failure_what_is_put_back_depends_on_how_far_it_got(plan_, paused, fenced, target, action, words):
    result = recovery(plan_, paused, fenced, target)
    assert result["action"] == action and words in result["text"], result


def test_a_promotion_asked_for_is_never_undone_while_the_target_is_still_a_standby():
    """pg_promote timed out (promote_asked): the target may still finish becoming primary - starting the old primary
    again would make two."""
    result = recovery(PLAN, True, True, standby(), promote_asked=True)
    assert result["action"] == "hold" and "db2 was asked to promote and is not primary yet" in result["text"]
    assert recovery(PLAN, True, True, primary("db2"), promote_asked=True)["action"] == "forward"
    assert recovery(PLAN, True, True, standby(), promote_asked=False)["action"] == "undo"


def test_the_members_in_words_never_fail_a_report():
    assert members_text([primary(), down("db2", "No route to host")]) == \
        "db1: primary at 0/3000148, db2: did not answer (No route to host)"
    assert members_text([]) == "no member's state could be read"
    assert members_text(None) == "no member's state could be read"


# ------------------------------------------------------------------------------------------ the old primary's conninfo
from ansible_collections.opsready.runbooks.plugins.module_utils._switchover import conninfo  # noqa: E402


def test_conninfo_quotes_every_value_so_libpq_reads_it_back():
    psycopg2 = pytest.importorskip("psycopg2")
    text = conninfo({"host": "db2", "port": 5432, "user": "repl", "password": "it's a \\ pass word", "sslmode": "",
                     "application_name": "db1"})
    assert text == "host='db2' port='5432' user='repl' password='it\\'s a \\\\ pass word' application_name='db1'"
    parsed = psycopg2.extensions.parse_dsn(text)
    assert parsed["password"] == "it's a \\ pass word" and parsed["port"] == "5432" and "sslmode" not in parsed


@pytest.mark.parametrize("settings, message", [
    ("host=db2", "the input is a dict of libpq settings"),
    ({"host name": "db2"}, "'host name' is not a libpq setting's name"),
    ({"host": "db2", "pass=x": "y"}, "is not a libpq setting's name"),
    ({"password": "a\nb"}, "the value of password holds a control character"),
])
def test_conninfo_refuses_what_would_break_it(settings, message):
    with pytest.raises(OpsreadyError) as caught:
        conninfo(settings)
    assert message in str(caught.value) and "a\nb" not in str(caught.value)


from ansible_collections.opsready.runbooks.plugins.module_utils._switchover import settings  # noqa: E402

SETTINGS = {"members": ["db1", "db2"], "to": "", "max_lag_bytes": 16777216, "pause_timeout": 5, "promote_timeout": 10,
            "pg_port": 5432, "pgbouncer": {"database": "demo"}, "replication": {"user": "repl", "password": "x y'z"},
            "login": {"user": "switchover"}}


@pytest.mark.parametrize("changed", [{}, {"to": "db2"}, {"max_lag_bytes": "0", "pg_port": "6543"}, {"to": None}])
def test_good_settings_pass(changed):
    assert settings(dict(SETTINGS, **changed)) is True


def test_every_bad_setting_is_said_at_once():
    with pytest.raises(OpsreadyError) as caught:
        settings(dict(SETTINGS, members="db1,db2", max_lag_bytes=True, pg_port=None, login={}))
    said = str(caught.value)
    assert said.count("; ") == 3 and "db_switchover_login must name the role" in said
    assert said.endswith("Nothing was changed.") and caught.value.result["step"] is True
    assert "db_switchover_max_lag_bytes must be a whole number from 0 to 1099511627776 bytes, got True" in said


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", float("inf"), "1e400"])
def test_numbers_without_end_are_refused_not_a_crash(value):
    with pytest.raises(OpsreadyError, match="db_switchover_pause_timeout must be a whole number from 1 to 3600 sec"):
        settings(dict(SETTINGS, pause_timeout=value))


from ansible_collections.opsready.runbooks.plugins.module_utils._switchover import consoles  # noqa: E402


def test_every_play_hosts_console_is_reached_at_its_address_with_the_console_options_only():
    pgbouncer = {"database": "demo", "config": "/etc/pgbouncer/pgbouncer.ini", "login_port": 6432,
                 "login_user": "pgbouncer", "login_password": "s3cret", "pause_timeout": 5, "ca_cert": None}
    assert consoles(pgbouncer, [{"inventory_hostname": "app1", "ansible_host": "10.0.0.21"},
                                {"inventory_hostname": "app2"}]) == [
        {"login_host": "10.0.0.21", "login_port": 6432, "login_user": "pgbouncer", "login_password": "s3cret"},
        {"login_host": "app2", "login_port": 6432, "login_user": "pgbouncer", "login_password": "s3cret"}]
    with pytest.raises(OpsreadyError, match="a play host has no address"):
        consoles(pgbouncer, [{"inventory_hostname": "", "ansible_host": None}])
    with pytest.raises(OpsreadyError, match="the input is the PgBouncer options"):
        consoles("demo", [])
