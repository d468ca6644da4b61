# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: migration_compat
short_description: Whether pending schema migrations keep the live release working
version_added: 0.1.0
description:
  - Judges the pending migrations a deploy applies while the old release still serves traffic (expand/contract).
    Reads each step's SQL as M(opsready.runbooks.db_migration) returns it in check mode with C(state=applied) (its
    C(sql) list), with C(backend=builtin) or C(backend=alembic). With C(backend=alembic) and nothing pending, the
    module returns no C(sql); default it to an empty list.
  - Breaking (the old code stops working) - C(drop table), C(drop column), C(rename table) (C(SET SCHEMA) too),
    C(rename column), C(alter column type), C(set not null) and C(drop default) (a column the old code does not
    fill, unless the same migration leaves it a default), C(add column not null without default) (C(PRIMARY KEY)
    too; a C(DEFAULT), C(GENERATED) or serial column is fine), C(drop view), C(rename view), C(drop function),
    C(rename function), C(drop schema), C(rename schema), C(drop sequence), C(drop type), C(drop extension),
    C(truncate), and C(do block) (code that is not read, for a human to read).
  - Not breaking - C(CREATE TABLE), C(CREATE INDEX) (C(CONCURRENTLY) too), C(ADD COLUMN) nullable or with a
    default, C(CREATE VIEW), C(INSERT), C(UPDATE), C(COMMENT), C(DROP INDEX) and C(DROP CONSTRAINT) (queries do not
    name them; check by hand a unique index an C(INSERT ... ON CONFLICT) of the old code relies on), new constraints
    (what the old code writes is not known here).
  - Words in strings, comments, quoted names and dollar-quoted bodies (a function's code) do not count, as
    db_migration reads them. Names are read as PostgreSQL does (C("Items") keeps its case), and each action of an
    C(ALTER TABLE) is judged.
  - A table created by a pending step (earlier in the same migration, or in an earlier one) is unknown to the live
    release, so what later steps do to it breaks nothing; it is recognized by the same name, schema included.
  - A step without SQL (C(sql) missing or null) is not judged and counts as breaking until acknowledged.
    C(backend=command) returns no C(sql) and no versions at all (only the tool's preview, C(plan_output)), so there
    is nothing to give this filter.
  - Acknowledging a version accepts every finding of that migration. Compatible only when every finding and every
    step not judged is acknowledged.
author:
  - opsready.runbooks developers (@opsready)
options:
  _input:
    description:
      - The steps going forward, each a dict with at least C(version) (a string) and C(sql) (the migration's SQL; as
        db_migration returns them, also C(name) and C(direction)). A step going down is refused.
    type: list
    elements: dict
    required: true
  acknowledged:
    description:
      - Versions (strings) declared reviewed - checked that the live release does not use what they change.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: What the deploy would migrate
  opsready.runbooks.db_migration:
    path: /srv/demo/releases/1.2.0/migrations
    state: applied
  check_mode: true
  register: pending

- name: The old release keeps working while the schema goes forward
  ansible.builtin.assert:
    that: compat.compatible
    fail_msg: "{{ compat.message }}"
    success_msg: "{{ compat.message }}"
  vars:
    # acknowledged after review with -e '{"deploy_migrations_acknowledged": ["0003"]}'
    compat: >-
      {{ pending.sql | default([])
         | opsready.runbooks.migration_compat(deploy_migrations_acknowledged | default([])) }}
"""

RETURN = r"""
_value:
  description: The judgement.
  type: dict
  contains:
    compatible:
      description: True when every finding and every step not judged is acknowledged (true for no pending step).
      type: bool
    findings:
      description:
        - "Each breaking statement, in plan order, one per kind and statement: C(version), C(line) (where the
          statement starts in the step's SQL), C(kind), C(statement) (its first 120 characters on one line) and
          C(acknowledged)."
      type: list
      elements: dict
      sample: [{version: "0003", line: 1, kind: drop column, statement: ALTER TABLE items DROP COLUMN note,
                acknowledged: false}]
    unjudged:
      description: Versions whose SQL was not given.
      type: list
      elements: str
    message:
      description:
        - What is breaking, in which migration and line, and the way forward (a later release, or the
          acknowledgement to give, as C(-e) JSON on a line of its own).
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.plugin_utils._filters import pure


def migration_compat(steps, acknowledged=None):
    try:
        return pure("_compat", "judge")(steps, [] if acknowledged is None else acknowledged)
    except OpsreadyError as e:
        raise AnsibleFilterError("migration_compat: %s" % e)


class FilterModule:
    def filters(self):
        return {"migration_compat": migration_compat}
