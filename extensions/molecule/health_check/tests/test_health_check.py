"""playbooks/health_check.yml on the real lab: healthy, in check mode, and with one thing broken at a time.

Each breakage is undone in a finally block and the lab is waited back to health, so the next test (and the next
scenario) starts from a healthy lab. The expected sets name every check that must turn, and no other may.
"""
import datetime
import json
import re
import subprocess
import time

import pytest
from labtest import PROJECT, ansible_module, ansible_playbook, psql, wait_for

EXPECTED_CHECKS = 17
LIVENESS = ["lb1/api liveness (public, TLS)", "lb1/app1 liveness", "lb1/app2 liveness"]


def health(tmp_path, *args):
    """Run the playbook with its evidence in tmp_path; return (rc, report, output)."""
    evidence = tmp_path / "evidence"
    run = ansible_playbook("playbooks/health_check.yml", "-e", "health_check_evidence_dir=%s" % evidence, *args)
    reports = sorted(evidence.glob("health_check-*.json"))
    assert len(reports) == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert reports[0].with_suffix(".md").exists()
    return run.returncode, json.loads(reports[0].read_text()), run.stdout


def not_ok(report):
    return {"%s/%s" % (c["host"], c["name"]): (c["state"], c["reason"]) for c in report["checks"]
            if c["state"] != "ok"}


def assert_turned(report, expected):
    """Exactly the expected checks are not ok, each in its state with a reason matching its pattern."""
    seen = not_ok(report)
    assert set(seen) == set(expected), seen
    for name, (state, pattern) in expected.items():
        assert seen[name][0] == state, (name, seen[name])
        assert re.search(pattern, seen[name][1]), (name, seen[name])
    assert report["summary"]["total"] == EXPECTED_CHECKS


def sh(host, command):
    result = host.run(command)
    assert result.rc == 0, "%s: %s %s" % (command, result.stdout, result.stderr)


def lab_is_healthy(tmp_path):
    rc, report, out = health(tmp_path / ("recovered-%d" % time.monotonic_ns()))
    return rc == 0 and not not_ok(report)


@pytest.fixture
def healthy_again(tmp_path):
    """After the test's own restore: wait until the whole lab checks healthy again."""
    yield
    assert wait_for(lambda: lab_is_healthy(tmp_path), timeout=90, interval=2), "the lab did not recover"


# --------------------------------------------------------------------------------------------- healthy
def test_healthy_lab_is_all_ok_with_evidence(tmp_path):
    rc, report, out = health(tmp_path)
    assert rc == 0, out[-3000:]
    assert not_ok(report) == {}
    assert report["summary"]["total"] == EXPECTED_CHECKS
    assert report["hosts"] == {"lb1": "ok", "app1": "ok", "app2": "ok", "db1": "ok", "db2": "ok",
                               "redis1": "skipped", "acme1": "skipped", "sink1": "skipped"}
    markdown = next((tmp_path / "evidence").glob("*.md")).read_text()
    assert "**PASSED** (fail on critical): 17 checks, 17 ok" in markdown
    assert "| lb1 | postgres replica | ok |" in markdown
    assert "Healthy per policy fail_on critical: 17 checks" in out


def test_check_mode_runs_every_check_and_changes_nothing(tmp_path):
    rc, report, out = health(tmp_path, "--check")
    assert rc == 0, out[-3000:]
    assert not_ok(report) == {}
    assert all(c["state"] == "ok" for c in report["checks"])  # read_only commands run in check mode too
    recap = re.findall(r"changed=(\d+)", out.split("PLAY RECAP")[1])
    assert recap and set(recap) == {"0"}


def test_secrets_stay_out_of_output_and_evidence(tmp_path, lab):
    rc, report, out = health(tmp_path, "-v")
    evidence = next((tmp_path / "evidence").glob("*.json")).read_text()
    for secret in (lab["lab_pg_monitor_password"], lab["lab_redis_password"]):
        assert secret not in out and secret not in evidence


# ----------------------------------------------------------------------------------------- breakages
def lb_servers_up(hosts):
    """The app servers HAProxy considers UP (operational state 2 on its admin socket)."""
    state = hosts["lb1"].check_output("echo 'show servers state app' | socat stdio /run/haproxy/admin.sock")
    return {cols[3] for cols in (line.split() for line in state.splitlines()[2:]) if cols and cols[5] == "2"}


def test_stopped_redis_is_the_cause_and_the_public_503_its_effect(tmp_path, hosts, healthy_again):
    sh(hosts["redis1"], "systemctl stop redis-server")
    try:
        # readiness needs Redis, so HAProxy takes both app hosts out (2 failed checks, 2 s apart)
        assert wait_for(lambda: not lb_servers_up(hosts), timeout=20), "HAProxy kept serving without Redis"
        rc, report, out = health(tmp_path)
    finally:
        sh(hosts["redis1"], "systemctl start redis-server")
    assert rc != 0 and "lb1/redis and job queue is critical: Error 111 connecting to redis1:6379" in out
    assert_turned(report, {
        "lb1/redis and job queue": ("critical", r"^Error 111 connecting to redis1:6379\. Connection refused\.$"),
        "lb1/api liveness (public, TLS)": ("critical", r"^HTTP 503, expected 200: <html><body><h1>503 Service"),
        "lb1/api as users reach it (public, TLS)": ("critical", r"^HTTP 503, expected 200: <html><body><h1>503 Serv"),
    })


def test_stopped_replica_turns_only_the_replica_check_critical(tmp_path, hosts, healthy_again):
    sh(hosts["db2"], "systemctl stop postgresql@15-main")
    try:
        rc, report, out = health(tmp_path)
    finally:
        sh(hosts["db2"], "systemctl start postgresql@15-main")
    assert rc != 0
    assert_turned(report, {"lb1/postgres replica": ("critical", r'"db2" .* failed: Connection refused')})
    assert wait_for(lambda: psql(hosts["db1"], "SELECT state FROM pg_stat_replication", db="postgres")
                    == "streaming", timeout=30)


FAULT = "/etc/demo/fault.json"


def inject(hosts, fault):
    for name in ("app1", "app2"):
        sh(hosts[name], "echo '%s' > %s" % (json.dumps(fault), FAULT))


def clear_faults(hosts):
    for name in ("app1", "app2"):
        sh(hosts[name], "rm -f %s" % FAULT)


def test_app_answering_500_turns_the_liveness_checks_critical(tmp_path, hosts, healthy_again):
    inject(hosts, {"status": 500})
    try:
        rc, report, out = health(tmp_path)
    finally:
        clear_faults(hosts)
    assert rc != 0
    assert_turned(report, {name: ("critical", r'^HTTP 500, expected 200: \{"status": "error"') for name in LIVENESS})


def test_slow_app_is_a_warning_that_fails_only_a_warning_policy(tmp_path, hosts, healthy_again):
    inject(hosts, {"delay_ms": 400})
    try:
        rc, report, out = health(tmp_path)
        strict_rc, strict_report, strict_out = health(tmp_path / "strict", "-e", "health_check_fail_on=warning")
    finally:
        clear_faults(hosts)
    # at least the injected 400 ms, under the critical 2000 ms; a loaded machine adds to it
    latency = r"^latency ([4-9]\d\d|1\d\d\d)(\.\d)? ms reached the warning threshold 200 ms$"
    assert_turned(report, {name: ("warning", latency) for name in LIVENESS})
    assert rc == 0, out[-3000:]  # a warning does not fail the default policy (critical) ...
    assert strict_rc != 0 and "Unhealthy (fail_on warning)" in strict_out  # ... but fails fail_on=warning
    assert strict_report["summary"]["failing"] == LIVENESS


def test_queue_past_its_threshold_is_a_warning_and_names_the_stopped_workers(tmp_path, hosts, lab, healthy_again):
    redis = "redis-cli --no-auth-warning -a %s" % lab["lab_redis_password"]
    for name in ("app1", "app2"):
        sh(hosts[name], "systemctl stop demo-worker")
    try:
        jobs = " ".join("'{\"fill\": %d}'" % n for n in range(150))
        sh(hosts["redis1"], "%s LPUSH %s %s" % (redis, lab["lab_redis_queue"], jobs))
        rc, report, out = health(tmp_path)
    finally:
        for name in ("app1", "app2"):
            sh(hosts[name], "systemctl start demo-worker")
    assert_turned(report, {
        "lb1/redis and job queue": ("warning", r"^queue demo:jobs holds 150 items reached the warning threshold 100"),
        "app1/worker service": ("critical", r"^systemctl exited 3, expected 0: inactive"),
        "app2/worker service": ("critical", r"^systemctl exited 3, expected 0: inactive"),
    })
    assert wait_for(lambda: hosts["redis1"].check_output("%s LLEN %s" % (redis, lab["lab_redis_queue"])) == "0",
                    timeout=60), "the restarted workers did not drain the queue"


def served_not_after(lb):
    return lb.check_output("echo | openssl s_client -connect localhost:443 -servername demo.lab.test 2>/dev/null"
                           " | openssl x509 -noout -enddate")


def test_expiring_certificate_turns_only_the_certificate_check_critical(tmp_path, hosts, lab, healthy_again):
    lb, pem = hosts["lb1"], "/etc/haproxy/certs/%s.pem" % lab["lab_public_name"]
    short = short_lived_certificate(tmp_path, lab["lab_public_name"], days=5)
    before = served_not_after(lb)
    sh(lb, "cp -p %s /root/public.pem.orig" % pem)
    try:
        subprocess.run(["podman", "cp", str(short), "lb1:" + pem], check=True)
        sh(lb, "systemctl reload haproxy")
        assert wait_for(lambda: served_not_after(lb) != before, timeout=15), "HAProxy kept the old certificate"
        rc, report, out = health(tmp_path)
    finally:
        sh(lb, "cp -p /root/public.pem.orig %s && systemctl reload haproxy" % pem)
    assert wait_for(lambda: served_not_after(lb) == before, timeout=15)
    assert rc != 0
    assert_turned(report, {"lb1/public certificate": (
        "critical", r"^certificate expires in (4\.9|5) days below the critical threshold 7 days$")})


def short_lived_certificate(tmp_path, name, days):
    """A certificate for `name` signed by the lab CA, valid for `days`; returns a PEM of certificate + key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pki = PROJECT / ".lab" / "pki"
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = tmp_path / "short.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return pem


# ------------------------------------------------------------------------------ real credentials, real refusal
def test_wrong_password_is_a_clear_critical_without_the_password(tmp_path, lab):
    wrong = "not-the-monitor-password"
    login = {"login_host": "db1", "login_user": lab["lab_pg_monitor_user"], "login_password": wrong}
    args = {"checks": [{"name": "primary", "postgres": login}]}
    result, output = ansible_module("lb1", "opsready.runbooks.health_check", args)
    assert result["checks"][0]["state"] == "critical"
    assert 'password authentication failed for user "monitor"' in result["checks"][0]["reason"]
    assert wrong not in output
