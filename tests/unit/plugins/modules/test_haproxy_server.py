"""haproxy_server against a real HAProxy (Debian's haproxy) on loopback: a fresh HAProxy per test, with a stats
socket in a temporary directory, checking small HTTP servers whose /readyz answers 200 or 503, or that are stopped.

Check interval 200 ms (rise 2, fall 2): HAProxy's verdicts come within a second; the bounds below are generous."""
import http.server
import json
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils import _haproxy
from ansible_collections.opsready.runbooks.plugins.modules import haproxy_server

UNIT_CONFTEST = pathlib.Path(__file__).resolve().parents[2] / "conftest.py"

CONFIG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    server-state-file {dir}/server-state

defaults
    mode http
    load-server-state-from-file global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s

frontend site
    bind 127.0.0.1:{site}
    use_backend solo if {{ path_beg /solo/ }}
    default_backend app

backend app
    option httpchk GET /readyz
    default-server inter 200ms fall 2 rise 2
    server web1 127.0.0.1:{a} check
    server web2 127.0.0.1:{b} check
    server once 127.0.0.1:{c} check fall 1
    server moved 127.0.0.1:{closed} check port {b}
    server nocheck 127.0.0.1:{b}

backend solo
    option httpchk GET /readyz
    default-server inter 200ms fall 2 rise 2
    server web1 127.0.0.1:{a} check
"""


def _missing(request, what):
    """tests/unit/conftest.py's _missing: skip here, fail in CI."""
    request.config.pluginmanager.get_plugin(str(UNIT_CONFTEST))._missing(what)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not within %s s: %s" % (timeout, what))
        time.sleep(0.05)


class Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # HAProxy's checks close the connection once they have the status line


class App:
    """An app server: /readyz answers `code`; /.../slow/<seconds> answers after that long; stop() closes its port."""

    def __init__(self):
        self.code, self.port, self.httpd = 200, _free_port(), None
        self.start()

    def start(self):
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if "/slow/" in self.path:
                    time.sleep(float(self.path.rsplit("/", 1)[1]))
                status = app.code if self.path == "/readyz" else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = Quiet(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class LB:
    """A running HAProxy and its app servers."""

    def __init__(self, directory):
        self.dir, self.apps = directory, {name: App() for name in "abc"}
        self.site = _free_port()
        self.config = directory / "haproxy.cfg"
        self.config.write_text(CONFIG.format(dir=directory, site=self.site, closed=_free_port(),
                                             **{name: app.port for name, app in self.apps.items()}))
        self.socket, self.state_file = str(directory / "admin.sock"), str(directory / "server-state")
        self.proc = None
        self.start()

    def start(self, *extra):
        self.proc = subprocess.Popen(["haproxy", "-f", str(self.config), "-db"] + list(extra),
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / "haproxy.log", "ab"))
        wait_for("HAProxy's checks settled", self.settled)

    def reload(self):
        """What `systemctl reload haproxy` does: a new process that reads the state file, the old one finishing."""
        old = self.proc
        self.start("-sf", str(old.pid))
        old.wait(timeout=10)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        for app in self.apps.values():
            app.stop()

    def ask(self, command):
        answer = _haproxy.send(self.socket, command, time.monotonic() + 5)
        assert answer.strip() == "" or command.startswith("show"), answer
        return answer

    def server(self, name, backend="app"):
        return _haproxy.find(_haproxy.parse_servers_state(self.ask("show servers state %s" % backend)),
                             _haproxy.parse_stat(self.ask("show stat %s 4 -1" % backend)), backend, name)

    def settled(self):
        """Every checked server out of MAINT is UP by a check of this process (no INI), with full health."""
        try:
            servers = [self.server(n) for n in ("web1", "web2", "once", "moved")] + [self.server("web1", "solo")]
        except Exception:  # not listening yet
            return False
        return all(s["operational"] == "UP" and s["check_status"] == "L7OK"
                   and s["check_health"] == s["check_rise"] + s["check_fall"] - 1
                   for s in servers if s["admin"] != "MAINT")


@pytest.fixture
def lb(request, tmp_path):
    if not shutil.which("haproxy"):
        _missing(request, "HAProxy (haproxy)")
    lb = LB(tmp_path)
    yield lb
    lb.stop()


def run(capsys, lb_or_socket, check_mode=False, diff=False, **args):
    socket_path = lb_or_socket.socket if isinstance(lb_or_socket, LB) else lb_or_socket
    args = dict(dict(socket=socket_path, backend="app"), **args)
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    started = time.monotonic()
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        haproxy_server.main()
    result = json.loads(capsys.readouterr().out)
    result["wall"] = time.monotonic() - started
    return exit_info.value.code, result


def slow_request(lb, path, seconds):
    """A request in flight through HAProxy; returns the thread and where its status will be."""
    outcome = {}

    def go():
        with urllib.request.urlopen("http://127.0.0.1:%d%s/slow/%s" % (lb.site, path, seconds), timeout=30) as r:
            outcome["status"] = r.status
        outcome["done"] = time.monotonic()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, outcome


# --- drained -------------------------------------------------------------------------------------------------------

def test_drained_waits_for_the_session_in_flight_then_maint(capsys, lb):
    thread, outcome = slow_request(lb, "/solo", 2)
    wait_for("the slow request on solo/web1", lambda: lb.server("web1", "solo")["sessions"] == 1)
    rc, result = run(capsys, lb, backend="solo", server="web1", state="drained", drain_timeout=20, wait_timeout=30)
    assert rc == 0 and result["changed"], result["msg"]
    assert result["commands"] == ["set server solo/web1 state drain", "set server solo/web1 state maint"]
    assert result["before"]["sessions"] == 1 and result["after"]["admin"] == "MAINT"
    assert result["msg"].startswith("solo/web1 drained: DRAIN, then MAINT; no session left after")
    thread.join(10)
    assert outcome["status"] == 200
    assert 1.0 <= result["elapsed"] < 15  # the request had about 2 s to go; the drain waited for it
    assert lb.server("web1", "solo")["admin"] == "MAINT"


def test_drained_goes_to_maint_after_drain_timeout_and_the_session_still_ends_well(capsys, lb):
    thread, outcome = slow_request(lb, "/solo", 5)
    wait_for("the slow request on solo/web1", lambda: lb.server("web1", "solo")["sessions"] == 1)
    rc, result = run(capsys, lb, backend="solo", server="web1", state="drained", drain_timeout=1, wait_timeout=30)
    assert rc == 0 and result["after"]["admin"] == "MAINT"
    assert "1 session still open after" in result["msg"] and "(drain_timeout 1 s)" in result["msg"]
    assert 0.9 <= result["elapsed"] < 4
    thread.join(15)
    assert outcome["status"] == 200  # MAINT sends no new session there; the one in flight finishes


def test_dead_server_is_drained_at_once(capsys, lb):
    lb.apps["a"].stop()
    wait_for("HAProxy sees app/web1 DOWN", lambda: lb.server("web1")["operational"] == "DOWN")
    rc, result = run(capsys, lb, server="web1", state="drained", drain_timeout=30)
    assert rc == 0 and result["commands"] == ["set server app/web1 state maint"]
    assert result["msg"].startswith("app/web1 put in MAINT at once: HAProxy sees it DOWN, check L4CON")
    assert result["wall"] < 2


def test_server_whose_address_refuses_is_drained_at_once(capsys, lb):
    """app/moved is checked on another port (UP for HAProxy), but its own port refuses connections."""
    assert lb.server("moved")["operational"] == "UP"
    rc, result = run(capsys, lb, server="moved", state="drained", drain_timeout=30)
    assert rc == 0 and result["commands"] == ["set server app/moved state maint"]
    assert "takes no connection (Connection refused)" in result["msg"] and result["wall"] < 2


def test_drained_again_changes_nothing(capsys, lb):
    rc, first = run(capsys, lb, server="web2", state="drained")
    rc, again = run(capsys, lb, server="web2", state="drained")
    assert first["changed"] and first["after"]["admin"] == "MAINT"
    assert (rc, again["changed"], again["commands"], again["msg"]) == (0, False, [], "app/web2 is already in MAINT")


# --- maint ---------------------------------------------------------------------------------------------------------

def test_maint_now_then_no_change(capsys, lb):
    thread, outcome = slow_request(lb, "/solo", 2)
    wait_for("the slow request on solo/web1", lambda: lb.server("web1", "solo")["sessions"] == 1)
    rc, result = run(capsys, lb, backend="solo", server="web1", state="maint")
    assert rc == 0 and result["commands"] == ["set server solo/web1 state maint"] and result["wall"] < 1
    assert result["after"]["admin"] == "MAINT"
    rc, again = run(capsys, lb, backend="solo", server="web1", state="maint")
    assert (again["changed"], again["commands"]) == (False, [])
    thread.join(10)


# --- ready ---------------------------------------------------------------------------------------------------------

def test_ready_once_haproxys_check_passed_then_no_change(capsys, lb):
    lb.ask("set server app/web1 state maint")
    rc, result = run(capsys, lb, server="web1", state="ready", diff=True)
    assert rc == 0 and result["changed"], result["msg"]
    assert result["commands"] == ["set server app/web1 state drain", "set server app/web1 state ready"]
    after = result["after"]
    assert (after["admin"], after["operational"], after["check_status"]) == ("READY", "UP", "L7OK")
    assert after["check_health"] > after["check_rise"]  # a check passed after the change
    assert result["elapsed"] < 5  # about one check interval (200 ms)
    assert result["diff"] == {"before": "app/web1 admin: MAINT\napp/web1 operational: DOWN\n",
                              "after": "app/web1 admin: READY\napp/web1 operational: UP\n"}
    rc, again = run(capsys, lb, server="web1", state="ready")
    assert (rc, again["changed"], again["commands"]) == (0, False, [])
    assert again["msg"].startswith("app/web1 is already in rotation") and again["elapsed"] < 1


def test_ready_from_drain(capsys, lb):
    lb.ask("set server app/web2 state drain")
    rc, result = run(capsys, lb, server="web2", state="ready")
    assert rc == 0 and result["commands"] == ["set server app/web2 state ready"]
    assert result["after"]["admin"] == "READY" and result["elapsed"] < 5


def test_ready_with_the_app_answering_503_fails_with_the_check_status_and_maint(capsys, lb):
    lb.ask("set server app/web1 state maint")
    lb.apps["a"].code = 503
    rc, result = run(capsys, lb, server="web1", state="ready", wait_timeout=2)
    assert rc == 1
    assert result["msg"].startswith("app/web1 did not pass HAProxy's health check within 2 s: DRAIN DOWN, check L7STS 503 "
                                    "(Layer7 wrong status: Service Unavailable)")
    assert result["msg"].endswith("; put back in MAINT (on_fail=maint), so it takes no traffic")
    assert result["commands"] == ["set server app/web1 state drain", "set server app/web1 state maint"]
    assert result["after"]["admin"] == "MAINT" and lb.server("web1")["admin"] == "MAINT"
    assert 2 <= result["elapsed"] < 8


def test_ready_with_the_app_stopped_fails_and_maint(capsys, lb):
    lb.ask("set server app/web1 state maint")
    lb.apps["a"].stop()
    rc, result = run(capsys, lb, server="web1", state="ready", wait_timeout=2)
    assert rc == 1 and "DOWN, check L4CON (Layer4 connection problem: Connection refused)" in result["msg"]
    assert lb.server("web1")["admin"] == "MAINT"


def test_ready_on_fail_leave(capsys, lb):
    lb.ask("set server app/web1 state maint")
    lb.apps["a"].code = 503
    rc, result = run(capsys, lb, server="web1", state="ready", wait_timeout=2, on_fail="leave")
    assert rc == 1 and result["msg"].endswith("; left READY (on_fail=leave)")
    assert result["commands"] == ["set server app/web1 state drain", "set server app/web1 state ready"]
    assert (lb.server("web1")["admin"], lb.server("web1")["operational"]) == ("READY", "DOWN")


def test_ready_already_in_rotation_but_failing_is_not_ready(capsys, lb):
    """Nothing to send, but `ready` still means HAProxy's check passes: a READY server that went DOWN fails."""
    lb.apps["b"].code = 503
    wait_for("HAProxy sees app/web2 DOWN", lambda: lb.server("web2")["operational"] == "DOWN")
    rc, result = run(capsys, lb, server="web2", state="ready", wait_timeout=1)
    assert rc == 1 and "L7STS 503" in result["msg"] and result["commands"] == ["set server app/web2 state maint"]


@pytest.mark.parametrize("code, wait, rc, commands", [
    (200, 20, 0, ["state drain", "health down", "state ready"]),
    (503, 2, 1, ["state drain", "health down", "state maint"]),
], ids=["healthy", "503"])
def test_ready_with_fall_1(capsys, lb, code, wait, rc, commands):
    """With fall 1, health never exceeds rise: UP after leaving MAINT proves nothing, so the module sets the server
    DOWN and HAProxy's check must bring it UP (a 503 app would otherwise pass as ready)."""
    lb.ask("set server app/once state maint")
    lb.apps["c"].code = code
    got_rc, result = run(capsys, lb, server="once", state="ready", wait_timeout=wait)
    assert got_rc == rc, result["msg"]
    assert result["commands"] == ["set server app/once " + c for c in commands]
    assert lb.server("once")["admin"] == ("READY" if rc == 0 else "MAINT")


# --- state file, check mode ----------------------------------------------------------------------------------------

def test_state_file_written_and_kept_by_a_reload(capsys, lb):
    rc, result = run(capsys, lb, server="web2", state="maint", state_file=lb.state_file)
    assert rc == 0 and result["changed"]
    rows = {r["srv_name"]: r for r in _haproxy.parse_servers_state(pathlib.Path(lb.state_file).read_text())
            if r["be_name"] == "app"}
    assert rows["web2"]["srv_admin_state"] == "1" and rows["web1"]["srv_admin_state"] == "0"
    lb.ask("set server app/web1 state maint")  # not saved: a reload loses it
    lb.reload()
    assert lb.server("web2")["admin"] == "MAINT"
    assert lb.server("web1")["admin"] == "READY"
    assert not list(pathlib.Path(lb.state_file).parent.glob(".server-state.*"))  # no temporary file left


def test_check_mode_changes_nothing(capsys, lb):
    for state in ("drained", "maint"):
        rc, result = run(capsys, lb, server="web1", state=state, state_file=lb.state_file, check_mode=True, diff=True)
        assert rc == 0 and result["changed"] and result["commands"] == []
        assert result["msg"].startswith("would send `set server app/web1 state ")
        assert result["diff"]["after"] == "app/web1 admin: MAINT\napp/web1 operational: DOWN\n"
    lb.ask("set server app/web2 state maint")
    rc, result = run(capsys, lb, server="web2", state="ready", check_mode=True)
    assert result["changed"] and result["msg"].startswith("would send `set server app/web2 state drain` (checked, no new "
                                                          "request), wait up to")
    assert (lb.server("web1")["admin"], lb.server("web2")["admin"]) == ("READY", "MAINT")
    assert not pathlib.Path(lb.state_file).exists()


# --- a socket that accepts and never answers -----------------------------------------------------------------------

def test_a_socket_that_never_answers_is_bounded_by_wait_timeout(capsys, tmp_path):
    path = str(tmp_path / "hang.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(server.accept()) for dummy in range(8)], daemon=True).start()
    try:
        rc, result = run(capsys, path, server="web1", state="drained", wait_timeout=1.5)
    finally:
        server.close()
    assert rc == 1
    assert result["msg"] == "HAProxy did not answer `show servers state app` on %s in time (wait_timeout)" % path
    assert result["commands"] == [] and 1.4 <= result["wall"] < 4
