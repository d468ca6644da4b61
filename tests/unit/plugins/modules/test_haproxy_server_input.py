"""haproxy_server refuses bad input before it sends HAProxy anything that changes it: a fake admin socket that
answers with the dumps captured from HAProxy 2.6 (module_utils/test_haproxy.py) and records what it receives."""
import importlib.util
import json
import pathlib
import socket
import socketserver
import threading

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.modules import haproxy_server

_spec = importlib.util.spec_from_file_location(
    "haproxy_captured", pathlib.Path(__file__).resolve().parents[1] / "module_utils" / "test_haproxy.py")
captured = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(captured)

ANSWERS = {
    "show servers state app": captured.state_dump(),
    "show stat app 4 -1": captured.stat_dump(),
    "show servers state web": "Can't find backend.\n\n",
    "show backend": "# name\napp\n\n",
}


@pytest.fixture
def fake(tmp_path):
    """A fake HAProxy admin socket: answers ANSWERS (anything else: an empty line, HAProxy's "done")."""
    received = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            command = self.rfile.readline().decode().strip()
            received.append(command)
            self.wfile.write(ANSWERS.get(command, "\n").encode())

    path = str(tmp_path / "admin.sock")
    server = socketserver.ThreadingUnixStreamServer(path, Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield path, received
    server.shutdown()
    server.server_close()


def _stale(tmp_path):
    path = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the file stays, nothing listens: HAProxy stopped
    return str(path)


def _file(tmp_path):
    (tmp_path / "admin.txt").write_text("")
    return str(tmp_path / "admin.txt")


# (id, options, message, what HAProxy received: nothing at all, or reads only)
CASES = [
    ("backend-with-space", {"backend": "my app"}, "backend 'my app' is not a HAProxy name", "nothing"),
    ("backend-with-slash", {"backend": "app/web1"}, "backend 'app/web1' is not a HAProxy name", "nothing"),
    ("backend-empty", {"backend": ""}, "backend '' is not a HAProxy name", "nothing"),
    ("server-with-newline", {"server": "web1\nshow info"}, "server 'web1\\nshow info' is not a HAProxy name",
     "nothing"),
    ("server-with-semicolon", {"server": "web1;disable server app/web2"},
     "server 'web1;disable server app/web2' is not a HAProxy name", "nothing"),
    ("backend-missing", {"backend": None}, "missing required arguments: backend", "nothing"),
    ("state-unknown", {"state": "down"}, "value of state must be one of: drained, maint, ready, got: down", "nothing"),
    ("on_fail-unknown", {"on_fail": "ignore"}, "value of on_fail must be one of: maint, leave, got: ignore",
     "nothing"),
    ("wait_timeout-zero", {"wait_timeout": 0}, "wait_timeout must be greater than 0 seconds, got 0.0", "nothing"),
    ("wait_timeout-negative", {"wait_timeout": -5}, "wait_timeout must be greater than 0 seconds, got -5.0",
     "nothing"),
    ("wait_timeout-not-a-number", {"wait_timeout": "soon"},
     "argument 'wait_timeout' is of type str and we were unable to convert to float", "nothing"),
    ("drain_timeout-zero", {"drain_timeout": 0}, "drain_timeout must be greater than 0 seconds, got 0.0", "nothing"),
    ("drain_timeout-negative", {"drain_timeout": -1}, "drain_timeout must be greater than 0 seconds, got -1.0",
     "nothing"),
    ("socket-missing", {"socket": "{tmp}/nope.sock"}, "socket {tmp}/nope.sock does not exist: is HAProxy running",
     "nothing"),
    ("socket-is-a-file", {"socket": _file}, "socket {tmp}/admin.txt is not a socket", "nothing"),
    ("socket-is-a-directory", {"socket": "{tmp}"}, "socket {tmp} is not a socket", "nothing"),
    ("socket-nothing-listens", {"socket": _stale}, "nothing listens on {tmp}/stale.sock (HAProxy stopped?",
     "nothing"),
    ("state_file-directory-missing", {"state_file": "{tmp}/no/server-state"},
     "state_file {tmp}/no/server-state: directory {tmp}/no does not exist", "nothing"),
    ("state_file-is-a-directory", {"state_file": "{tmp}"}, "state_file {tmp} is a directory", "nothing"),
    ("backend-unknown", {"backend": "web"}, "backend web is not in HAProxy's configuration; its backends: app",
     "reads"),
    ("server-unknown", {"server": "web9"}, "server web9 is not in backend app; its servers: web1, web2, web3, nocheck",
     "reads"),
    ("ready-without-health-check", {"server": "nocheck", "state": "ready"},
     "app/nocheck has no health check enabled (`check` on its server line, or `enable health app/nocheck`)", "reads"),
]


@pytest.mark.parametrize("options, message, received", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_refused_before_any_change(capsys, tmp_path, fake, options, message, received):
    path, got = fake
    args = {"socket": path, "backend": "app", "server": "web1", "state": "drained"}
    for key, value in options.items():
        value = value(tmp_path) if callable(value) else value
        args[key] = value.format(tmp=tmp_path) if isinstance(value, str) else value
    args = {key: value for key, value in args.items() if value is not None}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        haproxy_server.main()
    result = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 1 and message.format(tmp=tmp_path) in result["msg"]
    if received == "nothing":
        assert got == []
    else:
        assert got and all(command.startswith("show ") for command in got)
        assert result["commands"] == []


def test_the_table_covers_every_option():
    """Each option of the module is exercised by at least one bad-input case."""
    options = {key for case in CASES for key in case[1]}
    assert options == set(yaml.safe_load(haproxy_server.DOCUMENTATION)["options"])
