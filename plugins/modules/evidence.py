#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence
short_description: Write a runbook's evidence (JSON, and Markdown) on the controller
version_added: 0.1.0
description:
  - Writes O(data) as C(<dir>/<name>.json) and, when given, O(markdown) as C(<dir>/<name>.md), on the controller,
    making O(dir) if it is missing. Each file is written to a scratch file and renamed, so a reader never sees half
    of it.
  - An action that runs on the controller only (no module is sent to any host), so the evidence of a run costs
    next to nothing, whatever host the task is for.
  - The runbooks' roles use it for their evidence (rollback, maintenance_window, health_check, release_watch). Never
    put secrets in O(data) or O(markdown).
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The evidence is written in check mode too - the record of a check-mode run is its plan.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: The files are written on the controller, whatever host the task is for.
options:
  dir:
    description: The evidence directory on the controller (made if missing).
    type: path
    required: true
  name:
    description: The files' name without an extension (a file name, not a path).
    type: str
    required: true
  data:
    description: What the JSON file holds (keys sorted, indented).
    type: raw
    required: true
  markdown:
    description: The Markdown summary, for example rendered with the P(ansible.builtin.template#lookup) lookup.
    type: str
"""

EXAMPLES = r"""
- name: Evidence of the run
  opsready.runbooks.evidence:
    dir: "{{ playbook_dir }}/evidence"
    name: "rollback-{{ now(utc=true, fmt='%Y-%m-%dT%H%M%SZ') }}"
    data: "{{ rollback_evidence }}"
    markdown: "{{ lookup('ansible.builtin.template', 'rollback_report.md.j2') }}"
"""

RETURN = r"""
files:
  description: The files written.
  returned: success
  type: list
  elements: path
  sample: [/srv/runbooks/evidence/rollback-2026-11-23T034750Z.json, /srv/runbooks/evidence/rollback-2026-11-23T034750Z.md]
"""
