import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.opsready.runbooks.plugins.filter.maintenance_bypass import maintenance_bypass

CHECKS = [
    {"name": "users", "http": {"url": "https://demo.lab.test/api/items"}},
    {"name": "tokened", "http": {"url": "https://x/", "secret_headers": {"Authorization": "Bearer t"}}},
    {"name": "own header", "http": {"url": "https://x/", "headers": {"x-maintenance-bypass": "mine"}}},
    {"name": "db", "postgres": {"login_host": "db1"}},
]


def test_every_http_check_sends_the_secret_as_a_secret_header_and_the_rest_is_untouched():
    out = maintenance_bypass(CHECKS, "s3cret")
    assert out[0]["http"] == {"url": "https://demo.lab.test/api/items",
                              "secret_headers": {"X-Maintenance-Bypass": "s3cret"}}
    assert out[1]["http"]["secret_headers"] == {"Authorization": "Bearer t", "X-Maintenance-Bypass": "s3cret"}
    assert "X-Maintenance-Bypass" not in out[2]["http"]["secret_headers"]   # its own value wins, any case
    assert out[3] == CHECKS[3]
    assert CHECKS[0]["http"] == {"url": "https://demo.lab.test/api/items"}   # the input is not changed


def test_another_header_name():
    assert maintenance_bypass(CHECKS[:1], "s", header="X-Bypass")[0]["http"]["secret_headers"] == {"X-Bypass": "s"}


@pytest.mark.parametrize("secret", ["", None])
def test_without_a_secret_the_maintenance_503_is_expected_instead(secret):
    out = maintenance_bypass(CHECKS, secret)
    assert [c["http"].get("maintenance_expected") for c in out[:3]] == [True, True, True]
    assert "secret_headers" not in out[0]["http"] and out[3] == CHECKS[3]


@pytest.mark.parametrize("checks, header, message", [
    ({"name": "x"}, "X-B", "must be a list"),
    (["x"], "X-B", "must be a list"),
    (None, "X-B", "must be a list"),
    ([], "", "header name"),
    ([], "X B", "header name"),
    ([], "X:B", "header name"),
    ([], "X-B\r\nInjected: 1", "header name"),
    ([], 7, "header name"),
])
def test_bad_input_is_refused(checks, header, message):
    with pytest.raises(AnsibleFilterError, match=message):
        maintenance_bypass(checks, "s", header=header)
