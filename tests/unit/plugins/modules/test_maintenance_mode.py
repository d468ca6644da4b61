"""maintenance_mode on a temporary tree: the files it writes, idempotence, check mode, expiry units, the old files
back after any failure (nginx rejecting the change, a missing binary, an unwritable directory), verification, bad
input. The nginx and systemctl commands are a recording seam here that fails the way the real ones do; the lab
scenario runs the real ones."""
import datetime
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance as maintenance
from ansible_collections.opsready.runbooks.plugins.modules import maintenance_mode

SECRET = "s3cret-bypass-0123456789"
NOW = datetime.datetime(2026, 11, 25, 16, 0, 5, tzinfo=datetime.timezone.utc)


class Host:
    """Records commands; nginx -T 'reads' the server-level file when it exists (as with a correct include).

    It fails the way a real host does: a binary in `missing` raises FileNotFoundError (what run_command raises for
    a command that does not exist), `rc` maps a command's start to the exit code it gives (127: not found through a
    shell), `raises` maps it to an exception."""

    def __init__(self, tmp_path, include=True, test_rc=0):
        self.tmp, self.include, self.test_rc, self.commands = tmp_path, include, test_rc, []
        self.missing, self.rc, self.raises = set(), {}, {}

    def run(self, argv):
        command = " ".join(argv)
        self.commands.append(command)
        if argv[0] in self.missing:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        for start, error in self.raises.items():
            if command.startswith(start):
                raise error
        for start, rc in self.rc.items():
            if command.startswith(start):
                return rc, "", "/bin/sh: 1: %s: not found" % argv[0] if rc == 127 else "failed"
        if argv[1:2] == ["-t"]:
            return self.test_rc, "", "nginx: [emerg] unexpected end of file" if self.test_rc else ""
        if argv[1:2] == ["-T"]:
            server = self.tmp / "server" / "site.conf"
            return 0, ("# configuration file %s:\n" % server) if self.include and server.exists() else "", ""
        return 0, "", ""


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def params(tmp_path, **over):
    base = {"state": "present", "name": "site", "secret": SECRET, "bypass_cookie": "opsready_bypass",
            "bypass_header": "X-Maintenance-Bypass", "exempt_paths": ["/health", "/readyz"], "allow": [],
            "retry_after": 300, "expires": None, "reason": "CHG-1", "page": None, "verify_url": None,
            "server_dir": str(tmp_path / "server"), "http_dir": str(tmp_path / "http"),
            "state_dir": str(tmp_path / "state"), "systemd_dir": str(tmp_path / "systemd"),
            "nginx_command": "nginx", "reload_command": "systemctl reload nginx"}
    base.update(over)
    return base


def tree(tmp_path):
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


def test_on_writes_the_files_tests_and_reloads_then_is_idempotent(tmp_path, host):
    result = maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert result["changed"] is True and result["before"] == {"state": "absent"}
    assert result["after"]["state"] == "present" and result["after"]["since"] == "2026-11-25T16:00:05Z"
    assert tree(tmp_path) == ["http/opsready-maintenance-site.conf", "server/site.conf", "state/site.html"]
    assert host.commands == ["nginx -t -q", "nginx -T -q", "systemctl reload nginx"]
    server = (tmp_path / "server" / "site.conf").read_text()
    assert 'add_header Retry-After "300" always;' in server and "return 503;" in server
    assert "location = /%s {" % SECRET in server
    http = (tmp_path / "http" / "opsready-maintenance-site.conf").read_text()
    assert '"/health" 0;' in http and '"/readyz" 0;' in http and "map $http_x_maintenance_bypass" in http
    assert '"~^%s$" 0;' % maintenance.token("site", SECRET) in http
    assert oct((tmp_path / "server" / "site.conf").stat().st_mode & 0o777) == "0o640"

    host.commands.clear()
    later = NOW + datetime.timedelta(minutes=5)
    again = maintenance.apply(params(tmp_path), host.run, now=later)
    assert again["changed"] is False and host.commands == []
    assert again["after"]["since"] == "2026-11-25T16:00:05Z" and again["before"] == result["after"]


def test_the_secret_stays_out_of_the_result_and_the_state_line(tmp_path, host):
    result = maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert SECRET not in json.dumps(result)
    first = (tmp_path / "server" / "site.conf").read_text().splitlines()[0]
    assert SECRET not in first and json.loads(first[len(maintenance.MARKER):])["bypass"] is True


def test_main_hides_the_secret(tmp_path, capsys):
    args = dict(params(tmp_path), _ansible_check_mode=True, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        maintenance_mode.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert exit_info.value.code == 0 and SECRET not in out
    assert result["changed"] is True and result["after"]["state"] == "present" and '"state": "absent"' in result["diff"]["before"]
    assert tree(tmp_path) == []


def test_check_mode_changes_nothing(tmp_path, host):
    result = maintenance.apply(params(tmp_path), host.run, check_mode=True, now=NOW)
    assert result["changed"] is True and "check mode" in result["msg"]
    assert tree(tmp_path) == [] and host.commands == []


def test_off_removes_what_on_wrote_and_reports_what_was(tmp_path, host):
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    host.commands.clear()
    result = maintenance.apply(params(tmp_path, state="absent"), host.run, now=NOW)
    assert result["changed"] is True and result["before"]["reason"] == "CHG-1"
    assert result["after"] == {"state": "absent"}
    assert tree(tmp_path) == ["state/site.html"]
    assert host.commands == ["nginx -t -q", "systemctl reload nginx"]
    assert maintenance.apply(params(tmp_path, state="absent"), host.run, now=NOW)["changed"] is False


def test_a_changed_secret_or_setting_is_a_change(tmp_path, host):
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert maintenance.apply(params(tmp_path, secret="another-secret-value-42"), host.run, now=NOW)["changed"]
    assert maintenance.apply(params(tmp_path, retry_after=60, secret="another-secret-value-42"), host.run,
                             now=NOW)["changed"]


def test_expiry_writes_a_timer_the_host_runs_and_off_disarms_it(tmp_path, host):
    result = maintenance.apply(params(tmp_path, expires="2026-11-25T18:00:00+01:00"), host.run, now=NOW)
    assert result["after"]["expires"] == "2026-11-25T17:00:00Z"
    assert result["timer"] == "opsready-maintenance-expire-site.timer"
    timer = (tmp_path / "systemd" / "opsready-maintenance-expire-site.timer").read_text()
    service = (tmp_path / "systemd" / "opsready-maintenance-expire-site.service").read_text()
    assert "OnCalendar=2026-11-25 17:00:00 UTC" in timer and "OnBootSec=10s" in timer
    epoch = int(datetime.datetime(2026, 11, 25, 17, tzinfo=datetime.timezone.utc).timestamp())
    assert "ExecCondition=/bin/sh -c 'test \"$$(date +%%%%s)\" -ge %d'" % epoch in service
    assert "+%%s)" in service
    assert "ExecStart=/bin/rm -f %s %s" % (tmp_path / "server" / "site.conf",
                                           tmp_path / "http" / "opsready-maintenance-site.conf") in service
    assert host.commands[-2:] == ["systemctl daemon-reload", "systemctl enable --now opsready-maintenance-expire-site.timer"]

    host.commands.clear()
    maintenance.apply(params(tmp_path, state="absent"), host.run, now=NOW)
    assert host.commands[0] == "systemctl disable --now opsready-maintenance-expire-site.timer"
    assert tree(tmp_path) == ["state/site.html"]


def test_nginx_rejecting_the_change_puts_the_old_files_back(tmp_path, host):
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    before = {p: (tmp_path / p).read_text() for p in tree(tmp_path)}
    host.test_rc = 1
    with pytest.raises(maintenance.OpsreadyError, match="nginx -t .* unexpected end of file; the previous maintenance"):
        maintenance.apply(params(tmp_path, retry_after=60), host.run, now=NOW)
    assert {p: (tmp_path / p).read_text() for p in tree(tmp_path)} == before
    assert "systemctl reload nginx" not in host.commands[3:]


def test_a_site_that_does_not_include_the_directory_is_refused(tmp_path):
    host = Host(tmp_path, include=False)
    with pytest.raises(maintenance.OpsreadyError, match=r"add `include .*/server/\*.conf;` to the server block"):
        maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert tree(tmp_path) == [] and "systemctl reload nginx" not in host.commands


def test_a_foreign_file_is_not_overwritten(tmp_path, host):
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "site.conf").write_text("location / {}\n")
    with pytest.raises(maintenance.OpsreadyError, match="was not written by maintenance_mode"):
        maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert (tmp_path / "server" / "site.conf").read_text() == "location / {}\n"


def test_allowlist_and_header_render_as_geo_and_maps():
    state = maintenance.desired(params(__import__("pathlib").Path("/x"), allow=["10.0.0.0/8", "2001:db8::/32"]),
                                {"state": "absent"}, NOW)
    http = maintenance.render_http("web-1", state, SECRET)
    assert "geo $opsready_mm_web_1_ip {\n    default 1;\n    10.0.0.0/8 0;\n    2001:db8::/32 0;\n}" in http
    assert "map $uri $opsready_mm_web_1 {\n    volatile;\n    default $opsready_mm_web_1_header;" in http
    assert '"~^/%s$" 0;' % SECRET in http


def test_the_bypass_redirects_relatively_and_its_cookie_is_secure_over_https():
    """Behind a proxy that ends TLS nginx sees http: an absolute redirect would send the browser to http, and a
    cookie without Secure would travel over http. test_maintenance_mode_nginx.py asks a real nginx."""
    state = maintenance.desired(params(__import__("pathlib").Path("/x")), {"state": "absent"}, NOW)
    http = maintenance.render_http("web-1", state, SECRET)
    assert ('map "$scheme:$http_x_forwarded_proto" $opsready_mm_web_1_secure {\n    default "";\n'
            '    "~^https:" "; Secure";\n    "~*^http:[ ]*https[ ]*(,|$)" "; Secure";\n}') in http
    server = maintenance.render_server("web-1", state, SECRET, "/x/web-1.html")
    location = server[server.index("location = /%s {" % SECRET):]
    location = location[:location.index("}\n") + 2]
    assert location == ("location = /%s {\n"
                        "    absolute_redirect off;\n"
                        '    add_header Set-Cookie "opsready_bypass=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax'
                        '$opsready_mm_web_1_secure" always;\n'
                        '    add_header Cache-Control "no-store" always;\n'
                        "    return 302 /;\n"
                        "}\n" % (SECRET, maintenance.token("web-1", SECRET)))


def test_verify_asks_nginx_and_fails_clearly_when_it_does_not_answer_503(tmp_path, host):
    answers = {(): (503, {"retry-after": "300"}), ("X-Maintenance-Bypass",): (200, {})}
    result = maintenance.apply(params(tmp_path, verify_url="http://127.0.0.1/"), host.run, now=NOW,
                               get=lambda url, headers: answers[tuple(headers)])
    assert result["verified"] == ["http://127.0.0.1/ -> 503", "http://127.0.0.1/ with the bypass header -> 200"]
    state = result["after"]
    with pytest.raises(maintenance.OpsreadyError, match=r"does not answer as expected: http://127.0.0.1/ -> 200"):
        maintenance.verify(params(tmp_path, verify_url="http://127.0.0.1/"), state, lambda url, headers: (200, {}),
                           timeout=0.2)


# ------------------------------------------------------------------ any failure after a change puts the old files back
def contents(tmp_path):
    return {p: (tmp_path / p).read_text() for p in tree(tmp_path)}


TIMER = "opsready-maintenance-expire-site.timer"


@pytest.fixture
def on(tmp_path, host):
    """Maintenance on with an expiry (the files and the timer); the commands forgotten. Returns the files."""
    maintenance.apply(params(tmp_path, expires="2026-11-25T18:00:00Z"), host.run, now=NOW)
    host.commands.clear()
    return contents(tmp_path)


def test_a_missing_nginx_binary_puts_the_old_files_back_and_rearms_the_timer(tmp_path, host, on):
    host.missing.add("nginx")
    with pytest.raises(maintenance.OpsreadyError, match=r"nginx -t .*nginx_command=nginx\) failed: No such file or "
                                                        r"directory: nginx; the previous maintenance files are back") as error:
        maintenance.apply(params(tmp_path, state="absent"), host.run, now=NOW)
    assert contents(tmp_path) == on
    assert host.commands == ["systemctl disable --now %s" % TIMER, "nginx -t -q", "systemctl daemon-reload",
                             "systemctl enable --now %s" % TIMER]
    assert "the expiry timer %s is armed again" % TIMER in str(error.value)
    assert error.value.result["changed"] is False and error.value.result["after"]["state"] == "present"


def test_a_reload_command_not_found_puts_the_old_files_back(tmp_path, host):
    host.rc["systemctl reload"] = 127
    with pytest.raises(maintenance.OpsreadyError, match=r"reloading nginx .*reload_command.* failed \(rc=127\): "
                                                        r"/bin/sh: 1: systemctl: not found; the previous maintenance"):
        maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert tree(tmp_path) == []


def test_an_exception_from_a_command_puts_the_old_files_back(tmp_path, host, on):
    """Not only this collection's own error: whatever the reload raises (here the shlex error of a bad quote)."""
    host.raises["systemctl reload"] = ValueError("No closing quotation")
    with pytest.raises(maintenance.OpsreadyError, match=r"reloading nginx .* failed: ValueError: No closing quotation; "
                                                        r"the previous maintenance files are back"):
        maintenance.apply(params(tmp_path, state="absent"), host.run, now=NOW)
    assert contents(tmp_path) == on


def test_an_unwritable_directory_puts_back_what_was_already_written(tmp_path, host, on, monkeypatch):
    written = maintenance._write

    def write(path, content, mode):
        if path.startswith(str(tmp_path / "server")):
            raise PermissionError(13, "Permission denied", path)
        written(path, content, mode)

    monkeypatch.setattr(maintenance, "_write", write)
    with pytest.raises(maintenance.OpsreadyError, match=r"writing the maintenance files failed: .*Permission denied.*"
                                                        r"; the previous maintenance files are back"):
        maintenance.apply(params(tmp_path, expires="2026-11-25T18:00:00Z", allow=["10.0.0.0/8"]), host.run, now=NOW)
    assert contents(tmp_path) == on   # the http-level file, written first, is the old one again
    assert "nginx -t -q" not in host.commands and host.commands[-1] == "systemctl enable --now %s" % TIMER


def test_a_directory_that_cannot_be_made_leaves_nothing_behind(tmp_path, host):
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(maintenance.OpsreadyError, match="writing the maintenance files failed: .*; the previous"):
        maintenance.apply(params(tmp_path, server_dir=str(tmp_path / "not-a-dir" / "server")), host.run, now=NOW)
    assert tree(tmp_path) == ["not-a-dir"] and host.commands == []


def test_a_failure_after_the_reload_puts_the_old_files_back_and_reloads_them(tmp_path, host):
    host.rc["systemctl enable"] = 1
    with pytest.raises(maintenance.OpsreadyError, match=r"arming the expiry timer .* failed \(rc=1\).*; the previous "
                                                        r"maintenance files are back, .*, nginx reloaded with them") as error:
        maintenance.apply(params(tmp_path, expires="2026-11-25T18:00:00Z"), host.run, now=NOW)
    assert tree(tmp_path) == []
    assert host.commands == ["nginx -t -q", "nginx -T -q", "systemctl reload nginx", "systemctl daemon-reload",
                             "systemctl enable --now %s" % TIMER, "systemctl disable --now %s" % TIMER,
                             "systemctl daemon-reload", "systemctl reload nginx"]
    assert error.value.result["after"] == {"state": "absent"}


def test_main_with_a_missing_nginx_binary_changes_nothing(tmp_path, capsys):
    """The module's own run_command: a binary that does not exist must not end the module with the files left."""
    args = params(tmp_path, nginx_command=str(tmp_path / "no-such-nginx"), reload_command="true")
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        maintenance_mode.main()
    result = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 1 and "nginx_command" in result["msg"]
    assert "the previous maintenance files are back" in result["msg"]
    assert tree(tmp_path) == []


# ---------------------------------------------------------------------------------------------------- verification
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_turning_off_needs_an_answer_that_is_not_maintenance(tmp_path, host, on):
    """Issue 9: "nothing answered" counted as verified when turning maintenance off."""
    clock = Clock()

    def refused(url, headers):
        return "<urlopen error [Errno 111] Connection refused>", {}

    with pytest.raises(maintenance.OpsreadyError) as error:
        maintenance.apply(params(tmp_path, state="absent", verify_url="http://127.0.0.1/"), host.run, now=NOW,
                          get=refused, clock=clock, sleep=clock.sleep)
    message = str(error.value)
    assert "verify_url: maintenance site was turned off, but nginx does not answer as expected" in message
    assert "http://127.0.0.1/ -> <urlopen error [Errno 111] Connection refused>" in message
    assert "Left: this host is out of maintenance (its files removed, nginx reloaded)" in message
    assert error.value.result["changed"] is True and error.value.result["after"] == {"state": "absent"}
    assert tree(tmp_path) == ["state/site.html"] and clock.now >= 10


def test_turning_off_answered_by_the_app_is_verified(tmp_path, host, on):
    result = maintenance.apply(params(tmp_path, state="absent", verify_url="http://127.0.0.1/"), host.run, now=NOW,
                               get=lambda url, headers: (200, {}))
    assert result["verified"] == ["http://127.0.0.1/ -> 200"]


def test_a_bypass_request_without_an_answer_is_not_verified(tmp_path, host):
    clock = Clock()
    answers = {(): (503, {"retry-after": "300"}), ("X-Maintenance-Bypass",): ("timed out", {})}
    with pytest.raises(maintenance.OpsreadyError, match=r"with the bypass header -> timed out.*Left: this host is in "
                                                        r"maintenance \(its files in place, nginx reloaded; no expiry"):
        maintenance.apply(params(tmp_path, verify_url="http://127.0.0.1/"), host.run, now=NOW,
                          get=lambda url, headers: answers[tuple(headers)], clock=clock, sleep=clock.sleep)


def test_verify_url_on_an_exempt_path_is_fine_for_turning_maintenance_off(tmp_path, host):
    """Off, any answer other than 503 verifies, an exempt path's too: nothing to refuse."""
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    result = maintenance.apply(params(tmp_path, state="absent", verify_url="http://127.0.0.1/health"), host.run,
                               now=NOW, get=lambda url, headers: (200, {}))
    assert result["after"] == {"state": "absent"} and result["verified"] == ["http://127.0.0.1/health -> 200"]


# ------------------------------------------------------------------------------------------------------ bad input
DROP = object()

# (id, options given, the option the message names, a part of the message); {tmp} is the test's directory
BAD_INPUT = [
    ("state-missing", {"state": DROP}, "state", "missing required arguments: state"),
    ("state-boolean-true", {"state": True}, "state", "must be one of: present, absent"),
    ("state-on", {"state": "on"}, "state", "must be one of: present, absent"),
    ("name-slash", {"name": "web/site"}, "name", "lower-case letters"),
    ("name-newline", {"name": "site\n"}, "name", "lower-case letters"),
    ("name-space", {"name": "my site"}, "name", "lower-case letters"),
    ("name-empty", {"name": ""}, "name", "lower-case letters"),
    ("secret-short", {"secret": "short"}, "secret", "16 to 128 URL-safe characters"),
    ("secret-quote", {"secret": 'abcdefghijklmnop"'}, "secret", "URL-safe"),
    ("secret-newline", {"secret": "abcdefghijklmnop\n"}, "secret", "URL-safe"),
    ("secret-space", {"secret": "has spaces in it, sixteen+"}, "secret", "URL-safe"),
    ("bypass-cookie-dash", {"bypass_cookie": "by-pass"}, "bypass_cookie", "letters, digits and _ only"),
    ("bypass-cookie-separator", {"bypass_cookie": "by;pass"}, "bypass_cookie", "letters, digits and _ only"),
    ("bypass-cookie-newline", {"bypass_cookie": "bypass\n"}, "bypass_cookie", "letters, digits and _ only"),
    ("bypass-header-space", {"bypass_header": "X Bypass"}, "bypass_header", "letters, digits and - only"),
    ("bypass-header-colon", {"bypass_header": "X-Bypass:"}, "bypass_header", "letters, digits and - only"),
    ("bypass-header-underscore", {"bypass_header": "X_Bypass"}, "bypass_header", "letters, digits and - only"),
    ("bypass-header-newline", {"bypass_header": "X-Bypass\n"}, "bypass_header", "letters, digits and - only"),
    ("exempt-path-relative", {"exempt_paths": ["/health", "readyz"]}, "exempt_paths", "must start with /"),
    ("exempt-path-newline", {"exempt_paths": ["/health\n"]}, "exempt_paths", "URL-safe"),
    ("exempt-path-quote", {"exempt_paths": ['/he"alth']}, "exempt_paths", "URL-safe"),
    ("exempt-path-empty", {"exempt_paths": [""]}, "exempt_paths", "must start with /"),
    ("allow-a-name", {"allow": ["10.0.0.0/8", "office"]}, "allow", "'office' is not an IP address or network"),
    ("allow-prefix-too-long", {"allow": ["10.0.0.0/33"]}, "allow", "is not an IP address or network"),
    ("allow-newline", {"allow": ["10.0.0.1\n"]}, "allow", "is not an IP address or network"),
    ("retry-after-zero", {"retry_after": 0}, "retry_after", "positive number of seconds"),
    ("retry-after-negative", {"retry_after": -30}, "retry_after", "positive number of seconds"),
    ("expires-unparsable", {"expires": "tomorrow"}, "expires", "is not an ISO 8601 time"),
    ("expires-no-time-zone", {"expires": "2026-11-25 17:00"}, "expires", "has no time zone; add Z for UTC"),
    ("expires-past", {"expires": "2000-01-01T00:00:00Z"}, "expires", "is already past"),
    ("verify-url-no-scheme", {"verify_url": "127.0.0.1/"}, "verify_url", "http:// or https://"),
    ("verify-url-ftp", {"verify_url": "ftp://127.0.0.1/"}, "verify_url", "http:// or https://"),
    ("verify-url-no-host", {"verify_url": "http:///health"}, "verify_url", "with a host"),
    ("verify-url-space", {"verify_url": "http://127.0.0.1/ health"}, "verify_url", "space or control character"),
    ("verify-url-newline", {"verify_url": "http://127.0.0.1/\n"}, "verify_url", "space or control character"),
    ("verify-url-bad-port", {"verify_url": "http://127.0.0.1:99999/"}, "verify_url", "port"),
    # an exempt path answers normally during maintenance: the 503 could never be seen there
    ("verify-url-exempt", {"verify_url": "http://127.0.0.1/health"}, "verify_url", "/health is one of exempt_paths"),
    ("verify-url-exempt-encoded", {"verify_url": "http://127.0.0.1/%72eadyz"}, "verify_url",
     "/readyz is one of exempt_paths"),
    ("verify-url-exempt-given", {"exempt_paths": ["/ping"], "verify_url": "https://127.0.0.1:8443/ping"}, "verify_url",
     "/ping is one of exempt_paths"),
    ("reload-command-bad-quote", {"reload_command": "systemctl reload 'nginx"}, "reload_command",
     "cannot be parsed: No closing quotation"),
    ("reload-command-empty", {"reload_command": ""}, "reload_command", "is empty"),
    ("reload-command-newline", {"reload_command": "systemctl reload nginx\nExecStart=/bin/sh"}, "reload_command",
     "control character"),
    ("nginx-command-empty", {"nginx_command": ""}, "nginx_command", "is empty"),
    ("nginx-command-newline", {"nginx_command": "nginx\n"}, "nginx_command", "control character"),
    ("server-dir-relative", {"server_dir": "nginx/maintenance"}, "server_dir", "absolute"),
    ("state-dir-space", {"state_dir": "{tmp}/my state"}, "state_dir", "would break"),
    ("http-dir-semicolon", {"http_dir": "{tmp}/conf;d"}, "http_dir", "would break"),
    ("systemd-dir-newline", {"systemd_dir": "{tmp}/systemd\n"}, "systemd_dir", "would break"),
]


@pytest.mark.parametrize("over, option, message", [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_refused_before_anything_changes(tmp_path, capsys, monkeypatch, over, option, message):
    commands = []
    monkeypatch.setattr(maintenance_mode.AnsibleModule, "run_command",
                        lambda self, args, **kwargs: commands.append(args) or (1, "", "no command runs in this test"))
    args = params(tmp_path)
    args.update({key: value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value
                 for key, value in over.items()})
    args = {key: value for key, value in args.items() if value is not DROP}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        maintenance_mode.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert exit_info.value.code == 1 and result["failed"] is True
    assert option in result["msg"] and message in result["msg"], result["msg"]
    assert tree(tmp_path) == [] and commands == []
    assert "abcdefghijklmnop" not in out and SECRET not in out
