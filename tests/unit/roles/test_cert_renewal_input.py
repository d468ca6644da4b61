"""The cert_renewal role refuses bad settings before it reads or changes anything: one real ansible-playbook run on
localhost (no lab, no CA), each row in a block of its own whose rescue keeps the refusal. Grow it with every option."""
import json

import pytest

GOOD = {"cert_renewal_certificates": [{"name": "demo.example", "names": ["demo.example"],
                                       "deploy": [{"host": "localhost", "path": "/tmp/opsready-none/demo.pem"}]}],
        "cert_renewal_acme": {"directory": "https://127.0.0.1:9/dir", "host": "localhost", "state_dir": "/tmp/x"},
        "cert_renewal_webroot": {"host": "localhost", "path": "/tmp/x"}}
ROWS = [
    # name, settings changed, what the refusal says
    ("no certificate", {"cert_renewal_certificates": []}, "cert_renewal_certificates must list at least one"),
    ("a negative threshold", {"cert_renewal_days": -1}, "cert_renewal_days must be a number of days from 0 to 3650"),
    ("a huge threshold", {"cert_renewal_days": 99999}, "cert_renewal_days must be a number of days from 0 to 3650"),
    ("a threshold as words", {"cert_renewal_days": "soon"}, "argument 'cert_renewal_days' is of type str"),
    ("force as words", {"cert_renewal_force": "maybe"}, "argument 'cert_renewal_force' is of type str"),
    ("a deploy host not in the inventory", {"cert_renewal_certificates": [{"name": "demo.example", "deploy": [
        {"host": "lb-9", "path": "/tmp/opsready-none/demo.pem"}]}]}, "deploy names lb-9, not in the inventory"),
    ("a name with a newline", {"cert_renewal_certificates": [{"name": "demo.example", "names": ["demo\n.example"],
                                                              "deploy": [{"host": "localhost", "path": "/tmp/a.pem"}]}]},
     "names must list DNS names with a dot"),
    ("an ACME host not in the inventory", {"cert_renewal_acme": dict(GOOD["cert_renewal_acme"], host="acme-9")},
     "Not inventory hosts: acme-9"),
    ("no ACME directory", {"cert_renewal_acme": {"host": "localhost", "state_dir": "/tmp/x"}},
     "missing required arguments: directory found in cert_renewal_acme"),
    ("no webroot path", {"cert_renewal_webroot": {"host": "localhost"}},
     "missing required arguments: path found in cert_renewal_webroot"),
    ("no read of the served certificate", {"cert_renewal_verify_retries": 0},
     "cert_renewal_verify_retries must be from 1 to 600, got 0"),
    ("reads without end", {"cert_renewal_verify_retries": 100000},
     "cert_renewal_verify_retries must be from 1 to 600, got 100000"),
    ("an ARI way not known", {"cert_renewal_ari": "never"},
     "value of cert_renewal_ari must be one of: standard, start, off, got: never"),
    ("no time to ask the CA", {"cert_renewal_ari_timeout": 0}, "cert_renewal_ari_timeout must be from 1 to 300 seconds, got 0"),
    ("an ARI wait without end", {"cert_renewal_ari_timeout": 3600},
     "cert_renewal_ari_timeout must be from 1 to 300 seconds, got 3600"),
    ("an ARI wait as words", {"cert_renewal_ari_timeout": "long"}, "argument 'cert_renewal_ari_timeout' is of type str"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory, run_refusals):
    tmp_path = tmp_path_factory.mktemp("cert_renewal")
    out, messages = run_refusals(tmp_path, [
        (name, {"name": "opsready.runbooks.cert_renewal"},
         dict(GOOD, cert_renewal_evidence_dir=str(tmp_path / "evidence" / str(n)), **changed))
        for n, (name, changed, dummy) in enumerate(ROWS)])
    return tmp_path, messages


@pytest.mark.parametrize("n, name, message", [(n, row[0], row[2]) for n, row in enumerate(ROWS)], ids=[r[0] for r in ROWS])
def test_bad_settings_are_refused_before_anything_is_read(refused, n, name, message):
    tmp_path, messages = refused
    assert name in messages, "%s was not refused" % name
    said = messages[name]
    assert message in said and "Traceback" not in said, said
    if said.startswith("Validation of arguments failed"):   # the role's argument spec: the role did not start
        assert not (tmp_path / "evidence" / str(n)).exists()
        return
    assert said.startswith("Certificate renewal stopped at ") and "Nothing was changed." in said, said
    [evidence] = (tmp_path / "evidence" / str(n)).glob("cert_renewal-*.json")
    kept = json.loads(evidence.read_text())
    assert kept["result"] == "stopped" and kept["report"] == [] and kept["renewed"] == []


def test_the_table_names_each_row_once():
    assert len({row[0] for row in ROWS}) == len(ROWS) == 16
