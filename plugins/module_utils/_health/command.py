# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The command check: a command's exit code and output, run without a shell within the check's budget."""

from __future__ import annotations

import re
import shlex
import subprocess

from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import num


def probe_command(spec, limits, budget):
    argv = spec.get("argv") or shlex.split(spec["cmd"])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=budget.left(), check=False, text=True,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return {"rc": None}, [(None, "%s did not finish within %s s" % (argv[0], num(budget.seconds)))], ""
    stdout = done.stdout.strip()
    observed = {"rc": done.returncode, "stdout": stdout[:500], "stderr": done.stderr.strip()[:500]}
    findings = []
    if done.returncode != spec["rc"]:
        output = (stdout or observed["stderr"])[:120]
        detail = ": " + output if output else ""
        findings.append((None, "%s exited %d, expected %d%s" % (argv[0], done.returncode, spec["rc"], detail)))
    if spec.get("stdout_regex") and not re.search(spec["stdout_regex"], done.stdout):
        findings.append((None, "output does not match /%s/" % spec["stdout_regex"]))
    return observed, findings, "exit %d%s" % (done.returncode, ": " + stdout[:60] if stdout else "")
