# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The runbook skeleton's filters; each is documented in its own file (hosts_now.yml, leftovers.yml, timeline.yml).

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils import _runbook as runbook
from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import as_filter

FILTERS = {
    "hosts_now": runbook.hosts_now,
    "leftovers": runbook.leftovers,
    "timeline": runbook.timeline,
}


class FilterModule:
    def filters(self):
        return {name: as_filter(name, function) for name, function in FILTERS.items()}
