"""_postgres.servers(): the servers login_host names (one, or a cluster's members), and its refusals."""
import pytest
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import servers


@pytest.mark.parametrize("host, port, expected", [
    ("db1", 5432, [("db1", 5432)]),
    ("db1,db2", 5433, [("db1", 5433), ("db2", 5433)]),
    (" db1 , db2:6543 ", 5432, [("db1", 5432), ("db2", 6543)]),
    ("10.0.0.1:5433,10.0.0.2", 5432, [("10.0.0.1", 5433), ("10.0.0.2", 5432)]),
    ("::1", 5432, [("::1", 5432)]),                            # a bare IPv6 address has no port
    ("fe80::1%eth0", 5432, [("fe80::1%eth0", 5432)]),
    ("[::1]:5433,[fe80::1]", 5432, [("::1", 5433), ("fe80::1", 5432)]),
    ("/var/run/postgresql", 5432, [("/var/run/postgresql", 5432)]),
    ("/run/pg:sockets", 5432, [("/run/pg:sockets", 5432)]),  # a socket directory is taken whole
])
def test_login_host_names_one_server_or_several(host, port, expected):
    assert servers({"login_host": host, "login_port": port}) == expected


@pytest.mark.parametrize("host, port, message", [
    ("db1,,db2", 5432, "each server is a name, an address or a socket directory"),
    ("", 5432, "each server is a name, an address or a socket directory"),
    (",", 5432, "each server is a name, an address or a socket directory"),
    ("db 1", 5432, "each server is a name, an address or a socket directory"),
    ("db1\n", 5432, None),                                     # stripped: a trailing newline from a file is fine
    ("db1\x00x", 5432, "each server is a name, an address or a socket directory"),
    (":5432", 5432, "each server is a name, an address or a socket directory"),
    ("db1:0", 5432, "the port of db1 must be from 1 to 65535"),
    ("db1:65536", 5432, "the port of db1 must be from 1 to 65535"),
    ("db1:-1", 5432, "the port of db1 must be from 1 to 65535"),
    ("db1:pg", 5432, "the port of db1 must be from 1 to 65535"),
    ("db1:", 5432, "the port of db1 must be from 1 to 65535"),
    ("[::1", 5432, "write an IPv6 address as [address] or [address]:port"),
    ("[::1]5433", 5432, "write an IPv6 address as [address] or [address]:port"),
    ("[::1]:x", 5432, "the port of ::1 must be from 1 to 65535"),
    ("db1:\u00b2", 5432, "the port of db1 must be from 1 to 65535"),
    ("db1:5432:x", 5432, "db1:5432:x is neither host:port nor an IPv6 address"),
    ("db1", 0, "login_port must be from 1 to 65535, got 0"),
    ("db1", -5, "login_port must be from 1 to 65535, got -5"),
    ("db1", 70000, "login_port must be from 1 to 65535, got 70000"),
])
def test_odd_login_hosts_are_refused_clearly(host, port, message):
    if message is None:
        assert servers({"login_host": host, "login_port": port}) == [("db1", port)]
        return
    with pytest.raises(OpsreadyError) as caught:
        servers({"login_host": host, "login_port": port})
    assert message in str(caught.value)
