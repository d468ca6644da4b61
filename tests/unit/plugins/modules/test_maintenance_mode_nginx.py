"""maintenance_mode against a real nginx (Debian's nginx-light) on loopback: the files the module writes, included
the way a site includes them, tested, read and reloaded by nginx itself, then asked the way a browser asks.

The bypass: visiting /<secret> sets the cookie and redirects to /. Behind a proxy that ends TLS (the lab's HAProxy
talks http to nginx and says X-Forwarded-Proto: https), the redirect must keep the browser on https and the cookie
must be Secure; over plain http the cookie cannot be Secure (the browser would not send it back)."""
import http.client
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance as maintenance

UNIT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "s3cret-bypass-0123456789"

CONFIG = """\
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/http/*.conf;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {dir}/tls/cert.pem;
        ssl_certificate_key {dir}/tls/key.pem;
        server_name site.test;
        include {dir}/server/*.conf;
        location = /health {{ return 200 "ok\\n"; }}
        location / {{ return 200 "app\\n"; }}
    }}
}}
"""


def _plugin(request, path):
    return request.config.pluginmanager.get_plugin(str(path))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """A running nginx whose configuration includes the module's directories, and the module's parameters for it.
    `nginx_command` is a wrapper that points nginx at this configuration; reloading is `<wrapper> -s reload`."""

    def __init__(self, directory, binary):
        self.dir, self.port, self.tls_port = directory, _free_port(), _free_port()
        for sub in ("http", "server", "state", "systemd", "tmp"):
            (directory / sub).mkdir()
        (directory / "nginx.conf").write_text(CONFIG.format(dir=directory, port=self.port, tls_port=self.tls_port))
        self.wrapper = directory / "nginx"
        self.wrapper.write_text('#!/bin/sh\nexec %s -p %s/ -e %s/error.log -c %s/nginx.conf "$@"\n'
                                % (binary, directory, directory, directory))
        self.wrapper.chmod(0o755)
        self.proc = subprocess.Popen([str(self.wrapper), "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: %s" % (directory / "error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 20 s")
                time.sleep(0.05)

    def params(self, **over):
        base = {"state": "present", "name": "site", "secret": SECRET, "bypass_cookie": "opsready_bypass",
                "bypass_header": "X-Maintenance-Bypass", "exempt_paths": ["/health", "/readyz"], "allow": [],
                "retry_after": 300, "expires": None, "reason": "CHG-1", "page": None,
                "verify_url": "http://127.0.0.1:%d/" % self.port,
                "server_dir": str(self.dir / "server"), "http_dir": str(self.dir / "http"),
                "state_dir": str(self.dir / "state"), "systemd_dir": str(self.dir / "systemd"),
                "nginx_command": str(self.wrapper), "reload_command": "%s -s reload" % self.wrapper}
        base.update(over)
        return base

    @staticmethod
    def run(argv):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        return done.returncode, done.stdout, done.stderr

    def apply(self, **over):
        return maintenance.apply(self.params(**over), self.run)

    def ask(self, path, headers=None, tls=False):
        """One request as a browser sends it (Host: site.test), no redirect followed: (status, headers, body)."""
        if tls:
            connection = http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=10,
                                                     context=ssl._create_unverified_context())
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=dict({"Host": "site.test"}, **(headers or {})))
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            connection.close()

    def settled(self, path, status, headers=None, tls=False, timeout=5):
        """ask() until nginx answers with status: after a reload its old workers may still answer a request or two
        (seen on a loaded CI machine); the last answer is returned either way, for the test to assert on."""
        deadline = time.monotonic() + timeout
        answer = self.ask(path, headers, tls)
        while answer[0] != status and time.monotonic() < deadline:
            time.sleep(0.1)
            answer = self.ask(path, headers, tls)
        return answer

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def nginx(request):
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not binary:
        _plugin(request, UNIT / "conftest.py")._missing("nginx (nginx-light)")
    # Not under pytest's own temporary directory: as root, that is mode 0700 and nginx's workers (nobody) could not
    # read the maintenance page.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="opsready-nginx-"))
    directory.chmod(0o755)
    _plugin(request, UNIT / "plugins" / "conftest.py").self_signed(directory / "tls", days=5, name="site.test")
    server = None
    try:
        server = Nginx(directory, binary)
        yield server
    finally:
        if server:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_on_and_off_through_a_real_nginx(nginx):
    """nginx -t accepts the files, nginx -T shows them read, the reload takes them; verify_url sees it."""
    result = nginx.apply()
    assert result["verified"] == ["http://127.0.0.1:%d/ -> 503" % nginx.port,
                                  "http://127.0.0.1:%d/ with the bypass header -> 200" % nginx.port]
    status, headers, body = nginx.settled("/", 503)
    assert status == 503 and headers["retry-after"] == "300" and "Down for maintenance" in body
    assert nginx.ask("/health")[0] == 200
    assert nginx.ask("/", {"X-Maintenance-Bypass": SECRET})[0] == 200
    result = nginx.apply(state="absent")
    assert result["verified"] == ["http://127.0.0.1:%d/ -> 200" % nginx.port]
    assert nginx.settled("/", 200)[0] == 200


@pytest.mark.parametrize("headers, tls, secure", [
    ({}, False, False),
    ({"X-Forwarded-Proto": "https"}, False, True),
    ({"X-Forwarded-Proto": "HTTPS, http"}, False, True),
    ({"X-Forwarded-Proto": "http"}, False, False),
    ({}, True, True),
], ids=["http", "proxy-ended-tls", "proxy-chain-first-https", "proxy-said-http", "tls-to-nginx"])
def test_the_bypass_redirect_keeps_the_scheme_and_the_cookie_is_secure_over_https(nginx, headers, tls, secure):
    """The Location is relative (/): the browser stays on the scheme, host and port it used - on https behind a
    proxy that ends TLS, where nginx itself sees http. The cookie is Secure exactly when the visit came over https,
    HttpOnly and SameSite=Lax always, and the answer is never cached (it carries the cookie)."""
    nginx.apply()
    status, answer, dummy = nginx.settled("/" + SECRET, 302, headers, tls=tls)
    assert status == 302
    assert answer["location"] == "/"
    attributes = [part.strip() for part in answer["set-cookie"].split(";")]
    assert attributes[0] == "opsready_bypass=%s" % maintenance.token("site", SECRET)
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
    assert ("Secure" in attributes) is secure, answer["set-cookie"]
    assert answer["cache-control"] == "no-store"
    # the cookie lets the browser through; without it, the maintenance page
    cookie = {"Cookie": attributes[0]}
    assert nginx.ask("/", cookie, tls=tls)[:3:2] == (200, "app\n")
    # settled: the first answer came from a new worker, the next may still come from an old one (before the reload)
    assert nginx.settled("/", 503, tls=tls)[0] == 503
