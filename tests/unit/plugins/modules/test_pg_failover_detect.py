"""pg_failover_detect: probes that fail the way real servers fail (refused, silent, closed, not PostgreSQL), the WAL
receiver's verdict as a pure table, and the whole module on real pairs (conftest pg_pair, pg_fresh_pair): a live
primary answers, a killed one is lost and confirmed, a primary this host cannot reach while the standby still
streams from it is not lost, a watch that ends without a loss; bad input refused before anything is reached."""
import json
import os
import pathlib
import signal
import socket
import threading
import time

import psycopg2
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _failover as failover
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.modules import pg_failover_detect

KEYS = ("login_host", "login_port", "login_user", "login_password", "login_db")


def args(server, **extra):
    return dict({key: server[key] for key in KEYS}, **extra)


def kill_tree(proc):
    """SIGKILL to a process and all its descendants at once, as a host dies (the postmaster alone would leave its
    walsender streaming)."""
    children = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [proc.pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def receiver_gone(standby, timeout=20):
    """Wait until the standby's WAL receiver has stopped (it notices the reset of a killed walsender)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = psycopg2.connect(standby["dsn"])
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_wal_receiver")
                if cur.fetchone()[0] == 0:
                    return
        finally:
            conn.close()
        assert time.monotonic() < deadline, "the standby's WAL receiver still runs %s s after the kill" % timeout
        time.sleep(0.05)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def answering_server():
    """A TCP server on loopback that answers each connection with the given bytes (or closes it), then closes."""
    servers = []

    def start(answer):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        servers.append(server)

        def serve():
            while True:
                try:
                    conn = server.accept()[0]
                except OSError:
                    return
                conn.recv(8)
                if answer:
                    conn.sendall(answer)
                conn.close()
        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]
    yield start
    for server in servers:
        server.close()


def test_a_probe_is_answered_by_a_real_postmaster(pg_server):
    assert failover.probe("127.0.0.1", pg_server["login_port"], 2) == (True, None)


def test_a_probe_fails_as_real_servers_fail_and_within_its_timeout(silent_server, answering_server):
    answered, error = failover.probe("127.0.0.1", closed_port(), 1)
    assert not answered and "refused" in error.lower()
    start = time.monotonic()
    answered, error = failover.probe("127.0.0.1", silent_server, 0.5)
    assert not answered and error == "no answer within 0.5 s" and time.monotonic() - start < 2
    assert failover.probe("127.0.0.1", answering_server(b""), 1) == (False, "closed the connection")
    answered, error = failover.probe("127.0.0.1", answering_server(b"HTTP/1.1 400"), 1)
    assert not answered and "not a PostgreSQL postmaster" in error
    answered, error = failover.probe("no-such-host.invalid", 5432, 1)
    assert not answered and error


def test_a_name_lookup_that_stalls_or_fails_is_an_unanswered_probe_within_its_timeout(pg_server):
    """The system's resolver has no timeout (podman's DNS hung 40 s on a just-killed container's name): a resolver
    that hangs (one lookup of the name at a time, however many probes), one that fails as getaddrinfo fails, one the
    IDNA codec refuses, then a real lookup whose addresses the next probes reuse while they answer."""
    import socket
    calls = []

    def hangs(*args):
        calls.append(args)
        time.sleep(3)
        return []

    def fails(*args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    running = {}
    start = time.monotonic()
    for dummy in range(3):
        answered, error = failover.probe("db1", 5432, 0.3, resolve=hangs, known={}, running=running)
        assert (answered, error) == (False, "the name lookup of db1 took more than 0.3 s")
    assert time.monotonic() - start < 2 and len(calls) == 1
    assert failover.probe("db1", 5432, 0.5, resolve=fails, known={}, running={}) == (
        False, "the name lookup of db1 failed: Name or service not known")
    answered, error = failover.probe("a" * 64 + ".lab.test", 5432, 0.5, known={}, running={})
    assert not answered and error.startswith("the name lookup of %s failed: " % ("a" * 64 + ".lab.test"))
    known, real = {}, []

    def counted(*args):
        real.append(args)
        return socket.getaddrinfo(*args)

    for dummy in range(3):
        assert failover.probe("127.0.0.1", pg_server["login_port"], 2, resolve=counted, known=known,
                              running={}) == (True, None)
    assert len(real) == 1


def test_each_address_is_tried_and_a_probe_that_did_not_answer_looks_the_name_up_again(pg_server):
    """A name whose first address refuses (IPv6 first, PostgreSQL on IPv4 only) is answered by the next; a probe
    that found nobody makes the next one look the name up again (a primary back on another address is seen)."""
    import socket
    tcp = (socket.AF_INET, socket.SOCK_STREAM, 6, "")
    live = tcp + (("127.0.0.1", pg_server["login_port"]),)
    dead = tcp + (("127.0.0.1", closed_port()),)
    assert failover.probe("db1", 5432, 2, resolve=lambda *a: [dead, live], known={}, running={}) == (True, None)
    answers, known = [[dead], [live]], {}

    def moved(*args):
        return answers.pop(0)

    answered, error = failover.probe("db1", 5432, 2, resolve=moved, known=known, running={})
    assert not answered and "refused" in error.lower()
    assert failover.probe("db1", 5432, 2, resolve=moved, known=known, running={}) == (True, None)
    assert answers == []   # looked up again after the probe that did not answer


def standby_state(status="streaming", age=0.5, receiver=True, end="0/3000100", received="0/3000000"):
    wal = {"status": status, "sender_host": "db1", "sender_port": 5432, "seconds_since_message": age,
           "primary_end_lsn": end} if receiver else None
    return {"role": "standby", "wal_receiver": wal, "lsn": {"received": received, "replayed": received}}


@pytest.mark.parametrize("state, silence, lost, words", [
    (standby_state(), 3.0, False, "still streams from db1"),
    (standby_state(age=2.9), 3.0, False, "still streams"),
    (standby_state(age=3.0), 3.0, True, "heard nothing from db1 for 3.0 s"),
    (standby_state(age=30), None, False, "still streams"),        # wal_receiver_timeout off: the status only
    (standby_state(status="waiting"), 3.0, True, "is waiting"),
    (standby_state(receiver=False), 3.0, True, "has stopped"),
])
def test_the_wal_receiver_confirms_a_loss(state, silence, lost, words):
    verdict = failover.receiver_verdict(state, silence)
    assert verdict[0] is lost and words in verdict[1]


def test_the_primary_probed_and_the_known_loss():
    parse = {"host=db1 port=5433 user=repl": {"host": "db1", "port": "5433"}, "": {}}.__getitem__
    assert failover.primary_of({"primary": "db9:6000"}, standby_state(), "", parse) == ("db9", 6000)
    assert failover.primary_of({}, standby_state(), "", parse) == ("db1", 5432)
    assert failover.primary_of({}, standby_state(receiver=False), "host=db1 port=5433 user=repl", parse) == ("db1", 5433)
    with pytest.raises(OpsreadyError, match="names no primary"):
        failover.primary_of({}, standby_state(receiver=False), "", parse)
    assert failover.lag_bytes("0/3000100", standby_state()) == 256
    assert failover.lag_bytes("0/2000000", standby_state()) == 0
    assert failover.lag_bytes(None, standby_state()) is None
    assert failover.later("0/3000000", "0/2FFFFFF") == "0/3000000" and failover.later(None, None) is None


@pytest.mark.parametrize("extra, message", [
    ({"probes": 0}, "probes must be a number from 1 to 100, got 0"),
    ({"probes": -1}, "probes must be"),
    ({"probes": 101}, "probes must be"),
    ({"probes": True}, "probes must be"),
    ({"interval": 0}, "interval must be a number from 0.1 to 60"),
    ({"interval": -1}, "interval must be"),
    ({"interval": 61}, "interval must be"),
    ({"probe_timeout": 0}, "probe_timeout must be"),
    ({"probe_timeout": 31}, "probe_timeout must be"),
    ({"watch": -1}, "watch must be a number from 0 to 604800"),
    ({"watch": 604801}, "watch must be"),
    ({"primary": "db1,db2"}, "primary: one server's host or host:port"),
    ({"primary": "db1:0"}, "the port of db1 must be from 1 to 65535"),
    ({"primary": "db 1"}, "primary: login_host"),
    ({"primary": "/var/run/postgresql"}, "primary: one server's host"),
    ({"interval": 0.5, "probe_timeout": 1}, "probe_timeout (1.0) must be at most interval (0.5)"),
    ({"primary_lsn": "0/XYZ"}, "primary_lsn: '0/XYZ' is not a PostgreSQL LSN"),
    ({"connect_timeout": 0}, "connect_timeout must be more than 0"),
    ({"connect_timeout": 301}, "connect_timeout must be more than 0"),
    ({"probes": "three"}, "probes"),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else None)
def test_bad_input_is_refused_before_anything_is_reached(run_main, extra, message):
    # a port nothing listens on: a refusal that reached the server would say "refused" instead
    rc, result = run_main(pg_failover_detect.main, dict({"login_host": "127.0.0.1", "login_port": closed_port(),
                                                         "login_user": "postgres"}, **extra))
    assert rc == 1 and message in result["msg"], result["msg"]
    assert "refused" not in result["msg"].lower()


def wal_written(pair):
    """A WAL record on the primary (no table), and the standby told of it: its WAL receiver knows the primary's end."""
    conn = psycopg2.connect(pair["primary"]["dsn"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_logical_emit_message(false, 'opsready', 'test')::text")
        written = cur.fetchone()[0]
    conn.close()
    standby = psycopg2.connect(pair["standby"]["dsn"])
    standby.autocommit = True
    deadline = time.monotonic() + 20
    with standby.cursor() as cur:
        while True:
            cur.execute("SELECT latest_end_lsn >= %s::pg_lsn FROM pg_stat_wal_receiver", (written,))
            if cur.fetchone()[0]:
                break
            assert time.monotonic() < deadline, "the standby was not told of %s" % written
            time.sleep(0.05)
    standby.close()
    return written


def test_a_live_primary_answers_and_nothing_is_lost(run_main, pg_pair):
    wal_written(pg_pair)
    rc, result = run_main(pg_failover_detect.main, args(pg_pair["standby"], _ansible_check_mode=True))
    assert rc == 0, result["msg"]
    assert not result["lost"] and not result["changed"] and result["msg"].endswith(" answers")
    assert result["primary"] == {"host": "127.0.0.1", "port": pg_pair["primary"]["login_port"]}
    assert len(result["probes"]) == 1 and result["probes"][0]["answered"]
    assert result["primary_end_lsn"] and result["lag_bytes"] == 0


def test_a_lost_route_is_not_a_lost_primary(run_main, pg_pair, silent_server):
    """The primary named is a server that never answers this host, while the standby still streams from its own
    (which pings it every 2 s: wal_receiver_timeout 4 s, as in the lab)."""
    conn = psycopg2.connect(pg_pair["standby"]["dsn"])
    conn.autocommit = True
    conn.cursor().execute("ALTER SYSTEM SET wal_receiver_timeout = '4s'")
    conn.cursor().execute("SELECT pg_reload_conf()")
    conn.close()
    time.sleep(0.5)
    start = time.monotonic()
    rc, result = run_main(pg_failover_detect.main, args(pg_pair["standby"], primary="127.0.0.1:%d" % silent_server,
                                                        probes=2, interval=0.2, probe_timeout=0.2))
    assert rc == 0, result["msg"]
    assert not result["lost"] and result["failed_in_a_row"] >= 2
    assert "its route from here is lost, not the primary" in result["msg"] and result["receiver_silence_s"] == 3
    # bounded: the probes, then the receiver's confirmation window (half of 4 s + 1 s, and an interval)
    assert time.monotonic() - start < 6


def test_a_watch_ends_without_a_loss_when_the_primary_stays(run_main, pg_pair):
    rc, result = run_main(pg_failover_detect.main, args(pg_pair["standby"], watch=1, interval=0.25, probe_timeout=0.25))
    assert rc == 0 and not result["lost"] and 4 <= len(result["probes"]) <= 6
    assert all(p["answered"] for p in result["probes"])


def test_a_primary_killed_before_the_run_is_lost_and_its_end_unknown(run_main, pg_fresh_pair):
    """Started after the death: the WAL receiver is gone with what it last heard; the loss cannot be known."""
    wal_written(pg_fresh_pair)
    kill_tree(pg_fresh_pair["primary"]["proc"])
    receiver_gone(pg_fresh_pair["standby"])   # after the death as the standby saw it (a loaded CI machine lags)
    rc, result = run_main(pg_failover_detect.main, args(pg_fresh_pair["standby"], probes=3, interval=0.2,
                                                        probe_timeout=0.2))
    assert rc == 0, result["msg"]
    assert result["lost"] and result["failed_in_a_row"] == 3 and "lost: 3 probes in a row unanswered" in result["msg"]
    assert "refused" in result["probes"][-1]["error"].lower() and "WAL receiver" in result["msg"]
    assert result["primary_end_lsn"] is None and result["lag_bytes"] is None
    assert result["elapsed_s"] < 5


def test_a_watch_sees_the_primary_die_and_keeps_its_last_known_end(pg_fresh_pair):
    """Started ahead of time: the watch read the primary's end while it lived, the guard's reference after."""
    written = wal_written(pg_fresh_pair)
    conn = psycopg2.connect(pg_fresh_pair["standby"]["dsn"])
    conn.autocommit = True
    params = {"probes": 3, "interval": 0.2, "probe_timeout": 0.2, "watch": 30, "primary": None}
    found = {}
    watcher = threading.Thread(target=lambda: found.update(failover.detect(conn, params, psycopg2.extensions.parse_dsn)))
    watcher.start()
    time.sleep(1)
    assert watcher.is_alive()
    killed = time.monotonic()
    kill_tree(pg_fresh_pair["primary"]["proc"])
    watcher.join(20)
    conn.close()
    assert found["lost"] and found["primary_end_lsn"] >= written and found["lag_bytes"] == 0
    assert sum(p["answered"] for p in found["probes"]) >= 3   # it watched a live primary first
    assert time.monotonic() - killed < 3   # 3 probes 0.2 s apart, the receiver already gone


def test_a_server_already_primary_has_nothing_to_detect(run_main, pg_pair):
    rc, result = run_main(pg_failover_detect.main, args(pg_pair["primary"]))
    assert rc == 0 and not result["lost"] and result["already_primary"] and "nothing to detect" in result["msg"]


def test_the_window_is_kept_by_the_clock_when_a_probe_stalls_longer_than_its_interval(pg_pair):
    """A probe held up (a resolver stalling on a dead host's name) must not stretch the decision: the window ends by
    the clock, not by counting probes."""
    now = [0.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    def stalled(host, port, timeout):
        now[0] += 30
        return False, "no answer within 30 s (name lookup)"

    conn = psycopg2.connect(pg_pair["standby"]["dsn"])
    conn.autocommit = True
    try:
        params = {"probes": 3, "interval": 1, "probe_timeout": 1, "watch": 0, "primary": None}
        result = failover.detect(conn, params, psycopg2.extensions.parse_dsn, clock=clock, sleep=sleep, probe_one=stalled)
    finally:
        conn.close()
    window = 2 + 1 + result["receiver_silence_s"] + 1
    assert not result["lost"] and len(result["probes"]) <= window // 30 + 1 and result["elapsed_s"] <= window + 30


def test_a_position_known_from_elsewhere_is_the_guards_reference_when_later(pg_pair):
    conn = psycopg2.connect(pg_pair["standby"]["dsn"])
    conn.autocommit = True
    try:
        params = {"probes": 1, "interval": 0.2, "probe_timeout": 0.2, "watch": 0, "primary": None,
                  "primary_lsn": "FF/0"}
        result = failover.detect(conn, params, psycopg2.extensions.parse_dsn)
    finally:
        conn.close()
    assert result["primary_end_lsn"] == "FF/0" and result["lag_bytes"] > 0
