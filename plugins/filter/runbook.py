# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The runbook skeleton's filters; each is documented in its own file (hosts_now.yml, leftovers.yml, timeline.yml).

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

FILTERS = {  # filter name: its pure function in module_utils/_runbook.py (imported when it first runs)
    "hosts_now": "hosts_now",
    "leftovers": "leftovers",
    "timeline": "timeline",
}


class FilterModule:
    def filters(self):
        return {name: as_filter(name, "_runbook", function) for name, function in FILTERS.items()}
