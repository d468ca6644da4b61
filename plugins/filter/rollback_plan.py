# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The documentation of each filter is in its YAML file next to this one (rollback_plan.yml, rollback_problems.yml, ...):
# ansible-doc reads a .py file's DOCUMENTATION for every filter the file holds.

from ansible_collections.opsready.runbooks.plugins.module_utils import _rollback_plan as planner
from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter


FILTERS = {
    "rollback_release_plan": planner.release_plan,
    "rollback_problems": planner.problems,
    "rollback_schema_target": planner.schema_target,
    "rollback_refusal": planner.refusal,
    "rollback_command_plan": planner.command_plan,
    "rollback_restore_plan": planner.restore_plan,
    "rollback_plan": planner.plan,
}


class FilterModule:
    def filters(self):
        return {name: as_filter(name, function) for name, function in FILTERS.items()}
