# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Health checks: probes per check type, threshold grading, a concurrent sweep with a deadline, and the wait loop.

A probe returns (observed, findings, summary): what it measured, a list of (state, reason) for everything that is
not ok (state None means "failed": the check's own severity decides), and a short line for when all is well.
A probe gets a Budget: the check's timeout bounds the whole check, every network operation gets only what is left.
prepare() raises OpsreadyError only for settings of the whole run; a check defined wrongly is not run and gets the
state error naming the setting, and a probe that cannot reach its target simply reports it.

The files: grading (thresholds, grade, summary), validation (prepare, check_settings, secrets), running (run_check,
sweep, run), net (Budget, connect, TLS contexts), request (HTTP within a budget), and one file per check type
(http, metrics, tcp, tls, postgres, redis, disk, command). Importers use the names below from this package.
"""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import (
    FAILING, METRICS, RANK, THRESHOLDS, grade, message, summarize, worst)
from ansible_collections.opsready.runbooks.plugins.module_utils._health.http import MAINTENANCE_MARKER
from ansible_collections.opsready.runbooks.plugins.module_utils._health.metrics import (
    increase, parse_metrics, quantile)
from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import Budget
from ansible_collections.opsready.runbooks.plugins.module_utils._health.postgres import NEEDS_MONITOR, judge_postgres
from ansible_collections.opsready.runbooks.plugins.module_utils._health.request import BODY_LIMIT, mask_url
from ansible_collections.opsready.runbooks.plugins.module_utils._health.running import run, run_check, sweep
from ansible_collections.opsready.runbooks.plugins.module_utils._health.validation import (
    TYPES, check_settings, prepare, secrets)

__all__ = ["BODY_LIMIT", "Budget", "FAILING", "MAINTENANCE_MARKER", "METRICS", "NEEDS_MONITOR", "RANK", "THRESHOLDS",
           "TYPES", "check_settings", "grade", "increase", "judge_postgres", "mask_url", "message", "parse_metrics",
           "prepare", "quantile", "run", "run_check", "secrets", "summarize", "sweep", "worst"]
