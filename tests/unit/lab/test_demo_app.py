"""The lab's demo app: routing, readiness rules, migration discovery, the worker's handling of odd payloads."""
import io
import json

import demoapp
import migrate
import pytest
import worker

RELEASE = {"version": "1.1.0", "schema": "0002"}
CFG = demoapp.settings({})


def call_raw(method, path, body=b""):
    captured = {}

    def start_response(status, headers):
        captured.update(status=status, headers=dict(headers))

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    return captured, b"".join(demoapp.application(environ, start_response))


def call(method, path, body=b""):
    captured, payload = call_raw(method, path, body)
    return captured["status"], json.loads(payload)


def sample(name, **labels):
    """One value from the app's own /metrics text (0 when the series does not exist yet)."""
    captured, text = call_raw("GET", "/metrics")
    assert captured["status"] == "200 OK" and captured["headers"]["Content-Type"].startswith("text/plain")
    wanted = name + "{" + ",".join('%s="%s"' % item for item in sorted(labels.items())) + "} "
    return next((float(line[len(wanted):]) for line in text.decode().splitlines() if line.startswith(wanted)), 0.0)


@pytest.fixture(autouse=True)
def release(monkeypatch):
    monkeypatch.setattr(demoapp, "load_release", lambda path=None: dict(RELEASE))


def test_health_reports_version_without_touching_backends(monkeypatch):
    monkeypatch.setattr(demoapp, "db_connect", lambda cfg: pytest.fail("/health must not need the database"))
    status, body = call("GET", "/health")
    assert status == "200 OK"
    assert body["status"] == "ok" and body["version"] == "1.1.0"


def test_unknown_route_is_404():
    status, body = call("GET", "/nope")
    assert status == "404 Not Found"
    assert "GET /nope" in body["error"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]"])
def test_invalid_body_is_400(raw):
    status, body = call("POST", "/api/items", raw)
    assert status == "400 Bad Request"
    assert "invalid JSON body" in body["error"]


def test_item_needs_a_name():
    assert demoapp.create_item(RELEASE, CFG, {"name": ""})[0] == 400


def test_failing_backend_turns_into_503_with_reason(monkeypatch):
    def refuse(cfg):
        raise ConnectionError("db1:5432 refused")

    monkeypatch.setattr(demoapp, "db_connect", refuse)
    status, body = call("GET", "/health/db")
    assert status == "503 Service Unavailable"
    assert body == {"status": "error", "reason": "ConnectionError: db1:5432 refused"}


@pytest.mark.parametrize("schema, ready", [("0002", True), ("0003", True), ("0001", False), (None, False)])
def test_readiness_needs_the_release_schema(monkeypatch, schema, ready):
    monkeypatch.setattr(demoapp, "check_db", lambda cfg: {"status": "ok", "schema": schema})
    monkeypatch.setattr(demoapp, "check_redis", lambda cfg: {"status": "ok"})
    status, body = demoapp.route("GET", "/readyz", {}, RELEASE, CFG)
    assert (status == 200) is ready
    if not ready:
        assert "older than release 1.1.0 needs (0002)" in body["reason"]


def write(directory, *names):
    for name in names:
        (directory / name).write_text("SELECT 1;")


def test_discover_orders_steps_and_pairs_up_and_down(tmp_path):
    write(tmp_path, "0002_b.up.sql", "0001_a.up.sql", "0001_a.down.sql", "README")
    steps = migrate.discover(tmp_path)
    assert [(v, n, d is not None) for v, n, up, d in steps] == [("0001", "a", True), ("0002", "b", False)]
    assert migrate.pending(steps, ["0001"]) == steps[1:]


@pytest.mark.parametrize("names, message", [
    (["0001_a.down.sql"], "has no .up.sql"),
    (["0001_a.up.sql", "0001_b.down.sql"], "has two names"),
])
def test_discover_rejects_broken_directories(tmp_path, names, message):
    write(tmp_path, *names)
    with pytest.raises(ValueError, match=message):
        migrate.discover(tmp_path)


def test_migrate_usage_error_exits_2(capsys):
    assert migrate.main(["migrate.py", "dir", "down"]) == 2
    assert "Usage" in capsys.readouterr().err


@pytest.mark.parametrize("payload, stored", [
    ('{"b": 1, "a": 2}', '{"a": 2, "b": 1}'),
    ("not json", '{"unparsed": "not json"}'),
])
def test_worker_stores_every_payload(payload, stored):
    assert worker.normalise(payload) == stored


def test_liveness_fault_switch_fails_and_slows_only_health(monkeypatch, tmp_path):
    fault = tmp_path / "fault.json"
    monkeypatch.setattr(demoapp, "liveness_fault", lambda: json.loads(fault.read_text()))
    slept = []
    monkeypatch.setattr(demoapp.time, "sleep", slept.append)
    fault.write_text('{"status": 500, "delay_ms": 600}')
    status, body = call("GET", "/health")
    assert status == "500 Internal Server Error" and body["reason"] == "injected fault (lab)"
    assert slept == [0.6]
    assert call("GET", "/nope")[0] == "404 Not Found" and slept == [0.6, 0]


def test_no_fault_file_means_no_fault(tmp_path):
    assert demoapp.liveness_fault(str(tmp_path / "absent.json")) == {}


def test_metrics_count_requests_by_handler_and_code(monkeypatch):
    monkeypatch.setattr(demoapp, "liveness_fault", lambda: {})
    before = (sample("demo_http_requests_total", code="404", handler="other"),
              sample("demo_http_requests_total", code="200", handler="health"),
              sample("demo_http_request_duration_seconds_count", handler="health"))
    call("GET", "/nope")
    call("GET", "/health")
    call("GET", "/health")
    assert sample("demo_http_requests_total", code="404", handler="other") == before[0] + 1
    assert sample("demo_http_requests_total", code="200", handler="health") == before[1] + 2
    assert sample("demo_http_request_duration_seconds_count", handler="health") == before[2] + 2
    assert sample("demo_http_request_duration_seconds_bucket", handler="health", le="10.0") >= before[2] + 2


@pytest.mark.parametrize("fault, status, slept", [
    ({"api_status": 500}, "500 Internal Server Error", [0]),
    ({"api_status": 500, "release": "1.1.0"}, "500 Internal Server Error", [0]),
    ({"api_delay_ms": 2500, "api_status": 503}, "503 Service Unavailable", [2.5]),
])
def test_api_fault_fails_and_slows_only_the_api(monkeypatch, fault, status, slept):
    monkeypatch.setattr(demoapp, "liveness_fault", lambda: fault)
    before = sample("demo_http_requests_total", code=status.split()[0], handler="api")
    pauses = []
    monkeypatch.setattr(demoapp.time, "sleep", pauses.append)
    assert call("GET", "/api/items")[0] == status and pauses == slept
    assert sample("demo_http_requests_total", code=status.split()[0], handler="api") == before + 1
    assert call("GET", "/health")[0] == "200 OK"


def test_api_fault_for_another_release_does_nothing(monkeypatch):
    monkeypatch.setattr(demoapp, "liveness_fault", lambda: {"api_status": 500, "release": "2.0.0"})
    monkeypatch.setattr(demoapp, "list_items", lambda cfg: (200, {"count": 0, "last_id": 0}))
    assert call("GET", "/api/items") == ("200 OK", {"count": 0, "last_id": 0})
