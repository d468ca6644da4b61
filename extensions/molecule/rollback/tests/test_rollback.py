"""playbooks/rollback.yml on the real lab, and db_migration's refusals against the real database.

converge already rolled the lab back to 1.0.0 (and idempotence ran it again). These tests check that state, then go
forward to 1.1.0, write data, and run the whole cycle again: check mode (nothing changes), the rollback under a
client polling the API through the load balancer (no 5xx); a second run changing nothing is molecule's idempotence
step. The lab is left on its live release (1.1.0, schema 0002) whatever happens.
"""
import json
import re
import subprocess
import time
import uuid

import pytest
from labtest import PROJECT, Poller, _ansible_env, ansible_module, ansible_playbook, psql, recap_changed, under_traffic, wait_for

APP_HOSTS = ("app1", "app2")


def live_releases(hosts):
    return {name: hosts[name].check_output("readlink /srv/demo/current") for name in APP_HOSTS}


def schema(hosts):
    return psql(hosts["db1"], "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations")


def forward(hosts):
    """The lab on its live release; forward.yml runs only when it is not (it would change nothing, in 5 s)."""
    if live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002":
        return
    run = ansible_playbook("extensions/molecule/rollback/forward.yml")
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope="module", autouse=True)
def leave_the_lab_on_its_live_release(lab, hosts):
    yield
    forward(hosts)


def rollback(tmp_path, *args):
    run = ansible_playbook("playbooks/rollback.yml", "-e", "rollback_evidence_dir=%s" % tmp_path, *args)
    evidence = sorted(tmp_path.glob("rollback-*.json"))
    return run, json.loads(evidence[-1].read_text()) if evidence else None


def test_converge_left_v1_live_everywhere_and_the_schema_at_v1(hosts):
    assert live_releases(hosts) == {name: "releases/1.0.0" for name in APP_HOSTS}
    assert schema(hosts) == "0001"


def test_rollback_cycle_previews_keeps_data_and_serves_no_5xx(tmp_path, lab, hosts):
    forward(hosts)
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
    marker = "rollback-%s" % uuid.uuid4()
    hosts["db1"].check_output("runuser -u postgres -- psql -X -d demo -c %s",
                              "INSERT INTO items (name, note) SELECT '%s-' || n, 'v2 note' FROM generate_series(1, 50) n"
                              % marker)
    data = "SELECT count(*) || ':' || md5(string_agg(id || '/' || name, ',' ORDER BY id)) FROM items"
    before = psql(hosts["db1"], data)

    # 1. check mode: the whole plan, nothing changed on any host (no backup taken either)
    def backups():
        return hosts["db1"].run("ls /var/backups/opsready 2>/dev/null").stdout.split()

    backups_before = backups()
    run, evidence = rollback(tmp_path / "check", "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert evidence["result"] == "planned (check mode)"
    assert evidence["plan"]["schema_steps"] == [{"version": "0002", "name": "add_item_note", "direction": "down",
                                                 "sql": "ALTER TABLE items DROP COLUMN note;\n"}]
    assert "switch app1, app2; schema 0002 -> 0001 (0002)" in run.stdout
    tail = " ".join(run.stdout.split("PLAY RECAP")[0].split()[-60:])   # the plan again, at the end of the output
    assert "planned (check mode). Rollback to release 1.0.0: switch app1, app2; schema 0002 -> 0001 (0002). SQL: " \
        "ALTER TABLE items DROP COLUMN note;" in tail, tail
    assert evidence["health"]["note"] == "check mode: the state before any change, not the result"
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
    assert backups() == backups_before

    # 2. the rollback, with a client polling through the load balancer all along
    poller = Poller(lab)
    poller.start()
    try:
        started = time.monotonic()
        run, evidence = rollback(tmp_path / "real")
        seconds = time.monotonic() - started
    finally:
        poller.stop.set()
        poller.join()
    assert run.returncode == 0, run.stdout[-3000:]
    assert poller.failures == [], poller.codes
    assert poller.codes[200] > 20
    assert live_releases(hosts) == {name: "releases/1.0.0" for name in APP_HOSTS}
    assert schema(hosts) == "0001"
    assert psql(hosts["db1"], data) == before  # every row written before survives (the note column is v2's)
    assert evidence["result"] == "done" and evidence["health"]["state"] == "ok"
    steps = [entry["step"] for entry in evidence["timeline"]]
    assert steps == ["start", "change window", "lock", "live releases", "plan", "backup", "release app1", "release app2",
                     "schema", "workers restarted", "healthy"]
    backup = evidence["backup"]
    assert int(backup["size"]) > 0 and len(backup["sha256"]) == 64 and int(backup["restore_list_entries"]) > 5
    assert hosts["db1"].file(backup["file"]).exists
    print("rollback.yml on the lab: %.1f s, %d requests during it: %s" % (seconds, sum(poller.codes.values()),
                                                                          dict(poller.codes)))
    # a second run changing nothing is molecule's idempotence step (the same rollback to 1.0.0)


# --------------------------------------------------------------------------- restore instead of down migrations
DATA = "SELECT count(*) || ':' || md5(string_agg(id || '/' || name, ',' ORDER BY id)) FROM items"
# The rollback reads every down migration from the newest installed release (1.2.0 in the lab).
DOWN_0002 = "/srv/demo/releases/1.2.0/migrations/0002_add_item_note.down.sql"


def insert_items(hosts, marker, count=10):
    psql(hosts["db1"], "INSERT INTO items (name) SELECT '%s-' || n FROM generate_series(1, %d) n" % (marker, count))


def drop_restore_databases(hosts):
    names = psql(hosts["db1"], r"SELECT string_agg(datname, ' ') FROM pg_database WHERE datname ~ '^demo_re(store|placed)_'",
                 db="postgres")
    for name in names.split():
        psql(hosts["db1"], 'DROP DATABASE "%s"' % name, db="postgres")


KEPT_0002 = "/root/0002_add_item_note.down.sql.kept"   # outside the migrations directory: a stray file there is refused


def replace_down_0002(hosts, sql):
    """The newest release's down migration 0002 on both app hosts: None removes it (irreversible). Undone by
    restore_down_0002."""
    for name in APP_HOSTS:
        hosts[name].check_output("test -e %s || cp -p %s %s" % (KEPT_0002, DOWN_0002, KEPT_0002))
        hosts[name].check_output("rm -f %s" % DOWN_0002 if sql is None else "printf '%%s\\n' %s > %s" % (_quote(sql), DOWN_0002))


def restore_down_0002(hosts):
    for name in APP_HOSTS:
        hosts[name].run("test -e %s && mv %s %s" % (KEPT_0002, KEPT_0002, DOWN_0002))


def test_past_an_irreversible_migration_by_restoring_a_backup_when_asked(tmp_path, lab, hosts):
    """0002 loses its down migration. The rollback refuses and names the way: a backup taken at 1.0.0's schema. A
    backup at the wrong schema is refused before anything changes; the right one is restored, checked and swapped
    in under a polling client, and what was written since it is kept in the database it replaced."""
    forward(hosts)
    marker = uuid.uuid4().hex[:8]
    wrong_schema_backup = "/var/backups/opsready/demo-at-0002-%s.pgc" % marker
    hosts["db1"].check_output("runuser -u postgres -- pg_dump -Fc -f %s demo", wrong_schema_backup)
    # the schema as 1.0.0 had it (0002's down migration by hand: only the backup taken now matters), then 1.1.0's again
    psql(hosts["db1"], "BEGIN; ALTER TABLE items DROP COLUMN note; DELETE FROM schema_migrations WHERE version = '0002'; COMMIT")
    insert_items(hosts, "before-deploy-" + marker)
    good = "/var/backups/opsready/demo-before-deploy-%s.pgc" % marker
    hosts["db1"].check_output("runuser -u postgres -- pg_dump -Fc -f %s demo", good)
    before = psql(hosts["db1"], DATA)
    forward(hosts)
    insert_items(hosts, "after-deploy-" + marker)
    after = psql(hosts["db1"], DATA)
    replace_down_0002(hosts, None)
    try:
        run, evidence = rollback(tmp_path / "refused")
        assert run.returncode != 0
        assert ("refusing to roll back: 0002 cannot be undone (0002_add_item_note has no .down.sql); restore the "
                "backup taken before they were applied instead. Give that backup, taken at schema 0001, with "
                """-e '{"rollback_restore_from": "<its path on db1>"}'""") in " ".join(run.stdout.split())
        assert evidence["result"] == "stopped" and evidence["backup"] is None
        assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"

        run, evidence = rollback(tmp_path / "wrong", "-e", "rollback_restore_from=" + wrong_schema_backup)
        assert run.returncode != 0
        assert "holds 0001, 0002 where 0001 was expected" in " ".join(run.stdout.split())
        assert evidence["stopped"]["hosts"] == {name: "1.1.0" for name in APP_HOSTS}
        assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
        assert psql(hosts["db1"], "SELECT count(*) FROM pg_database WHERE datname ~ '^demo_re'", db="postgres") == "0"

        run, evidence = rollback(tmp_path / "check", "--check", "-e", "rollback_restore_from=" + good)
        assert run.returncode == 0, run.stdout[-3000:]
        assert evidence["plan"]["schema_restore_from"] == "db1:" + good
        assert evidence["plan"]["schema_steps"] == []
        assert "restore verified (check mode: not staged)" in [entry["step"] for entry in evidence["timeline"]]
        assert "schema 0002 -> 0001 (0002, by restoring db1:%s)" % good in " ".join(run.stdout.split())
        assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"

        poller = Poller(lab)
        poller.start()
        try:
            run, evidence = rollback(tmp_path / "restore", "-e", "rollback_restore_from=" + good)
        finally:
            poller.stop.set()
            poller.join()
        assert run.returncode == 0, run.stdout[-3000:]
        assert live_releases(hosts) == {name: "releases/1.0.0" for name in APP_HOSTS} and schema(hosts) == "0001"
        assert psql(hosts["db1"], DATA) == before
        restore = evidence["restore"]
        assert restore["restored"] is True and restore["file"] == good and len(restore["sha256"]) == 64
        assert restore["check"]["expect"] == ["0001"]
        assert psql(hosts["db1"], DATA, db=restore["previous_database_kept_as"]) == after  # nothing lost
        steps = [entry["step"] for entry in evidence["timeline"]]
        assert steps == ["start", "change window", "lock", "live releases", "plan", "backup", "restore staged",
                         "release app1", "release app2", "schema", "workers restarted", "healthy"]
        print("restore-based rollback, requests through the LB: %s, failures: %s" % (
            dict(poller.codes), poller.failures))
        assert poller.codes[200] > 20
    finally:
        restore_down_0002(hosts)
        drop_restore_databases(hosts)
        hosts["db1"].run("rm -f %s %s" % (wrong_schema_backup, good))


def test_an_unreadable_backup_is_refused_before_anything_changes(tmp_path, hosts):
    forward(hosts)
    garbage = "/var/backups/opsready/demo-garbage-%s.pgc" % uuid.uuid4().hex[:8]
    hosts["db1"].check_output("printf 'not a dump' > %s && chown postgres: %s", garbage, garbage)
    try:
        run, evidence = rollback(tmp_path, "-e", "rollback_restore_from=" + garbage)
        assert run.returncode != 0
        assert ("The backup %s on db1 is missing, empty or unreadable (pg_restore: error: input file does not appear "
                "to be a valid archive" % garbage) in " ".join(run.stdout.split())
        assert evidence["result"] == "stopped" and int(evidence["backup"]["restore_list_entries"]) > 5  # its own backup is fine
        assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
    finally:
        hosts["db1"].run("rm -f %s" % garbage)


def test_a_failing_down_migration_restores_the_backup_when_asked(tmp_path, lab, hosts):
    forward(hosts)
    before = psql(hosts["db1"], DATA)
    replace_down_0002(hosts, "ALTER TABLE items DROP COLUMN note;\nSELECT 1 / 0;")
    try:
        run, evidence = rollback(tmp_path / "fails", "-e", "rollback_restore_on_failure=true")
        assert run.returncode != 0
        output = " ".join(run.stdout.split())
        assert "down migration 0002_add_item_note failed: division by zero" in output
        assert "the database was restored from %s" % evidence["backup"]["file"] in output
        assert evidence["result"] == "stopped" and evidence["restore"]["restored"] is True
        assert evidence["restore"]["file"] == evidence["backup"]["file"]
        assert schema(hosts) == "0001,0002" and psql(hosts["db1"], DATA) == before
        assert evidence["stopped"]["schema"] == "0002"
        assert evidence["stopped"]["hosts"] == {name: "1.0.0" for name in APP_HOSTS}
    finally:
        restore_down_0002(hosts)
        drop_restore_databases(hosts)


# ------------------------------------------------------------------------------------ the failure paths, for real
MIGRATIONS = {
    "0001_create_t.up.sql": "CREATE TABLE rb_test (id int PRIMARY KEY);",
    "0001_create_t.down.sql": "DROP TABLE rb_test;",
    "0002_add_column.up.sql": "ALTER TABLE rb_test ADD COLUMN note text;",
    # fails halfway: the first statement works, the second does not
    "0002_add_column.down.sql": "ALTER TABLE rb_test DROP COLUMN note;\nSELECT 1 / 0;",
    "0003_backfill.up.sql": "INSERT INTO rb_test VALUES (1, 'x');",
}


@pytest.fixture
def test_migrations(hosts, lab):
    """A migrations directory of its own on app1 and a table of its own, so the demo schema is never touched."""
    app = hosts["app1"]
    directory = "/tmp/rb-migrations-%s" % uuid.uuid4().hex[:8]
    app.check_output("mkdir -p %s" % directory)
    for name, sql in MIGRATIONS.items():
        app.check_output("printf '%%s\\n' %s > %s/%s" % (_quote(sql), directory, name))
    yield directory
    app.run("rm -rf %s" % directory)
    psql(hosts["db1"], "DROP TABLE IF EXISTS rb_test; DROP TABLE IF EXISTS rb_test_migrations")


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def db_migration(lab, directory, check=False, **args):
    """opsready.runbooks.db_migration on app1 against db1 (ad hoc, json output); returns the module result."""
    args = dict(args, path=directory, table="rb_test_migrations", login_host="db1", login_db=lab["lab_pg_app_db"],
                login_user=lab["lab_pg_app_user"], login_password=lab["lab_pg_app_password"])
    return ansible_module("app1", "opsready.runbooks.db_migration", args, check)[0]


def columns(hosts):
    return psql(hosts["db1"], "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                              "information_schema.columns WHERE table_name = 'rb_test'")


def test_a_down_migration_failing_midway_leaves_the_schema_unchanged(lab, hosts, test_migrations):
    applied = db_migration(lab, test_migrations, state="applied", target="0002")
    assert applied["changed"] and [s["version"] for s in applied["executed"]] == ["0001", "0002"]
    failed = db_migration(lab, test_migrations, state="rolled_back", target="0")
    assert failed["failed"] is True and failed["failed_step"] == "0002"
    assert failed["msg"] == ("down migration 0002_add_column failed: division by zero; the whole plan was rolled "
                             "back, the schema is as it was before this run")
    assert failed["executed"] == []
    assert columns(hosts) == "id,note"  # the DROP COLUMN that did run was undone with the rest
    assert psql(hosts["db1"], "SELECT string_agg(version, ',' ORDER BY version) FROM rb_test_migrations") == "0001,0002"


def test_an_irreversible_migration_is_refused_before_anything_runs(lab, hosts, test_migrations):
    db_migration(lab, test_migrations, state="applied")
    preview = db_migration(lab, test_migrations, check=True, state="rolled_back", steps=1)
    assert preview["failed"] is True
    assert preview["msg"] == ("refusing to roll back: 0003 cannot be undone (0003_backfill has no .down.sql); "
                              "restore the backup taken before they were applied instead")
    refused = db_migration(lab, test_migrations, state="rolled_back", target="0001")
    assert refused["failed"] is True and "0003 cannot be undone" in refused["msg"]
    assert psql(hosts["db1"], "SELECT count(*) FROM rb_test") == "1"
    assert psql(hosts["db1"], "SELECT string_agg(version, ',' ORDER BY version) FROM rb_test_migrations") == \
        "0001,0002,0003"


def test_a_bad_target_gets_a_clear_error(lab, test_migrations):
    db_migration(lab, test_migrations, state="applied", target="0001")
    result = db_migration(lab, test_migrations, state="rolled_back", target="0042")
    assert result["failed"] is True
    assert result["msg"] == ("target 0042 is not a migration in this directory; known versions: 0001, 0002, 0003 "
                             "(use 0 to roll back everything)")
    preview = db_migration(lab, test_migrations, check=True, state="applied", target="0003")
    assert preview["changed"] is True and [s["version"] for s in preview["plan"]] == ["0002", "0003"]
    assert [s["sql"].strip() for s in preview["sql"]] == ["ALTER TABLE rb_test ADD COLUMN note text;",
                                                          "INSERT INTO rb_test VALUES (1, 'x');"]
    assert db_migration(lab, test_migrations)["before"] == "0001"  # the preview changed nothing


# ------------------------------------------------------------- backend=alembic: Debian's Alembic against db1
ALEMBIC_ENV = """from alembic import context
from sqlalchemy import create_engine

url = context.config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, version_table="rb_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(url).connect() as connection:
        context.configure(connection=connection, version_table="rb_alembic_version")
        with context.begin_transaction():
            context.run_migrations()
"""
ALEMBIC_REVISIONS = {
    "a1": (None, "CREATE TABLE rb_alembic (id int)", 'op.execute("DROP TABLE rb_alembic")'),
    "b2": ("a1", "ALTER TABLE rb_alembic ADD COLUMN gate text", 'op.drop_column("rb_alembic", "gate")'),
    "c3": ("b2", "UPDATE rb_alembic SET gate = 'A1'", "pass"),
}


def write_alembic_project(host, lab, directory, revisions):
    """An Alembic project of its own (tables rb_alembic, rb_alembic_version in the demo database) on a lab host."""
    url = "postgresql://%s:%s@db1/%s" % (lab["lab_pg_app_user"], lab["lab_pg_app_password"], lab["lab_pg_app_db"])
    files = {"alembic.ini": "[alembic]\nscript_location = migrations\nsqlalchemy.url = %s\n" % url,
             "migrations/env.py": ALEMBIC_ENV, "migrations/script.py.mako": ""}
    for rev, (down, up, down_code) in revisions.items():
        files["migrations/versions/%s.py" % rev] = (
            'from alembic import op\n\nrevision = "%s"\ndown_revision = %r\n\n\ndef upgrade():\n    op.execute("%s")\n\n\n'
            'def downgrade():\n    %s\n' % (rev, down, up, down_code))
    host.check_output("rm -rf %s/migrations/versions" % directory)
    for name, text in files.items():
        host.check_output("mkdir -p %s/%s && printf '%%s' %s > %s/%s" % (
            directory, name.rsplit("/", 1)[0] if "/" in name else ".", _quote(text), directory, name))


def drop_alembic_tables(hosts):
    psql(hosts["db1"], "DROP TABLE IF EXISTS rb_alembic; DROP TABLE IF EXISTS rb_alembic_version")


@pytest.fixture
def alembic_project(hosts, lab):
    directory = "/tmp/rb-alembic-%s" % uuid.uuid4().hex[:8]
    write_alembic_project(hosts["app1"], lab, directory, ALEMBIC_REVISIONS)
    yield directory
    hosts["app1"].run("rm -rf %s" % directory)
    drop_alembic_tables(hosts)


def alembic_migration(directory, check=False, **args):
    args = dict(args, backend="alembic", chdir=directory, alembic_version_table="rb_alembic_version",
                alembic_command="python3 -m alembic")  # Debian: python3-alembic has no CLI of its own
    return ansible_module("app1", "opsready.runbooks.db_migration", args, check)[0]


def test_alembic_backend_against_postgresql(hosts, alembic_project):
    cols = "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns " \
           "WHERE table_name = 'rb_alembic'"
    applied = alembic_migration(alembic_project, state="applied", target="b2")
    assert applied["msg"] == "applied a1, b2: schema base -> b2", applied
    assert psql(hosts["db1"], cols) == "id,gate"
    preview = alembic_migration(alembic_project, check=True, state="rolled_back", steps=1)
    assert preview["msg"] == "would downgrade b2: schema b2 -> a1"
    assert "ALTER TABLE rb_alembic DROP COLUMN gate" in preview["sql"][0]["sql"]
    assert psql(hosts["db1"], cols) == "id,gate"
    done = alembic_migration(alembic_project, state="rolled_back", steps=1)
    assert done["msg"] == "rolled back b2: schema b2 -> a1"
    assert psql(hosts["db1"], cols) == "id"
    alembic_migration(alembic_project, state="applied")
    refused = alembic_migration(alembic_project, state="rolled_back", target="a1")
    assert refused["failed"] is True and refused["msg"].startswith("refusing to roll back: c3 cannot be undone")
    assert psql(hosts["db1"], "SELECT version_num FROM rb_alembic_version") == "c3"


# ------------------------------------------------- the role with the alembic and command backends, for real
# An app of its own on both app hosts (releases 1 and 2, current -> 2), migrated with Debian's Alembic against db1.
# Release 2 adds c3 (a column); the rollback takes both hosts to 1 and the schema to b2, release 1's head.
APP_REVISIONS = {
    "a1": (None, "CREATE TABLE rb_alembic (id int)", 'op.execute("DROP TABLE rb_alembic")'),
    "b2": ("a1", "ALTER TABLE rb_alembic ADD COLUMN gate text", 'op.drop_column("rb_alembic", "gate")'),
}
C3 = ("b2", "ALTER TABLE rb_alembic ADD COLUMN note text", 'op.drop_column("rb_alembic", "note")')
ALEMBIC_OPTIONS = {"alembic_command": "python3 -m alembic", "alembic_version_table": "rb_alembic_version"}
COLUMNS = "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns " \
          "WHERE table_name = 'rb_alembic'"


def deploy_release_2(hosts, lab, root, c3=C3):
    """Release 2 (with c3) live on both app hosts and the schema migrated to it, as a deploy leaves them."""
    for name in APP_HOSTS:
        write_alembic_project(hosts[name], lab, root + "/releases/2", dict(APP_REVISIONS, c3=c3))
        hosts[name].check_output("ln -sfn releases/2 %s/current" % root)
    alembic_migration(root + "/releases/2", state="applied")


@pytest.fixture
def alembic_app(hosts, lab):
    root = "/tmp/rb-app-%s" % uuid.uuid4().hex[:8]
    for name in APP_HOSTS:
        write_alembic_project(hosts[name], lab, root + "/releases/1", APP_REVISIONS)
    deploy_release_2(hosts, lab, root)
    yield root
    for name in APP_HOSTS:
        hosts[name].run("rm -rf %s" % root)
    drop_alembic_tables(hosts)
    drop_restore_databases(hosts)


def app_rollback(tmp_path, root, *args, **extra):
    """rollback.yml on the app of its own: no services, no load balancer, no health gate - the schema is the point."""
    settings = dict({"rollback_app_path": root, "rollback_services": [], "rollback_worker_services": [],
                     "rollback_lb_hosts": [], "rollback_health_checks": []}, **extra)
    return rollback(tmp_path, "-e", json.dumps(settings), *args)


def app_state(hosts, root):
    return ({name: hosts[name].check_output("readlink %s/current" % root) for name in APP_HOSTS},
            psql(hosts["db1"], "SELECT version_num FROM rb_alembic_version"), psql(hosts["db1"], COLUMNS))


def test_the_role_rolls_an_alembic_app_back_and_restores_past_an_irreversible_revision(tmp_path, lab, hosts, alembic_app):
    alembic = {"rollback_migrations_backend": "alembic", "rollback_migrations_options": ALEMBIC_OPTIONS}
    deployed = ({name: "releases/2" for name in APP_HOSTS}, "c3", "id,gate,note")
    assert app_state(hosts, alembic_app) == deployed

    run, evidence = app_rollback(tmp_path / "check", alembic_app, "--check", **alembic)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (evidence["plan"]["schema_before"], evidence["plan"]["schema_target"]) == ("c3", "b2")
    [step] = evidence["plan"]["schema_steps"]
    assert (step["version"], step["direction"]) == ("c3", "down") and "ALTER TABLE rb_alembic DROP COLUMN note" in step["sql"]
    assert app_state(hosts, alembic_app) == deployed

    run, evidence = app_rollback(tmp_path / "real", alembic_app, **alembic)
    assert run.returncode == 0, run.stdout[-3000:]
    assert app_state(hosts, alembic_app) == ({name: "releases/1" for name in APP_HOSTS}, "b2", "id,gate")
    assert [entry["detail"] for entry in evidence["timeline"] if entry["step"] == "schema"] == [
        "rolled back c3: schema c3 -> b2"]

    # c3 again, now with a downgrade that does nothing (irreversible: found by db_migration, tested against PostgreSQL
    # above; the refusal's words are the planner's, unit-tested), rolled back by restoring a dump taken at b2: the
    # restore's check reads Alembic's version table in the staged copy. (A second run changing nothing, and the
    # refusal, are unit-tested: test_rollback_plan.py.)
    at_b2 = "/var/backups/opsready/rb-alembic-b2-%s.pgc" % uuid.uuid4().hex[:8]
    hosts["db1"].check_output("runuser -u postgres -- pg_dump -Fc -f %s demo", at_b2)
    deploy_release_2(hosts, lab, alembic_app, c3=C3[:2] + ("pass",))
    assert app_state(hosts, alembic_app) == deployed

    run, evidence = app_rollback(tmp_path / "restore", alembic_app, "-e", "rollback_restore_from=" + at_b2, **alembic)
    assert run.returncode == 0, run.stdout[-3000:]
    assert app_state(hosts, alembic_app) == ({name: "releases/1" for name in APP_HOSTS}, "b2", "id,gate")
    assert evidence["restore"]["restored"] is True and evidence["restore"]["check"]["expect"] == ["b2"]


def test_the_role_drives_a_command_backend_once_per_release_switch(tmp_path, lab, hosts, alembic_app):
    """Alembic's own CLI wired as a `command` tool (the way Laravel's artisan is wired): steps, not a target."""
    command = {"rollback_migrations_backend": "command",
               "rollback_migrations_options": {"commands": {"status": "python3 -m alembic current",
                                                            "rollback": "python3 -m alembic downgrade -{steps}"}}}
    # without steps or a target the tool cannot say which schema release 1 needs: refused (unit-tested through
    # ansible-playbook in test_rollback_plan_filters.py)
    command["rollback_migrations_steps"] = 1
    run, evidence = app_rollback(tmp_path / "check", alembic_app, "--check", **command)
    assert run.returncode == 0, run.stdout[-3000:]
    assert evidence["plan"]["schema_steps"] == [{"version": "1 step(s)", "direction": "down", "sql": (
        "would run: python3 -m alembic downgrade -1 (give commands.preview_rollback to see what it would do)")}]
    assert evidence["plan"]["schema_before"] is None  # the tool cannot say
    assert app_state(hosts, alembic_app) == ({name: "releases/2" for name in APP_HOSTS}, "c3", "id,gate,note")

    run, evidence = app_rollback(tmp_path / "real", alembic_app, **command)
    assert run.returncode == 0, run.stdout[-3000:]
    assert app_state(hosts, alembic_app) == ({name: "releases/1" for name in APP_HOSTS}, "b2", "id,gate")

    # the tool cannot say where the schema is: with no host to switch, a second run leaves the schema alone
    run, evidence = app_rollback(tmp_path / "again", alembic_app, rollback_version="1", **command)
    assert run.returncode == 0, run.stdout[-3000:]
    assert set(recap_changed(run.stdout).values()) == {0} and evidence["plan"]["schema_steps"] == []
    assert app_state(hosts, alembic_app) == ({name: "releases/1" for name in APP_HOSTS}, "b2", "id,gate")


# ----------------------------------------------------------------------------------------------- change window
def test_outside_the_change_window_the_rollback_is_refused_and_changes_nothing(tmp_path, hosts):
    forward(hosts)
    window = json.dumps({"rollback_change_windows": [{"days": "wed", "start": "16:00", "end": "18:00",
                                                      "name": "weekly window"}],
                         "rollback_change_blackouts": [time.strftime("%Y-%m-%d", time.gmtime())]})
    run, evidence = rollback(tmp_path / "refused", "-e", window)
    assert run.returncode != 0
    assert re.search(r"Refusing to start: \S+Z is inside the blackout \d{4}-\d\d-\d\d\. To start anyway, give the "
                     r"reason \(it is recorded in the evidence\): -e '\{\"rollback_override_reason\": \"<ticket>: <why>\"\}'",
                     " ".join(run.stdout.split()))  # printed as typed: the quotes not doubled
    assert evidence["result"] == "stopped" and evidence["change_window"]["started"] == "refused"
    assert evidence["plan"] == {}
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
    # the override it names is recorded: the deploy scenario's automatic rollback starts by one (its reason in the
    # rollback's evidence), and the change_window role's tests cover the decision


def test_a_refusal_says_why_for_each_host_in_its_last_words(tmp_path, hosts):
    """A refusal of the release step (a loop over the hosts) used to end with only "One or more items failed"."""
    forward(hosts)
    run, evidence = rollback(tmp_path, "-e", "rollback_version=9.9.9")
    assert run.returncode != 0
    last = " ".join(run.stdout.split("Rollback stopped at")[-1].split())
    assert "app1: version: release 9.9.9 is not installed; installed: 1.0.0, 1.1.0, 1.2.0; app2: version: release 9.9.9 is " \
        "not installed" in last, last
    assert "One or more items failed" not in last
    assert evidence["result"] == "stopped" and "app2: version: release 9.9.9 is not installed" in evidence["stopped"]["error"]
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS}


def test_two_rollbacks_at_once_the_second_is_refused_and_the_site_stays_up(tmp_path, lab, hosts):
    """Two rollbacks 5 s apart used to put both servers in MAINT at once (23 x 503). The platform lock refuses the
    second before it changes anything, naming the first; the first ends normally and releases the lock."""
    forward(hosts)
    lock = "SELECT coalesce(max(owner), '') FROM opsready_runbook_lock WHERE name = 'platform'"
    poller = Poller(lab)
    poller.start()
    first = subprocess.Popen(["ansible-playbook", str(PROJECT / "playbooks/rollback.yml"),
                              "-e", "rollback_evidence_dir=%s" % (tmp_path / "first")],
                             cwd=PROJECT, env=_ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: psql(hosts["db1"], "SELECT to_regclass('opsready_runbook_lock') IS NOT NULL") == "t"
                        and psql(hosts["db1"], lock), timeout=120), "the first rollback never took the lock"
        holder = psql(hosts["db1"], lock)
        run, refused = rollback(tmp_path / "second")
        out, dummy = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
        poller.stop.set()
        poller.join()
    said = " ".join(run.stdout.split())
    assert run.returncode != 0 and "another runbook is changing this platform: the lock platform is held by %s " \
        "(rollback: rollback of app1, app2) for" % holder in said, said[-3000:]
    assert refused["result"] == "stopped" and refused["lock"]["refused"].startswith("another runbook")
    assert [step["step"] for step in refused["timeline"]][-1] == "stopped"
    assert first.returncode == 0, out[-3000:]
    assert poller.failures == [] and poller.codes[200] > 20
    assert live_releases(hosts) == {name: "releases/1.0.0" for name in APP_HOSTS} and schema(hosts) == "0001"
    assert psql(hosts["db1"], lock) == ""   # released at the end


# ------------------------------------------------------------------------------------ automatic rollback trigger
def watch(tmp_path, *args):
    run = ansible_playbook("playbooks/release_watch.yml", "-e", "release_watch_evidence_dir=%s" % tmp_path,
                           "-e", "rollback_evidence_dir=%s" % tmp_path, "-e", "release_watch_interval=2", *args)
    found = {kind: sorted(tmp_path.glob(kind + "-*.json")) for kind in ("release_watch", "rollback")}
    return run, {kind: json.loads(paths[-1].read_text()) if paths else None for kind, paths in found.items()}


def test_a_release_that_holds_is_left_alone(tmp_path, lab, hosts):
    forward(hosts)
    (run, evidence), poller = under_traffic(lab, lambda: watch(tmp_path, "-e", "release_watch_seconds=8"))
    assert run.returncode == 0, run.stdout[-3000:]
    assert set(recap_changed(run.stdout).values()) == {0}
    assert evidence["release_watch"]["held"] is True and evidence["release_watch"]["triggers"] == []
    assert evidence["rollback"] is None
    assert all(host["sweeps"] >= 3 for host in evidence["release_watch"]["hosts"].values())
    checks = evidence["release_watch"]["hosts"]["app1"]["checks"]
    assert checks[0][:2] == ["api error rate and p95", "ok"] and " 0 errors (0%)" in checks[0][2], checks
    assert poller.failures == [] and poller.codes[200] > 20
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS}


def test_a_signal_that_cannot_be_read_never_rolls_back(tmp_path, lab, hosts):
    """A 404 metrics URL used to roll a healthy release back (and drop a column): the watch now refuses to start."""
    forward(hosts)
    metrics = {"url": "http://127.0.0.1:8000/no-metrics-here", "requests": "demo_http_requests_total", "window": 1}
    broken = json.dumps({"release_watch_checks": [
        {"name": "api error rate and p95", "metrics": metrics},
        {"name": "api liveness", "http": {"url": "http://127.0.0.1/health"}}]})
    run, evidence = watch(tmp_path, "-e", broken, "-e", "release_watch_seconds=8")
    said = " ".join(run.stdout.split())
    assert run.returncode != 0 and "Not watching: app1 api error rate and p95: metrics endpoint " \
        "http://127.0.0.1:8000/no-metrics-here answered HTTP 404" in said, said[-3000:]
    assert evidence["rollback"] is None and evidence["release_watch"] is None
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"


def test_in_check_mode_a_release_that_fails_is_not_rolled_back_and_says_it_would(tmp_path, lab, hosts):
    forward(hosts)
    fault = json.dumps({"release": "1.1.0", "api_status": 500})
    for name in APP_HOSTS:
        hosts[name].check_output("printf '%%s' %s > /etc/demo/fault.json && chmod 0644 /etc/demo/fault.json", fault)
    try:
        (run, evidence), poller = under_traffic(lab, lambda: watch(tmp_path, "--check", "-e",
                                                                   "release_watch_seconds=60"))
    finally:
        for name in APP_HOSTS:
            hosts[name].check_output("rm -f /etc/demo/fault.json")
    said = " ".join(run.stdout.split())
    assert run.returncode != 0 and "Would roll back (check mode: nothing changed; the plan is above)." in said
    assert "Rolled back" not in said
    assert evidence["release_watch"]["check_mode"] is True and evidence["release_watch"]["roll_back"] is True
    assert evidence["rollback"]["result"] == "planned (check mode)"
    assert live_releases(hosts) == {name: "releases/1.1.0" for name in APP_HOSTS} and schema(hosts) == "0001,0002"
