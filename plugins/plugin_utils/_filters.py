# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to opsready.runbooks: may change without notice.
"""Filters made of module_utils' pure functions."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

MODULE_UTILS = "ansible_collections.opsready.runbooks.plugins.module_utils."


def pure(module, function):
    """The pure function `function` of module_utils `module` (such as '_runbook'), imported now."""
    return getattr(importlib.import_module(MODULE_UTILS + module), function)


def as_filter(name, module, function=None):
    """The pure function `function` (default: the filter's name) of module_utils `module` as a filter: its refusal of
    odd input becomes a filter error that names the filter (a runbook step's failure, raised with step=True, is said
    as it is).

    The module is imported when the filter first runs, not when the filter file loads. Ansible finds a collection's
    filter by loading every filter file of the collection, in each worker process (one per task and host) that
    renders a template using any of them; an import at the top of a file costs every such task (_health's took about
    0.3 s a task)."""
    def run(*args, **kwargs):
        try:
            return pure(module, function or name)(*args, **kwargs)
        except OpsreadyError as e:
            said = str(e)
            as_is = said.startswith(name + ":") or e.result.get("step")  # a runbook step's failure, not the filter's
            raise AnsibleFilterError(said if as_is else "%s: %s" % (name, said))
    run.__name__ = name
    return run
