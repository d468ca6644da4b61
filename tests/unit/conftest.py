"""Make this checkout importable as ansible_collections.opsready.runbooks, wherever it is cloned."""
import pathlib
import sys
import tempfile

PROJECT = pathlib.Path(__file__).resolve().parents[2]
_root = pathlib.Path(tempfile.mkdtemp(prefix="opsready-unit-"))
(_root / "ansible_collections" / "opsready").mkdir(parents=True)
(_root / "ansible_collections" / "opsready" / "runbooks").symlink_to(PROJECT)
sys.path.insert(0, str(_root))


# Real servers on loopback, shared by the unit tests that must talk to the real thing (no fake cursor or client).
# PostgreSQL 15 and Redis come from Debian (scripts/setup.sh installs them). Without them the tests that need them
# are skipped locally, and fail in CI (CI=true), so a missing server never hides a test there.
import contextlib  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "unit-test-secret"
REDIS_PASSWORD = "unit-redis-secret"


def _missing(what):
    message = "%s is not installed (scripts/setup.sh installs it)" % what
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on %d within %d s" % (what, port, timeout))


def _pg_base():
    """A directory for clusters and the command prefix that runs PostgreSQL's programs. Not under pytest's own
    temporary directory: as root, that is mode 0700 and the cluster's user cannot reach it. initdb refuses root, so
    as root the programs run as the postgres (or nobody) user."""
    if not (PG_BIN / "initdb").exists():
        _missing("PostgreSQL 15 (postgresql-15)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="opsready-pg-"))
    prefix = []
    if os.geteuid() == 0:
        user = "postgres" if _has_user("postgres") else "nobody"
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        os.chmod(base, 0o700)
        prefix = ["runuser", "-u", user, "--"]
    return base, prefix


def _pg_start(base, prefix, data, *settings):
    """postgres on 127.0.0.1 at a free port for the cluster in data, once it accepts sessions: (process, port)."""
    port = _free_port()
    proc = subprocess.Popen(prefix + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + str(base),
                                      "-c", "fsync=off", "-c", "max_connections=50", *settings],
                            stdout=subprocess.DEVNULL, stderr=open(base / ("%s.log" % data.name), "wb"))
    try:
        _wait_port(port, proc, "postgres")
        # listening is not accepting: wait until a session can start ("the database system is starting up")
        deadline = time.monotonic() + 30
        while subprocess.run(prefix + [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not accept connections within 30 s")
            time.sleep(0.1)
    except BaseException:
        _stop(proc)
        raise
    return proc, port


def _pg_initdb(base, prefix, name="data"):
    data, pwfile = base / name, base / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if prefix:
        entry = pwd.getpwnam(prefix[2])
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    subprocess.run(prefix + [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
                             "--pwfile", str(pwfile), "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    return data


def _pg_params(port):
    return {"login_host": "127.0.0.1", "login_port": port, "login_user": "postgres",
            "login_password": PG_PASSWORD, "login_db": "postgres",
            "dsn": "host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres" % (port, PG_PASSWORD)}


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 (superuser postgres, password auth)."""
    base, prefix = _pg_base()
    proc = None
    try:
        proc, port = _pg_start(base, prefix, _pg_initdb(base, prefix))
        yield _pg_params(port)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _pg_pair():
    """A primary and a standby streaming from it through a physical slot (pg_basebackup -R), clusters of their own:
    {"primary": params, "standby": params}, each with its process under "proc"."""
    base, prefix = _pg_base()
    procs = []
    try:
        primary_proc, primary_port = _pg_start(base, prefix, _pg_initdb(base, prefix, "primary"))
        procs.append(primary_proc)
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        subprocess.run(prefix + [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port), "-U",
                                 "postgres", "-D", str(base / "standby"), "-R", "-X", "stream", "-C", "-S", "standby1",
                                 "--checkpoint=fast"], check=True, capture_output=True, env=env)
        standby_proc, standby_port = _pg_start(base, prefix, base / "standby", "-c", "cluster_name=standby1")
        procs.append(standby_proc)
        yield {"primary": dict(_pg_params(primary_port), proc=primary_proc, data=base / "primary", base=base,
                               prefix=prefix),
               "standby": dict(_pg_params(standby_port), proc=standby_proc, data=base / "standby", base=base,
                               prefix=prefix)}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


PGBOUNCER = pathlib.Path("/usr/sbin/pgbouncer")
PGBOUNCER_ADMIN_PASSWORD = "unit-pgbouncer-secret"


@contextlib.contextmanager
def _pgbouncer(server):
    """PgBouncer on 127.0.0.1 at a free port in front of `server` (database app -> its postgres database, pool_mode
    transaction, a client waits at most 30 s): {"admin": console params (user admin), "dsn": a client's DSN through
    it, "config": its file, "proc"}."""
    if not PGBOUNCER.exists():
        _missing("PgBouncer (pgbouncer)")
    base, prefix = _pg_base()
    port = _free_port()
    (base / "userlist.txt").write_text('"admin" "%s"\n"postgres" "%s"\n' % (PGBOUNCER_ADMIN_PASSWORD, PG_PASSWORD))
    config = base / "pgbouncer.ini"
    config.write_text(
        "[databases]\n; the app's database\napp = host=127.0.0.1 port=%d dbname=postgres pool_size=4\n\n"
        "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir = %s\nauth_type = scram-sha-256\n"
        "auth_file = %s/userlist.txt\nadmin_users = admin\npool_mode = transaction\nquery_wait_timeout = 30\n"
        "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
        % (server["login_port"], port, base, base, base, base))
    if prefix:
        entry = pwd.getpwnam(prefix[2])
        for path in (config, base / "userlist.txt"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    proc = subprocess.Popen(prefix + [str(PGBOUNCER), str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(base / "pgbouncer.err", "wb"))
    try:
        _wait_port(port, proc, "pgbouncer")
        yield {"admin": {"login_host": "127.0.0.1", "login_port": port, "login_user": "admin",
                         "login_password": PGBOUNCER_ADMIN_PASSWORD},
               "dsn": "host=127.0.0.1 port=%d user=postgres password=%s dbname=app" % (port, PG_PASSWORD),
               "config": str(config), "log": base / "pgbouncer.log", "proc": proc}
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pgbouncer(pg_pair):
    """PgBouncer of the test's own in front of the module's pair's primary (conftest pg_pair)."""
    with _pgbouncer(pg_pair["primary"]) as bouncer:
        yield bouncer


@pytest.fixture
def pgbouncer_pair(pg_fresh_pair):
    """Two PgBouncers of the test's own in front of its own pair's primary: (pair, [bouncer, bouncer])."""
    with _pgbouncer(pg_fresh_pair["primary"]) as one, _pgbouncer(pg_fresh_pair["primary"]) as two:
        yield pg_fresh_pair, [one, two]


@pytest.fixture(scope="module")
def pg_pair():
    """A primary and its streaming standby, shared by a test module that only reads them (or puts back what it did)."""
    with _pg_pair() as pair:
        yield pair


@pytest.fixture
def pg_fresh_pair():
    """A primary and its streaming standby of the test's own, for a test that promotes or breaks them."""
    with _pg_pair() as pair:
        yield pair


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A throwaway redis-server on 127.0.0.1 with a password, no persistence."""
    binary = shutil.which("redis-server")
    if not binary:
        _missing("Redis (redis-server)")
    base = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", REDIS_PASSWORD,
                             "--save", "", "--appendonly", "no", "--dir", str(base), "--daemonize", "no"],
                            stdout=open(base / "redis.log", "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc, "redis-server")
        yield {"host": "127.0.0.1", "port": port, "password": REDIS_PASSWORD}
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def pg_admin(pg_server):
    """Opens a superuser connection to pg_server, in autocommit (pg_server accepts sessions once it is yielded)."""
    import psycopg2

    def connect():
        conn = psycopg2.connect(pg_server["dsn"])
        conn.autocommit = True
        return conn
    return connect


def _scratch_database(pg_server, pg_admin, prefix):
    """A database of its own on pg_server, dropped afterwards: the connection options the modules take."""
    import uuid
    name = "%s_%s" % (prefix, uuid.uuid4().hex[:10])
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s" % name)
    yield {key: pg_server[key] for key in ("login_host", "login_port", "login_user", "login_password")} | {
        "login_db": name}
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute("DROP DATABASE %s" % name)
    admin.close()


@pytest.fixture
def db(pg_server, pg_admin):
    """A database of its own for each test."""
    yield from _scratch_database(pg_server, pg_admin, "db")


@pytest.fixture(scope="module")
def module_db(pg_server, pg_admin):
    """A database of its own for a test module."""
    yield from _scratch_database(pg_server, pg_admin, "mod")


# An Alembic env.py that runs online (a real connection) and offline (--sql, the preview).
ALEMBIC_ENV = """
from alembic import context
from sqlalchemy import create_engine

url = context.config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(url).connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
"""


@pytest.fixture(scope="session")
def alembic_env():
    return ALEMBIC_ENV


def _stop(proc, timeout=20):
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def silent_server():
    """A TCP server on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted, stop = [], threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def run_main(capsys):
    """Run a module's main() with these arguments, as Ansible would; returns (exit code, its JSON result)."""
    import json
    from ansible.module_utils.testing import patch_module_args

    def run(main, args):
        with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
            main()
        return exit_info.value.code, json.loads(capsys.readouterr().out)
    return run
