# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The redis check: PING, memory used against maxmemory, connected clients, and the length of queue keys."""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade

QUEUE_LENGTH = {"list": "llen", "stream": "xlen", "zset": "zcard", "set": "scard", "hash": "hlen"}


def probe_redis(spec, limits, budget):
    try:
        import redis
    except ImportError:
        raise OpsreadyError("the Python package redis is required for redis checks on the host running them "
                            "(Debian: python3-redis, PyPI: redis)")
    kwargs = {"host": spec["host"], "port": spec["port"], "db": spec["db"], "username": spec.get("username"),
              "password": spec.get("password"), "socket_timeout": budget.left(),
              "socket_connect_timeout": budget.left(), "retry_on_timeout": False, "single_connection_client": True}
    try:  # no retry: redis-py 6 retries three times with back-off by default, a retry would outlive the budget
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        kwargs["retry"] = Retry(NoBackoff(), 0)
    except ImportError:  # redis-py before 4.1 retries only when asked
        pass
    if spec["tls"]:
        kwargs.update(ssl=True, ssl_ca_certs=spec.get("ca_path"))
    client = redis.Redis(**kwargs)
    budget.on_cancel(client.connection_pool.disconnect)
    try:
        client.ping()
        memory, clients = client.info("memory"), client.info("clients")
        queues = {key: _queue_length(client, key) for key in spec.get("queues") or []}
    finally:
        client.close()
    maxmemory = memory.get("maxmemory") or 0
    observed = {"used_memory": memory["used_memory"], "maxmemory": maxmemory,
                "memory_pct": round(100.0 * memory["used_memory"] / maxmemory, 1) if maxmemory else None,
                "connected_clients": clients["connected_clients"], "queues": queues}
    findings = grade("memory_pct", observed["memory_pct"], limits["memory_pct"], label="memory at")
    for key, length in queues.items():
        if isinstance(length, str):
            findings.append((None, "key %s is a %s, not a queue" % (key, length)))
        else:
            findings += grade("queue_length", length, limits["queue_length"], label="queue %s holds" % key)
    summary = "PONG, %d clients" % observed["connected_clients"]
    if queues:
        summary += ", " + ", ".join("%s=%s" % item for item in queues.items())
    return observed, findings, summary


def _queue_length(client, key):
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "none":
        return 0
    return getattr(client, QUEUE_LENGTH[kind])(key) if kind in QUEUE_LENGTH else kind
