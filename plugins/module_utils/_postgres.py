# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""PostgreSQL connection options shared by every module and check that talks to PostgreSQL, and the connect()."""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


def connection_spec():
    """The connection options, as an argument_spec fragment (option names as in community.postgresql)."""
    return {
        "login_host": {"type": "str", "default": "localhost"},
        "port": {"type": "int", "default": 5432},
        "login_user": {"type": "str", "default": "postgres"},
        "login_password": {"type": "str", "no_log": True},
        "login_db": {"type": "str", "default": "postgres"},
        "ssl_mode": {"type": "str", "default": "prefer",
                     "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
        "ca_cert": {"type": "path"},
    }


def connect(params, connect_timeout=10, statement_timeout=None, autocommit=True):
    """A psycopg2 connection from connection_spec() parameters. Timeouts in seconds; no statement timeout unless
    given (migrations may take long, health checks must not)."""
    try:
        import psycopg2
    except ImportError:
        raise OpsreadyError("the Python package psycopg2 is required on the host running this task "
                            "(Debian: python3-psycopg2, PyPI: psycopg2-binary)")
    kwargs = {
        "host": params["login_host"], "port": params["port"], "user": params["login_user"],
        "dbname": params["login_db"], "sslmode": params["ssl_mode"],
        "connect_timeout": max(1, int(round(connect_timeout))),
        "application_name": "opsready.runbooks",
    }
    if statement_timeout:
        kwargs["options"] = "-c statement_timeout=%d" % max(1000, int(statement_timeout * 1000))
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = autocommit
    return conn
