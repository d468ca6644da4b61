# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The tcp check: a connect within a latency budget."""

from __future__ import annotations

import time

from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num
from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import connect


def probe_tcp(spec, limits, budget):
    start = time.monotonic()
    connect(spec["host"], spec["port"], budget).close()
    latency = round((time.monotonic() - start) * 1000, 1)
    return ({"latency_ms": latency}, grade("latency_ms", latency, limits["latency_ms"], label="connect time"),
            "connect time %s ms" % num(latency))
