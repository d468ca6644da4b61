"""The db_failover role refuses bad settings before it reaches anything: one real ansible-playbook run on localhost
(no lab, no database), each row in a block of its own whose rescue keeps the refusal; the evidence says stopped and
nothing was planned. Grow the table with every option."""
import json

import pytest

GOOD = {"db_failover_members": ["db1", "db2"],
        "db_failover_pgbouncer": {"database": "app", "login_password": "pw-secret-7"}}
ROWS = [
    # name, settings changed, what the refusal says
    ("no members", {"db_failover_members": []}, "db_failover_members must list at least two members by name"),
    ("a member with a space", {"db_failover_members": ["db1", "db 2"]}, "db_failover_members must list"),
    ("a member twice", {"db_failover_members": ["db1", "db1"]}, "db_failover_members names a member twice"),
    ("a standby that is no member", {"db_failover_standby": "db9"},
     "db_failover_standby must be empty or one of db_failover_members, got 'db9'"),
    ("0 probes", {"db_failover_probes": 0}, "db_failover_probes must be a whole number from 1 to 100, got 0"),
    ("101 probes", {"db_failover_probes": 101}, "db_failover_probes must be a whole number from 1 to 100"),
    ("probes that are text", {"db_failover_probes": "many"},
     "argument 'db_failover_probes' is of type str and we were unable to convert to int"),
    ("an interval of 0 s", {"db_failover_interval": 0}, "db_failover_interval must be a number from 0.1 to 60, got 0"),
    ("a negative interval", {"db_failover_interval": -1}, "db_failover_interval must be a number from 0.1 to 60"),
    ("a probe timeout of a minute", {"db_failover_probe_timeout": 60}, "db_failover_probe_timeout must be a number"),
    ("a negative watch", {"db_failover_watch": -1}, "db_failover_watch must be a number from 0 to 604800, got -1"),
    ("a watch of a year", {"db_failover_watch": 31536000}, "db_failover_watch must be a number from 0 to 604800"),
    ("a negative lag budget", {"db_failover_max_lag_bytes": -1}, "db_failover_max_lag_bytes must be a whole number"),
    ("a probe timeout longer than the interval", {"db_failover_probe_timeout": 2},
     "db_failover_probe_timeout (2) must be at most db_failover_interval (1)"),
    ("a member with a shell command", {"db_failover_members": ["db1", "$(reboot)"]}, "db_failover_members must list"),
    ("a fence timeout of 0 s", {"db_failover_fence_timeout": 0},
     "db_failover_fence_timeout must be a number from 1 to 600, got 0"),
    ("a verify timeout of -1 s", {"db_failover_verify_timeout": -1},
     "db_failover_verify_timeout must be a number from 1 to 3600, got -1"),
    ("a promotion timeout of 0 s", {"db_failover_promote_timeout": 0},
     "db_failover_promote_timeout must be a number from 1 to 3600, got 0"),
    ("a data loss accepted without a reason", {"db_failover_accept_data_loss": True},
     "db_failover_accept_data_loss needs db_failover_data_loss_reason"),
    ("a data loss accepted as text", {"db_failover_accept_data_loss": "maybe"},
     "argument 'db_failover_accept_data_loss' is of type str and we were unable to convert to bool"),
    ("no PgBouncer database", {"db_failover_pgbouncer": {"login_password": "pw-secret-7"}},
     "missing required arguments: database found in db_failover_pgbouncer"),
    ("an empty PgBouncer database", {"db_failover_pgbouncer": {"database": "", "login_password": "pw-secret-7"}},
     "db_failover_pgbouncer must name the database"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory, run_refusals):
    tmp_path = tmp_path_factory.mktemp("db_failover")
    out, messages = run_refusals(tmp_path, [
        (name, {"name": "opsready.runbooks.db_failover"},
         dict(GOOD, db_failover_evidence_dir=str(tmp_path / "evidence" / str(n)), **changed))
        for n, (name, changed, dummy) in enumerate(ROWS)])
    assert "pw-secret-7" not in out
    return tmp_path, messages


@pytest.mark.parametrize("n, name, message", [(n, row[0], row[2]) for n, row in enumerate(ROWS)], ids=[r[0] for r in ROWS])
def test_bad_settings_are_refused_before_anything_is_reached(refused, n, name, message):
    tmp_path, messages = refused
    assert name in messages, "%s was not refused" % name
    said = messages[name]
    assert message in said and "Traceback" not in said and "pw-secret-7" not in said, said
    if said.startswith("Validation of arguments failed"):   # the role's argument spec: the role did not start
        assert not (tmp_path / "evidence" / str(n)).exists()
        return
    assert said.startswith('Failover stopped at "The settings make sense (refused before anything is reached or '
                           'changed)": ') and "Nothing was changed." in said, said
    [evidence] = (tmp_path / "evidence" / str(n)).glob("db_failover-*.json")
    kept = json.loads(evidence.read_text())
    assert kept["result"] == "stopped" and kept["plan"] is None and kept["detection"] == {}


def test_the_table_names_each_row_once():
    assert len({row[0] for row in ROWS}) == len(ROWS) == 22
