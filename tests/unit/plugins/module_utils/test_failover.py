"""db_failover_plan and db_failover_settings: the failover's target from each member's pg_replication_info result,
each refusal, and the settings refused before anything is reached."""
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._failover import plan, rejoin_plan, settings


def primary(name="db1", lsn="0/3000148", names="", commit="on"):
    return {"item": name, "role": "primary", "timeline": 1, "lsn": {"current": lsn, "received": None, "replayed": None},
            "standbys": [], "wal_receiver": None, "replay_paused": False, "msg": "primary",
            "synchronous_standby_names": names, "synchronous_commit": commit}


def standby(name="db2", status="streaming", sender="db1", names="", commit="on"):
    return {"item": name, "role": "standby", "timeline": 1,
            "lsn": {"current": None, "received": "0/3000148", "replayed": "0/3000148"}, "standbys": [],
            "wal_receiver": {"status": status, "sender_host": sender} if status else None,
            "replay_paused": False, "msg": "standby", "synchronous_standby_names": names, "synchronous_commit": commit}


def down(name, msg="Failed to create temporary directory: container db1 is not running"):
    return {"item": name, "unreachable": True, "msg": msg}


def test_the_standby_of_a_lost_primary_is_the_target():
    result = plan([down("db1"), standby(status=None)])
    assert result["promoted"] is False and result["target"] == "db2" and result["primary"] is None
    assert result["down"] == ["db1"]
    assert result["text"].startswith("db2 would be promoted if its primary is lost (db1: did not answer (")


def test_a_live_primary_is_not_refused_the_detection_decides():
    result = plan([primary(), standby()])
    assert result["promoted"] is False and result["target"] == "db2" and result["primary"] == "db1"
    assert result["primary_lsn"] == "0/3000148"   # the guard's reference if the watch then loses it


def test_the_standby_named_of_two():
    assert plan([down("db1"), standby("db2"), standby("db3")], "db3")["target"] == "db3"


def walsender(name="db2", sync="sync"):
    return {"name": name, "state": "streaming", "sync_state": sync}


def sync_primary(names="*", commit="on", senders=(walsender(),), name="db1"):
    return dict(primary(name, names=names, commit=commit), standbys=list(senders), at="2026-11-27T17:00:00Z")


@pytest.mark.parametrize("results, standby_named, configured, rpo0, words", [
    # the primary did not answer: its copy on the standby is no evidence (ALTER SYSTEM is not replicated)
    ([down("db1"), standby(status=None, names="*")], "", True, False,
     "not known: the primary did not answer when this run started, and only its own settings and standbys can say "
     "whether it waited for db2"),
    ([primary(), standby()], "", False, False, "asynchronous: db1's synchronous_standby_names is empty"),
    ([primary(), standby(names="*")], "", True, False, "asynchronous: db1's synchronous_standby_names is empty"),
    ([sync_primary(), standby()], "", False, True,
     "RPO 0: db1 had synchronous_standby_names '*', synchronous_commit on and db2 as its only synchronous standby "
     "(read at 2026-11-27T17:00:00Z): it acknowledged no commit before db2 had it"),
    ([sync_primary(names="FIRST 1 (db1, db2)", commit="remote_apply"), standby(names="FIRST 1 (db1, db2)")], "",
     True, True, "RPO 0: db1 had synchronous_standby_names 'FIRST 1 (db1, db2)', synchronous_commit remote_apply"),
    ([sync_primary(commit="remote_write"), standby()], "", False, True, "RPO 0"),
    # its only walsender, under another application name (pg_basebackup -R sets none: the cluster's name)
    ([sync_primary(senders=[walsender("15/main")]), standby()], "", False, True, "RPO 0"),
    ([sync_primary(commit="local"), standby()], "", False, False,
     "synchronous_standby_names is '*' but db1's synchronous_commit is local: commits were acknowledged before"),
    ([sync_primary(senders=[walsender(sync="async")]), standby()], "", False, False,
     "synchronous_standby_names is '*', but db1 did not stream to db2 as its synchronous standby (async)"),
    ([sync_primary(senders=[]), standby(status=None)], "", False, False,
     "synchronous_standby_names is '*', but db1 did not stream to db2 as its synchronous standby (not streaming)"),
    # another walsender could have acknowledged for it: pg_receivewal, a DR replica, another member
    ([sync_primary(senders=[walsender(), walsender("barman", "potential")]), standby()], "", False, False,
     "synchronous ('*'), but barman (potential) could also stand in for db2"),
    ([sync_primary(names="ANY 1 (db2, db3)", senders=[walsender("db2", "quorum"), walsender("db3", "quorum")]),
      standby(), standby("db3")], "db2", False, False, "synchronous ('ANY 1 (db2, db3)'), but db3 (quorum) could also"),
    ([sync_primary(senders=[walsender(), walsender("db3", "async")]), standby(), standby("db3")], "db2", False, True,
     "RPO 0"),
    ([sync_primary(senders=[walsender("db_2")]), standby("db-2")], "db-2", False, True, "RPO 0"),   # its slot name
    ([down("db1"), standby(status=None, names="  ")], "", False, False, "not known"),
])
def test_the_guard_knows_a_synchronous_standby_from_the_primarys_own_view(results, standby_named, configured, rpo0, words):
    """RPO 0 only when the primary, read by this run, made every acknowledged commit wait for the target and nothing
    else could have stood in for it; `configured` (the promotion suspends it) is the target's own setting."""
    found = plan(results, standby_named)["synchronous"]
    assert (found["configured"], found["rpo0"]) == (configured, rpo0) and found["why"].startswith(words), found
    assert found["why"] in plan(results, standby_named)["text"]


@pytest.mark.parametrize("results, standby_named, words", [
    ([down("db1"), primary("db2")], "db2", "db2 is primary already: the clients and the fence are seen to"),
    ([standby("db1", sender="db2"), primary("db2")], "db2", "db2 is primary already"),
])
def test_a_target_already_primary_leaves_the_clients_and_the_fence_to_see_to(results, standby_named, words):
    result = plan(results, standby_named)
    assert result["promoted"] is True and result["target"] == "db2" and words in result["text"]


@pytest.mark.parametrize("results, standby_named, message", [
    ([down("db1"), down("db2")], "", "No standby answers: there is nothing to promote. Now: db1: did not answer"),
    ([primary("db1")], "", "No standby answers"),
    ([primary("db1"), down("db2")], "", "db1 is primary and db2 did not answer: a standby down is not a failover. If "
     "db1 is the standby an earlier run promoted, name it to see to the clients and the fence: "
     "-e '{\"db_failover_standby\": \"db1\"}'"),
    ([primary("db1"), primary("db2")], "", "db1 and db2 are all primary (split brain)"),
    ([down("db1"), standby("db2"), standby("db3")], "", "Name the standby to promote, one of db2, db3"),
    ([down("db1"), standby()], "db9", "The standby to promote, 'db9', is not one of the cluster's members (db1, db2)"),
    ([down("db1"), down("db2"), standby("db3")], "db2", "The standby to promote, db2, did not answer"),
    ([down("db1"), standby()], None, "is not one of the cluster's members"),
    ([], "", "the input is the registered results"),
])
def test_refusals_say_every_members_state_and_that_nothing_changed(results, standby_named, message):
    with pytest.raises(OpsreadyError) as refused:
        plan(results, standby_named)
    assert message in str(refused.value)
    if results:
        assert "Nothing was changed" in str(refused.value)


GOOD = {"members": ["db1", "db2"], "standby": "", "probes": 3, "interval": 1, "probe_timeout": 1, "watch": 0,
        "max_lag_bytes": 1048576, "promote_timeout": 10, "accept_data_loss": False, "data_loss_reason": "",
        "fence_timeout": 20, "verify_timeout": 60, "pgbouncer": {"database": "app"}}


def test_good_settings_pass():
    assert settings(GOOD) is True
    assert settings(dict(GOOD, accept_data_loss=True, data_loss_reason="INC-1: db1's disk is gone")) is True
    assert settings(dict(GOOD, probes="3", interval="1.5", watch="3600")) is True   # -e key=value gives text
    assert settings(dict(GOOD, members=["db-1.example.com", "db_2"])) is True


@pytest.mark.parametrize("change, message", [
    ({"members": ["db1"]}, "db_failover_members must list at least two members"),
    ({"members": "db1,db2"}, "db_failover_members must list"),
    ({"members": ["db1", "db 2"]}, "db_failover_members must list"),
    ({"members": ["db1", "db1"]}, "names a member twice"),
    ({"members": ["db1", "$(reboot)"]}, "db_failover_members must list"),
    ({"members": ["db1", 'db"2']}, "db_failover_members must list"),
    ({"members": ["db1", "-db2"]}, "db_failover_members must list"),
    ({"standby": "db9"}, "db_failover_standby must be empty or one of"),
    ({"standby": "db2\n"}, "db_failover_standby must be empty or one of"),
    ({"probes": 0}, "db_failover_probes must be a whole number from 1 to 100"),
    ({"probes": 2.5}, "db_failover_probes must be a whole number"),
    ({"probes": True}, "db_failover_probes"),
    ({"interval": 0}, "db_failover_interval must be a number from 0.1 to 60"),
    ({"interval": -1}, "db_failover_interval"),
    ({"probe_timeout": 31}, "db_failover_probe_timeout must be a number from 0.1 to 30"),
    ({"probe_timeout": 2}, "db_failover_probe_timeout (2) must be at most db_failover_interval (1)"),
    ({"fence_timeout": 0}, "db_failover_fence_timeout must be a number from 1 to 600, got 0"),
    ({"verify_timeout": -1}, "db_failover_verify_timeout must be a number from 1 to 3600"),
    ({"watch": -5}, "db_failover_watch must be a number from 0 to 604800"),
    ({"watch": "forever"}, "db_failover_watch"),
    ({"max_lag_bytes": -1}, "db_failover_max_lag_bytes must be a whole number from 0"),
    ({"promote_timeout": 0}, "db_failover_promote_timeout must be a number from 1 to 3600"),
    ({"accept_data_loss": "yes"}, "db_failover_accept_data_loss must be true or false"),
    ({"accept_data_loss": True}, "db_failover_accept_data_loss needs db_failover_data_loss_reason"),
    ({"accept_data_loss": True, "data_loss_reason": "  "}, "needs db_failover_data_loss_reason"),
    ({"pgbouncer": {}}, "db_failover_pgbouncer must name the database"),
    ({"pgbouncer": "app"}, "db_failover_pgbouncer must name the database"),
])
def test_bad_settings_are_refused_before_anything_is_reached(change, message):
    with pytest.raises(OpsreadyError) as refused:
        settings(dict(GOOD, **change))
    assert message in str(refused.value) and str(refused.value).endswith("Nothing was changed.")


@pytest.mark.parametrize("results, member, todo, words", [
    ([standby("db1", status=None, sender=None), primary("db2")], "db1", True, "db1 rejoins db2 (db1: standby not streaming"),
    ([down("db1"), primary("db2")], "db1", True, "db1 rejoins db2 (db1: did not answer"),
    ([standby("db1", sender="db2"), primary("db2")], "db1", False, "db1 streams from db2 already: nothing to do"),
    ([standby("db1", sender="db9"), primary("db2")], "db1", True, "db1 rejoins db2"),   # streams, from another server
    ([standby("db1", sender="db2"), primary("db2")], "db2", False, "db2 is the primary: nothing to rejoin"),
])
def test_whether_a_member_must_rejoin(results, member, todo, words):
    result = rejoin_plan(results, member)
    assert result["todo"] is todo and result["primary"] == "db2" and result["text"].startswith(words), result


@pytest.mark.parametrize("results, member, message", [
    ([down("db1"), down("db2")], "db1", "No member is primary. Now: db1: did not answer"),
    ([primary("db1"), primary("db2")], "db1", "db1 and db2 are all primary (split brain)"),
    ([down("db1"), primary("db2")], "db9", "'db9' is not one of the cluster's members (db1, db2)"),
    ([down("db1"), primary("db2")], "db1\n", "is not one of the cluster's members"),
])
def test_rejoin_refusals_say_every_members_state(results, member, message):
    with pytest.raises(OpsreadyError) as refused:
        rejoin_plan(results, member)
    assert message in str(refused.value) and "Nothing was changed" in str(refused.value)
