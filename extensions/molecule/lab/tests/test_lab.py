"""The lab works end to end: API over TLS through lb1, PostgreSQL streaming replication, Redis, the worker, Pebble,
the webhook sink, and the release layout the runbooks operate on."""
import http.client
import json
import socket
import ssl
import uuid

from labtest import ansible_module, ansible_playbook, curl_json, psql, recap_changed, wait_for


class LabHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, presenting and verifying another name (what curl --resolve does)."""

    def __init__(self, address, server_name, context):
        super().__init__(server_name, 443, timeout=10, context=context)
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def api(lab, method, path, body=None):
    """Call the API from the controller the way a user does: TLS to lb1, verified against the lab CA by name."""
    context = ssl.create_default_context(cafile=lab["ca_file"])
    conn = LabHTTPS(lab["addresses"]["lb1"], lab["lab_public_name"], context)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_second_bring_up_changes_nothing():
    """lab/up.yml already ran (molecule's create, or scripts/test.sh while the other stages ran), and the scenarios
    before this one leave the lab as they found it: one more run changes nothing on any host."""
    run = ansible_playbook("lab/up.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    changed = recap_changed(run.stdout)
    assert set(changed) >= {"localhost", "lb1", "app1", "app2", "db1", "db2"} and set(changed.values()) == {0}, changed


def test_api_health_through_lb_over_tls(lab):
    status, body = api(lab, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == lab["lab_app_live"]


def test_lb_balances_both_app_hosts_by_readiness(lab, hosts):
    state = hosts["lb1"].run("echo 'show servers state app' | socat stdio /run/haproxy/admin.sock")
    assert state.rc == 0, state.stderr
    # Columns: be_id be_name srv_id srv_name srv_addr srv_op_state ... ; op_state 2 is UP.
    servers = {cols[3]: cols[5] for cols in (line.split() for line in state.stdout.splitlines()[2:]) if cols}
    assert servers == {"app1": "2", "app2": "2"}
    served_by = {api(lab, "GET", "/health")[1]["host"] for attempt in range(6)}
    assert served_by == {"app1", "app2"}


def test_api_write_reaches_primary_and_replica(lab, hosts):
    name = f"lab-verify-{uuid.uuid4()}"
    status, body = api(lab, "POST", "/api/items", {"name": name})
    assert status == 201, body
    query = f"SELECT count(*) FROM items WHERE name = '{name}'"
    assert psql(hosts["db1"], query) == "1"
    assert wait_for(lambda: psql(hosts["db2"], query) == "1", timeout=10), "the write never reached db2"
    status, body = api(lab, "GET", f"/api/items/{body['id']}")
    assert (status, body["name"]) == (200, name)


def test_replication_is_streaming_through_the_slot(lab, hosts):
    assert psql(hosts["db1"], "SELECT state FROM pg_stat_replication", db="postgres") == "streaming"
    assert psql(hosts["db1"], f"SELECT active FROM pg_replication_slots WHERE slot_name = '{lab['lab_pg_slot']}'",
                db="postgres") == "t"
    assert psql(hosts["db2"], "SELECT pg_is_in_recovery()", db="postgres") == "t"
    assert psql(hosts["db1"], "SELECT pg_is_in_recovery()", db="postgres") == "f"


def test_pg_replication_info_sees_db1_primary_and_db2_streaming_from_it(lab):
    """The module as the failover runbook will use it: from lb1 (the health checks' host), logged in as monitor."""
    login = {"login_user": lab["lab_pg_monitor_user"], "login_password": lab["lab_pg_monitor_password"]}
    primary, dummy = ansible_module("lb1", "opsready.runbooks.pg_replication_info", dict(login, login_host="db1"))
    standby, dummy = ansible_module("lb1", "opsready.runbooks.pg_replication_info", dict(login, login_host="db2"))
    assert primary["role"] == "primary" and standby["role"] == "standby", (primary["msg"], standby["msg"])
    [db2] = primary["standbys"]
    assert db2["state"] == "streaming" and db2["lag_bytes"] is not None   # monitor has pg_monitor: the lag is known
    assert [slot["name"] for slot in primary["slots"] if slot["active"]] == [lab["lab_pg_slot"]]
    assert standby["wal_receiver"]["status"] == "streaming" and standby["wal_receiver"]["slot"] == lab["lab_pg_slot"]
    assert standby["timeline"] == primary["timeline"]
    # the cluster's members, as the inventory names them: the databases say which one is primary
    for attrs, expected in (("primary", "db1"), ("standby", "db2")):
        found, dummy = ansible_module("lb1", "opsready.runbooks.pg_replication_info",
                                      dict(login, login_host="db2,db1", target_session_attrs=attrs))
        assert found["server"] == {"host": expected, "port": 5432}, found["msg"]


def test_the_app_reaches_postgresql_through_pgbouncer_on_each_app_host(lab, hosts):
    """The app and its worker connect to PgBouncer on 127.0.0.1:6432, which points at db1: what the switchover
    repoints. The module reads it from each app host (check mode), as the runbook will."""
    for name in ("app1", "app2"):
        assert "port=%d" % lab["lab_pgbouncer_port"] in hosts[name].run("grep DEMO_DB_DSN /etc/demo/demo.env").stdout
        state, dummy = ansible_module(name, "opsready.runbooks.pgbouncer", {
            "database": lab["lab_pg_app_db"], "login_user": lab["lab_pgbouncer_admin_user"],
            "login_password": lab["lab_pgbouncer_admin_password"], "login_host": "127.0.0.1", "state": "running"},
            check=True)
        assert state["changed"] is False and state["after"]["target"]["host"] == "db1", state["msg"]
        assert state["after"]["paused"] is False


def test_schema_is_at_the_live_release(lab, hosts):
    versions = psql(hosts["db1"], "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations")
    live = lab["lab_app_releases"][lab["lab_app_live"]]
    assert versions == ",".join(sorted(v for v in lab["lab_app_releases"].values() if v <= live))


def test_redis_answers_and_requires_its_password(lab, hosts):
    redis = hosts["redis1"]
    assert redis.run("redis-cli --no-auth-warning -a %s PING", lab["lab_redis_password"]).stdout.strip() == "PONG"
    assert "NOAUTH" in redis.run("redis-cli PING").stdout


def test_worker_drains_the_queue_into_postgres(lab, hosts):
    marker = str(uuid.uuid4())
    for n in range(5):
        status = api(lab, "POST", "/api/jobs", {"marker": marker, "n": n})[0]
        assert status == 202
    query = f"SELECT count(*) FROM jobs WHERE payload->>'marker' = '{marker}'"
    assert wait_for(lambda: psql(hosts["db1"], query) == "5", timeout=20), "the worker did not drain the jobs"
    length = hosts["redis1"].run("redis-cli --no-auth-warning -a %s LLEN %s",
                                 lab["lab_redis_password"], lab["lab_redis_queue"]).stdout.strip()
    assert length == "0"


def test_app_health_endpoints(hosts):
    for name in ("app1", "app2"):
        assert curl_json(hosts[name], "http://localhost/health/db")["in_recovery"] is False
        assert curl_json(hosts[name], "http://localhost/health/redis")["status"] == "ok"
        assert curl_json(hosts[name], "http://localhost/readyz")["status"] == "ok"


def test_releases_side_by_side_with_current_link(lab, hosts):
    for name in ("app1", "app2"):
        app = hosts[name]
        for version in lab["lab_app_releases"]:
            assert app.file(f"/srv/demo/releases/{version}/release.json").contains(version)
        assert app.file("/srv/demo/current").linked_to == f"/srv/demo/releases/{lab['lab_app_live']}"
        assert app.service("demo-api").is_running
        assert app.service("demo-worker").is_running


def test_pebble_directory_answers_from_lb1(hosts):
    directory = curl_json(hosts["lb1"], "https://acme1:14000/dir")
    assert directory["newOrder"].startswith("https://acme1:14000/")


def test_sink_records_requests(lab, hosts):
    marker = str(uuid.uuid4())
    sink = f"http://sink1:{lab['lab_sink_port']}"
    curl_json(hosts["lb1"], f"{sink}/hooks/verify", "-X", "POST", "-d", json.dumps({"marker": marker}))
    recorded = curl_json(hosts["lb1"], f"{sink}/_sink/requests")
    assert any(entry["path"] == "/hooks/verify" and marker in entry["body"] for entry in recorded)
