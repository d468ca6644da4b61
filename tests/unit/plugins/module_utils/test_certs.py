"""Certificate renewal's planning as pure functions: the declaration checked with its defaults (a bad-input table),
due or not (days left, a third of the lifetime, names, expired), the plan from tls check results (a server that
cannot be read is unknown, never ordered), the review windows and the Prometheus metrics."""
import datetime

import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils import _certs
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)
DEMO = {"name": "demo.lab.test", "deploy": [{"host": "lb1", "path": "/etc/haproxy/certs/demo.lab.test.pem"}]}


def test_a_declaration_gets_its_defaults():
    [cert] = _certs.certificates([DEMO])
    assert cert == {"name": "demo.lab.test", "names": ["demo.lab.test"], "key_type": "ecdsa", "rotate_key": False,
                    "deploy": [{"host": "lb1", "format": "haproxy", "path": "/etc/haproxy/certs/demo.lab.test.pem",
                                "owner": "root", "group": "root", "service": "haproxy",
                                "validate": ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"],
                                "serve": [{"address": "lb1", "port": 443, "sni": "demo.lab.test"}]}]}


def test_nginx_keeps_the_key_apart():
    [cert] = _certs.certificates([{"name": "api", "names": ["api.example.com"], "deploy": [
        {"host": "web1", "format": "nginx", "cert_path": "/etc/nginx/tls/api.crt", "key_path": "/etc/nginx/tls/api.key",
         "serve": [{"address": "10.0.0.5", "port": 8443}]}]}])
    deploy = cert["deploy"][0]
    assert (deploy["cert_path"], deploy["key_path"], deploy["validate"], deploy["service"]) == (
        "/etc/nginx/tls/api.crt", "/etc/nginx/tls/api.key", ["nginx", "-t"], "nginx")
    assert deploy["serve"] == [{"address": "10.0.0.5", "port": 8443, "sni": "api.example.com"}]


def deploy(**changed):
    return [dict(DEMO, deploy=[dict(DEMO["deploy"][0], **changed)])]


BAD = [
    ("nothing declared", [], "cert_renewal_certificates must list at least one certificate"),
    ("not a list", {"name": "x"}, "cert_renewal_certificates must list at least one certificate"),
    ("a name with a slash", [dict(DEMO, name="../etc")], "name must be letters, digits, _ . - (at most 64"),
    ("a name twice", [DEMO, DEMO], "certificate demo.lab.test is declared twice"),
    ("a wildcard", [dict(DEMO, names=["*.lab.test"])], "names must list DNS names with a dot (no wildcard"),
    ("a name with a space", [dict(DEMO, names=["demo lab"])], "names must list DNS names"),
    ("a name with a newline", [dict(DEMO, names=["demo.lab.test\n"])], "names must list DNS names"),
    ("an address as a name", [dict(DEMO, names=["10.0.0.1"])], "names must list DNS names with a dot"),
    ("names as text", [dict(DEMO, names="demo.lab.test")], "names must list DNS names with a dot"),
    ("rotate_key as text", [dict(DEMO, rotate_key="false")], "rotate_key must be true or false, got 'false'"),
    ("an unknown key", [dict(DEMO, formt="nginx")], "certificate demo.lab.test: unknown key formt (known: deploy,"),
    ("an unknown deploy key", deploy(formt="nginx"), "certificate demo.lab.test on lb1: unknown key formt"),
    ("an owner as a list", deploy(owner=["root"]), "owner must be a user or group name, got ['root']"),
    ("an owner with a space", deploy(owner="www data"), "owner must be a user or group name, got 'www data'"),
    ("a path with two slashes", deploy(path="//etc/haproxy/a.pem"), "path must be an absolute path"),
    ("an empty service", deploy(service=""), "service must be a systemd unit's name, got ''"),
    ("a path that is a directory", deploy(path="/etc/haproxy/certs/"), "path must be an absolute path to a file"),
    ("one file for the certificate and the key",
     deploy(format="nginx", cert_path="/etc/nginx/a.pem", key_path="/etc/nginx/a.pem"), "cert_path and key_path must"),
    ("one file for two certificates", [DEMO, dict(DEMO, name="other.lab.test")],
     "certificate other.lab.test: lb1:/etc/haproxy/certs/demo.lab.test.pem is declared twice (also demo.lab.test's)"),
    ("a key type", [dict(DEMO, key_type="dsa")], "key_type must be one of ecdsa, rsa, got 'dsa'"),
    ("no deploy", [dict(DEMO, deploy=[])], "deploy must list where it is deployed"),
    ("a relative path", deploy(path="certs/demo.pem"), "path must be an absolute path"),
    ("a path that climbs", deploy(path="/etc/haproxy/../shadow"), "path must be an absolute path"),
    ("a path with a space", deploy(path="/etc/haproxy/my cert.pem"), "path must be an absolute path"),
    ("a threshold as words", None, "cert_renewal_days must be a number of days"),
    ("nginx without a key path", deploy(format="nginx", cert_path="/etc/nginx/a.crt"), "key_path must be an absolute"),
    ("a format", deploy(format="apache"), "format must be haproxy (one PEM"),
    ("a host with a space", deploy(host="lb 1"), "host must be an inventory host"),
    ("a validate string", deploy(validate="haproxy -c"), "validate must be a command as a list of words"),
    ("port 0", deploy(serve=[{"port": 0}]), "serve port must be from 1 to 65535, got 0"),
    ("a port as text", deploy(serve=[{"port": "443"}]), "serve port must be from 1 to 65535, got '443'"),
    ("an sni with a space", deploy(serve=[{"sni": "a b"}]), "serve sni must be a DNS name"),
    ("a negative threshold", None, "cert_renewal_days must be a number of days from 0 to 3650, got -1"),
    ("one address for two servers", [dict(DEMO, deploy=[DEMO["deploy"][0], dict(DEMO["deploy"][0], host="lb2",
                                                                                serve=[{"address": "lb1"}])])],
     "certificate demo.lab.test: lb1:443 is named twice as serving it (on lb1, on lb2): each address is one server"),
    ("one address twice on a server", deploy(serve=[{"address": "10.0.0.1"}, {"address": "10.0.0.1", "sni": "a.b"}]),
     "10.0.0.1:443 is named twice as serving it (on lb1, on lb1)"),
]


@pytest.mark.parametrize("declared, message", [(row[1], row[2]) for row in BAD], ids=[row[0] for row in BAD])
def test_bad_declarations_are_refused_before_anything_is_read(declared, message):
    with pytest.raises(OpsreadyError) as caught:
        if declared is None:
            _certs.certificates([DEMO], renew_days="soon" if "words" in message else -1)
        else:
            _certs.certificates(declared)
    assert message in str(caught.value) and str(caught.value).endswith("Nothing was changed.")
    assert caught.value.result["step"] is True


def test_a_host_not_in_the_inventory_is_refused():
    with pytest.raises(OpsreadyError, match="certificate demo.lab.test: deploy names lb1, not in the inventory"):
        _certs.certificates([DEMO], inventory=["lb2", "app1"])
    assert _certs.certificates([DEMO], inventory=["lb1"])[0]["deploy"][0]["host"] == "lb1"


def test_every_problem_is_said_at_once():
    with pytest.raises(OpsreadyError) as caught:
        _certs.certificates([dict(DEMO, key_type="dsa", names=["a b"])], renew_days=4000)
    assert str(caught.value).count("; ") == 3   # the names, the key type, and the sni (the first name)


def test_the_table_is_as_long_as_we_say():
    assert len({row[0] for row in BAD}) == len(BAD) == 35


def served(days_left, lifetime_days=90, names=("demo.lab.test",), serial="1A"):
    not_after = NOW + datetime.timedelta(days=days_left)
    return {"not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), "serial": serial, "sha256": "ab",
            "not_before": (not_after - datetime.timedelta(days=lifetime_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "names": list(names), "issuer": "CN=Pebble Intermediate CA"}


@pytest.mark.parametrize("observed, due, why", [
    (served(60), False, "60 days left (renewed below 30, or a third of its 90-day lifetime)"),
    (served(29.5), True, "29.5 days left, fewer than 30"),
    (served(200, lifetime_days=365), False, "200 days left"),
    (served(200, lifetime_days=900), True, "200 days left, less than a third of its 900-day lifetime"),
    (served(0.5, lifetime_days=1), False, "0.5 days left"),       # with renew_days 0: a third of a day is left
    (served(-1), True, "expired on 2026-11-26T12:00:00Z"),
    (served(60, names=["other.lab.test"]), True, "does not cover demo.lab.test"),
    (served(60, names=["*.lab.test"]), False, "60 days left"),
])
def test_due_or_not(observed, due, why):
    verdict = _certs.due(observed, ["demo.lab.test"], NOW, renew_days=0 if observed["not_after"].startswith(
        "2026-11-28") else 30)
    assert verdict["due"] is due and verdict["why"].startswith(why), verdict


def result(name, observed=None, reason="certificate valid"):
    return {"name": name, "observed": observed or {}, "reason": reason}


TWO = _certs.certificates([dict(DEMO, deploy=[dict(DEMO["deploy"][0], serve=[{"address": "10.0.0.10"},
                                                                             {"address": "10.0.0.11"}])])])


def test_one_server_due_makes_the_certificate_due_and_the_soonest_is_reported():
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(80, serial="A1")),
                             result("demo.lab.test@10.0.0.11:443", served(10, serial="B2"))], NOW)
    [row] = plan["certificates"]
    assert plan["due"] == ["demo.lab.test"] and row["state"] == "due" and row["days_left"] == 10.0
    assert row["why"] == "10.0.0.11:443: 10 days left, fewer than 30" and row["serials"] == ["A1", "B2"]
    assert row["window"] == "alert" and plan["text"].startswith("demo.lab.test: due (10.0.0.11:443: 10 days left")


def test_a_server_that_cannot_be_read_is_unknown_and_never_ordered():
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(10)),
                             result("demo.lab.test@10.0.0.11:443", reason="connection refused")], NOW)
    [row] = plan["certificates"]
    assert plan["due"] == [] and plan["unknown"] == ["demo.lab.test"] and row["state"] == "unknown"
    assert row["why"] == "cannot read 10.0.0.11:443 (connection refused)"
    plan = _certs.plan(TWO, [], NOW)
    assert plan["unknown"] == ["demo.lab.test"] and plan["certificates"][0]["window"] == "unknown"


def test_not_due_is_said_with_the_days_left():
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(50)),
                             result("demo.lab.test@10.0.0.11:443", served(50))], NOW)
    assert plan["due"] == [] and plan["certificates"][0]["state"] == "ok"
    assert plan["certificates"][0]["window"] == "ok" and plan["certificates"][0]["why"].startswith("50 days left")


@pytest.mark.parametrize("days, window", [(None, "unknown"), (-2, "expired"), (-0.1, "expired"), (0, "alert"), (21, "alert"),
                                          (21.1, "review"), (45, "review"), (46, "ok")])
def test_the_review_windows(days, window):
    assert _certs.window(days) == window


def test_the_checks_read_every_server_untrusted_too():
    tls = {"port": 443, "server_name": "demo.lab.test", "validate_certs": False}
    assert _certs.checks(TWO) == [
        {"name": "demo.lab.test@10.0.0.10:443", "tls": dict(tls, host="10.0.0.10")},
        {"name": "demo.lab.test@10.0.0.11:443", "tls": dict(tls, host="10.0.0.11")}]


def test_metrics_in_the_textfile_format():
    rows = [{"name": "demo.lab.test", "days_left": 12.5, "due": True, "state": "due"},
            {"name": 'odd"name', "days_left": None, "due": False, "state": "unknown"}]
    assert _certs.metrics(rows).splitlines() == [
        "# HELP opsready_certificate_days_left Days until the certificate expires, the soonest of its servers.",
        "# TYPE opsready_certificate_days_left gauge",
        'opsready_certificate_days_left{certificate="demo.lab.test"} 12.5',
        "# HELP opsready_certificate_due Whether the certificate is due for renewal (1), or could not be read (-1).",
        "# TYPE opsready_certificate_due gauge",
        'opsready_certificate_due{certificate="demo.lab.test"} 1',
        'opsready_certificate_due{certificate="odd\\"name"} -1']


def disk(cert, host, serial=None):
    deploy = {"host": host, "path": "/etc/haproxy/certs/demo.lab.test.pem"}
    return {"item": [cert, deploy], "serial_number": serial} if serial is not None else \
        {"item": [cert, deploy], "failed": True, "msg": "no such file"}


def test_a_server_that_serves_another_certificate_than_its_file_holds_is_stale_and_not_ordered():
    [cert] = _certs.certificates([DEMO])
    results = [result("demo.lab.test@lb1:443", served(60, serial="1A"))]
    plan = _certs.plan([cert], results, NOW, on_disk=[disk(cert, "lb1", 0x2B)])
    [row] = plan["certificates"]
    assert plan["stale"] == ["demo.lab.test"] and plan["due"] == [] and row["state"] == "stale"
    assert row["why"] == "lb1:443 serves 1A, /etc/haproxy/certs/demo.lab.test.pem holds 2B: reload it (nothing to order)"
    assert row["files"] == {"lb1:/etc/haproxy/certs/demo.lab.test.pem": "2B"}
    assert _certs.plan([cert], results, NOW, on_disk=[disk(cert, "lb1", 0x1A)])["certificates"][0]["state"] == "ok"
    assert _certs.plan([cert], results, NOW, on_disk=[disk(cert, "lb1")])["certificates"][0]["state"] == "ok"
    due = _certs.plan([cert], [result("demo.lab.test@lb1:443", served(5, serial="1A"))], NOW,
                      on_disk=[disk(cert, "lb1", 0x2B)])
    assert due["due"] == ["demo.lab.test"] and due["stale"] == []   # due: the renewal writes and reloads anyway
    with pytest.raises(OpsreadyError, match="on_disk: each result's item is"):
        _certs.plan([cert], results, NOW, on_disk=[{"serial_number": 1}])


def test_a_threshold_given_as_text_is_taken():
    assert _certs.certificates([DEMO], renew_days="45")[0]["name"] == "demo.lab.test"
    assert _certs.due(served(40), ["demo.lab.test"], NOW, renew_days="45")["why"] == "40 days left, fewer than 45"


def test_what_each_address_serves_in_words():
    assert _certs.served_text([{"name": "a@1:443", "observed": {"serial": "1A"}},
                               {"name": "a@2:443", "observed": {}, "reason": "connection refused"}]) == \
        "a@1:443 serves 1A, a@2:443 serves nothing read (connection refused)"
    assert _certs.served_text([]) == "nothing read"


def test_a_certificate_shorter_lived_than_the_threshold_is_judged_by_its_third_alone():
    """A 6-day certificate with 30 days asked: due as soon as issued would order at every run."""
    fresh = _certs.due(served(5.9, lifetime_days=6), ["demo.lab.test"], NOW, renew_days=30)
    assert fresh["due"] is False and fresh["why"] == ("5.9 days left (renewed at a third of its 6-day lifetime: it is "
                                                      "shorter-lived than the 30 days asked)"), fresh
    assert _certs.due(served(1.9, lifetime_days=6), ["demo.lab.test"], NOW, renew_days=30)["due"] is True


def test_the_days_are_compared_unrounded():
    verdict = _certs.due(served(29.96, lifetime_days=45), ["demo.lab.test"], NOW, renew_days=30)
    assert verdict["due"] is True and verdict["why"].startswith("29.96 days left, fewer than 30"), verdict


def test_odd_served_data_is_unknown_not_a_crash():
    [cert] = _certs.certificates([DEMO])
    observed = served(60)
    del observed["not_before"]
    plan = _certs.plan([cert], [result("demo.lab.test@lb1:443", observed)], NOW)
    assert plan["unknown"] == ["demo.lab.test"]
    observed = dict(served(60), not_after="2027-01-26T12:00:00.250Z")
    assert _certs.plan([cert], [result("demo.lab.test@lb1:443", observed)], NOW)["certificates"][0]["state"] == "ok"
    naive = datetime.datetime(2026, 11, 27, 12, 0)
    assert _certs.due(served(60), ["demo.lab.test"], naive)["due"] is False


def test_just_expired_is_in_the_expired_window_and_accounts_with_capitals_or_numbers_are_taken():
    [cert] = _certs.certificates([DEMO])
    plan = _certs.plan([cert], [result("demo.lab.test@lb1:443", served(-0.001))], NOW)
    assert plan["certificates"][0]["window"] == "expired"
    [ok] = _certs.certificates([dict(DEMO, names=None, deploy=[dict(DEMO["deploy"][0], owner="Debian-exim", group="0")])])
    assert ok["names"] == ["demo.lab.test"] and (ok["deploy"][0]["owner"], ok["deploy"][0]["group"]) == ("Debian-exim", "0")


def test_forced_every_certificate_read_is_due_and_one_not_read_stays_unknown():
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(80)),
                             result("demo.lab.test@10.0.0.11:443", served(80))], NOW, force=True)
    assert plan["due"] == ["demo.lab.test"]
    assert plan["certificates"][0]["why"].startswith("10.0.0.10:443: renewed on demand (cert_renewal_force); 80 days")
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(80))], NOW, force=True)
    assert plan["due"] == [] and plan["unknown"] == ["demo.lab.test"]


def advised(**result):
    """acme_certificate_renewal_info's result for the certificate TWO names, its item as the role's loop makes it."""
    return dict(result, item=[TWO[0], {"cert": "-----BEGIN CERTIFICATE-----..."}])


OFFERED = {"status": 200, "json": {"newNonce": "n", "newAccount": "a", "newOrder": "o", "renewalInfo": "r"}}
BOTH_80 = [result("demo.lab.test@10.0.0.10:443", served(80)), result("demo.lab.test@10.0.0.11:443", served(80))]


def asked(*results, directory=None):
    return {"directory": directory or OFFERED, "results": list(results)}


@pytest.mark.parametrize("answer, due, said", [
    (asked(advised(supports_ari=True, should_renew=True, cert_id="a.b", msg="The suggested renewal interval provided "
                   "by ARI is in the past. Information on renewal interval: https://ca.example/incident")), True,
     "The suggested renewal interval provided by ARI is in the past. Information on renewal interval: "
     "https://ca.example/incident"),
    (asked(advised(supports_ari=True, should_renew=False, cert_id="a.b",
                   msg="The certificate is still valid and no condition was reached")),
     False, "The certificate is still valid and no condition was reached"),
    (asked(advised(supports_ari=False, should_renew=False, msg="The certificate is still valid"),
           directory={"status": 200, "json": {"newNonce": "n"}}), False, "not offered by the CA"),
    (asked(advised(skipped=True), directory={"failed": True, "msg": "Request failed: <urlopen error timed out>"}),
     False, "not answered: its directory could not be read (Request failed: <urlopen error timed out>)"),
    (asked(advised(skipped=True), directory={"unreachable": True, "msg": "Failed to connect to lb1"}), False,
     "not answered: its directory could not be read (Failed to connect to lb1)"),
    (asked(advised(failed=True, supports_ari=True, should_renew=True, msg="Timeout\non the\ndirectory")), False,
     "not answered: Timeout on the directory"),
    (asked(advised(unreachable=True, msg="Failed to connect to acme1")), False,
     "not answered: Failed to connect to acme1"),
    (asked(dict(skipped=True, item=[TWO[0], {"failed": True, "msg": "Error while connecting\nrefused"}])), False,
     "not asked: the served certificate was not read (Error while connecting refused)"),
    (asked(advised(supports_ari=False, should_renew=False, msg="The certificate is still valid and no condition was "
                   "reached")), False,
     "not asked: the served certificate has no Authority Key Identifier (the CA could not tell which it is)"),
    (asked(advised(supports_ari=False, should_renew=True, cert_id="a.b", msg="The certificate has already expired")),
     False, "not asked: The certificate has already expired"),
])
def test_the_cas_renewal_information_makes_a_certificate_due_only_when_it_says_renew(answer, due, said):
    plan = _certs.plan(TWO, BOTH_80, NOW, ari=answer)
    [row] = plan["certificates"]
    assert row["ari"] == said and row["due"] is due and plan["due"] == (["demo.lab.test"] if due else [])
    if due:
        assert row["why"].startswith("10.0.0.10:443: the CA advises renewing now (ARI: The suggested renewal interval")
        assert row["why"].endswith("80 days left (renewed below 30, or a third of its 90-day lifetime)")
    else:
        assert row["why"].startswith("80 days left")


def test_the_cas_advice_orders_nothing_for_a_certificate_one_of_whose_servers_was_not_read():
    plan = _certs.plan(TWO, BOTH_80[:1], NOW, ari=asked(advised(supports_ari=True, should_renew=True, msg="renew")))
    assert plan["due"] == [] and plan["unknown"] == ["demo.lab.test"] and plan["certificates"][0]["ari"] == "renew"


def test_the_cas_advice_orders_nothing_for_a_server_not_reloaded_with_the_file_it_holds():
    """The CA speaks of the certificate served; the file already holds a newer one: a reload is needed, not an
    order."""
    on_disk = [disk(TWO[0], "lb1", serial=0x2B)]
    plan = _certs.plan(TWO, [result("demo.lab.test@10.0.0.10:443", served(80, serial="1A")),
                             result("demo.lab.test@10.0.0.11:443", served(80, serial="1A"))], NOW, on_disk=on_disk,
                       ari=asked(advised(supports_ari=True, should_renew=True, cert_id="a.b", msg="renew")))
    assert plan["due"] == [] and plan["stale"] == ["demo.lab.test"]


def test_no_advice_asked_is_none_and_results_not_made_by_the_loop_are_refused():
    assert _certs.plan(TWO, BOTH_80, NOW)["certificates"][0]["ari"] is None
    with pytest.raises(_certs.OpsreadyError, match="each result's item is .certificate, get_certificate's result."):
        _certs.plan(TWO, BOTH_80, NOW, ari=asked({"supports_ari": True, "should_renew": True}))
    with pytest.raises(_certs.OpsreadyError, match="ari: .directory, results., as the role gathers them"):
        _certs.plan(TWO, BOTH_80, NOW, ari=[advised(supports_ari=True)])
