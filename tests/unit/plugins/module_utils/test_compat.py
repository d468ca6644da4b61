"""_compat: which statements of a pending migration break the release still serving traffic, and the judgement of
a plan. Every SQL snippet of the table is also run on a real PostgreSQL 15 (pg_server), so the table holds SQL
PostgreSQL takes, not SQL the judge happens to read."""
import pathlib
import shlex
import uuid

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.utils import vars as ansible_vars
from ansible_collections.opsready.runbooks.plugins.module_utils import _compat as compat
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

PROJECT = pathlib.Path(__file__).resolve().parents[4]
DEMO = PROJECT / "lab" / "demo_app" / "migrations"

# The objects the snippets change (empty tables: a NOT NULL column without a default is accepted on them).
SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text, note text, n int, price numeric(10, 2));
CREATE TABLE "Items" ("Note" text, qty int);
CREATE TABLE a (x int);
CREATE TABLE b (x int);
CREATE TABLE users (id int PRIMARY KEY);
CREATE VIEW v AS SELECT id, name FROM items;
CREATE MATERIALIZED VIEW m AS SELECT id FROM items;
CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE SCHEMA s;
CREATE TABLE stock (n int);
CREATE TABLE s.stock (n int);
CREATE SEQUENCE seq;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE INDEX items_name ON items (name);
ALTER TABLE items ADD CONSTRAINT items_name_check CHECK (name <> '');
"""

BREAKING = [
    # drops
    ("DROP TABLE a;", ["drop table"]),
    ("DROP TABLE items CASCADE;", ["drop table"]),
    ("DROP TABLE IF EXISTS a, b;", ["drop table"]),
    ("drop table if exists a cascade", ["drop table"]),
    ('DROP TABLE "Items";', ["drop table"]),
    ("ALTER TABLE items DROP COLUMN note;", ["drop column"]),
    ("ALTER TABLE items DROP note;", ["drop column"]),
    ("ALTER TABLE items DROP COLUMN IF EXISTS note CASCADE;", ["drop column"]),
    ('ALTER TABLE IF EXISTS ONLY "Items" DROP COLUMN "Note";', ["drop column"]),
    ('Alter Table public."Items" * Drop "Note"', ["drop column"]),
    ('ALTER TABLE ONLY ("Items") DROP "Note";', ["drop column"]),
    ("DROP VIEW v;", ["drop view"]),
    ("DROP MATERIALIZED VIEW IF EXISTS m;", ["drop view"]),
    ("DROP FUNCTION f(int);", ["drop function"]),
    ("DROP SCHEMA s CASCADE;", ["drop schema"]),
    ("DROP SEQUENCE seq;", ["drop sequence"]),
    ("DROP TYPE mood;", ["drop type"]),
    ("DROP DOMAIN positive;", ["drop type"]),
    ("DROP EXTENSION IF EXISTS pgcrypto;", ["drop extension"]),
    ("TRUNCATE items;", ["truncate"]),
    ("TRUNCATE TABLE a, b RESTART IDENTITY;", ["truncate"]),
    # renames
    ("ALTER TABLE items RENAME TO things;", ["rename table"]),
    ('ALTER TABLE "Items" RENAME TO items_old;', ["rename table"]),
    ("ALTER TABLE items SET SCHEMA s;", ["rename table"]),
    ("ALTER TABLE items RENAME COLUMN note TO remark;", ["rename column"]),
    ("ALTER TABLE items RENAME note TO remark;", ["rename column"]),
    ('ALTER TABLE "Items" RENAME "Note" TO "Remark";', ["rename column"]),
    ("ALTER VIEW v RENAME TO w;", ["rename view"]),
    ("ALTER VIEW v RENAME COLUMN name TO label;", ["rename column"]),
    ("ALTER MATERIALIZED VIEW m RENAME TO n;", ["rename view"]),
    ("ALTER FUNCTION f(int) RENAME TO g;", ["rename function"]),
    ("ALTER FUNCTION f(int) SET SCHEMA s;", ["rename function"]),
    ("ALTER SCHEMA s RENAME TO t;", ["rename schema"]),
    # columns the old code reads differently or does not fill
    ("ALTER TABLE items ALTER COLUMN n TYPE bigint;", ["alter column type"]),
    ("ALTER TABLE items ALTER n SET DATA TYPE numeric(12, 2) USING n::numeric(12, 2);", ["alter column type"]),
    ("ALTER TABLE items ALTER COLUMN n SET NOT NULL;", ["set not null"]),
    ("ALTER TABLE items ALTER COLUMN name DROP DEFAULT;", ["drop default"]),
    ("ALTER TABLE items ADD COLUMN qty int NOT NULL;", ["add column not null without default"]),
    ("ALTER TABLE items ADD qty int NOT NULL;", ["add column not null without default"]),
    ('ALTER TABLE items ADD COLUMN IF NOT EXISTS "Qty" int CONSTRAINT q NOT NULL CHECK (("Qty") > 0);',
     ["add column not null without default"]),
    ("ALTER TABLE a ADD COLUMN code text PRIMARY KEY;", ["add column not null without default"]),
    ("ALTER TABLE items ADD COLUMN owner int NOT NULL REFERENCES users ON DELETE SET DEFAULT;",
     ["add column not null without default"]),  # SET DEFAULT of the foreign key is not a default
    # several actions in one ALTER TABLE, each judged
    ("ALTER TABLE items ADD COLUMN qty int, DROP COLUMN note, ALTER COLUMN price TYPE numeric(12, 2) "
     "USING round(price, 2);", ["drop column", "alter column type"]),
    ("ALTER TABLE items\n  ADD COLUMN tags text[] DEFAULT ARRAY['a', 'b'],\n  ALTER COLUMN n SET NOT NULL;",
     ["set not null"]),
    ("ALTER TABLE items DROP COLUMN note, DROP COLUMN price;", ["drop column"]),  # one finding per kind
    # a default given in the same migration: the old code, not filling the column, gets it
    ("ALTER TABLE items ALTER COLUMN n SET DEFAULT 0, ALTER COLUMN n SET NOT NULL;", []),
    ("ALTER TABLE items ALTER COLUMN n SET NOT NULL;\nALTER TABLE items ALTER n SET DEFAULT 0;", []),
    ("ALTER TABLE items ADD COLUMN qty int NOT NULL;\nALTER TABLE items ALTER qty SET DEFAULT 1;", []),
    ("ALTER TABLE items ALTER COLUMN name DROP DEFAULT;\nALTER TABLE items ALTER name SET DEFAULT 'x';", []),
    ("ALTER TABLE items ADD COLUMN qty int NOT NULL DEFAULT 0;\nALTER TABLE items ALTER COLUMN qty DROP DEFAULT;",
     ["drop default"]),  # backfilled with a default, then the default taken away: the old code's inserts fail
    ('ALTER TABLE items ALTER n SET DEFAULT 0;\nALTER TABLE "Items" ALTER qty SET NOT NULL;', ["set not null"]),
    ("ALTER TABLE s.stock ALTER n SET DEFAULT 0;\nALTER TABLE stock ALTER n SET NOT NULL;", ["set not null"]),
    ("ALTER TABLE s.stock ALTER n SET DEFAULT 0;\nALTER TABLE S.Stock ALTER n SET NOT NULL;", []),
    # a table created by the migration is unknown to the live release: what is done to it breaks nothing
    ("CREATE TABLE jobs (id int, state text);\nALTER TABLE jobs ALTER COLUMN state SET NOT NULL, DROP COLUMN id;\n"
     "ALTER TABLE jobs RENAME TO tasks;", []),
    ("CREATE TABLE IF NOT EXISTS s.jobs (id int);\nTRUNCATE s.jobs;\nDROP TABLE s.jobs;", []),
    ("CREATE UNLOGGED TABLE jobs (id int);\nDROP TABLE IF EXISTS jobs, a;", ["drop table"]),
    ("CREATE TABLE s.items (n int);\nDROP TABLE items CASCADE;", ["drop table"]),  # another items
    ("CREATE TABLE public.jobs (n int);\nALTER TABLE jobs DROP n;", ["drop column"]),  # read as another name: said
    # code that is not read
    ("DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'a'; END $$;", ["do block"]),
    # expand: fine
    ("CREATE TABLE jobs (id bigserial PRIMARY KEY, payload jsonb NOT NULL);", []),
    ("CREATE INDEX items_note ON items (note);", []),
    ("CREATE INDEX CONCURRENTLY IF NOT EXISTS items_price ON items (price);", []),
    ("CREATE UNIQUE INDEX CONCURRENTLY items_lower_name ON items (lower(name));", []),
    ("ALTER TABLE items ADD COLUMN remark text;", []),
    ("ALTER TABLE items ADD remark text NULL;", []),
    ("ALTER TABLE items ADD COLUMN qty int NOT NULL DEFAULT 0;", []),
    ("ALTER TABLE items ADD COLUMN qty int DEFAULT 0 NOT NULL;", []),
    ("ALTER TABLE items ADD COLUMN added timestamptz NOT NULL DEFAULT now();", []),
    ("ALTER TABLE items ADD COLUMN serial_no bigserial;", []),
    ("ALTER TABLE items ADD COLUMN seq_no int GENERATED ALWAYS AS IDENTITY;", []),
    ("ALTER TABLE items ADD COLUMN total numeric GENERATED ALWAYS AS (price * 2) STORED;", []),
    ("ALTER TABLE items ADD COLUMN state mood NOT NULL DEFAULT 'ok';", []),
    ("ALTER TABLE items ALTER COLUMN name DROP NOT NULL;", []),
    ("ALTER TABLE items ALTER COLUMN name SET DEFAULT 'unnamed';", []),
    ("ALTER TABLE items ADD CONSTRAINT items_n_check CHECK (n IS NOT NULL) NOT VALID;", []),
    ("ALTER TABLE items VALIDATE CONSTRAINT items_name_check;", []),
    ("ALTER TABLE items DROP CONSTRAINT items_name_check;", []),
    ("ALTER TABLE items RENAME CONSTRAINT items_name_check TO items_name_nonempty;", []),
    ("CREATE VIEW w AS SELECT id FROM items;", []),
    ("CREATE OR REPLACE VIEW v AS SELECT id, name, note FROM items;", []),
    ("INSERT INTO items (id, name) VALUES (1, 'drop table items');", []),
    ("UPDATE items SET note = 'x' WHERE note IS NULL;", []),
    ("COMMENT ON COLUMN items.note IS 'DROP COLUMN later; ALTER TABLE items RENAME TO x';", []),
    # DROP INDEX is not counted: queries never name an index; the old code keeps working (perhaps slower)
    ("DROP INDEX items_name;", []),
    ("DROP INDEX CONCURRENTLY IF EXISTS items_name;", []),
    # words that are not statements: strings, comments, quoted names, dollar-quoted bodies
    ("SELECT 'DROP TABLE items';", []),
    ("SELECT E'it\\'s; DROP TABLE items';", []),
    ("-- DROP TABLE items;\nSELECT 1;", []),
    ("/* DROP TABLE items; /* nested */ TRUNCATE items; */ SELECT 1;", []),
    ('CREATE TABLE "drop table items" ("truncate" int);', []),
    ("CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n  DROP TABLE items;\n"
     "  TRUNCATE a;\nEND\n$body$;", []),
    ("CREATE FUNCTION cleanup() RETURNS void LANGUAGE sql\nBEGIN ATOMIC\n  DELETE FROM a;\n  DELETE FROM b;\nEND;",
     []),
    ("CREATE TABLE t2 (note text DEFAULT $$ALTER TABLE items DROP COLUMN note;$$);", []),
]


def kinds(sql):
    return [finding["kind"] for finding in compat.breaking(sql)]


@pytest.mark.parametrize("sql, expected", BREAKING)
def test_breaking_statements(sql, expected):
    assert kinds(sql) == expected


def test_the_table_covers_every_kind():
    assert sorted(set(kind for sql, expected in BREAKING for kind in expected)) == sorted(compat.KINDS)


@pytest.fixture
def scratch(pg_server, pg_admin):
    """A database of its own holding SCHEMA."""
    psycopg2 = pytest.importorskip("psycopg2")
    name = "compat_%s" % uuid.uuid4().hex[:10]
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s" % name)
    conn = psycopg2.connect(pg_server["dsn"].replace("dbname=postgres", "dbname=%s" % name))
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.commit()
    yield conn
    conn.close()
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE %s" % name)
    admin.close()


def test_every_snippet_is_sql_postgresql_runs(scratch):
    """Each snippet of the table runs on PostgreSQL 15 (then rolled back), except CONCURRENTLY, which runs outside
    a transaction and is run without the word."""
    refused = []
    for sql, expected in BREAKING:
        try:
            with scratch.cursor() as cur:
                cur.execute(sql.replace(" CONCURRENTLY", ""))
        except Exception as e:  # pylint: disable=broad-exception-caught
            refused.append("%s: %s" % (sql, str(e).strip()))
        finally:
            scratch.rollback()
    assert refused == []


def test_findings_name_the_line_and_the_statement_as_written():
    sql = ("-- 0003: the contract step\nCREATE TABLE audit (id int);\n\nALTER TABLE Items  -- no longer read\n"
           "    DROP COLUMN \"Note\";\nSELECT 1; drop view v;")
    assert compat.breaking(sql) == [
        {"line": 4, "kind": "drop column", "statement": 'ALTER TABLE Items DROP COLUMN "Note"'},
        {"line": 6, "kind": "drop view", "statement": "drop view v"},
    ]


def test_a_long_statement_is_cut_on_one_line():
    sql = "ALTER TABLE items\n" + ",\n".join("  ADD COLUMN extra_%02d text" % n for n in range(10)) + ",\n  DROP note;"
    [finding] = compat.breaking(sql)
    assert finding["kind"] == "drop column" and "\n" not in finding["statement"]
    assert len(finding["statement"]) == compat.EXCERPT and finding["statement"].endswith("...")
    assert finding["statement"].startswith("ALTER TABLE items ADD COLUMN extra_00 text, ADD COLUMN extra_01 text,")


def test_a_string_in_a_statement_stays_on_one_line():
    [finding] = compat.breaking("TRUNCATE items; COMMENT ON TABLE a IS 'two\nlines';")
    assert finding == {"line": 1, "kind": "truncate", "statement": "TRUNCATE items"}
    [finding] = compat.breaking("DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;")
    assert finding["statement"] == "DO $$ BEGIN PERFORM 1; END $$"


@pytest.mark.parametrize("name", ["0001_create_items", "0002_add_item_note"])
def test_the_demo_apps_migrations_go_forward_compatibly(name):
    step = {"version": name[:4], "name": name[5:], "direction": "up",
            "sql": (DEMO / ("%s.up.sql" % name)).read_text()}
    assert compat.breaking(step["sql"]) == []
    assert compat.judge([step], [])["compatible"] is True


def test_the_demo_apps_down_migrations_would_break_it():
    """The same files read backwards: what a contract step looks like to the judge."""
    assert kinds((DEMO / "0001_create_items.down.sql").read_text()) == ["drop table", "drop table"]
    assert kinds((DEMO / "0002_add_item_note.down.sql").read_text()) == ["drop column"]


@pytest.mark.parametrize("bad", [None, 3, b"DROP TABLE items", ["DROP TABLE items"]])
def test_breaking_wants_a_string(bad):
    with pytest.raises(OpsreadyError, match="breaking expects a migration's SQL as a string"):
        compat.breaking(bad)


# ------------------------------------------------------------------------------------------ judging a plan
def step(version, sql, **more):
    return dict({"version": version, "name": "m%s" % version, "direction": "up", "sql": sql}, **more)


FINE = step("0002", "ALTER TABLE items ADD COLUMN note text;\n")
DROPS = step("0003", "CREATE INDEX CONCURRENTLY items_name ON items (name);\nALTER TABLE items DROP COLUMN note;\n"
             "DROP VIEW item_names;\n")
TOOL = {"version": "0004", "direction": "up"}  # a step whose SQL is not given


def test_a_plan_with_a_contract_step_is_not_compatible_and_says_the_way_forward():
    judged = compat.judge([FINE, DROPS, TOOL], [])
    assert judged["compatible"] is False and judged["unjudged"] == ["0004"]
    assert judged["findings"] == [
        {"version": "0003", "line": 2, "kind": "drop column", "statement": "ALTER TABLE items DROP COLUMN note",
         "acknowledged": False},
        {"version": "0003", "line": 3, "kind": "drop view", "statement": "DROP VIEW item_names", "acknowledged": False},
    ]
    assert list(judged["findings"][0]) == ["version", "line", "kind", "statement", "acknowledged"]
    assert judged["message"] == (
        "Not backward compatible: the release still serving traffic breaks once the schema goes forward. Breaking: "
        "0003 line 2: drop column (ALTER TABLE items DROP COLUMN note); 0003 line 3: drop view (DROP VIEW "
        "item_names). Not judged: the SQL of 0004 is not known (the backend gives none); read it by hand. Either "
        "ship these contract steps in a later release, once the live release no longer uses what they change, or, "
        "after checking that it does not, acknowledge them (the list replaces the one given):\n"
        "-e '{\"deploy_migrations_acknowledged\": [\"0003\", \"0004\"]}'")


@pytest.mark.parametrize("steps, acknowledged, compatible, message", [
    ([], [], True, "No pending migration: nothing to judge."),
    ([FINE], [], True, "Pending migration 0002: backward compatible, no statement drops, renames, retypes or "
                       "tightens what the live release may use."),
    ([FINE, step("0003", "")], ["0001"], True, "Pending migrations 0002, 0003: backward compatible, no statement "
                                               "drops, renames, retypes or tightens what the live release may use. "
                                               "Acknowledged but not pending: 0001."),
    ([FINE, DROPS], ["0003"], True, "Pending migrations 0002, 0003: compatible as acknowledged; breaking, but "
                                    "checked as not used by the live release: 0003 line 2: drop column (ALTER TABLE "
                                    "items DROP COLUMN note); 0003 line 3: drop view (DROP VIEW item_names)."),
    ([TOOL], ["0004"], True, "Pending migration 0004: compatible as acknowledged; SQL not known, read by hand: 0004."),
    ([step("0004", None)], ["0004"], True, None),
    ([TOOL], [], False, None),
    ([FINE, DROPS, TOOL], ["0003"], False, None),
    ([FINE, DROPS, TOOL], ["0004"], False, None),
    ([FINE, DROPS, TOOL], ["0003", "0004"], True, None),
    ([DROPS], ["3"], False, None),
])
def test_compatible_only_when_everything_breaking_is_acknowledged(steps, acknowledged, compatible, message):
    judged = compat.judge(steps, acknowledged)
    assert judged["compatible"] is compatible
    assert all(f["acknowledged"] == (f["version"] in acknowledged) for f in judged["findings"])
    if message:
        assert judged["message"] == message


def test_what_is_already_acknowledged_stays_in_the_suggestion():
    message = compat.judge([FINE, DROPS, step("0005", "TRUNCATE jobs;")], ["0003", "0009"])["message"]
    assert "Breaking: 0005 line 1: truncate (TRUNCATE jobs). Already acknowledged: 0003. Acknowledged but not " \
           "pending: 0009. Either ship this contract step in a later release, once the live release no longer " \
           "uses what it changes, or, after checking that it does not, acknowledge it" in message
    assert message.splitlines()[-1] == "-e '{\"deploy_migrations_acknowledged\": [\"0003\", \"0005\"]}'"


def test_the_suggested_acknowledgement_is_what_ansible_playbook_reads_and_it_makes_the_plan_compatible(monkeypatch):
    """The last line, split as a shell does and loaded as ansible-playbook loads -e, gives the list that passes."""
    steps = [FINE, DROPS, TOOL, step("0005", "ALTER TABLE items RENAME TO things;")]
    message = compat.judge(steps, [])["message"]
    option, value = shlex.split(message.splitlines()[-1])
    monkeypatch.setattr(ansible_vars.context, "CLIARGS", {"extra_vars": (value,)})
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)
    loaded = dict(ansible_vars.load_extra_vars(DataLoader()))
    assert option == "-e" and loaded == {"deploy_migrations_acknowledged": ["0003", "0004", "0005"]}
    assert compat.judge(steps, loaded["deploy_migrations_acknowledged"])["compatible"] is True


def test_many_findings_are_all_returned_and_the_first_ten_named():
    sql = "".join("ALTER TABLE t%d DROP COLUMN c;\n" % n for n in range(12))
    judged = compat.judge([step("0007", sql)], [])
    assert len(judged["findings"]) == 12 and [f["line"] for f in judged["findings"]] == list(range(1, 13))
    assert "0007 line 10: drop column (ALTER TABLE t9 DROP COLUMN c); and 2 more (see findings)." in judged["message"]
    assert "t10" not in judged["message"]


def test_alembic_steps_are_judged_by_revision():
    """backend=alembic: {version: revision, direction, sql} (no name); its version-table statements are fine."""
    steps = [{"version": "b2", "direction": "up", "sql": "CREATE TABLE gates (id integer);\n\nUPDATE "
              "alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';"},
             {"version": "c3", "direction": "up", "sql": "ALTER TABLE flights DROP COLUMN gate;\n\nUPDATE "
              "alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';"}]
    judged = compat.judge(steps, [])
    assert [(f["version"], f["line"], f["kind"]) for f in judged["findings"]] == [("c3", 1, "drop column")]


def test_a_table_created_by_an_earlier_pending_step_is_new_to_the_live_release():
    steps = [step("0003", "CREATE TABLE public.jobs (id int, state text);"),
             step("0004", "ALTER TABLE public.jobs ALTER state SET NOT NULL;\nALTER TABLE items DROP COLUMN note;\n"
                          "DROP TABLE public.jobs, jobs;")]
    judged = compat.judge(steps, [])
    assert [(f["version"], f["line"], f["kind"]) for f in judged["findings"]] == [
        ("0004", 2, "drop column"), ("0004", 3, "drop table")]
    assert compat.created_tables(steps[0]["sql"] + 'CREATE TEMP TABLE "Jobs" (id int);') == {
        ("public", "jobs"), ("Jobs",)}


@pytest.mark.parametrize("steps, acknowledged, message", [
    (None, [], r"expects the sql list db_migration returns in check mode with state=applied \(a list of \{version, "
               r"sql\}\), got None; backend=command returns no sql \(the tool's preview is plan_output\): there is no "
               r"SQL to judge"),
    ({"changed": True, "sql": []}, [],
     r"expects the sql list of db_migration's result, got the whole result: give its \.sql"),
    ("DROP TABLE items;", [], r"expects the sql list .*, got the str 'DROP TABLE items;'"),
    ({"0003": "DROP TABLE items;"}, [], r"expects the sql list .*, got a dict$"),
    (["DROP TABLE items;"], [], r"^step 1 of the plan is the str 'DROP TABLE items;', not a dict with version and sql"),
    ([FINE, None], [], r"^step 2 of the plan is None, not a dict"),
    ([{"sql": "SELECT 1;"}], [], r"^step 1 of the plan has no version: a version is a string"),
    ([{"version": 3, "sql": "SELECT 1;"}], [], r"^step 1 of the plan has the version the int 3: a version is a "
                                               r"string \(db_migration returns \"0003\"\)"),
    ([{"version": "", "sql": "SELECT 1;"}], [], r"^step 1 of the plan has the version the str '': a version"),
    ([{"version": "0003", "sql": ["DROP TABLE items;"]}], [],
     r"^migration 0003: its sql is a list, not the migration's SQL as a string"),
    ([step("0002", "ALTER TABLE items DROP COLUMN note;", direction="down")], [],
     r"^migration 0002 goes down: only a plan going forward is judged \(db_migration state=applied in check mode\)"),
    ([FINE], "0003", r"^acknowledged is the string '0003', not a list of versions: give a list, as in -e "
                     r"'\{\"deploy_migrations_acknowledged\": \[\"0003\"\]\}'"),
    ([FINE], None, r"^acknowledged is None, not a list of versions"),
    ([FINE], {"0003": True}, r"^acknowledged is a dict, not a list of versions"),
    ([FINE], [3], r"^acknowledged holds the int 3: versions are strings, quoted as in -e .* \(unquoted, YAML reads "
                  r"0003 as the number 3\)"),
    ([FINE], ["0003", None], r"^acknowledged holds None: versions are strings"),
])
def test_bad_input_is_refused_saying_what_to_give(steps, acknowledged, message):
    with pytest.raises(OpsreadyError, match=message):
        compat.judge(steps, acknowledged)
