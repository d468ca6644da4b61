"""pg_promote on real pairs (conftest pg_fresh_pair: a primary and a standby streaming from it, each test its own):
a promotion that loses nothing, check mode, the lag guard refusing and, with a reason, accepting, a paused replay,
a server already primary; the guard and validation as pure functions; bad input."""
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _promote
from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.modules import pg_promote

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


def in_recovery(server):
    return sql(server, "SELECT pg_is_in_recovery()")[0][0]


def caught_up(pair, timeout=30):
    target = sql(pair["primary"], "SELECT pg_current_wal_lsn()::text")[0][0]
    deadline = time.monotonic() + timeout
    while not sql(pair["standby"], "SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % target)[0][0]:
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.1)
    return target


def test_a_clean_switchover_promotes_with_nothing_lost_and_takes_writes(pg_fresh_pair, run_main):
    """The planned way: the old primary stopped cleanly, its last position given as min_lsn with a budget of 0."""
    pair = pg_fresh_pair
    sql(pair["primary"], "CREATE TABLE orders (n int); INSERT INTO orders SELECT generate_series(1, 1000)")
    last = caught_up(pair)
    pair["primary"]["proc"].terminate()   # a clean (smart) shutdown: the standby receives its shutdown checkpoint
    pair["primary"]["proc"].wait(30)
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=last))
    assert rc == 0 and result["changed"] is True, result["msg"]
    assert result["guard"] == {"promote": True, "over_budget": False, "loss_bytes": 0, "findings": []}
    assert result["before"]["role"] == "standby" and result["after"]["role"] == "primary"
    assert result["after"]["timeline"] == result["before"]["timeline"] + 1
    assert replication.lsn_bytes(result["lsn_at_promotion"]) >= replication.lsn_bytes(last)
    assert result["promote_asked"] is True
    assert set(result["timings"]) == {"wait_replay", "promote", "writable", "total"}
    assert result["accepted_data_loss"] is None and result["replay_resumed"] is False
    assert not in_recovery(pair["standby"])
    sql(pair["standby"], "INSERT INTO orders VALUES (1001)")
    assert sql(pair["standby"], "SELECT count(*) FROM orders")[0][0] == 1001
    assert result["msg"].startswith("promoted at %s: primary on timeline 2" % result["lsn_at_promotion"])

    rc, again = run_main(pg_promote.main, args(pair["standby"], min_lsn=last))
    assert rc == 0 and again["changed"] is False and again["msg"].startswith("already primary (primary on timeline 2")


def synchronous_everywhere(pair):
    """synchronous_standby_names '*' on both, as a platform sets it in a file the members share; the primary stopped
    cleanly once the standby has all it wrote."""
    for server in (pair["primary"], pair["standby"]):
        sql(server, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        sql(server, "SELECT pg_reload_conf()")
    sql(pair["primary"], "CREATE TABLE orders (n int); INSERT INTO orders VALUES (1)")   # waits for the standby
    last = caught_up(pair)
    pair["primary"]["proc"].terminate()
    pair["primary"]["proc"].wait(30)
    return last


def test_a_synchronous_standby_promoted_stops_waiting_for_a_standby_of_its_own(pg_fresh_pair, run_main):
    pair = pg_fresh_pair
    last = synchronous_everywhere(pair)
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=last, synchronous_standby_names=""))
    assert rc == 0 and result["after"]["role"] == "primary", result["msg"]
    assert result["synchronous_standby_names"] == {"before": "*", "after": ""}
    assert set(result["timings"]) == {"wait_replay", "promote", "synchronous", "writable", "total"}
    sql(pair["standby"], "INSERT INTO orders VALUES (2)")   # would wait for a standby that is not there
    assert sql(pair["standby"], "SHOW synchronous_standby_names") == [("",)]
    # set by ALTER SYSTEM here (a file in the lab): replaced, and a rejoin would not bring it back - said
    assert "synchronous_standby_names '*' was set by ALTER SYSTEM and is replaced by ''" in str(result["warnings"])


def test_without_it_the_promoted_standby_makes_clients_commits_wait_and_says_so(pg_fresh_pair, run_main):
    """What the option is for: with the shared '*' the new primary waits for a standby of its own on every client
    commit (its own proof of a write does not: no WAL of its own). The result warns; a client's INSERT really waits,
    until the setting is emptied."""
    import threading
    pair = pg_fresh_pair
    last = synchronous_everywhere(pair)
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=last))
    assert rc == 0 and result["synchronous_standby_names"] is None, result["msg"]
    assert ("the new primary's synchronous_standby_names is '*' and no synchronous standby streams from it: its "
            "clients' commits wait until one does (give synchronous_standby_names: '' to promote without it)"
            in str(result["warnings"]))   # shown as an Ansible warning
    insert = threading.Thread(target=sql, args=(pair["standby"], "INSERT INTO orders VALUES (2)"), daemon=True)
    insert.start()
    insert.join(2)
    assert insert.is_alive()   # the commit waits for a synchronous standby
    sql(pair["standby"], "ALTER SYSTEM SET synchronous_standby_names = ''")
    sql(pair["standby"], "SELECT pg_reload_conf()")
    insert.join(10)
    assert not insert.is_alive() and sql(pair["standby"], "SELECT count(*) FROM orders") == [(2,)]


def test_check_mode_says_it_would_promote_and_changes_nothing(pg_pair_for_reads, run_main):
    rc, result = run_main(pg_promote.main, args(pg_pair_for_reads["standby"], _ansible_check_mode=True))
    assert rc == 0 and result["msg"].startswith("would promote the standby (standby on timeline 1")
    assert result["guard"]["promote"] is True and result["guard"]["loss_bytes"] is None
    assert in_recovery(pg_pair_for_reads["standby"])


def test_the_guard_refuses_what_the_standby_did_not_receive_and_changes_nothing(pg_pair_for_reads, run_main):
    """The primary is known to have written further than the standby received (replay paused, receiving stopped
    is not needed: a position ahead of everything received is the same finding)."""
    pair = pg_pair_for_reads
    received = caught_up(pair)
    ahead = "%X/%X" % divmod(replication.lsn_bytes(received) + 8 * 1024 * 1024, 1 << 32)
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=ahead, max_lag_bytes=1024))
    assert rc == 1 and result["changed"] is False
    assert result["msg"].startswith("refusing to promote: the standby received WAL up to ")
    assert "bytes short of %s, which the primary is known to have written (budget max_lag_bytes=1024)" % ahead \
        in result["msg"]
    assert "To promote anyway, give accept_data_loss: true and data_loss_reason (recorded)." in result["msg"]
    assert result["guard"]["loss_bytes"] >= 8 * 1024 * 1024 - 1024 * 64
    assert in_recovery(pair["standby"])
    # check mode with the reason: it would promote, and says what it would accept
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=ahead, accept_data_loss=True,
                                                data_loss_reason="INC-4711: db1 lost its disk",
                                                _ansible_check_mode=True))
    assert rc == 0 and ", accepting: the standby received WAL up to" in result["msg"]
    assert result["accepted_data_loss"]["reason"] == "INC-4711: db1 lost its disk"
    assert in_recovery(pair["standby"])


def test_with_a_reason_the_loss_is_accepted_recorded_and_the_paused_replay_resumed(pg_fresh_pair, run_main):
    pair = pg_fresh_pair
    sql(pair["primary"], "CREATE TABLE orders (n int)")
    caught_up(pair)
    sql(pair["standby"], "SELECT pg_wal_replay_pause()")
    sql(pair["primary"], "INSERT INTO orders SELECT generate_series(1, 5000)")
    written = sql(pair["primary"], "SELECT pg_current_wal_lsn()::text")[0][0]
    pair["primary"]["proc"].kill()   # the primary dies; what the standby received is replayed before promotion
    pair["primary"]["proc"].wait(30)
    ahead = "%X/%X" % divmod(replication.lsn_bytes(written) + 4096, 1 << 32)   # written after the last read, lost
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=ahead))
    assert rc == 1 and result["msg"].startswith("refusing to promote") and in_recovery(pair["standby"])
    rc, result = run_main(pg_promote.main, args(pair["standby"], min_lsn=ahead, accept_data_loss=True,
                                                data_loss_reason="INC-4711: db1 died, 4 KiB re-entered"))
    assert rc == 0 and result["changed"] is True and result["replay_resumed"] is True, result["msg"]
    assert result["accepted_data_loss"]["reason"] == "INC-4711: db1 died, 4 KiB re-entered"
    assert result["accepted_data_loss"]["loss_bytes"] == result["guard"]["loss_bytes"] >= 4096
    assert "; accepted: the standby received WAL up to" in result["msg"]
    assert sql(pair["standby"], "SELECT count(*) FROM orders")[0][0] == 5000   # everything received was replayed


@pytest.fixture
def pg_pair_for_reads(pg_pair):
    """The module's shared pair, its replay running (a test that pauses it resumes it)."""
    yield pg_pair
    sql(pg_pair["standby"], "SELECT pg_wal_replay_resume()")


def test_a_role_that_may_not_promote_is_refused_before_anything_changes(pg_pair_for_reads, run_main):
    pair = pg_pair_for_reads
    sql(pair["primary"], "DO $$BEGIN CREATE ROLE watcher LOGIN PASSWORD 'watcher-secret' IN ROLE pg_monitor; "
                         "EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    caught_up(pair)
    for check_mode in (True, False):
        rc, result = run_main(pg_promote.main, dict(args(pair["standby"], login_user="watcher",
                                                         login_password="watcher-secret"), _ansible_check_mode=check_mode))
        assert rc == 1 and result["msg"] == ("refusing to promote: watcher may not call pg_promote (a superuser may, or a "
                                             "role granted EXECUTE on it). Nothing was changed.")
        assert result["changed"] is False and result["promote_asked"] is False and "watcher-secret" not in str(result)
    assert in_recovery(pair["standby"])


def test_a_role_that_may_promote_but_not_set_the_synchronous_standbys_is_refused_before_anything_changes(
        pg_pair_for_reads, run_main):
    pair = pg_pair_for_reads
    sql(pair["primary"], "DO $$BEGIN CREATE ROLE promoter LOGIN PASSWORD 'promoter-secret'; "
                         "EXCEPTION WHEN duplicate_object THEN NULL; END$$; "
                         "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO promoter; "
                         "GRANT EXECUTE ON FUNCTION pg_wal_replay_resume() TO promoter; GRANT pg_monitor TO promoter")
    caught_up(pair)
    login = dict(args(pair["standby"], login_user="promoter", login_password="promoter-secret"))
    rc, result = run_main(pg_promote.main, dict(login, synchronous_standby_names="", _ansible_check_mode=True))
    assert rc == 1 and result["msg"] == ("refusing to promote: promoter may not ALTER SYSTEM SET "
                                         "synchronous_standby_names (a superuser may, or a role granted ALTER SYSTEM on "
                                         "it). Nothing was changed.") and result["promote_asked"] is False
    rc, result = run_main(pg_promote.main, dict(login, _ansible_check_mode=True))
    assert rc == 0 and result["msg"].startswith("would promote the standby"), result["msg"]   # without it: may promote
    assert in_recovery(pair["standby"])


def test_a_primary_is_left_alone(pg_pair_for_reads, run_main):
    rc, result = run_main(pg_promote.main, args(pg_pair_for_reads["primary"]))
    assert rc == 0 and result["changed"] is False and result["guard"] is None
    assert result["msg"].startswith("already primary (primary on timeline 1")


def test_a_server_that_never_answers_is_a_bounded_failure(run_main, silent_server):
    start = time.monotonic()
    rc, result = run_main(pg_promote.main, {"login_host": "127.0.0.1", "login_port": silent_server, "ssl_mode": "disable",
                                            "login_password": "pw-secret-9", "replay_timeout": 0.1, "promote_timeout": 1})
    took = time.monotonic() - start
    assert rc == 1 and took < 20, (took, result)   # each answer within the longest wait + 10 s
    assert result["msg"].startswith("promotion of 127.0.0.1: ") and "pw-secret-9" not in str(result)


@pytest.mark.parametrize("extra, message", [
    ({"max_lag_bytes": -1}, "max_lag_bytes must be a number from 0 to 1099511627776, got -1"),
    ({"max_lag_bytes": 1 << 41}, "max_lag_bytes must be a number from 0 to"),
    ({"max_lag_seconds": 30}, "module: max_lag_seconds. Supported parameters include"),
    ({"replay_timeout": 0}, "replay_timeout must be a number from 0.1 to 3600, got 0.0"),
    ({"promote_timeout": 0.5}, "promote_timeout must be a number from 1 to 3600, got 0.5"),
    ({"promote_timeout": 3601}, "promote_timeout must be a number from 1 to 3600"),
    ({"min_lsn": "yesterday"}, "'yesterday' is not a PostgreSQL LSN"),
    ({"min_lsn": "0/3000148; SELECT 1"}, "is not a PostgreSQL LSN"),
    ({"accept_data_loss": True}, "accept_data_loss needs data_loss_reason"),
    ({"accept_data_loss": True, "data_loss_reason": "  "}, "accept_data_loss needs data_loss_reason"),
    ({"data_loss_reason": "because"}, "data_loss_reason applies with accept_data_loss=true only"),
    ({"accept_data_loss": True, "data_loss_reason": "INC-1\nDROP"}, "data_loss_reason: give one line of at most 1000 "
     "characters (it is recorded), got 10 characters with a control character"),
    ({"accept_data_loss": True, "data_loss_reason": "x" * 1001}, "got 1001 characters"),
    ({"min_lsn": "0/3000148\n"}, "is not a PostgreSQL LSN"),
    ({"max_lag_bytes": "lots"}, "argument 'max_lag_bytes' is of type str and we were unable to convert to int"),
    ({"login_port": 1}, "promotion of 127.0.0.1: "),
    ({"synchronous_standby_names": "db1\nALTER"}, "synchronous_standby_names: give one line of at most 1000 "
     "characters, or an empty one for none, got 'db1\\nALTER'"),
    ({"synchronous_standby_names": "x" * 1001}, "synchronous_standby_names: give one line"),
])
def test_bad_input_is_refused_before_anything_is_read(run_main, extra, message):
    rc, result = run_main(pg_promote.main, dict({"login_host": "127.0.0.1", "login_port": 1,
                                                 "login_password": "pw-secret-9"}, **extra))
    assert rc == 1 and message in result["msg"], result["msg"]
    assert "pw-secret-9" not in str(result) and "Traceback" not in result["msg"]


def test_the_table_is_as_long_as_we_say():
    assert len(test_bad_input_is_refused_before_anything_is_read.pytestmark[0].args[1]) == 18


# ------------------------------------------------------------------------------------------------- the guard alone
def standby(received="0/5000000", replayed="0/5000000", seconds=0.0):
    behind = max(0, replication.lsn_bytes(received) - replication.lsn_bytes(replayed)) if received else 0
    return replication.shape((True, 150010, "2026-11-27T04:00:00Z", "", 1, "on"),
                             standby=(received, replayed, behind, seconds, "not paused"))


@pytest.mark.parametrize("state, options, promote, over, loss", [
    (standby(), {}, True, False, None),                                                     # no min_lsn: no loss known
    (standby(), {"min_lsn": "0/5000000"}, True, False, 0),                                  # everything received
    (standby(), {"min_lsn": "0/4000000"}, True, False, 0),                                  # received more than known
    (standby(), {"min_lsn": "0/5000001"}, False, True, 1),                                  # one byte short, budget 0
    (standby(), {"min_lsn": "0/5000400", "max_lag_bytes": 1024}, True, False, 1024),        # at the budget
    (standby(), {"min_lsn": "0/5000401", "max_lag_bytes": 1024}, False, True, 1025),        # over it
    (standby(), {"min_lsn": "0/5000401", "accept_data_loss": True}, True, True, 1025),      # over, accepted
    (standby(replayed="0/4000000", seconds=300.0), {"min_lsn": "0/5000000"}, True, False, 0),  # received, replayed later
    (standby(received="0/3000000", replayed="0/3025AE8"), {"min_lsn": "0/3025a70"}, True, False, 0),  # restarted standby
    (standby(received=None, replayed="0/3025AE8"), {"min_lsn": "0/3025AE8"}, True, False, 0),  # nothing streamed yet
    (standby(received="1/0", replayed="1/0"), {"min_lsn": "0/FFFFFFFF"}, True, False, 0),    # across the 4 GiB line
])
def test_the_guard(state, options, promote, over, loss):
    decision = _promote.guard(state, **options)
    assert (decision["promote"], decision["over_budget"], decision["loss_bytes"]) == (promote, over, loss)
    assert bool(decision["findings"]) is over


def test_the_guard_is_for_standbys_only():
    primary = replication.shape((False, 150010, "2026-11-27T04:00:00Z", "", 1, "on"), primary=("0/3000148", 1))
    with pytest.raises(OpsreadyError, match="the server is a primary, not a standby"):
        _promote.guard(primary)
