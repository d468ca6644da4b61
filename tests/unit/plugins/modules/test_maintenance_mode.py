"""maintenance_mode on a temporary tree: the files it writes, idempotence, check mode, expiry units, rollback of a
change nginx rejects, bad input. The nginx and systemctl commands are a recording seam here; the lab scenario runs
the real ones."""
import datetime
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsready.runbooks.plugins.module_utils import _maintenance as maintenance
from ansible_collections.opsready.runbooks.plugins.modules import maintenance_mode

SECRET = "s3cret-bypass-0123456789"
NOW = datetime.datetime(2026, 11, 25, 16, 0, 5, tzinfo=datetime.timezone.utc)


class Host:
    """Records commands; nginx -T 'reads' the server-level file when it exists (as with a correct include)."""

    def __init__(self, tmp_path, include=True, test_rc=0):
        self.tmp, self.include, self.test_rc, self.commands = tmp_path, include, test_rc, []

    def run(self, argv):
        self.commands.append(" ".join(argv))
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
    base = {"state": "on", "name": "site", "secret": SECRET, "bypass_cookie": "opsready_bypass",
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
    assert result["changed"] is True and result["previous"] == {"state": "off"}
    assert result["maintenance"]["state"] == "on" and result["maintenance"]["since"] == "2026-11-25T16:00:05Z"
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
    assert again["maintenance"]["since"] == "2026-11-25T16:00:05Z" and again["previous"] == result["maintenance"]


def test_the_secret_stays_out_of_the_result_and_the_state_line(tmp_path, host):
    result = maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert SECRET not in json.dumps(result)
    first = (tmp_path / "server" / "site.conf").read_text().splitlines()[0]
    assert SECRET not in first and json.loads(first[len(maintenance.MARKER):])["bypass"] is True


def test_main_hides_the_secret_and_maps_yaml_on_off(tmp_path, capsys):
    args = dict(params(tmp_path, state=True), _ansible_check_mode=True, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        maintenance_mode.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert exit_info.value.code == 0 and SECRET not in out
    assert result["changed"] is True and result["maintenance"]["state"] == "on" and '"state": "off"' in result["diff"]["before"]
    assert tree(tmp_path) == []


def test_check_mode_changes_nothing(tmp_path, host):
    result = maintenance.apply(params(tmp_path), host.run, check_mode=True, now=NOW)
    assert result["changed"] is True and "check mode" in result["msg"]
    assert tree(tmp_path) == [] and host.commands == []


def test_off_removes_what_on_wrote_and_reports_what_was(tmp_path, host):
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    host.commands.clear()
    result = maintenance.apply(params(tmp_path, state="off"), host.run, now=NOW)
    assert result["changed"] is True and result["previous"]["reason"] == "CHG-1"
    assert result["maintenance"] == {"state": "off"}
    assert tree(tmp_path) == ["state/site.html"]
    assert host.commands == ["nginx -t -q", "systemctl reload nginx"]
    assert maintenance.apply(params(tmp_path, state="off"), host.run, now=NOW)["changed"] is False


def test_a_changed_secret_or_setting_is_a_change(tmp_path, host):
    maintenance.apply(params(tmp_path), host.run, now=NOW)
    assert maintenance.apply(params(tmp_path, secret="another-secret-value-42"), host.run, now=NOW)["changed"]
    assert maintenance.apply(params(tmp_path, retry_after=60, secret="another-secret-value-42"), host.run,
                             now=NOW)["changed"]


def test_expiry_writes_a_timer_the_host_runs_and_off_disarms_it(tmp_path, host):
    result = maintenance.apply(params(tmp_path, expires="2026-11-25T18:00:00+01:00"), host.run, now=NOW)
    assert result["maintenance"]["expires"] == "2026-11-25T17:00:00Z"
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
    maintenance.apply(params(tmp_path, state="off"), host.run, now=NOW)
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


@pytest.mark.parametrize("over, message", [
    ({"expires": "2026-11-25T15:00:00Z"}, "is already past (now 2026-11-25T16:00:05Z)"),
    ({"expires": "2026-11-25 17:00"}, "has no time zone; add Z for UTC"),
    ({"expires": "tomorrow"}, "is not an ISO 8601 time"),
    ({"secret": "short"}, "16 to 128 URL-safe characters"),
    ({"secret": "has spaces in it, sixteen+"}, "URL-safe"),
    ({"allow": ["10.0.0.0/8", "office"]}, "'office' is not an IP address or network"),
    ({"exempt_paths": ["health"]}, "must start with /"),
    ({"name": "My Site"}, "lower-case letters"),
    ({"bypass_cookie": "by-pass"}, "letters, digits and _ only"),
    ({"retry_after": 0}, "positive number of seconds"),
])
def test_bad_input_is_refused_before_anything_changes(tmp_path, host, over, message):
    with pytest.raises(maintenance.OpsreadyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        maintenance.apply(params(tmp_path, **over), host.run, now=NOW)
    assert tree(tmp_path) == [] and host.commands == []


def test_allowlist_and_header_render_as_geo_and_maps():
    state = maintenance.desired(params(__import__("pathlib").Path("/x"), allow=["10.0.0.0/8", "2001:db8::/32"]),
                                {"state": "off"}, NOW)
    http = maintenance.render_http("web-1", state, SECRET)
    assert "geo $opsready_mm_web_1_ip {\n    default 1;\n    10.0.0.0/8 0;\n    2001:db8::/32 0;\n}" in http
    assert "map $uri $opsready_mm_web_1 {\n    volatile;\n    default $opsready_mm_web_1_header;" in http
    assert '"~^/%s$" 0;' % SECRET in http


def test_verify_asks_nginx_and_fails_clearly_when_it_does_not_answer_503(tmp_path, host):
    answers = {(): (503, {"retry-after": "300"}), ("X-Maintenance-Bypass",): (200, {})}
    result = maintenance.apply(params(tmp_path, verify_url="http://127.0.0.1/"), host.run, now=NOW,
                               get=lambda url, headers: answers[tuple(headers)])
    assert result["verified"] == ["http://127.0.0.1/ -> 503", "http://127.0.0.1/ with the bypass header -> 200"]
    state = result["maintenance"]
    with pytest.raises(maintenance.OpsreadyError, match=r"does not answer as expected: http://127.0.0.1/ -> 200"):
        maintenance.verify(params(tmp_path, verify_url="http://127.0.0.1/"), state, lambda url, headers: (200, {}),
                           timeout=0.2)
