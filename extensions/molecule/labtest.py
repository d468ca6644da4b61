"""Shared by every scenario's tests: the lab's settings, a testinfra host per container (podman exec), helpers.

A scenario's tests/conftest.py puts molecule/ on sys.path and does `from labtest import *`.
"""
import collections
import http.client
import json
import os
import pathlib
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest
import testinfra
import yaml

PROJECT = pathlib.Path(__file__).resolve().parents[2]   # extensions/molecule/labtest.py
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


SYNCHRONOUS = "/etc/postgresql/15/main/conf.d/synchronous.conf"


def synchronous(hosts, on, names="*"):   # names: one for both, or {member: names}
    """A synchronous setting the members share, in a file of their own configuration (as a platform sets it), and
    none left by ALTER SYSTEM (a suspension an earlier run of this test left, stopped before the rejoin)."""
    for name in ("db1", "db2"):
        if on:
            hosts[name].check_output("echo \"synchronous_standby_names = '%s'\" > %s" % (
                names[name] if isinstance(names, dict) else names, SYNCHRONOUS))
        else:
            hosts[name].run("rm -f %s" % SYNCHRONOUS)
        if hosts[name].run("systemctl is-active postgresql@15-main").stdout.strip() == "active":
            psql(hosts[name], "ALTER SYSTEM RESET synchronous_standby_names", db="postgres")
            psql(hosts[name], "SELECT pg_reload_conf()", db="postgres")


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


def _ansible_env(**extra):
    """This checkout's config and collection, the lab inventory, no colour."""
    return dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"),
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **extra)


def ansible_playbook(playbook, *args):
    """Run a playbook of this checkout against the lab inventory the way an operator does; returns the process."""
    return subprocess.run(["ansible-playbook", str(PROJECT / playbook), *args], cwd=PROJECT, env=_ansible_env(),
                          capture_output=True, text=True, timeout=600, check=False)


def ansible_module(host, module, args, check=False):
    """Run one module ad hoc on a lab host; returns (its result dict, the raw output)."""
    command = ["ansible", host, "-m", module, "-a", json.dumps(args)] + (["--check"] if check else [])
    run = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False,
                         env=_ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"))
    assert run.stdout.startswith("{"), run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"][host], run.stdout


def recap_changed(output):
    recap = output.split("PLAY RECAP")[1]
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", recap, re.M)}


def public_https(lab, context, timeout):
    """An HTTPS connection to the public name through lb1's address (no DNS), as a user reaches the site."""
    raw = socket.create_connection((lab["addresses"]["lb1"], 443), timeout=timeout)
    conn = http.client.HTTPSConnection(lab["lab_public_name"], 443, timeout=timeout, context=context)
    conn.sock = context.wrap_socket(raw, server_hostname=lab["lab_public_name"])
    return conn


class Poller(threading.Thread):
    """GET /api/items through lb1 over TLS every 50 ms; counts every status and every failure."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab, self.codes, self.failures, self.stop = lab, collections.Counter(), [], threading.Event()

    def run(self):
        context = ssl.create_default_context(cafile=self.lab["ca_file"])
        while not self.stop.is_set():
            try:
                conn = public_https(self.lab, context, timeout=5)
                conn.request("GET", "/api/items")
                status = conn.getresponse().status
                conn.close()
                self.codes[status] += 1
                if status >= 500:
                    self.failures.append((time.strftime("%H:%M:%S"), status))
            except OSError as e:
                self.codes["error"] += 1
                self.failures.append((time.strftime("%H:%M:%S"), repr(e)))
            time.sleep(0.05)


class Writer(threading.Thread):
    """POST /api/items through lb1 over TLS, one after the other (a new name each): every 201 is a commit the client
    saw acknowledged, kept with when it came back; every other answer or failure is a client error."""

    def __init__(self, lab, marker, pause=0.02):
        super().__init__(daemon=True)
        self.lab, self.marker, self.pause = lab, marker, pause
        self.acknowledged, self.errors, self.stop = [], [], threading.Event()

    def run(self):
        context = ssl.create_default_context(cafile=self.lab["ca_file"])
        n = 0
        while not self.stop.is_set():
            n += 1
            name = "%s-%d" % (self.marker, n)
            try:
                conn = public_https(self.lab, context, timeout=30)
                conn.request("POST", "/api/items", body=json.dumps({"name": name}),
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 201:
                    self.acknowledged.append((time.monotonic(), name))
                else:
                    self.errors.append((time.strftime("%H:%M:%S"), response.status, body[:200]))
            except OSError as e:
                self.errors.append((time.strftime("%H:%M:%S"), "error", repr(e)))
            time.sleep(self.pause)

    def longest_gap(self):
        """The longest time between two acknowledged commits, in seconds: the write unavailability a client saw."""
        times = [at for at, dummy in self.acknowledged]
        return max((b - a for a, b in zip(times, times[1:])), default=None)


def under_traffic(lab, action):
    """Run action() while a client polls the API through the load balancer; (its result, the poller)."""
    poller = Poller(lab)
    poller.start()
    try:
        return action(), poller
    finally:
        poller.stop.set()
        poller.join()
