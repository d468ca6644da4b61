"""The lab's demo web app: a small real API over PostgreSQL and Redis (WSGI, served by gunicorn behind nginx).

Endpoints: /health, /health/db, /health/redis, /readyz, /api/items (POST, GET), /api/items/<id>, /api/jobs (POST),
and /metrics: Prometheus metrics (prometheus_client; multiprocess mode under gunicorn when PROMETHEUS_MULTIPROC_DIR
is set): demo_http_requests_total{handler, code} and the histogram demo_http_request_duration_seconds{handler},
handler being api, health, metrics or other. Configuration comes from the environment (/etc/demo/demo.env); the
release it belongs to from release.json beside this file, whose "schema" is the migration version this code needs.

Lab-only fault switch: while DEMO_FAULT_FILE (default /etc/demo/fault.json) holds e.g. {"status": 500} or
{"delay_ms": 600}, the liveness endpoint /health answers with that status or that much later. The health-check
scenario uses it to make the app fail or slow down without touching anything else (readiness stays honest).
{"api_status": 500} and {"api_delay_ms": 2500} do the same to every /api/ request; with {"release": "2.0.0"} too,
only while that release is the one running (a release with a bug, for the rollback trigger).
"""
import json
import os
import re
import socket
import time

import prometheus_client
from prometheus_client import multiprocess

RELEASE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release.json")
FAULT_FILE = os.environ.get("DEMO_FAULT_FILE", "/etc/demo/fault.json")
HEALTH_PATHS = ("/health", "/health/db", "/health/redis", "/readyz")
REQUESTS = prometheus_client.Counter("demo_http_requests", "HTTP requests answered", ["handler", "code"])
DURATION = prometheus_client.Histogram("demo_http_request_duration_seconds", "Time to answer an HTTP request",
                                       ["handler"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2, 2.5, 5, 10))


def load_release(path=RELEASE_FILE):
    with open(path) as f:
        release = json.load(f)
    return {"version": str(release["version"]), "schema": str(release["schema"])}


def settings(env=None):
    env = os.environ if env is None else env
    return {
        "dsn": env.get("DEMO_DB_DSN", "dbname=demo"),
        "redis_url": env.get("DEMO_REDIS_URL", "redis://localhost:6379/0"),
        "queue": env.get("DEMO_QUEUE", "demo:jobs"),
    }


def db_connect(cfg):
    import psycopg2

    return psycopg2.connect(cfg["dsn"])


def redis_connect(cfg):
    import redis

    return redis.Redis.from_url(cfg["redis_url"], socket_timeout=3, socket_connect_timeout=3)


def schema_version(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT max(version) FROM schema_migrations")
        return cur.fetchone()[0]


def check_db(cfg):
    conn = db_connect(cfg)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            in_recovery = cur.fetchone()[0]
        return {"status": "ok", "schema": schema_version(conn), "in_recovery": in_recovery}
    finally:
        conn.close()


def check_redis(cfg):
    client = redis_connect(cfg)
    client.ping()
    return {"status": "ok", "queue_length": client.llen(cfg["queue"])}


def readiness(release, cfg):
    """Ready means: the database and Redis answer, and the schema is at least the one this release needs."""
    db = check_db(cfg)
    check_redis(cfg)
    if db["schema"] is None or db["schema"] < release["schema"]:
        raise RuntimeError(f"schema {db['schema']} is older than release {release['version']} needs ({release['schema']})")
    return {"status": "ok", "version": release["version"], "schema": db["schema"]}


def create_item(release, cfg, body):
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return 400, {"error": "body must be JSON with a non-empty string 'name'"}
    conn = db_connect(cfg)
    try:
        with conn, conn.cursor() as cur:
            if release["schema"] >= "0002":
                cur.execute("INSERT INTO items (name, note) VALUES (%s, %s) RETURNING id",
                            (name, body.get("note")))
            else:
                cur.execute("INSERT INTO items (name) VALUES (%s) RETURNING id", (name,))
            item_id = cur.fetchone()[0]
        return 201, {"id": item_id, "name": name, "served_by": socket.gethostname()}
    finally:
        conn.close()


def get_item(cfg, item_id):
    conn = db_connect(cfg)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, name, created_at FROM items WHERE id = %s", (item_id,))
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        return 404, {"error": f"no item {item_id}"}
    return 200, {"id": row[0], "name": row[1], "created_at": row[2].isoformat()}


def list_items(cfg):
    conn = db_connect(cfg)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), coalesce(max(id), 0) FROM items")
            count, last = cur.fetchone()
    finally:
        conn.close()
    return 200, {"count": count, "last_id": last}


def enqueue_job(cfg, body):
    payload = json.dumps(body, sort_keys=True)
    length = redis_connect(cfg).lpush(cfg["queue"], payload)
    return 202, {"queued": True, "queue_length": length}


def guarded(check):
    """Run a health check; any failure becomes a 503 with the reason."""
    try:
        return 200, check()
    except Exception as e:  # a health endpoint reports every failure, whatever its type
        return 503, {"status": "error", "reason": f"{type(e).__name__}: {e}".strip()}


def route(method, path, body, release, cfg):
    """Map a request to (status, JSON-able body). Pure dispatch: the handlers do the I/O."""
    if path == "/health" and method == "GET":
        return 200, {"status": "ok", "version": release["version"], "host": socket.gethostname()}
    if path == "/health/db" and method == "GET":
        return guarded(lambda: check_db(cfg))
    if path == "/health/redis" and method == "GET":
        return guarded(lambda: check_redis(cfg))
    if path == "/readyz" and method == "GET":
        return guarded(lambda: readiness(release, cfg))
    if path == "/api/items":
        if method == "POST":
            return create_item(release, cfg, body)
        if method == "GET":
            return list_items(cfg)
    match = re.fullmatch(r"/api/items/(\d+)", path)
    if match and method == "GET":
        return get_item(cfg, int(match.group(1)))
    if path == "/api/jobs" and method == "POST":
        return enqueue_job(cfg, body)
    return 404, {"error": f"no route for {method} {path}"}


def liveness_fault(path=FAULT_FILE):
    """The fault file's content, {} when none (see the module docstring)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def handler_of(path):
    """The metrics label for a path: a few fixed values, never the path itself."""
    if path.startswith("/api/"):
        return "api"
    return "health" if path in HEALTH_PATHS else ("metrics" if path == "/metrics" else "other")


def injected(handler, path, release):
    """The {status, delay_ms} the fault switch injects into this request ({} for none)."""
    if handler not in ("api", "health"):
        return {}
    fault = liveness_fault()
    if handler == "health":
        return {key: fault[key] for key in ("status", "delay_ms") if key in fault and path == "/health"}
    if fault.get("release", release["version"]) != release["version"]:
        return {}
    return {key: fault["api_" + key] for key in ("status", "delay_ms") if "api_" + key in fault}


def metrics_text():
    """Every process's metrics when gunicorn runs several (multiprocess mode), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    return prometheus_client.generate_latest(registry)


def read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("JSON body must be an object")
    return body


def application(environ, start_response):
    started = time.monotonic()
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    handler, release = handler_of(path), load_release()
    fault = injected(handler, path, release)
    time.sleep(fault.get("delay_ms", 0) / 1000)
    content_type = "application/json"
    if path == "/metrics" and method == "GET":
        status, data, content_type = 200, metrics_text(), prometheus_client.CONTENT_TYPE_LATEST
    else:
        try:
            status, payload = (fault["status"], {"status": "error", "reason": "injected fault (lab)"}) \
                if fault.get("status") else route(method, path, read_body(environ), release, settings())
        except ValueError as e:
            status, payload = 400, {"error": f"invalid JSON body: {e}"}
        data = json.dumps(payload).encode()
    reason = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
              500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    REQUESTS.labels(handler, str(status)).inc()
    DURATION.labels(handler).observe(time.monotonic() - started)
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]
