# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Talking to a target within a check's time: the Budget, a connected (TLS) socket, the TLS contexts of a sweep,
and one line for what went wrong."""

from __future__ import annotations

import functools
import socket
import ssl
import time

from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import num


class Budget:
    """The time one check may take, counted from its start. Every network operation asks left() for what is left
    (a timeout once it is spent), and whoever gives up waiting can cancel(): the sockets the check registered are
    shut down, which wakes a thread blocked on them."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.end = clock() + seconds
        self._closers = []

    def left(self):
        left = self.end - self.clock()
        if left <= 0:
            raise socket.timeout("timed out")
        return left

    def spent(self):
        return self.clock() >= self.end

    def on_cancel(self, closer):
        self._closers.append(closer)

    def cancel(self):
        for closer in self._closers:
            try:
                closer()
            except Exception:  # already closed: nothing left to wake
                pass


def connect(host, port, budget, context=None, server_name=None):
    """A connected socket (TLS when a context is given), connect and handshake within the budget; cancelling the
    budget shuts it down."""
    sock = socket.create_connection((host, port), timeout=budget.left())
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
            sock.settimeout(budget.left())  # the handshake as a whole, not each of its reads
            budget.on_cancel(functools.partial(sock.shutdown, socket.SHUT_RDWR))
            sock.do_handshake()
        else:
            budget.on_cancel(functools.partial(sock.shutdown, socket.SHUT_RDWR))
    except BaseException:
        sock.close()
        raise
    return sock


@functools.lru_cache(maxsize=None)
def tls_context(validate, ca_path=None):
    """One context per trust setting for the whole sweep (loading the CA store per check costs milliseconds)."""
    if validate:
        return ssl.create_default_context(cafile=ca_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def describe(error, timeout, spent=False):
    """One line for an exception raised while talking to a target (`spent`: the check's time was up)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted: %s" % error.verify_message
    if isinstance(error, (socket.timeout, TimeoutError)) or spent:
        return "timed out after %s s" % num(float(timeout))
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "cannot resolve the host name (%s)" % error.strerror
    lines = []  # libpq repeats its message once per attempt (SSL, then plain): keep each line once
    for line in str(error).splitlines():
        line = " ".join(line.split())
        if line and line not in lines:
            lines.append(line)
    text = " ".join(lines) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
