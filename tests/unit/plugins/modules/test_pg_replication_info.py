"""pg_replication_info against a real primary and a real standby streaming from it (conftest pg_pair), a server that
never answers, and bad input; shape() and summary() on rows as PostgreSQL returns them."""
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.modules import pg_replication_info

KEYS = ("login_host", "login_port", "login_user", "login_password", "login_db")


def args(server, **extra):
    return dict({key: server[key] for key in KEYS}, **extra)


def sql(server, statement):
    conn = psycopg2.connect(server["dsn"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def caught_up(pair, timeout=30):
    """Until the standby has replayed everything the primary wrote."""
    target = sql(pair["primary"], "SELECT pg_current_wal_lsn()::text")[0][0]
    deadline = time.monotonic() + timeout
    while not sql(pair["standby"], "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % target)[0][0]:
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.1)


def test_a_primary_reports_its_standby_streaming_through_its_slot(pg_pair, run_main):
    sql(pg_pair["primary"], "CREATE TABLE IF NOT EXISTS t (n int); INSERT INTO t VALUES (1)")
    caught_up(pg_pair)
    rc, result = run_main(pg_replication_info.main, args(pg_pair["primary"]))
    assert rc == 0 and result["changed"] is False and result["role"] == "primary"
    assert result["timeline"] == 1 and replication.LSN.fullmatch(result["lsn"]["current"])
    [standby] = result["standbys"]
    assert (standby["name"], standby["state"], standby["sync_state"]) == ("standby1", "streaming", "async")
    assert standby["address"] == "127.0.0.1/32" or standby["address"] == "127.0.0.1"
    assert isinstance(standby["lag_bytes"], int) and standby["lag_bytes"] >= 0
    [slot] = result["slots"]
    assert (slot["name"], slot["type"], slot["active"]) == ("standby1", "physical", True)
    assert result["lag"] is None and result["wal_receiver"] is None
    assert result["msg"].startswith("primary on timeline 1 at %s, 1 standby: standby1 streaming, " % result["lsn"]["current"])


def test_a_standby_reports_what_it_received_and_replayed_and_its_receiver(pg_pair, run_main):
    caught_up(pg_pair)
    rc, result = run_main(pg_replication_info.main, args(pg_pair["standby"]))
    assert rc == 0 and result["role"] == "standby" and result["standbys"] == []
    assert result["lsn"]["current"] is None
    assert replication.lsn_bytes(result["lsn"]["replayed"]) <= replication.lsn_bytes(result["lsn"]["received"])
    assert result["lag"] == {"bytes": 0, "seconds": 0.0} and result["replay_paused"] is False
    receiver = result["wal_receiver"]
    assert (receiver["status"], receiver["sender_host"], receiver["slot"]) == ("streaming", "127.0.0.1", "standby1")
    assert receiver["sender_port"] == pg_pair["primary"]["login_port"] and receiver["timeline"] == 1
    assert "WAL receiver streaming from 127.0.0.1" in result["msg"]


def test_a_paused_replay_is_lag_in_bytes_and_seconds(pg_pair, run_main):
    caught_up(pg_pair)
    sql(pg_pair["standby"], "SELECT pg_wal_replay_pause()")
    try:
        sql(pg_pair["primary"], "INSERT INTO t SELECT generate_series(1, 20000)")
        deadline = time.monotonic() + 30
        while True:
            rc, result = run_main(pg_replication_info.main, args(pg_pair["standby"]))
            if result["lag"]["bytes"] > 100000 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert rc == 0 and result["replay_paused"] is True
        assert result["lag"]["bytes"] > 100000 and result["lag"]["seconds"] > 0
        assert ", replay paused," in result["msg"]
        rc, primary = run_main(pg_replication_info.main, args(pg_pair["primary"]))
        assert primary["standbys"][0]["lag_bytes"] >= result["lag"]["bytes"]
    finally:
        sql(pg_pair["standby"], "SELECT pg_wal_replay_resume()")
    caught_up(pg_pair)


def test_check_mode_reads_the_same(pg_pair, run_main):
    rc, result = run_main(pg_replication_info.main, dict(args(pg_pair["primary"]), _ansible_check_mode=True))
    assert rc == 0 and result["role"] == "primary" and result["changed"] is False


def test_without_pg_monitor_the_standbys_lag_is_unknown_not_zero(pg_pair, run_main):
    sql(pg_pair["primary"], "DO $$BEGIN CREATE ROLE nomon LOGIN PASSWORD 'nomon-secret'; "
                            "EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    rc, result = run_main(pg_replication_info.main, dict(args(pg_pair["primary"]), login_user="nomon",
                                                         login_password="nomon-secret"))
    assert rc == 0 and result["standbys"][0]["lag_bytes"] is None
    assert "lag unknown (needs pg_monitor)" in result["msg"]


def test_a_server_that_never_answers_fails_within_connect_timeout(run_main, silent_server):
    start = time.monotonic()
    rc, result = run_main(pg_replication_info.main, {"login_host": "127.0.0.1", "login_port": silent_server,
                                                     "login_password": "hunter2-secret", "connect_timeout": 1,
                                                     "ssl_mode": "disable"})
    took = time.monotonic() - start
    assert rc == 1 and took < 5, (took, result)
    assert result["msg"].startswith("replication state of 127.0.0.1: ") and "hunter2" not in str(result)


def members(*servers):
    return ",".join("127.0.0.1:%d" % server["login_port"] for server in servers)


@pytest.mark.parametrize("attrs, want", [("primary", "primary"), ("read-write", "primary"), ("standby", "standby")])
def test_of_the_clusters_members_the_one_asked_for_answers_in_either_order(pg_pair, run_main, attrs, want):
    for order in ((pg_pair["primary"], pg_pair["standby"]), (pg_pair["standby"], pg_pair["primary"])):
        rc, result = run_main(pg_replication_info.main, dict(args(pg_pair["primary"]), login_host=members(*order),
                                                             target_session_attrs=attrs))
        assert rc == 0 and result["role"] == want, result
        assert result["server"] == {"host": "127.0.0.1", "port": pg_pair[want]["login_port"]}


def test_a_member_that_is_down_or_never_answers_is_passed_over_within_the_timeout(pg_pair, run_main, silent_server):
    """A dead member refuses at once; a hung one gets its share of connect_timeout (libpq: at least 2 s)."""
    for dead in (1, silent_server):
        rc, result = run_main(pg_replication_info.main, dict(
            args(pg_pair["primary"]), login_host="127.0.0.1:%d,%s" % (dead, members(pg_pair["standby"], pg_pair["primary"])),
            target_session_attrs="primary", connect_timeout=6, ssl_mode="disable"))
        assert rc == 0 and result["server"]["port"] == pg_pair["primary"]["login_port"], result


def test_a_standby_and_its_primary_share_the_system_identifier(pg_pair, run_main):
    dummy, primary = run_main(pg_replication_info.main, args(pg_pair["primary"]))
    dummy, standby = run_main(pg_replication_info.main, args(pg_pair["standby"]))
    assert primary["system_identifier"] == standby["system_identifier"] and primary["system_identifier"].isdigit()


def test_no_member_with_the_attrs_fails_naming_each(pg_pair, run_main):
    rc, result = run_main(pg_replication_info.main, dict(args(pg_pair["standby"]), login_host=members(pg_pair["standby"]),
                                                         target_session_attrs="primary"))
    assert rc == 1 and result["msg"].startswith("replication state of 127.0.0.1:%d: " % pg_pair["standby"]["login_port"])
    assert "hot standby" in result["msg"] and pg_pair["standby"]["login_password"] not in str(result), result["msg"]


def test_a_wrong_password_fails_and_does_not_say_it(pg_pair, run_main):
    rc, result = run_main(pg_replication_info.main, dict(args(pg_pair["primary"]), login_password="wrong-secret-42"))
    assert rc == 1 and "password authentication failed" in result["msg"] and "wrong-secret-42" not in str(result)


@pytest.mark.parametrize("extra, message", [
    ({"connect_timeout": 0}, "connect_timeout must be more than 0 and at most 300 seconds, got 0.0"),
    ({"connect_timeout": -1}, "connect_timeout must be more than 0 and at most 300 seconds, got -1.0"),
    ({"connect_timeout": 301}, "connect_timeout must be more than 0 and at most 300 seconds, got 301.0"),
    ({"connect_timeout": "soon"}, "argument 'connect_timeout' is of type str and we were unable to convert to float"),
    ({"login_port": "x"}, "argument 'login_port' is of type str and we were unable to convert to int"),
    ({"ssl_mode": "maybe"}, "value of ssl_mode must be one of"),
    ({"login_port": 1, "connect_timeout": 2}, "replication state of 127.0.0.1: "),   # nothing listens there
    ({"login_host": "no-such-host.invalid", "connect_timeout": 2}, "replication state of no-such-host.invalid: "),
    ({"unknown": 1}, "Unsupported parameters"),
    ({"target_session_attrs": "master"}, "value of target_session_attrs must be one of"),
    ({"login_host": "db1,,db2"}, "login_host 'db1,,db2': each server is a name, an address or a socket directory"),
    ({"login_host": "db1:0"}, "login_host 'db1:0': the port of db1 must be from 1 to 65535"),
    ({"login_port": 0}, "login_port must be from 1 to 65535, got 0"),
])
def test_bad_input_is_refused_clearly(run_main, extra, message):
    rc, result = run_main(pg_replication_info.main, dict({"login_host": "127.0.0.1", "login_password": "pw-secret-7"},
                                                         **extra))
    assert rc == 1 and message in result["msg"], result["msg"]
    assert "pw-secret-7" not in str(result) and "Traceback" not in result["msg"]


# ------------------------------------------------------------------------------------------------- pure functions
@pytest.mark.parametrize("lsn, position", [("0/0", 0), ("0/3000148", 0x3000148), ("16/B374D848", (0x16 << 32) + 0xB374D848),
                                           ("16/b374d848", (0x16 << 32) + 0xB374D848),
                                           (None, None)])
def test_an_lsn_is_a_byte_position(lsn, position):
    assert replication.lsn_bytes(lsn) == position


@pytest.mark.parametrize("lsn", ["", "0/", "/0", "0/3000148x", "g/1", "0-1", 5, "123456789/0"])
def test_what_is_not_an_lsn_is_refused(lsn):
    with pytest.raises(OpsreadyError, match="is not a PostgreSQL LSN"):
        replication.lsn_bytes(lsn)


def test_shape_of_a_standby_without_a_receiver_says_so():
    state = replication.shape((True, 150010, "2026-11-27T04:00:00.000000Z", "", 2, "on"),
                              standby=("0/5000000", "0/4000000", 16777216, 12.3456, "paused"), receiver=None, slots=[])
    assert state["timeline"] == 2 and state["wal_receiver"] is None and state["replay_paused"] is True
    assert state["lag"] == {"bytes": 16777216, "seconds": 12.346}
    assert replication.summary(state) == ("standby on timeline 2, received 0/5000000, replayed 0/4000000 (16777216 bytes, "
                                          "12.346 s behind), replay paused, no WAL receiver")


def test_shape_of_a_primary_with_a_synchronous_standby():
    state = replication.shape((False, 150010, "2026-11-27T04:00:00.000000Z", "FIRST 1 (db2)", 1, "remote_apply"),
                              primary=("0/3000148", 3),
                              standbys=[("db2", "10.89.77.22", "streaming", "sync", "0/3000148", "0/3000148",
                                         "0/3000100", 0, 72, 0.0012)], slots=[])
    assert state["timeline"] == 3 and state["synchronous_standby_names"] == "FIRST 1 (db2)"
    assert state["synchronous_commit"] == "remote_apply"
    assert state["standbys"][0]["lag_seconds"] == 0.001 and state["standbys"][0]["lag_bytes"] == 72
    assert replication.summary(state) == "primary on timeline 3 at 0/3000148, 1 standby: db2 streaming (sync), 72 bytes behind"
