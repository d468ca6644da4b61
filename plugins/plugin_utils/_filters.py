# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to opsready.runbooks: may change without notice.
"""Filters made of module_utils' pure functions."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


def as_filter(name, function):
    """The pure function as a filter: its refusal of odd input becomes a filter error that names the filter."""
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except OpsreadyError as e:
            raise AnsibleFilterError("%s: %s" % (name, e))
    run.__name__ = name
    return run
