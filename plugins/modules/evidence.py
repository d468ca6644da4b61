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
    making O(dir) if it is missing. Each file is written to a scratch file and then given its name, so a reader
    never sees half of it.
  - Evidence is never overwritten. When C(<name>.json) or C(<name>.md) is already there (another run in the same
    second, or an earlier one), both files get the first free suffix instead - C(<name>-2), C(<name>-3) and so on. A
    name is taken atomically, so runs writing at the same moment each keep their own files. RV(files) and RV(name)
    say which name was used.
  - The files are readable by their owner only (C(0600)). Directories the action makes are C(0700); an existing
    O(dir) keeps its mode.
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
    description:
      - The files' name without an extension, a plain file name - not empty, at most 200 characters, no C(/), no
        C(..), no leading dot, no newline or other control character.
      - Give the runbook and the run's start time (C(rollback-2026-11-23T034750Z)); when that name is taken, the
        action adds a suffix (see above).
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
  register: written

- name: Where it went (the name may carry a suffix)
  ansible.builtin.debug:
    msg: "{{ written.files | join(' and ') }}"
"""

RETURN = r"""
files:
  description: The files written.
  returned: success
  type: list
  elements: path
  sample: [/srv/runbooks/evidence/rollback-2026-11-23T034750Z.json, /srv/runbooks/evidence/rollback-2026-11-23T034750Z.md]
name:
  description: The name the files were written under (O(name), or O(name) with a suffix when it was taken).
  returned: success
  type: str
  sample: rollback-2026-11-23T034750Z-2
"""
