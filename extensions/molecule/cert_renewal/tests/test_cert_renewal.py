"""playbooks/cert_renewal.yml on the lab with its Pebble, watched from outside: what lb1 serves over TLS (serial,
issuer) to a client polling it, the files on lb1, the evidence and the webhook sink. Nothing is mocked: the ACME
orders are Pebble's, validated over http-01 through lb1's HAProxy and nginx."""
import json
import pathlib
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from labtest import Poller, ansible_playbook, recap_changed

CERT = "/etc/haproxy/certs/demo.lab.test.pem"
DUE = "cert_renewal_force=true"   # every certificate due: a renewal on demand


def served(lab, host="lb1", port=443):
    """The certificate a host serves for the public name: (serial in hex, issuer)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((lab["addresses"][host], port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=lab["lab_public_name"]) as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    return "%X" % cert.serial_number, cert.issuer.rfc4514_string()


def renewal(tmp_path, *args):
    run = ansible_playbook("playbooks/cert_renewal.yml", "-e", "cert_renewal_evidence_dir=%s" % tmp_path, *args)
    found = sorted(tmp_path.glob("cert_renewal-*.json"))
    return run, json.loads(found[-1].read_text()) if found else None


def said(run):
    return " ".join((run.stdout + run.stderr).split())


def openssl(pem, what):
    """What openssl x509 says of the first certificate in a PEM text (-serial, -issuer)."""
    return subprocess.run(["openssl", "x509", "-noout", what], input=pem, capture_output=True, text=True,
                          check=True).stdout


def on_lb1(hosts, path=CERT):
    return hosts["lb1"].file(path).content_string


def sink(lab):
    url = "http://%s:%s/_sink/requests" % (lab["addresses"]["sink1"], lab["lab_sink_port"])
    entries = json.loads(subprocess.run(["curl", "-sS", url], capture_output=True, text=True, check=True).stdout)
    return [json.loads(entry["body"]) for entry in entries if entry["path"] == "/hooks/certificates"]


@pytest.fixture
def trusted(lab, hosts, tmp_path):
    """A CA bundle with the lab CA and Pebble's root (Pebble makes a new one each time it starts)."""
    root = hosts["lb1"].run("curl -sS --fail https://acme1:15000/roots/0")
    assert root.rc == 0, root.stderr
    bundle = tmp_path / "ca.pem"
    bundle.write_text(open(lab["ca_file"]).read() + "\n" + root.stdout)
    return dict(lab, ca_file=str(bundle))


def test_converge_renewed_the_due_certificate_over_acme_and_lb1_serves_it(lab, hosts):
    serial, issuer = served(lab)
    assert "Pebble" in issuer, issuer   # prepare's lab-CA certificate (10 days left) was replaced
    file = hosts["lb1"].file(CERT)
    assert (file.mode, file.user) == (0o600, "root") and serial in openssl(file.content_string, "-serial")
    kept = hosts["lb1"].file("/var/lib/opsready/cert_renewal/previous/demo.lab.test/0/pem")
    assert kept.exists and "opsready lab CA" in openssl(kept.content_string, "-issuer")


def test_a_renewal_under_a_polling_client_fails_no_request(tmp_path, trusted, hosts):
    before, dummy = served(trusted)
    poller = Poller(trusted)
    poller.start()
    try:
        run, evidence = renewal(tmp_path, "-e", DUE)
    finally:
        poller.stop.set()
        poller.join()
    assert run.returncode == 0, said(run)[-3000:]
    after, issuer = served(trusted)
    assert after != before and "Pebble" in issuer
    assert evidence["result"] == "renewed: demo.lab.test" and evidence["renewed"][0]["serial"] == after
    steps = [step["step"] for step in evidence["timeline"]]
    assert steps == ["start", "change window", "plan", "issued", "served", "renewed"], steps
    print("renewal under a poller: %s" % dict(poller.codes))
    assert poller.failures == [] and poller.codes[200] > 10, (poller.failures[:5], dict(poller.codes))
    report = (tmp_path / sorted(p.name for p in tmp_path.glob("cert_renewal-*.md"))[-1]).read_text()
    assert "| demo.lab.test | due |" in report and "seen served by every address" in report


def test_a_second_run_orders_nothing_and_changes_nothing(tmp_path, lab):
    before = served(lab)
    run, evidence = renewal(tmp_path)
    assert run.returncode == 0 and set(recap_changed(run.stdout).values()) == {0}, said(run)[-3000:]
    metrics = tmp_path / "certificates.prom"
    run, evidence = renewal(tmp_path, "-e", "cert_renewal_metrics_file=%s" % metrics)
    assert run.returncode == 0, said(run)[-3000:]
    assert evidence["result"] == "nothing due" and "issued" not in [s["step"] for s in evidence["timeline"]]
    [row] = evidence["report"]
    assert row["state"] == "ok" and row["window"] == "ok" and row["serials"] == [before[0]]
    assert row["ari"] == "not offered by the CA"   # asked from lb1 over TLS: Debian's Pebble 2.4 has no ARI
    assert served(lab) == before
    assert 'opsready_certificate_due{certificate="demo.lab.test"} 0' in metrics.read_text()
    assert 'opsready_certificate_days_left{certificate="demo.lab.test"} %s' % row["days_left"] in metrics.read_text()


def test_check_mode_says_what_would_be_renewed_and_changes_nothing(tmp_path, lab, hosts):
    before, text = served(lab), on_lb1(hosts)
    run, evidence = renewal(tmp_path, "--check", "-e", DUE)
    assert run.returncode == 0, said(run)[-3000:]
    assert evidence["result"] == "planned (check mode)" and evidence["report"][0]["state"] == "due"
    assert "issued" not in [s["step"] for s in evidence["timeline"]]
    assert served(lab) == before and on_lb1(hosts) == text


def test_a_reload_that_fails_keeps_the_old_certificate_served_puts_it_back_and_tells_the_sink(tmp_path, lab, hosts):
    before, text = served(lab), on_lb1(hosts)
    broken = [{"name": "demo.lab.test", "names": ["demo.lab.test"], "deploy": [
        {"host": "lb1", "path": CERT, "service": "haproxy-typo",
         "serve": [{"address": lab["addresses"]["lb1"], "sni": "demo.lab.test"}]}]}]
    told = len(sink(lab))
    run, evidence = renewal(tmp_path, "-e", DUE, "-e", json.dumps({"opsready_certificates": broken}))
    text_said = said(run)
    assert run.returncode != 0
    assert 'Certificate renewal stopped at "A graceful reload"' in text_said, text_said[-3000:]
    assert "haproxy-typo" in text_said and "demo.lab.test on lb1: the previous files are back, the reload failed " \
        "too" in text_said and "the previous certificate is served again" in text_said
    assert served(lab) == before and on_lb1(hosts) == text      # still served, the file as it was
    assert evidence["result"] == "stopped" and evidence["stopped"]["server"] == "lb1"
    [note] = sink(lab)[told:]
    assert note["event"] == "failed" and "A graceful reload" in note["text"], note


def test_a_file_the_server_does_not_serve_is_taken_back_after_a_real_reload(tmp_path, lab, hosts):
    """The wrong path: written, validated, reloaded, but not what HAProxy serves. The new file is removed (there was
    none before), HAProxy reloaded, the previous certificate seen served again, and the stop says what is served."""
    before, text = served(lab), on_lb1(hosts)
    wrong = [{"name": "demo.lab.test", "names": ["demo.lab.test"], "deploy": [
        {"host": "lb1", "path": "/etc/haproxy/demo.lab.test.pem",
         "serve": [{"address": lab["addresses"]["lb1"], "sni": "demo.lab.test"}]}]}]
    told = len(sink(lab))
    run, evidence = renewal(tmp_path, "-e", DUE, "-e", "cert_renewal_verify_retries=3",
                            "-e", json.dumps({"opsready_certificates": wrong}))
    text_said = said(run)
    assert run.returncode != 0
    assert 'Certificate renewal stopped at "Every address serves the new certificate (its serial)"' in text_said, \
        text_said[-3000:]
    assert "serves %s" % before[0] in text_said and "the previous files are back, reloaded; the previous " \
        "certificate is served again" in text_said
    assert not hosts["lb1"].file("/etc/haproxy/demo.lab.test.pem").exists
    assert served(lab) == before and on_lb1(hosts) == text
    [note] = sink(lab)[told:]
    assert note["event"] == "failed" and "it must serve" in note["text"]


def test_a_failed_acme_validation_changes_nothing_on_the_servers_and_tells_the_sink(tmp_path, lab, hosts):
    before, text = served(lab), on_lb1(hosts)
    assert hosts["lb1"].run("mkdir -p /tmp/unserved/.well-known/acme-challenge").rc == 0
    told = len(sink(lab))
    run, evidence = renewal(tmp_path, "-e", DUE, "-e", json.dumps(
        {"opsready_acme_webroot": {"host": "lb1", "path": "/tmp/unserved"}}))
    text_said = said(run)
    assert run.returncode != 0
    assert 'Certificate renewal stopped at "The CA validates them and issues the certificate"' in text_said, \
        text_said[-3000:]
    assert "nothing was deployed to any server" in text_said
    assert served(lab) == before and on_lb1(hosts) == text
    assert hosts["lb1"].run("ls -A /tmp/unserved/.well-known/acme-challenge").stdout.strip() == ""   # answers removed
    [note] = sink(lab)[told:]
    assert note["event"] == "failed" and "validates" in note["text"]


def test_a_file_the_server_was_not_reloaded_with_is_said_and_nothing_is_ordered(tmp_path, lab, hosts):
    """The failure renewal tools hide: a new certificate on disk, the old one still served (no reload)."""
    before, text = served(lab), on_lb1(hosts)
    pki = pathlib.Path(lab["ca_file"]).parent   # the lab CA's certificate for lb1: another one than is served
    other = (pki / "lb1.crt").read_text() + "\n" + (pki / "lb1.key").read_text() + "\n"
    write = subprocess.run(["podman", "exec", "-i", "lb1", "sh", "-c", "cat > %s" % CERT], input=other,
                           capture_output=True, text=True, check=False)
    assert write.returncode == 0 and on_lb1(hosts) != text   # on disk only: HAProxy not reloaded
    try:
        run, evidence = renewal(tmp_path)
    finally:
        restore = subprocess.run(["podman", "exec", "-i", "lb1", "sh", "-c", "cat > %s" % CERT], input=text,
                                 capture_output=True, text=True, check=False)
    assert restore.returncode == 0 and on_lb1(hosts) == text
    text_said = said(run)
    assert run.returncode != 0 and "%s:443 serves %s, %s holds " % (lab["addresses"]["lb1"], before[0], CERT) \
        in text_said, text_said[-3000:]
    assert "reload it (nothing to order). Not renewed" in text_said
    assert evidence["report"][0]["state"] == "stale" and "issued" not in [s["step"] for s in evidence["timeline"]]
    assert served(lab) == before


NGINX = "/etc/nginx/tls/demo.lab.test"


def test_nginx_gets_the_certificate_with_its_chain_and_the_key_apart_and_serves_it(tmp_path, lab, hosts):
    """The nginx format on app1 (prepare: a TLS server on 8443 with the lab CA's certificate): the certificate and
    its chain in one file, the key alone in another (0600), nginx -t, a graceful reload, the new serial served."""
    before, on_lb1_before = served(lab, "app1", 8443), served(lab)
    declared = [{"name": "demo-nginx", "names": ["demo.lab.test"], "deploy": [
        {"host": "app1", "format": "nginx", "cert_path": NGINX + ".crt", "key_path": NGINX + ".key",
         "serve": [{"address": lab["addresses"]["app1"], "port": 8443, "sni": "demo.lab.test"}]}]}]
    run, evidence = renewal(tmp_path, "-e", DUE, "-e", json.dumps({"opsready_certificates": declared}))
    assert run.returncode == 0, said(run)[-3000:]
    after = served(lab, "app1", 8443)
    assert after != before and "Pebble" in after[1] and evidence["renewed"][0]["serial"] == after[0]
    assert evidence["result"] == "renewed: demo-nginx" and served(lab) == on_lb1_before   # lb1 not touched
    cert, key = hosts["app1"].file(NGINX + ".crt"), hosts["app1"].file(NGINX + ".key")
    assert cert.content_string.count("BEGIN CERTIFICATE") >= 2 and "PRIVATE KEY" not in cert.content_string
    assert "PRIVATE KEY" in key.content_string and "CERTIFICATE" not in key.content_string
    assert (key.mode, key.user, cert.mode) == (0o600, "root", 0o600)
    assert int(openssl(cert.content_string, "-serial").strip().split("=")[1], 16) == int(after[0], 16)
    assert hosts["app1"].run("nginx -t").rc == 0
    kept = hosts["app1"].file("/var/lib/opsready/cert_renewal/previous/demo-nginx/0")
    assert kept.is_directory and kept.mode == 0o700   # the previous files kept, outside nginx's configuration
    # the shared parent stays open to the web server (maintenance_mode's page is read there): not made 0700
    assert hosts["app1"].file("/var/lib/opsready").mode & 0o055 == 0o055


def test_a_server_that_cannot_be_reached_gets_nothing_written_and_the_run_says_so(tmp_path, lab, hosts):
    """Two servers of one certificate: lb1, then a host that refuses every connection (an inventory host whose SSH
    port is closed; what it would serve is read at app1's nginx, which the test before renewed). lb1 takes the new
    certificate and serves it; the second gets nothing, and the run stops saying that, and that lb1 already serves
    the new one; the sink is told."""
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(json.dumps({"all": {"hosts": {"ghost": {"ansible_host": "127.0.0.1", "ansible_port": 9}}}}))
    declared = [{"name": "demo.lab.test", "names": ["demo.lab.test"], "deploy": [
        {"host": "lb1", "path": CERT, "serve": [{"address": lab["addresses"]["lb1"], "sni": "demo.lab.test"}]},
        {"host": "ghost", "path": CERT, "serve": [{"address": lab["addresses"]["app1"], "port": 8443,
                                                   "sni": "demo.lab.test"}]}]}]
    before, told = served(lab), len(sink(lab))
    run, evidence = renewal(tmp_path, "-i", "inventories/lab/hosts.yml", "-i", str(ghost), "-e", DUE,
                            "-e", json.dumps({"opsready_certificates": declared}))
    text_said = said(run)
    assert run.returncode != 0
    assert "ghost could not be reached" in text_said, text_said[-3000:]
    assert "demo.lab.test on ghost: nothing was written, nothing reloaded" in text_said, text_said[-3000:]
    assert "demo.lab.test on lb1" in evidence["served_new"][0] and served(lab) != before   # lb1 serves the new one
    assert evidence["result"] == "stopped" and evidence["stopped"]["server"] == "ghost"
    [note] = sink(lab)[told:]
    assert note["event"] == "failed" and "ghost could not be reached" in note["text"], note
