# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The disk check: usage of the file system holding a path, on the host running the check."""

from __future__ import annotations

import os

from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num


def probe_disk(spec, limits, budget):
    stat = os.statvfs(spec["path"])
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    available = stat.f_bavail * stat.f_frsize
    pct = round(100.0 * used / (used + available), 1) if used + available else 0.0
    observed = {"used_pct": pct, "used_bytes": used, "available_bytes": available}
    return observed, grade("disk_pct", pct, limits["disk_pct"], label="%s used" % spec["path"]), \
        "%s%% used, %d MiB free" % (num(pct), available >> 20)
