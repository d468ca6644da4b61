"""Apply the demo app's versioned SQL migrations (NNNN_name.up.sql / NNNN_name.down.sql) to PostgreSQL.

The convention: schema_migrations(version, name, applied_at) records what is applied; each step runs in its own
transaction together with its row in schema_migrations. This tool only goes up (the lab needs nothing else);
rolling back is the collection's job.

Usage: python3 migrate.py DIR status|up      (DSN from DEMO_DB_DSN)
"""
import os
import re
import sys

MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")
TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""


def discover(directory):
    """Return [(version, name, up_path, down_path or None)] sorted by version; every version needs an up file."""
    steps = {}
    for entry in sorted(os.listdir(directory)):
        match = MIGRATION.match(entry)
        if not match:
            continue
        version, name, direction = match.groups()
        step = steps.setdefault(version, {"name": name})
        if step["name"] != name:
            raise ValueError(f"migration {version} has two names: {step['name']} and {name}")
        step[direction] = os.path.join(directory, entry)
    for version, step in steps.items():
        if "up" not in step:
            raise ValueError(f"migration {version}_{step['name']} has no .up.sql file")
    return [(v, s["name"], s["up"], s.get("down")) for v, s in sorted(steps.items())]


def applied(conn):
    with conn, conn.cursor() as cur:
        cur.execute(TABLE)
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in cur.fetchall()]


def pending(steps, done):
    return [step for step in steps if step[0] not in set(done)]


def up(conn, steps):
    ran = []
    for step in pending(steps, applied(conn)):
        version, name, up_path = step[:3]
        with open(up_path) as f:
            sql = f.read()
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        ran.append(version)
    return ran


def main(argv):
    if len(argv) != 3 or argv[2] not in ("status", "up"):
        print(__doc__, file=sys.stderr)
        return 2
    import psycopg2

    steps = discover(argv[1])
    conn = psycopg2.connect(os.environ.get("DEMO_DB_DSN", "dbname=demo"))
    try:
        if argv[2] == "up":
            ran = up(conn, steps)
            print("applied: " + (" ".join(ran) if ran else "nothing"))
        done = applied(conn)
        print("current: " + (done[-1] if done else "none"))
        print("pending: " + (" ".join(step[0] for step in pending(steps, done)) or "none"))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
