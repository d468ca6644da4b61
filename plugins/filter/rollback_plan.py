# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation of each filter is in its YAML file next to this one (rollback_plan.yml, rollback_problems.yml, ...):
# ansible-doc reads a .py file's DOCUMENTATION for every filter the file holds.

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter


FILTERS = {  # filter name: its pure function in module_utils/_rollback_plan.py (imported when it first runs)
    "rollback_release_plan": "release_plan",
    "rollback_problems": "problems",
    "rollback_schema_target": "schema_target",
    "rollback_refusal": "refusal",
    "rollback_command_plan": "command_plan",
    "rollback_restore_plan": "restore_plan",
    "rollback_plan": "plan",
}


class FilterModule:
    def filters(self):
        return {name: as_filter(name, "_rollback_plan", function) for name, function in FILTERS.items()}
