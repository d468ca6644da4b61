"""The lab's webhook sink, served for real on loopback."""
import json
import threading
import urllib.request

import pytest
import sink


@pytest.fixture
def server(tmp_path):
    srv = sink.serve(0, str(tmp_path / "requests.jsonl"), host="127.0.0.1")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def request(url, method="GET", body=None):
    req = urllib.request.Request(url, method=method, data=body, headers={"X-Test": "yes"})
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_records_every_request_and_forgets_on_delete(server):
    assert request(server + "/hooks/slack", "POST", b'{"text": "maintenance starts"}') == (200, {"ok": True})
    assert request(server + "/any/path?x=1", "PUT", b"") == (200, {"ok": True})

    status, entries = request(server + sink.CONTROL)
    assert status == 200
    assert [(e["method"], e["path"]) for e in entries] == [("POST", "/hooks/slack"), ("PUT", "/any/path?x=1")]
    assert json.loads(entries[0]["body"]) == {"text": "maintenance starts"}
    assert entries[0]["headers"]["X-Test"] == "yes"

    request(server + sink.CONTROL, "DELETE")
    assert request(server + sink.CONTROL) == (200, [])
