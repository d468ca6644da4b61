"""The cert_renewal role asks the CA's renewal information (ARI, RFC 9773) with community.crypto's own modules
(get_certificate, acme_certificate_renewal_info), in check mode, on localhost: a real TLS server on loopback serves
a certificate with 80 of its 90 days left (not due by its days), and an ACME directory on loopback answers as a CA
does - with a window in the past, without ARI, with an error, or not for five minutes. Only the CA's 'renew now' makes it due; a CA
that does not answer advises nothing, within the time given."""
import base64
import datetime
import http.server
import json
import ssl
import threading
import time

import pytest

NAME = "demo.example"
ASKED = []   # the ARI paths the CA was asked


def certificate(directory):
    """A certificate for NAME, 10 days into its 90 (with the key identifiers ARI needs): (cert, key, its ARI id)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    serial = x509.random_serial_number()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(now + datetime.timedelta(days=80))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    length = serial.bit_length() // 8 + 1   # DER: a leading zero byte when the high bit is set
    return str(cert_path), str(key_path), "%s.%s" % (b64(ski.digest), b64(serial.to_bytes(length, "big")))


def b64(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CA(http.server.BaseHTTPRequestHandler):
    """/<mode>/dir: an ACME directory; with renewalInfo unless mode is 'none'. /<mode>/ari/<id>: the window in the
    past ('past'), in the future ('later'), a 500 ('broken'), or no answer for five minutes ('hang')."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, dummy, rest = self.path.strip("/").partition("/")
        base = "http://127.0.0.1:%d/%s" % (self.server.server_port, mode)
        if rest == "dir":
            directory = {"newNonce": base + "/nonce", "newAccount": base + "/account", "newOrder": base + "/order"}
            if mode != "none":
                directory["renewalInfo"] = base + "/ari"
            return self.answer(200, directory)
        ASKED.append(self.path)
        if mode == "hang":
            time.sleep(300)
        if mode == "broken":
            return self.answer(500, {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "it broke"})
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = {"past": (-2, -1), "later": (30, 31), "begun": (-1 / 1440, 3650)}[mode]
        window = {"start": (now + datetime.timedelta(days=start)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end": (now + datetime.timedelta(days=end)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        return self.answer(200, {"suggestedWindow": window, "explanationURL": "https://ca.example/incident"})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(server):
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


ROWS = [
    # name, settings, due, what the report says the CA advised
    ("a window in the past", {"mode": "past"}, True,
     "The suggested renewal interval provided by ARI is in the past. Information on renewal interval: "
     "https://ca.example/incident"),
    ("a window ahead", {"mode": "later"}, False, "The certificate is still valid and no condition was reached"),
    ("a window ahead, asked for its start", {"mode": "later", "cert_renewal_ari": "start"}, False,
     "The certificate is still valid and no condition was reached"),
    ("a window begun, asked for its start", {"mode": "begun", "cert_renewal_ari": "start"}, True,
     "The suggested renewal interval provided by ARI has begun"),
    ("a ten-year window begun a minute ago, the RFC's random time", {"mode": "begun"}, False,   # 1 in 5 million
     "The certificate is still valid and no condition was reached"),
    ("a CA without ARI", {"mode": "none"}, False, "not offered by the CA"),
    ("a CA that fails", {"mode": "broken"}, False, "not answered: "),
    ("a CA that never answers", {"mode": "hang", "cert_renewal_ari_timeout": 2}, False, "not answered: "),
    ("not asked", {"mode": "past", "cert_renewal_ari": "off"}, False, None),
    ("not asked, off unquoted in YAML", {"mode": "past", "cert_renewal_ari": False}, False, None),
]


@pytest.fixture(scope="module")
def renewed(tmp_path_factory, run_play):
    tmp_path = tmp_path_factory.mktemp("ari")
    cert, key, cert_id = certificate(tmp_path)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    serve(tls)
    ca = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), CA))
    tasks = []
    for n, (name, settings, dummy, dummy) in enumerate(ROWS):
        settings = dict(settings)
        mode = settings.pop("mode")
        variables = dict({
            "cert_renewal_certificates": [{"name": NAME, "deploy": [{
                "host": "localhost", "path": str(tmp_path / "none.pem"),
                "serve": [{"address": "127.0.0.1", "port": tls.server_port}]}]}],
            "cert_renewal_acme": {"directory": "http://127.0.0.1:%d/%s/dir" % (ca.server_port, mode),
                                  "host": "localhost", "state_dir": str(tmp_path / "acme")},
            "cert_renewal_webroot": {"host": "localhost", "path": str(tmp_path)},
            "cert_renewal_evidence_dir": str(tmp_path / "evidence" / str(n))}, **settings)
        tasks.append({"name": name, "ansible.builtin.include_role": {"name": "opsready.runbooks.cert_renewal"},
                      "vars": variables})
    run = run_play(tmp_path, tasks, options=["--check"], timeout=280)   # a hung request to the CA fails it
    tls.shutdown()
    ca.shutdown()
    assert run.returncode == 0, run.stdout[-3000:]
    return tmp_path, cert_id


@pytest.mark.parametrize("n, name, due, said", [(n,) + (row[0],) + row[2:] for n, row in enumerate(ROWS)],
                         ids=[row[0] for row in ROWS])
def test_the_cas_advice_decides_only_when_it_says_renew(renewed, n, name, due, said):
    tmp_path, dummy = renewed
    [evidence] = (tmp_path / "evidence" / str(n)).glob("cert_renewal-*.json")
    kept = json.loads(evidence.read_text())
    [row] = kept["report"]
    assert kept["result"] == "planned (check mode)" and row["due"] is due and row["days_left"] > 79, row
    if said is None:
        assert row["ari"] is None
    else:
        assert row["ari"].startswith(said), row["ari"]
    if due:
        assert row["why"].startswith("127.0.0.1:")
        assert "the CA advises renewing now (ARI: %s" % said in row["why"]
    [markdown] = (tmp_path / "evidence" / str(n)).glob("cert_renewal-*.md")
    assert "| %s" % (said or "not asked |") in markdown.read_text()   # the report's last column


def test_the_ca_was_asked_about_the_certificate_served_and_not_when_told_not_to(renewed):
    dummy, cert_id = renewed
    modes = [path.split("/")[1] for path in ASKED]
    assert set(path.split("/", 3)[3] for path in ASKED) == {cert_id}   # RFC 9773's id: key identifier . serial
    assert modes.count("past") == 1   # 'off', quoted or not, asked nothing
    assert modes.count("none") == 0   # a CA whose directory has no renewalInfo is not asked per certificate


def test_a_ca_that_never_answers_holds_the_run_only_for_the_time_given(renewed):
    """The CA keeps the request open for five minutes: the run gives up within the task's bound (2 s asked, the
    whole task 2 x 2 + 5 s) and plans by the days left."""
    tmp_path, dummy = renewed
    n = [row[0] for row in ROWS].index("a CA that never answers")
    [evidence] = (tmp_path / "evidence" / str(n)).glob("cert_renewal-*.json")
    at = {t["step"]: t["at"] for t in json.loads(evidence.read_text())["timeline"]}
    begun, planned = (datetime.datetime.fromisoformat(at[step].replace("Z", "+00:00")) for step in ("start", "plan"))
    assert (planned - begun).total_seconds() < 30, at
