# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The one exception type of this collection's module_utils (raised with a message that says what to fix), and the
end of a module that uses it."""

from __future__ import annotations


class OpsreadyError(Exception):
    """A problem a user can act on; modules turn it into fail_json(msg=str(error), **error.result).

    `result` carries what was already done when the problem struck (the audit trail of a partial run)."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


def number(value):
    """A number given as a number or as its text (-e key=value gives text); None for anything else."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def one_line(error):
    """An error's text on one line (a driver's message spans several)."""
    return " ".join(str(error).split())


def finish(module, work, failing=None):
    """End an AnsibleModule with the result of work() (a dict with `changed` and `diff`): an OpsreadyError ends it
    failed, with what was already done; the diff is returned only when asked for (--diff). Given `failing` (what the
    module was doing, "promotion of db2"), any other error (a driver's: refused, auth, no answer) ends it failed too,
    as that and the error on one line, with no traceback."""
    try:
        result = work()
    except OpsreadyError as e:
        module.fail_json(msg=str(e), **e.result)
    except Exception as e:
        if failing is None:
            raise
        module.fail_json(msg="%s: %s" % (failing, one_line(e)))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
