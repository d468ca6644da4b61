"""pgbouncer on a real PgBouncer (conftest pgbouncer: in front of the primary of a real pair, pool_mode transaction):
a pause that makes clients wait and a resume that lets them through, a transaction that holds a pause up (undone,
nothing left paused), repointing to the standby and back in one task, check mode, a RELOAD that does not take the
new entry (the file put back), a server that never answers; the entry's rewrite as a pure function; bad input."""
import os
import threading
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _pgbouncer
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import connect
from ansible_collections.opsready.runbooks.plugins.modules import pgbouncer as module


def args(bouncer, **extra):
    return dict(bouncer["admin"], database="app", config=bouncer["config"], **extra)


def show(bouncer):
    conn = connect(dict(bouncer["admin"], login_db="pgbouncer", ssl_mode="disable"), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            names = [d[0] for d in cur.description]
            return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}["app"]
    finally:
        conn.close()


def client(bouncer, statement="SELECT pg_is_in_recovery()"):
    conn = psycopg2.connect(bouncer["dsn"], connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()[0]
    finally:
        conn.close()


class Client(threading.Thread):
    """A client's query through PgBouncer, in the background: its answer or its error, and when it came."""

    def __init__(self, bouncer):
        super().__init__(daemon=True)
        self.bouncer, self.answer, self.error, self.at = bouncer, None, None, None

    def run(self):
        try:
            self.answer = client(self.bouncer)
        except Exception as e:  # the test asserts there is none
            self.error = e
        self.at = time.monotonic()


def test_paused_clients_wait_in_pgbouncer_and_go_on_when_resumed(pgbouncer, run_main):
    assert client(pgbouncer) is False                       # through PgBouncer to the primary
    rc, result = run_main(module.main, args(pgbouncer, state="paused"))
    assert rc == 0 and result["changed"] is True, result["msg"]
    assert result["before"]["paused"] is False and result["after"]["paused"] is True
    assert show(pgbouncer)["paused"] == 1 and "pause" in result["timings"]
    waiting = Client(pgbouncer)
    waiting.start()
    time.sleep(1)
    assert waiting.at is None                               # waits in PgBouncer, no error
    resumed_at = time.monotonic()
    rc, result = run_main(module.main, args(pgbouncer, state="running"))
    assert rc == 0 and result["changed"] is True and result["msg"].startswith("app: resumed"), result["msg"]
    waiting.join(10)
    assert waiting.error is None and waiting.answer is False and waiting.at >= resumed_at
    assert show(pgbouncer)["paused"] == 0
    rc, again = run_main(module.main, args(pgbouncer, state="running"))
    assert rc == 0 and again["changed"] is False and again["msg"].endswith("running; nothing to do")


def test_a_transaction_in_flight_holds_the_pause_up_and_one_that_ends_lets_it_finish(pgbouncer, run_main):
    conn = psycopg2.connect(pgbouncer["dsn"], connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")                             # a transaction open on a server connection
        started = time.monotonic()
        rc, result = run_main(module.main, args(pgbouncer, state="paused", pause_timeout=1))
        assert rc == 1 and time.monotonic() - started < 10
        assert result["msg"].startswith("PAUSE of app did not finish within 1.0 s: 1 server connection(s) still in "
                                        "a transaction"), result["msg"]
        assert "RESUMEd: nothing is left paused" in result["msg"] and result["paused"] is False
        assert show(pgbouncer)["paused"] == 0
        assert client(pgbouncer) is False                   # others go through: nothing waits
        threading.Timer(0.5, conn.commit).start()           # now the transaction ends while the PAUSE waits
        rc, result = run_main(module.main, args(pgbouncer, state="paused", pause_timeout=10))
        assert rc == 0 and result["after"]["paused"] is True and 0.3 < result["timings"]["pause"] < 5, result
    finally:
        conn.close()
        run_main(module.main, args(pgbouncer, state="running"))


def test_repointed_to_the_standby_and_resumed_in_one_task_then_back(pgbouncer, pg_pair, run_main):
    with open(pgbouncer["config"]) as f:
        original = f.read()
    mode, owner = os.stat(pgbouncer["config"]).st_mode, os.stat(pgbouncer["config"]).st_uid
    standby = pg_pair["standby"]["login_port"]
    assert client(pgbouncer) is False   # PgBouncer has met the server (a cold one keeps a login during a PAUSE)
    run_main(module.main, args(pgbouncer, state="paused"))
    waiting = Client(pgbouncer)
    waiting.start()
    rc, result = run_main(module.main, args(pgbouncer, target={"host": "127.0.0.1", "port": standby}, state="running"))
    assert rc == 0 and result["changed"] is True, result["msg"]
    assert result["msg"] == ("app: repointed from 127.0.0.1:%d/postgres to 127.0.0.1:%d/postgres; resumed; now "
                             "127.0.0.1:%d/postgres, running" % (pg_pair["primary"]["login_port"], standby, standby))
    assert set(result["timings"]) == {"reload", "resume"}
    waiting.join(10)
    assert waiting.error is None and waiting.answer is True      # the waiting query went to the standby
    assert show(pgbouncer)["port"] == standby and client(pgbouncer) is True
    with open(pgbouncer["config"]) as f:
        now = f.read()
    assert now == original.replace("port=%d" % pg_pair["primary"]["login_port"], "port=%d" % standby)
    assert "; the app's database" in now and "pool_size=4" in now   # every other line and key kept
    assert os.stat(pgbouncer["config"]).st_mode == mode and os.stat(pgbouncer["config"]).st_uid == owner
    rc, back = run_main(module.main, args(pgbouncer, target={"host": "127.0.0.1", "port": pg_pair["primary"]["login_port"]}))
    assert rc == 0 and back["changed"] is True and client(pgbouncer) is False
    with open(pgbouncer["config"]) as f:
        assert f.read() == original


def test_check_mode_says_what_would_change_and_changes_nothing(pgbouncer, pg_pair, run_main):
    with open(pgbouncer["config"]) as f:
        original = f.read()
    standby = pg_pair["standby"]["login_port"]
    rc, result = run_main(module.main, args(pgbouncer, target={"host": "127.0.0.1", "port": standby},
                                            state="paused", _ansible_check_mode=True, _ansible_diff=True))
    assert rc == 0 and result["changed"] is True and result["msg"].startswith("would do: app: repointed from")
    assert result["after"]["target"]["port"] == standby and result["after"]["paused"] is True
    assert result["diff"]["before"]["target"]["port"] == pg_pair["primary"]["login_port"]
    assert result["timings"] == {}
    assert show(pgbouncer)["paused"] == 0 and show(pgbouncer)["port"] == pg_pair["primary"]["login_port"]
    with open(pgbouncer["config"]) as f:
        assert f.read() == original


def test_a_reload_that_does_not_take_the_new_entry_puts_the_previous_file_back(pgbouncer, pg_pair, tmp_path):
    """PgBouncer reloads a file that is not the one written (a config path that is not PgBouncer's own): it keeps
    running the old target, so the write is undone and the failure says so."""
    with open(pgbouncer["config"]) as f:
        original = f.read()
    written, elsewhere = [], tmp_path / "elsewhere.ini"
    elsewhere.write_text(original)

    def write(path, text):   # the first write misses PgBouncer's file; putting it back goes to the real one
        written.append(text)
        _pgbouncer.write_atomically(path if len(written) > 1 else str(elsewhere), text)

    params = dict(args(pgbouncer, target={"host": "127.0.0.1", "port": pg_pair["standby"]["login_port"]}),
                  state="running", pause_timeout=5, connect_timeout=5, login_db="pgbouncer", ssl_mode="disable")
    with pytest.raises(OpsreadyError) as caught:
        _pgbouncer.apply(params, lambda s: connect(params, connect_timeout=s), write_file=write)
    said = str(caught.value)
    assert said.startswith(
        "repointing app to 127.0.0.1:%d/postgres failed: PgBouncer did not take the new entry after RELOAD (it runs "
        "127.0.0.1:%d/postgres" % (pg_pair["standby"]["login_port"], pg_pair["primary"]["login_port"])), said
    assert "The previous entry (127.0.0.1:%d/postgres) is back in %s, reloaded" % (
        pg_pair["primary"]["login_port"], pgbouncer["config"]) in said
    assert written[-1] == original
    with open(pgbouncer["config"]) as f:
        assert f.read() == original
    assert client(pgbouncer) is False


def test_a_pgbouncer_that_never_answers_fails_within_the_timeout(silent_server, run_main):
    started = time.monotonic()
    rc, result = run_main(module.main, {"login_host": "127.0.0.1", "login_port": silent_server, "database": "app",
                                        "login_password": "do-not-show-me", "connect_timeout": 1, "state": "paused"})
    assert rc == 1 and time.monotonic() - started < 10
    assert result["msg"].startswith("PgBouncer on 127.0.0.1: ") and "do-not-show-me" not in result["msg"]


def test_a_database_pgbouncer_does_not_have_and_a_wrong_password_are_said(pgbouncer, run_main):
    rc, result = run_main(module.main, dict(args(pgbouncer), database="nope"))
    assert rc == 1 and result["msg"] == "PgBouncer has no database nope (it has: app)"
    rc, result = run_main(module.main, dict(args(pgbouncer), login_password="wrong-secret"))
    assert rc == 1 and "wrong-secret" not in result["msg"] and "authentication failed" in result["msg"]


ENTRY = """[pgbouncer]
listen_port = 6432
app = host=not-this-one

[databases]
; app = host=commented
other = host=db9 dbname=other
app = host=db1 port=5432 dbname=demo password='it''s secret' pool_size=20
  spaced = host='db1'

[users]
app = pool_mode=session
"""


@pytest.mark.parametrize("target, line", [
    ({"host": "db2"}, "app = host=db2 port=5432 dbname=demo password='it''s secret' pool_size=20"),
    ({"host": "10.0.0.2", "port": 5433, "dbname": "demo2"},
     "app = host=10.0.0.2 port=5433 dbname=demo2 password='it''s secret' pool_size=20"),
])
def test_the_entry_is_rewritten_in_place_every_other_key_and_line_kept(target, line):
    new, before = _pgbouncer.retarget(ENTRY, "app", target)
    assert before == {"host": "db1", "port": 5432, "dbname": "demo"}
    assert new.splitlines() == [line if n == 7 else old for n, old in enumerate(ENTRY.splitlines())]


def test_keys_the_entry_lacks_are_added_and_quoted_values_read():
    new, before = _pgbouncer.retarget(ENTRY, "spaced", {"host": "db2", "port": 6543})
    assert before == {"host": "db1", "port": None, "dbname": None}
    assert "  spaced = host=db2 port=6543" in new.splitlines()


def test_line_endings_are_kept():
    text = "[databases]\r\napp = host=db1 dbname=demo\r\nother = host=db9\r\n"
    new, dummy = _pgbouncer.retarget(text, "app", {"host": "db2"})
    assert new == "[databases]\r\napp = host=db2 dbname=demo\r\nother = host=db9\r\n"


def test_two_entries_for_the_database_are_refused():
    with pytest.raises(OpsreadyError, match=r"has 2 entries for app in its \[databases\] section \(PgBouncer runs the last\)"):
        _pgbouncer.retarget("[databases]\napp = host=db1\napp = host=db3\n", "app", {"host": "db2"})


@pytest.mark.parametrize("text, database", [
    (ENTRY, "missing"),
    ("[databases]\n* = host=db1\n", "app"),
    ("[pgbouncer]\napp = host=db1\n", "app"),
    ("[databases]\n%include /etc/pgbouncer/databases.ini\n", "app"),
])
def test_an_entry_that_is_not_in_the_file_is_refused(text, database):
    with pytest.raises(OpsreadyError, match=r"/etc/pgbouncer/pgbouncer.ini has no entry for %s in its \[databases\] "
                                            r"section" % database):
        _pgbouncer.retarget(text, database, {"host": "db2"}, "/etc/pgbouncer/pgbouncer.ini")


@pytest.mark.parametrize("entry", ["host=db1 'unclosed", "host=db1 password=hunter2-secret ; moved to db2"])
def test_an_entry_that_cannot_be_read_is_refused_without_saying_its_values(entry):
    with pytest.raises(OpsreadyError, match=r"cannot read the entry of app in \[databases\]: expected key=value pairs") as e:
        _pgbouncer.retarget("[databases]\napp = %s\n" % entry, "app", {"host": "db2"})
    assert "hunter2" not in str(e.value) and "db1" not in str(e.value)


GOOD = {"database": "app", "state": "paused", "pause_timeout": 30, "connect_timeout": 10, "login_port": 6432,
        "target": None, "config": "/etc/pgbouncer/pgbouncer.ini"}


@pytest.mark.parametrize("change, message", [
    ({"database": ""}, r"database must be the name of a PgBouncer database"),
    ({"database": "app; RESUME"}, r"got 'app; RESUME'"),
    ({"database": "app\nx"}, r"database must be the name"),
    ({"database": "a" * 64}, r"at most 63"),
    ({"database": None}, r"got None"),
    ({"pause_timeout": 0}, r"pause_timeout must be more than 0 and at most 3600 seconds, got 0"),
    ({"pause_timeout": -1}, r"pause_timeout must be more than 0"),
    ({"pause_timeout": 3601}, r"at most 3600 seconds, got 3601"),
    ({"pause_timeout": True}, r"pause_timeout must be more than 0"),
    ({"connect_timeout": 0.0}, r"connect_timeout must be more than 0 and at most 300 seconds, got 0.0"),
    ({"connect_timeout": 301}, r"connect_timeout must be more than 0 and at most 300"),
    ({"login_port": 0}, r"login_port must be from 1 to 65535, got 0"),
    ({"login_port": 65536}, r"login_port must be from 1 to 65535"),
    ({"login_host": "pgb1,pgb2"}, r"login_host names one PgBouncer, got 'pgb1,pgb2'"),
    ({"login_host": "pgb1:0"}, r"the port of pgb1 must be from 1 to 65535"),
    ({"target": {"host": "db2 port=1"}}, r"target.host must be one host name, address or socket directory"),
    ({"target": {"host": "db1,db2"}}, r"got 'db1,db2'"),
    ({"target": {"host": "db2'"}}, r"target.host must be one host name"),
    ({"target": {"host": "db2\n"}}, r"target.host must be one host name"),
    ({"database": "app\n"}, r"database must be the name"),
    ({"target": {"host": "db2", "dbname": "demo\n"}}, r"target.dbname must be a database name"),
    ({"target": {"host": "db2\n[pgbouncer]"}}, r"target.host must be one host name"),
    ({"target": {"host": ""}}, r"target.host must be one host name"),
    ({"target": {"host": None}}, r"target.host must be one host name"),
    ({"target": {"host": "db2", "port": 0}}, r"target.port must be from 1 to 65535, got 0"),
    ({"target": {"host": "db2", "port": 99999}}, r"target.port must be from 1 to 65535"),
    ({"target": {"host": "db2", "dbname": "demo db"}}, r"target.dbname must be a database name"),
    ({"target": {"host": "db2"}, "config": None}, r"target needs config"),
    ({"target": {"host": "db2"}, "config": ""}, r"target needs config"),
    ({"reload": False}, r"reload=false applies with target only"),
])
def test_bad_input_is_refused_before_anything_is_read(change, message):
    with pytest.raises(OpsreadyError, match=message):
        _pgbouncer.validate(dict(GOOD, **change))


def test_bad_input_through_the_module_connects_to_nothing(run_main):
    rc, result = run_main(module.main, {"database": "app", "login_host": "127.0.0.1", "login_port": 1, "pause_timeout": 0})
    assert rc == 1 and result["msg"] == "pause_timeout must be more than 0 and at most 3600 seconds, got 0.0"
    rc, result = run_main(module.main, {"database": "app", "state": "stopped"})
    assert rc == 1 and "value of state must be one of: paused, running" in result["msg"]
    rc, result = run_main(module.main, {"database": "app", "config": "/nonexistent/pgbouncer.ini",
                                        "target": {"host": "db2"}, "login_host": "127.0.0.1", "login_port": 1})
    assert rc == 1   # refused reading the file or connecting: nothing written
    assert not os.path.exists("/nonexistent/pgbouncer.ini")


@pytest.mark.parametrize("host", ["::1", "/var/run/postgresql", "db-2.example.com", "10.0.0.2"])
def test_addresses_and_socket_directories_are_hosts(host):
    _pgbouncer.validate(dict(GOOD, target={"host": host}))


def test_a_pause_still_waiting_is_no_pause_done(pgbouncer, run_main):
    """SHOW DATABASES says paused as soon as a PAUSE starts: a PAUSE another session left waiting on a transaction
    is not taken for done - the run sends its own, which waits, times out and undoes it."""
    assert client(pgbouncer) is False
    holder = psycopg2.connect(pgbouncer["dsn"], connect_timeout=5)
    other = connect(dict(pgbouncer["admin"], login_db="pgbouncer", ssl_mode="disable"), connect_timeout=5)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT 1")                          # a transaction holds a server connection

        def pause():
            try:
                other.cursor().execute("PAUSE app")
            except psycopg2.Error:   # PgBouncer may end the waiting session once the run RESUMEs
                pass

        pausing = threading.Thread(target=pause, daemon=True)
        pausing.start()
        deadline = time.monotonic() + 5
        while show(pgbouncer)["paused"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        rc, result = run_main(module.main, args(pgbouncer, state="paused", pause_timeout=1))
        assert rc == 1 and result["msg"].startswith("PAUSE of app did not finish within 1.0 s: 1 server connection"), result
        assert show(pgbouncer)["paused"] == 0
    finally:
        holder.close()
        pausing.join(5)
        if not pausing.is_alive():   # a session still waiting on its PAUSE is left to the fixture's end
            other.close()


def test_a_file_that_disagrees_with_pgbouncer_is_brought_to_the_target_and_a_link_is_kept(
        pgbouncer, pg_pair, tmp_path, run_main):
    """PgBouncer runs the primary, its file (behind a link) says the standby: asking for the primary rewrites the
    file the link points to, so a later RELOAD or restart keeps the primary."""
    primary, standby = pg_pair["primary"]["login_port"], pg_pair["standby"]["login_port"]
    real = pgbouncer["config"]
    with open(real) as f:
        original = f.read()
    with open(real, "w") as f:
        f.write(original.replace("port=%d" % primary, "port=%d" % standby))
    link = tmp_path / "pgbouncer.ini"
    link.symlink_to(real)
    rc, result = run_main(module.main, dict(args(pgbouncer, target={"host": "127.0.0.1", "port": primary}),
                                            config=str(link)))
    assert rc == 0 and result["changed"] is True and show(pgbouncer)["port"] == primary, result["msg"]
    assert link.is_symlink()
    with open(real) as f:
        assert f.read() == original


def test_reload_false_writes_the_target_in_the_file_only_and_a_second_run_changes_nothing(pgbouncer, pg_pair, run_main):
    standby = pg_pair["standby"]["login_port"]
    options = args(pgbouncer, target={"host": "127.0.0.1", "port": standby}, reload=False, state="paused")
    text = open(pgbouncer["config"]).read()
    rc, preview = run_main(module.main, dict(options, _ansible_check_mode=True))
    assert rc == 0 and preview["changed"] is True and preview["msg"].startswith("would write: app: 127.0.0.1:%d/" % standby)
    assert open(pgbouncer["config"]).read() == text
    rc, result = run_main(module.main, options)
    assert rc == 0 and result["changed"] is True and result["file"]["after"]["port"] == standby, result["msg"]
    assert "port=%d" % standby in open(pgbouncer["config"]).read()
    now = show(pgbouncer)   # PgBouncer itself untouched: no RELOAD, no PAUSE (state is not applied)
    assert now["port"] == pg_pair["primary"]["login_port"] and now["paused"] == 0
    rc, again = run_main(module.main, options)
    assert rc == 0 and again["changed"] is False and "127.0.0.1:%d/postgres already" % standby in again["msg"]
