"""Fixtures for checking the lab through its real interfaces: podman exec into the hosts, TLS from the controller."""
import json
import pathlib
import time

import pytest
import testinfra
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[3]
LAB = yaml.safe_load((PROJECT / "inventories/lab/group_vars/all.yml").read_text())
ADDRESSES = {
    name: spec["lab_ip"]
    for group in yaml.safe_load((PROJECT / "inventories/lab/hosts.yml").read_text())["all"]["children"]["lab"]
    ["children"].values()
    for hosts in ([group["hosts"]] if "hosts" in group else [g["hosts"] for g in group["children"].values()])
    for name, spec in hosts.items()
}


@pytest.fixture(scope="session")
def lab():
    """The lab's settings (inventories/lab/group_vars/all.yml) plus each host's address."""
    return dict(LAB, addresses=ADDRESSES, ca_file=str(PROJECT / ".lab/pki/ca.crt"))


@pytest.fixture(scope="session")
def hosts():
    """A testinfra host per lab container, e.g. hosts['db1'].run(...)."""
    return {name: testinfra.get_host(f"podman://{name}") for name in ADDRESSES}


def psql(host, sql, db="demo"):
    """Run SQL as postgres on a lab database host; return the unaligned output."""
    result = host.run("runuser -u postgres -- psql -X -A -t -d %s -c %s", db, sql)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def wait_for(check, timeout=20.0, interval=0.5):
    """Poll check() until it returns a truthy value; return the last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def curl_json(host, url, *args):
    result = host.run("curl -sS --fail-with-body --max-time 10 %s " + " ".join(["%s"] * len(args)), url, *args)
    assert result.rc == 0, f"{url}: rc={result.rc} {result.stdout} {result.stderr}"
    return json.loads(result.stdout)
