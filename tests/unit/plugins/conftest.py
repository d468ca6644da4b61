"""Small real servers on loopback for the health-check unit tests (HTTP, HTTPS with a self-signed certificate)."""
import datetime
import http.server
import json
import ssl
import threading
import time

import pytest


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /json -> {"status": "ok"}; /status/<code>; /slow/<ms>; /text; /redirect -> /json."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(int(self.path.split("/")[2]) / 1000)
            return self.reply(200, b'{"status": "ok"}')
        if self.path.startswith("/status/"):
            return self.reply(int(self.path.split("/")[2]), b'{"status": "error", "reason": "boom"}')
        if self.path == "/text":
            return self.reply(200, b"<html>not json</html>")
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self.reply(200, json.dumps({"status": "ok", "version": "1.1.0", "workers": [1, 2]}).encode())

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def http_server():
    server = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()


def self_signed(directory, days, name="localhost"):
    """A self-signed certificate for `name`, valid for `days` from now; returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="session")
def https_server(tmp_path_factory):
    """HTTPS on loopback with a self-signed certificate for 'localhost' that expires in 5 days."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), days=5)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    yield {"port": server.server_port, "cert": cert}
    server.shutdown()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
