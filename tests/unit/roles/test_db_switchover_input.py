"""The db_switchover role refuses bad settings before it reaches anything: one real ansible-playbook run on localhost
(no lab, no database), each row in a block of its own whose rescue keeps the refusal; the evidence says stopped and
nothing was planned. Grow the table with every option."""
import json

import pytest

GOOD = {"db_switchover_members": ["db1", "db2"], "db_switchover_pgbouncer": {"database": "app"},
        "db_switchover_replication": {"user": "repl", "password": "pw-secret-5"}, "db_switchover_db": {},
        "db_switchover_login": {"user": "switchover", "password": "pw-secret-5"}}
ROWS = [
    # name, settings changed, what the refusal says
    ("no members", {"db_switchover_members": []}, "db_switchover_members must list at least two members by name"),
    ("one member", {"db_switchover_members": ["db1"]}, "db_switchover_members must list at least two members"),
    ("a member with a newline", {"db_switchover_members": ["db1", "db2\n"]}, "db_switchover_members must list"),
    ("a member twice", {"db_switchover_members": ["db1", "db1"]}, "db_switchover_members names a member twice"),
    ("a target that is no member", {"db_switchover_to": "db9"},
     "db_switchover_to must be empty or one of db_switchover_members, got 'db9'"),
    ("a target with a dash and a newline", {"db_switchover_to": "db-2\n"}, "db_switchover_to must be empty or one of"),
    ("a negative lag budget", {"db_switchover_max_lag_bytes": -1},
     "db_switchover_max_lag_bytes must be a whole number from 0 to 1099511627776 bytes, got -1"),
    ("a huge lag budget", {"db_switchover_max_lag_bytes": 2 ** 41}, "db_switchover_max_lag_bytes must be a whole number"),
    ("a pause of 0 s", {"db_switchover_pause_timeout": 0},
     "db_switchover_pause_timeout must be a whole number from 1 to 3600 seconds, got 0"),
    ("a pause of an hour and more", {"db_switchover_pause_timeout": 3601}, "db_switchover_pause_timeout must be"),
    ("a promotion timeout that is text", {"db_switchover_promote_timeout": "soon"},
     "argument 'db_switchover_promote_timeout' is of type str and we were unable to convert to int"),
    ("a promotion timeout of 0.5 s", {"db_switchover_promote_timeout": 0.5},
     "argument 'db_switchover_promote_timeout' is of type float and we were unable to convert to int"),
    ("a promotion timeout of 0 s", {"db_switchover_promote_timeout": 0},
     "db_switchover_promote_timeout must be a whole number from 1 to 3600 seconds, got 0"),
    ("port 0", {"db_switchover_pg_port": 0}, "db_switchover_pg_port must be a whole number from 1 to 65535, got 0"),
    ("port 70000", {"db_switchover_pg_port": 70000}, "db_switchover_pg_port must be a whole number from 1 to 65535"),
    ("no PgBouncer database", {"db_switchover_pgbouncer": {}},
     "missing required arguments: database found in db_switchover_pgbouncer"),
    ("an empty PgBouncer database", {"db_switchover_pgbouncer": {"database": ""}},
     "db_switchover_pgbouncer must name the database"),
    ("no replication role", {"db_switchover_replication": {"password": "pw-secret-5"}},
     "missing required arguments: user found in db_switchover_replication"),
    ("a replication role with a space", {"db_switchover_replication": {"user": "re pl"}},
     "db_switchover_replication must name the role the old primary streams as"),
    ("a password with a newline", {"db_switchover_replication": {"user": "repl", "password": "pw-secret-5\nx"}},
     "db_switchover_replication's password holds a control character"),
    ("no switchover login", {"db_switchover_login": {"password": "pw-secret-5"}},
     "missing required arguments: user found in db_switchover_login"),
    ("a switchover login with a space", {"db_switchover_login": {"user": "switch over"}},
     "db_switchover_login must name the role the old primary's host promotes the target as"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory, run_refusals):
    tmp_path = tmp_path_factory.mktemp("db_switchover")
    out, messages = run_refusals(tmp_path, [
        (name, {"name": "opsready.runbooks.db_switchover"},
         dict(GOOD, db_switchover_evidence_dir=str(tmp_path / "evidence" / str(n)), **changed))
        for n, (name, changed, dummy) in enumerate(ROWS)])
    assert "pw-secret-5" not in out
    return tmp_path, messages


@pytest.mark.parametrize("n, name, message", [(n, row[0], row[2]) for n, row in enumerate(ROWS)], ids=[r[0] for r in ROWS])
def test_bad_settings_are_refused_before_anything_is_reached(refused, n, name, message):
    tmp_path, messages = refused
    assert name in messages, "%s was not refused" % name
    said = messages[name]
    assert message in said and "Traceback" not in said and "pw-secret-5" not in said, said
    if said.startswith("Validation of arguments failed"):   # the role's argument spec: the role did not start
        assert not (tmp_path / "evidence" / str(n)).exists()
        return
    assert said.startswith('Switchover stopped at "The settings make sense (refused before anything is reached or '
                           'changed)": ') and "Nothing was changed." in said, said
    [evidence] = (tmp_path / "evidence" / str(n)).glob("db_switchover-*.json")
    kept = json.loads(evidence.read_text())
    assert kept["result"] == "stopped" and kept["plan"] is None and kept["lock"] is None


def test_the_table_names_each_row_once():
    assert len({row[0] for row in ROWS}) == len(ROWS) == 22
