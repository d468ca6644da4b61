"""pg_switchover on a real pair behind two real PgBouncers (conftest pgbouncer_pair), the old primary stopped and
started by pg_ctl (stop_command, start_command): a switchover under a writer that loses nothing and sees no error,
check mode, and the failures before the promotion that put everything back (a console that cannot be reached, a
PAUSE held up by a transaction, a stop that fails or hangs, a target that does not receive the last WAL); after the
promotion, a PgBouncer that does not take the target is left paused and named; bad input."""
import os
import subprocess
import sys
import threading
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _switch
from ansible_collections.opsready.runbooks.plugins.modules import pg_switchover, pgbouncer

PG_BIN = "/usr/lib/postgresql/15/bin"
GRANTS = """CREATE ROLE switchover LOGIN PASSWORD 'switch-secret' IN ROLE pg_monitor;
GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer), pg_wal_replay_resume(), pg_reload_conf() TO switchover;
GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO switchover"""


def sql(server, statement):
    conn = psycopg2.connect(server["dsn"], connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def show(bouncer):
    conn = psycopg2.connect(host="127.0.0.1", port=bouncer["admin"]["login_port"], user="admin", dbname="pgbouncer",
                            password=bouncer["admin"]["login_password"], connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            names = [d[0] for d in cur.description]
            return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}["app"]
    finally:
        conn.close()


def running(server):
    return subprocess.run(server["prefix"] + [PG_BIN + "/pg_ctl", "status", "-D", str(server["data"])],
                          capture_output=True, check=False).returncode == 0


@pytest.fixture
def switch(pgbouncer_pair):
    """The pair, its two PgBouncers, and the module's arguments to switch the primary over to the standby; a
    postmaster the test started again on the old primary's directory is stopped afterwards."""
    pair, bouncers = pgbouncer_pair
    old = pair["primary"]
    ctl = old["prefix"] + [PG_BIN + "/pg_ctl"]
    args = {
        "login_host": "127.0.0.1", "login_port": pair["standby"]["login_port"], "login_user": "postgres",
        "login_password": pair["standby"]["login_password"],
        "data_directory": str(old["data"]), "pg_controldata": PG_BIN + "/pg_controldata",
        "stop_command": ctl + ["stop", "-D", str(old["data"]), "-m", "fast", "-w", "-t", "30"],
        "start_command": old["prefix"] + ["sh", "-c", '"$0" status -D "$1" >/dev/null || "$0" start -w -D "$1" -l "$2" '
                                          '-o "-p $3 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$4 -c '
                                          'fsync=off -c max_connections=50"', PG_BIN + "/pg_ctl", str(old["data"]),
                                          str(old["base"] / "restarted.log"), str(old["login_port"]), str(old["base"])],
        "stop_timeout": 30, "database": "app",
        "pgbouncer_target": {"host": "127.0.0.1", "port": pair["standby"]["login_port"]},
        "pgbouncers": [dict(b["admin"], ssl_mode="disable") for b in bouncers],
        "pause_timeout": 5, "connect_timeout": 5, "replay_timeout": 5, "promote_timeout": 10,
    }
    yield pair, bouncers, args
    if os.path.exists(old["data"] / "postmaster.pid"):
        subprocess.run(ctl + ["stop", "-D", str(old["data"]), "-m", "immediate", "-w"], capture_output=True, check=False)


def staged(run_main, bouncers, port):
    for bouncer in bouncers:
        rc, result = run_main(pgbouncer.main, dict(bouncer["admin"], database="app", config=bouncer["config"],
                                                   target={"host": "127.0.0.1", "port": port}, reload=False))
        assert rc == 0 and result["changed"] is True and "until its next RELOAD" in result["msg"], result["msg"]
        assert show(bouncer)["port"] != port and show(bouncer)["paused"] == 0   # PgBouncer itself untouched


WRITER = r"""
import select, sys, time, psycopg2
conn = psycopg2.connect(sys.argv[1], connect_timeout=5)
conn.autocommit = True
n = 0
while not select.select([sys.stdin], [], [], 0)[0]:   # until the test closes stdin
    n += 1
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO written VALUES (%s, %s)", (int(sys.argv[2]), n))
        print("ok", n, flush=True)
    except Exception as e:
        print("error", str(e).replace("\n", " "), flush=True)
        time.sleep(0.05)
"""


class Writer:
    """A client writing through a PgBouncer, one row per transaction, in a process of its own (psycopg2's wait
    callback is process-wide, and the module under test, run in this process, sets one): the rows acknowledged, and
    its errors."""

    def __init__(self, bouncer, name):
        self.name_, self.acked, self.errors = name, [], []
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, bouncer["dsn"], str(name)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            kind, dummy, rest = line.rstrip("\n").partition(" ")
            if kind == "ok":
                self.acked.append((self.name_, int(rest)))
            else:
                self.errors.append(rest)

    def finish(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        finally:
            self.proc.kill()
        self.reader.join(10)


def test_a_switchover_under_writes_loses_nothing_and_the_clients_see_no_error(switch, run_main):
    pair, bouncers, args = switch
    sql(pair["primary"], "CREATE TABLE written (w int, n int, PRIMARY KEY (w, n))")
    sql(pair["primary"], GRANTS)   # the least the login needs (docs/db_failover.md), synchronous_standby_names too
    staged(run_main, bouncers, pair["standby"]["login_port"])
    writers = [Writer(b, i) for i, b in enumerate(bouncers)]
    time.sleep(1.5)
    rc, result = run_main(pg_switchover.main, dict(args, login_user="switchover", login_password="switch-secret",
                                                   synchronous_standby_names=""))
    counts = [len(w.acked) for w in writers]
    time.sleep(0.5)
    for writer in writers:
        writer.finish()
    assert rc == 0 and result["changed"] is True, result["msg"]
    assert result["msg"].startswith("switched over in ") and "PgBouncer(s) repointed and resumed" in result["msg"]
    assert [w.errors for w in writers] == [[], []]
    assert sql(pair["standby"], "SELECT pg_is_in_recovery()") == [(False,)]
    on_new = set(sql(pair["standby"], "SELECT w, n FROM written"))
    acked = set(writers[0].acked) | set(writers[1].acked)
    assert len(acked) > 20 and acked <= on_new   # every acknowledged commit is on the new primary
    assert [len(w.acked) > n for w, n in zip(writers, counts)] == [True, True]   # they write on, to the new one
    assert not running(pair["primary"]) and (pair["primary"]["data"] / "standby.signal").exists()
    for bouncer in bouncers:
        now = show(bouncer)
        assert now["paused"] == 0 and now["port"] == pair["standby"]["login_port"]
    assert result["fenced"] is True and result["paused"] is False and result["promote_asked"] is True
    assert result["promotion"]["guard"]["loss_bytes"] == 0 and result["last_lsn"]
    assert set(result["timings"]) == {"check", "pause", "fence", "receive", "promote", "repoint", "critical"}
    assert result["timings"]["critical"] < 10 and result["put_back"] == [] and "switch-secret" not in str(result)
    assert result["promotion"]["synchronous_standby_names"] == {"before": "", "after": ""}
    assert [p["after"]["target"]["port"] for p in result["pgbouncers"]] == [pair["standby"]["login_port"]] * 2


def test_check_mode_reads_everything_and_changes_nothing(switch, run_main):
    pair, bouncers, args = switch
    rc, result = run_main(pg_switchover.main, dict(args, _ansible_check_mode=True))
    assert rc == 0 and result["changed"] is True and result["msg"].startswith("would pause 2 PgBouncer(s)"), result
    assert running(pair["primary"]) and sql(pair["standby"], "SELECT pg_is_in_recovery()") == [(True,)]
    assert [show(b)["paused"] for b in bouncers] == [0, 0] and not (pair["primary"]["data"] / "standby.signal").exists()


def assert_put_back(pair, bouncers, result):
    """Nothing promoted, the old primary running as primary, every PgBouncer running on it."""
    assert result["promote_asked"] is False and result["fenced"] is False and result["paused"] is False, result
    assert running(pair["primary"]) and sql(pair["primary"], "SELECT pg_is_in_recovery()") == [(False,)]
    assert not (pair["primary"]["data"] / "standby.signal").exists()
    assert sql(pair["standby"], "SELECT pg_is_in_recovery()") == [(True,)]
    for bouncer in bouncers:
        now = show(bouncer)
        assert now["paused"] == 0 and now["port"] == pair["primary"]["login_port"]
        conn = psycopg2.connect(bouncer["dsn"], connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                assert cur.fetchone() == (False,)   # the clients go on, to the old primary
        finally:
            conn.close()


def test_a_stop_that_fails_is_put_back(switch, run_main):
    pair, bouncers, args = switch
    rc, result = run_main(pg_switchover.main, dict(args, stop_command=["false"]))
    assert rc == 1 and result["msg"].startswith("fencing this server failed: false failed (exit 1). Nothing was "
                                                "promoted; this server never stopped: standby.signal removed, it runs "
                                                "on as the primary; each PgBouncer's file names the target (staged): "
                                                "write this server back in them"), result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_stop_that_fails_after_stopping_the_server_starts_it_again(switch, run_main):
    pair, bouncers, args = switch
    stop = args["stop_command"]
    rc, result = run_main(pg_switchover.main, dict(args, stop_command=["sh", "-c", '"$@"; exit 3', "sh"] + stop))
    assert rc == 1 and "exit 3" in result["msg"] and "this server unfenced and started again" in result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_start_command_whose_server_keeps_the_output_open_is_not_waited_for(switch, run_main):
    """pg_ctl start without -l: the server inherits the command's output; it must not hold the call until the
    timeout, nor be taken for a failed start."""
    pair, bouncers, args = switch
    old = pair["primary"]
    start = old["prefix"] + [PG_BIN + "/pg_ctl", "start", "-w", "-D", str(old["data"]), "-o",
                             "-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s"
                             % (old["login_port"], old["base"])]
    started = time.monotonic()
    rc, result = run_main(pg_switchover.main, dict(args, start_command=start, stop_timeout=15, replay_timeout=1,
                                                   login_port=1))
    assert rc == 1 and "Nothing was changed" in result["msg"]   # the target cannot be reached: nothing stops
    sql(pair["standby"], "ALTER SYSTEM SET primary_conninfo = ''")
    sql(pair["standby"], "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 20
    while sql(pair["standby"], "SELECT count(*) FROM pg_stat_wal_receiver") != [(0,)]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    started = time.monotonic()
    rc, result = run_main(pg_switchover.main, dict(args, start_command=start, stop_timeout=15, replay_timeout=1))
    assert rc == 1 and time.monotonic() - started < 12, result["msg"]
    assert "this server unfenced and started again" in result["msg"], result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_smart_stop_held_up_by_a_session_is_not_taken_for_a_put_back(switch, run_main):
    """A smart shutdown waits for a session: the stop command times out while the server is shutting down. It is
    left so, fenced, and said; the clients stay paused (a resume would send them to a server refusing sessions)."""
    pair, bouncers, args = switch
    old = pair["primary"]
    stop = old["prefix"] + [PG_BIN + "/pg_ctl", "stop", "-D", str(old["data"]), "-m", "smart", "-w", "-t", "2"]
    holder = psycopg2.connect(old["dsn"], connect_timeout=5)
    try:
        rc, result = run_main(pg_switchover.main, dict(args, stop_command=stop, stop_timeout=2))
        assert rc == 1 and result["fenced"] is True and result["paused"] is True, result["msg"]
        assert "this server NOT put back: this server is stopping after 2.0 s (a smart shutdown waits for its " \
            "sessions): it is left so, standby.signal in place" in result["msg"], result["msg"]
        assert (old["data"] / "standby.signal").exists() and [show(b)["paused"] for b in bouncers] == [1, 1]
    finally:
        holder.close()
    deadline = time.monotonic() + 20
    while running(old):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (old["data"] / "standby.signal").exists()   # once stopped, it can only start as a standby


def test_a_target_promoted_by_someone_else_meanwhile_never_gets_the_old_primary_started_beside_it(switch, run_main):
    pair, bouncers, args = switch
    old, new = pair["primary"], pair["standby"]
    stop = old["prefix"] + ["sh", "-c", '"$0" stop -D "$1" -m fast -w && "$0" promote -w -D "$2"',
                            PG_BIN + "/pg_ctl", str(old["data"]), str(new["data"])]
    rc, result = run_main(pg_switchover.main, dict(args, stop_command=stop, replay_timeout=2))
    assert rc == 1 and result["fenced"] is True and result["paused"] is True and result["put_back"] == []
    assert "The target is primary now: this server stays stopped and fenced" in result["msg"], result["msg"]
    assert not running(old) and (old["data"] / "standby.signal").exists()


def test_a_standby_of_another_cluster_is_refused_before_anything_changes(switch, run_main, pg_pair):
    pair, bouncers, args = switch
    other = pg_pair["standby"]
    rc, result = run_main(pg_switchover.main, dict(args, login_port=other["login_port"],
                                                   pgbouncer_target={"host": "127.0.0.1", "port": other["login_port"]}))
    assert rc == 1 and result["msg"].startswith("the target: it is not a standby of this server: system "), result
    assert result["msg"].endswith("Nothing was changed") and result["changed"] is False
    assert_put_back(pair, bouncers, result)


def test_a_standby_signal_planted_as_a_link_is_refused_and_its_target_untouched(switch, run_main, tmp_path):
    pair, bouncers, args = switch
    victim = tmp_path / "root-only"
    victim.write_text("root only\n")
    before = os.stat(victim)
    os.symlink(victim, pair["primary"]["data"] / "standby.signal")
    rc, result = run_main(pg_switchover.main, args)
    assert rc == 1 and result["msg"].startswith("fencing this server failed: ") and "Too many levels of symbolic " \
        "links" in result["msg"], result["msg"]
    after = os.stat(victim)
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode) and victim.read_text() == "root only\n"
    assert not os.path.lexists(pair["primary"]["data"] / "standby.signal")   # the link removed by the put-back
    assert_put_back(pair, bouncers, result)


def test_a_console_that_never_answers_is_bounded_by_connect_timeout(switch, run_main, silent_server):
    pair, bouncers, args = switch
    consoles = args["pgbouncers"] + [{"login_host": "127.0.0.1", "login_port": silent_server, "ssl_mode": "disable"}]
    started = time.monotonic()
    rc, result = run_main(pg_switchover.main, dict(args, pgbouncers=consoles, connect_timeout=2))
    assert rc == 1 and time.monotonic() - started < 8 and result["msg"].endswith("Nothing was changed"), result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_stop_that_hangs_is_bounded_and_put_back(switch, run_main):
    pair, bouncers, args = switch
    started = time.monotonic()
    rc, result = run_main(pg_switchover.main, dict(args, stop_command=["sleep", "60"], stop_timeout=1))
    assert rc == 1 and time.monotonic() - started < 15
    assert "sleep 60 did not finish within 1.0 s" in result["msg"], result["msg"]
    assert "this server never stopped: standby.signal removed" in result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_target_that_does_not_receive_the_last_wal_is_not_promoted_and_all_is_put_back(switch, run_main):
    pair, bouncers, args = switch
    sql(pair["standby"], "ALTER SYSTEM SET primary_conninfo = ''")
    sql(pair["standby"], "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 20
    while sql(pair["standby"], "SELECT count(*) FROM pg_stat_wal_receiver") != [(0,)]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sql(pair["primary"], "CREATE TABLE lost (n int)")
    rc, result = run_main(pg_switchover.main, dict(args, replay_timeout=1))
    assert rc == 1 and result["msg"].startswith(
        "the target did not receive WAL up to 0/%X (this server's shutdown checkpoint at %s, whole) within 1.0 s. "
        "Nothing was promoted; this server unfenced and started again" % (
            int(result["last_lsn"].split("/")[1], 16) + 114, result["last_lsn"])), result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_target_that_received_all_but_the_shutdown_checkpoint_record_is_not_promoted(switch, run_main):
    """The WAL receiver stops just before the stop: the target has every commit, and the checkpoint record's start
    is where its WAL ends - but not the record. Promoted there, the old primary could not follow it (its own WAL
    would run past the fork): the whole record is waited for, then it is put back."""
    pair, bouncers, args = switch
    old, new = pair["primary"], pair["standby"]
    cut = ("%s/psql '%s' -c \"ALTER SYSTEM SET primary_conninfo = ''\" -c 'SELECT pg_reload_conf()' >/dev/null && "
           "until [ \"$(%s/psql '%s' -Atc 'SELECT count(*) FROM pg_stat_wal_receiver')\" = 0 ]; do sleep 0.1; done"
           % (PG_BIN, new["dsn"], PG_BIN, new["dsn"]))
    stop = ["sh", "-c", cut + ' && "$@"', "sh"] + args["stop_command"]
    rc, result = run_main(pg_switchover.main, dict(args, stop_command=stop, replay_timeout=2))
    received = sql(new, "SELECT pg_last_wal_receive_lsn()::text")[0][0]
    short = _switch.replication.lsn_bytes(result["last_lsn"]) - _switch.replication.lsn_bytes(received)
    assert rc == 1 and "(this server's shutdown checkpoint at %s, whole) within 2.0 s" % result["last_lsn"] in \
        result["msg"], result["msg"]
    assert short in (0, 24, 40), (received, result["last_lsn"])   # all but the record (a page header at most)
    assert_put_back(pair, bouncers, result)


def test_a_transaction_that_holds_a_pause_up_resumes_the_paused_and_changes_nothing(switch, run_main):
    pair, bouncers, args = switch
    conn = psycopg2.connect(bouncers[1]["dsn"], connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")   # a transaction open through the second PgBouncer
        rc, result = run_main(pg_switchover.main, dict(args, pause_timeout=1))
    finally:
        conn.close()
    assert rc == 1 and result["msg"].startswith("PAUSE on 127.0.0.1:%d failed: PAUSE of app did not finish within "
                                                "1.0 s" % bouncers[1]["admin"]["login_port"]), result["msg"]
    assert "Nothing was promoted; nothing had changed" in result["msg"]
    assert_put_back(pair, bouncers, result)


def test_a_console_that_cannot_be_reached_changes_nothing(switch, run_main):
    pair, bouncers, args = switch
    consoles = args["pgbouncers"] + [dict(args["pgbouncers"][0], login_port=1)]
    rc, result = run_main(pg_switchover.main, dict(args, pgbouncers=consoles))
    assert rc == 1 and result["msg"].startswith("PgBouncer on 127.0.0.1:1: ") and result["msg"].endswith(
        "Nothing was changed"), result["msg"]
    assert result["changed"] is False and bouncers[0]["admin"]["login_password"] not in str(result)
    assert_put_back(pair, bouncers, result)


def test_after_the_promotion_a_pgbouncer_that_did_not_take_the_target_is_left_paused_and_named(switch, run_main):
    pair, bouncers, args = switch
    staged(run_main, bouncers[:1], pair["standby"]["login_port"])   # the second's file still names the old primary
    rc, result = run_main(pg_switchover.main, args)
    assert rc == 1 and result["promote_asked"] is True and result["paused"] is True
    assert "127.0.0.1:%d left paused (it did not take the target after RELOAD" % bouncers[1]["admin"]["login_port"] \
        in result["msg"], result["msg"]
    assert sql(pair["standby"], "SELECT pg_is_in_recovery()") == [(False,)]
    assert show(bouncers[0])["paused"] == 0 and show(bouncers[1])["paused"] == 1


@pytest.mark.parametrize("extra, message", [
    ({"stop_timeout": 0}, "stop_timeout must be more than 0 and at most 3600 seconds, got 0.0"),
    ({"stop_timeout": 3601}, "stop_timeout must be more than 0 and at most 3600"),
    ({"data_directory": "relative/dir"}, "data_directory must be an absolute path"),
    ({"data_directory": "/nonexistent"}, "data_directory /nonexistent is not a PostgreSQL data directory"),
    ({"pg_controldata": "/nonexistent/pg_controldata"}, "pg_controldata '/nonexistent/pg_controldata' is not a program"),
    ({"pg_controldata": "/bin/true"}, "pg_waldump '/bin/pg_waldump' is not a program this host can run"),
    ({"stop_command": None, "start_command": None, "service": "pg; rm -rf /"}, "service must be a systemd unit's name"),
    ({"stop_command": None, "start_command": None}, "one of the following is required: service, stop_command"),
    ({"start_command": None}, "parameters are required together: stop_command, start_command"),
    ({"stop_command": [""]}, "stop_command must be a non-empty list of words"),
    ({"service": "postgresql"}, "parameters are mutually exclusive: service|stop_command"),
    ({"pgbouncers": []}, "pgbouncers must name at least one PgBouncer console"),
    ({"pgbouncers": [{"login_host": "a b"}]}, "login_host 'a b': each server is a name"),
    ({"pgbouncers": [{"login_host": "app1,app2"}]}, "login_host names one PgBouncer"),
    ({"pgbouncers": [{"login_host": "app1"}, {"login_host": "app1", "login_port": 6432}]}, "pgbouncers names app1:6432 twice"),
    ({"pgbouncers": [{"login_port": 6432}]}, "missing required arguments: login_host found in pgbouncers"),
    ({"database": "app; SHUTDOWN"}, "database must be the name of a PgBouncer database"),
    ({"pgbouncer_target": {"host": "db2 port=1"}}, "target.host must be one host name"),
    ({"pgbouncer_target": {"host": "db2", "port": 0}}, "target.port must be from 1 to 65535"),
    ({"pause_timeout": 0}, "pause_timeout must be more than 0 and at most 3600 seconds"),
    ({"connect_timeout": 301}, "connect_timeout must be more than 0 and at most 300 seconds"),
    ({"replay_timeout": 0}, "replay_timeout must be a number from 0.1 to 3600"),
    ({"promote_timeout": 0.5}, "promote_timeout must be a number from 1 to 3600"),
    ({"synchronous_standby_names": "a\nb"}, "synchronous_standby_names: give one line"),
    ({"login_port": 70000}, "login_port must be from 1 to 65535"),
])
def test_bad_input_is_refused_before_anything_is_read(run_main, tmp_path, extra, message):
    (tmp_path / "PG_VERSION").write_text("15\n")
    args = dict({"login_host": "127.0.0.1", "login_port": 1, "login_password": "pw-secret-9",
                 "data_directory": str(tmp_path), "pg_controldata": PG_BIN + "/pg_controldata", "stop_command": ["true"],
                 "start_command": ["true"], "database": "app", "pgbouncer_target": {"host": "db2"},
                 "pgbouncers": [{"login_host": "127.0.0.1", "login_port": 1, "login_password": "pgb-secret-7"}]},
                **extra)
    rc, result = run_main(pg_switchover.main, {k: v for k, v in args.items() if v is not None})
    assert rc == 1 and message in result["msg"], result["msg"]
    assert "pw-secret-9" not in str(result) and "pgb-secret-7" not in str(result) and "Traceback" not in result["msg"]


def test_the_table_is_as_long_as_we_say():
    assert len(test_bad_input_is_refused_before_anything_is_read.pytestmark[0].args[1]) == 25


def test_controldata_that_fails_says_so():
    with pytest.raises(_switch.OpsreadyError, match=r"pg_controldata /x: pg_controldata failed \(exit 1\): no such directory"):
        _switch.controldata({"pg_controldata": "pg_controldata", "data_directory": "/x"},
                            run=lambda argv, timeout: (1, "no such\ndirectory"))


@pytest.mark.parametrize("start, total, end", [
    ("0/3000028", 114, 0x3000028 + 114),                  # within a page
    ("0/3001FC0", 114, 0x3001FC0 + 64 + 24 + 50),         # 64 bytes on the page, the page header, 50 more
    ("0/3FFFFC0", 114, 0x3FFFFC0 + 64 + 40 + 50),         # into a new segment: its long page header
    ("1/0", 10, (1 << 32) + 40 + 10),                     # a record never starts on a page header; counted anyway
])
def test_where_a_record_ends(start, total, end):
    assert _switch.record_end(start, total) == end
    assert _switch.lsn_text(end) == "%X/%X" % (end >> 32, end & 0xFFFFFFFF)
