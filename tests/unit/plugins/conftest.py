"""Small real servers on loopback for the health-check unit tests: HTTP and HTTPS that behave, and ones that do not
(trickling bytes, never answering, redirect loops, huge bodies, maintenance pages, expired or wrong-host
certificates). Every misbehaving server stops by itself: at most 60 bytes, at most 30 s per connection."""
import datetime
import http.server
import json
import socket
import socketserver
import ssl
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils._maintenance import DEFAULT_PAGE

HUGE = json.dumps({"status": "ok", "pad": "x" * (3 << 19)}).encode()  # valid JSON of 1.5 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /json -> {"status": "ok"}; /status/<code>; /slow/<ms>; /text; /redirect -> /json; /loop -> /loop;
    /chain/<n> -> /chain/<n-1> ... /chain/0 (JSON); /slowchain/<n>: the same, 0.6 s per hop; /redirect-to?url=<url>;
    /headers (the request's headers as JSON, names lower-cased); /huge (1.5 MiB of JSON); /flags (numbers and
    booleans); /maintenance (503 + Retry-After + maintenance_mode's page); /maintenance-page (the page alone);
    /overloaded (a load balancer's 503)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.startswith("/slow/"):
            time.sleep(int(path.split("/")[2]) / 1000)
            return self.reply(200, b'{"status": "ok"}')
        if path.startswith("/status/"):
            return self.reply(int(path.split("/")[2]), b'{"status": "error", "reason": "boom"}')
        if path == "/text":
            return self.reply(200, b"<html>not json</html>")
        if path == "/redirect":
            return self.redirect("/json")
        if path == "/loop":
            return self.redirect("/loop")
        if path.startswith(("/chain/", "/slowchain/")):
            hops = int(path.split("/")[2])
            if path.startswith("/slowchain/"):
                time.sleep(0.6)
            return self.redirect("/%s/%d" % (path.split("/")[1], hops - 1)) if hops else self.json({"status": "ok"})
        if path == "/redirect-to":
            return self.redirect(parse_qs(urlsplit(self.path).query)["url"][0])
        if path == "/headers":
            return self.json({key.lower(): value for key, value in self.headers.items()})
        if path == "/huge":
            return self.reply(200, HUGE)
        if path == "/flags":
            return self.json({"enabled": 1, "disabled": 0, "really": True, "list": [1, 0], "count": 1})
        if path == "/maintenance":
            return self.reply(503, DEFAULT_PAGE.encode(), {"Retry-After": "300", "Content-Type": "text/html"})
        if path == "/maintenance-page":
            return self.reply(503, DEFAULT_PAGE.encode(), {"Content-Type": "text/html"})
        if path == "/overloaded":
            return self.reply(503, b"<html><body><h1>503 Service Unavailable</h1>\nNo server is available to "
                                   b"handle this request.\n</body></html>", {"Content-Type": "text/html"})
        return self.json({"status": "ok", "version": "1.1.0", "workers": [1, 2]})

    do_POST = do_GET

    def json(self, document):
        return self.reply(200, json.dumps(document).encode())

    def redirect(self, location):
        return self.reply(302, b"", {"Location": location})

    def reply(self, status, body, headers=None):
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(server):
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def http_server():
    server = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()


@pytest.fixture(scope="session")
def other_http_server():
    """The same server on another port: another origin."""
    server = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()


def self_signed(directory, days, name="localhost", age_days=0):
    """A self-signed certificate for `name`, issued `age_days` ago and valid until `days` from now (negative:
    expired); returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=age_days, minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _https(cert, key):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return _serve(server)


@pytest.fixture(scope="session")
def https_server(tmp_path_factory):
    """HTTPS on loopback with a self-signed certificate for 'localhost' that expires in 5 days."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), days=5)
    server = _https(cert, key)
    yield {"port": server.server_port, "cert": cert}
    server.shutdown()


@pytest.fixture(scope="session")
def bad_tls_servers(tmp_path_factory):
    """HTTPS servers whose certificates are wrong: expired yesterday, or issued for another name. Each entry has
    the port and the certificate (to trust it as its own CA)."""
    base = tmp_path_factory.mktemp("bad-tls")
    servers = {}
    for name, options in {"expired": {"days": -1, "age_days": 30},
                          "wrong_host": {"days": 90, "name": "other.example"}}.items():
        cert, key = self_signed(base / name, **options)
        servers[name] = {"server": _https(cert, key), "cert": cert}
        servers[name]["port"] = servers[name]["server"].server_port
    yield servers
    for entry in servers.values():
        entry["server"].shutdown()


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def raw_server(behaviour):
    """A TCP server on loopback whose every connection gets behaviour(sock); counts its connections."""
    class RawHandler(socketserver.BaseRequestHandler):
        def handle(self):
            self.server.accepted += 1
            self.request.settimeout(30)
            try:
                behaviour(self.request)
            except OSError:  # the client went away
                pass

    server = _RawServer(("127.0.0.1", 0), RawHandler)
    server.server_port, server.accepted = server.server_address[1], 0
    return _serve(server)


def silent(sock):
    """Accept and never answer; hold the connection until the client leaves (or 30 s)."""
    while sock.recv(4096):
        pass


def trickle(data):
    """Read the request, then send `data` one byte every 0.5 s."""
    def behaviour(sock):
        sock.recv(4096)
        for byte in data[:60]:
            sock.sendall(bytes([byte]))
            time.sleep(0.5)
    return behaviour


@pytest.fixture(scope="session")
def misbehaving():
    """Servers that hold a client as long as its timeouts let them: {name: server} (server.server_port,
    server.accepted). silent: never answers (HTTP, TLS handshake, PostgreSQL, Redis all wait for it);
    trickle: a valid HTTP answer, one byte every 0.5 s (30 s in all); tls_trickle: a TLS record announced, then
    one byte every 0.5 s."""
    servers = {"silent": raw_server(silent),
               "trickle": raw_server(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n" + b'{"status": "ok"}')),
               "tls_trickle": raw_server(trickle(b"\x16\x03\x03\x3f\xff" + b"\x00" * 55))}
    yield servers
    for server in servers.values():
        server.shutdown()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
