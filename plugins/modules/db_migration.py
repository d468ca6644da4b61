#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: db_migration
short_description: Read, apply and roll back a PostgreSQL database's schema migrations, safely
version_added: 0.1.0
description:
  - O(backend=builtin) works with the built-in convention - a directory of versioned C(NNNN_name.up.sql) and
    C(NNNN_name.down.sql) files and a table (O(table)) recording which versions are applied. Everything below
    applies to it.
  - A file in O(path) that does not follow the convention (a dash or a non-ASCII letter in the name, another
    extension) is an error listing every such file. Notes (C(.md), C(.txt), C(.rst)), hidden files and
    directories are left alone.
  - O(state=status) reports the applied, pending and irreversible versions. O(state=rolled_back) runs down
    migrations, newest first, by O(steps) or down to O(target). O(state=applied) runs pending up migrations, oldest
    first, all or up to O(target) or O(steps).
  - Each step's SQL and its row in O(table) change together. With O(atomic=true) (the default) the whole plan is
    one transaction, so when a step fails nothing is left half-way - PostgreSQL's DDL is transactional.
  - It refuses, before changing anything, what it cannot do as asked - an unknown O(target), more O(steps) than are
    applied, an applied version with no files here, and any step without a real down migration (no C(.down.sql), or
    one with no statement in it), which is irreversible and needs a restore instead.
  - It also refuses, before anything runs, a planned migration with a statement that ends or starts a transaction
    (C(BEGIN), C(START TRANSACTION), C(COMMIT), C(END), C(ROLLBACK), C(ABORT), C(PREPARE TRANSACTION)), naming the
    file and line - it would break the one transaction the step (or plan) runs in. C(SAVEPOINT), C(RELEASE) and
    C(ROLLBACK TO) are fine. Words in strings, quoted names and comments do not count, nor a C(COMMIT) inside a
    dollar-quoted procedure or C(DO) body (PostgreSQL itself refuses to run one inside the migration's
    transaction).
  - An advisory lock keeps two runs from migrating the same database at once.
  - Every wait for a table lock is bounded by O(lock_timeout), so a migration queued behind an application's open
    transaction holds up the queries behind it for that long at most. It is then rolled back, tried again after a
    pause as long (O(lock_retries) times), and finally fails naming the blocking sessions (RV(blockers)).
  - Check mode returns the plan and the SQL it would run (diff mode shows it too), and changes nothing.
  - O(backend=alembic) drives Alembic's CLI (C(alembic -c) with O(alembic_config)) in O(chdir). The plan and its SQL
    come from Alembic's offline mode before anything runs; a downgrade that changes nothing but Alembic's version table
    (a C(pass) downgrade) is refused as irreversible; O(steps) resolve to a revision through C(alembic history), and
    after the run the current revision must be the target. A history that is not one line of revisions (several
    heads, or branches merged again) is refused. Alembic must answer C(alembic current -v); a command that prints
    nothing is an error, not an empty database. The database URL
    comes from the project's C(alembic.ini) or C(env.py). A database at a revision the project does not have (a
    newer release's, seen from an older release) is reported by O(state=status), with RV(available) the project's
    own revisions, and refused by the other states.
  - O(backend=command) runs a migration tool this module cannot drive itself (Laravel's C(artisan migrate),
    Prisma, Flyway) with the O(commands) you give, without a shell. Check mode runs the preview command when there is
    one (C(artisan migrate:rollback --pretend)). A rollback the tool reports as doing nothing (O(nothing_regex))
    fails instead of passing as a success. The connection options are not used; the tool reads its own
    configuration (give secrets with the task's C(environment), or list them in O(secrets)).
  - With O(backend=alembic) and O(backend=command), every program is looked for before anything runs, in every
    O(state) and in check mode, so a missing tool is found by the pre-checks; each command is stopped after
    O(timeout).
author:
  - opsready.runbooks developers (@opsready)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - opsready.runbooks.postgres
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The applied versions before and after, and the SQL of every step.
  platform:
    platforms: posix
options:
  backend:
    description: V(builtin) for the SQL-file convention, V(alembic) for an Alembic project, V(command) for a tool
      given by O(commands).
    type: str
    choices: [builtin, alembic, command]
    default: builtin
  path:
    description:
      - The migrations directory, on the host running the task (required with O(backend=builtin)). To roll back, use
        the directory of the release that introduced the migrations (it has their down files), usually the release
        being rolled back from.
    type: path
  commands:
    description:
      - With O(backend=command), the tool's command lines. C({steps}) and C({target}) are replaced by O(steps) and
        O(target). Each runs without a shell (use C(sh -c '...') for pipes), in O(chdir).
      - The placeholders must match what is given, checked before anything runs - an unknown placeholder is
        refused, and so are, in the commands this O(state) runs, a placeholder with no value and, in the command
        that moves the schema (and its preview), an O(steps) or O(target) it has no placeholder for.
    type: dict
    suboptions:
      status:
        description: Reports the migration state (run for every O(state); its output is returned).
        type: str
      apply:
        description: Applies migrations (O(state=applied)).
        type: str
      rollback:
        description: Rolls back (O(state=rolled_back)).
        type: str
      preview_apply:
        description: Shows what O(commands.apply) would do, changing nothing (run in check mode).
        type: str
      preview_rollback:
        description: Shows what O(commands.rollback) would do, changing nothing (run in check mode).
        type: str
  chdir:
    description: The directory the O(commands) or Alembic run in (the project's directory).
    type: path
  alembic_config:
    description: With O(backend=alembic), the project's configuration file, relative to O(chdir).
    type: str
    default: alembic.ini
  alembic_command:
    description: How to run Alembic (for example C(python3 -m alembic) or a virtualenv's C(bin/alembic)).
    type: str
    default: alembic
  alembic_version_table:
    description: The version table the project's C(env.py) uses.
    type: str
    default: alembic_version
  nothing_regex:
    description:
      - Output of the tool that means it did nothing (for example Laravel's C(Nothing to rollback.)). The default
        knows Laravel, Prisma and Flyway's wording.
    type: str
  timeout:
    description:
      - With O(backend=alembic) and O(backend=command), the longest any one command may run, in seconds. A command
        still running then is stopped with every process it started (its process group - C(TERM), then C(KILL))
        and the task fails saying so.
    type: float
    default: 3600
  secrets:
    description:
      - Values (passwords, tokens) that appear in O(commands) or in what the tools print. Every command line, tool
        output and message this module returns shows them as C(********), at every verbosity.
    type: list
    elements: str
  table:
    description:
      - The table that records applied migrations, C(name) or C(schema.name) (letters a-z A-Z, digits, C(_) and
        C($), at most 63 characters each). Created when first applying.
      - Taken as written, case included, as community.postgresql does - C(AppMigrations) is the table
        C("AppMigrations"), not C(appmigrations).
    type: str
    default: schema_migrations
  state:
    description: V(status) only reads; V(applied) goes forward; V(rolled_back) goes back.
    type: str
    choices: [status, applied, rolled_back]
    default: status
  target:
    description:
      - The version to end at. With V(rolled_back), every applied version above it is rolled back (V(0) rolls back
        everything); with V(applied), pending versions up to it are applied. Running again changes nothing.
    type: str
  steps:
    description:
      - How many migrations to roll back (newest first) or apply (oldest first), from 1 to 10000, for every
        O(backend). Not idempotent by nature.
      - O(steps) and O(target) are for O(state=applied) and O(state=rolled_back); with O(state=status) they are
        refused.
    type: int
  atomic:
    description:
      - Run the whole plan in one transaction. Set V(false) only for statements PostgreSQL cannot run in a
        transaction (C(CREATE INDEX CONCURRENTLY)); each step then commits on its own.
    type: bool
    default: true
  lock_timeout:
    description:
      - With O(backend=builtin), the longest the migration session waits for any lock, in seconds (PostgreSQL's
        C(lock_timeout), set for the whole session), more than 0 and at most 3600. While a migration waits for a
        table lock, every new query on that table waits behind it, so keep this short.
    type: float
    default: 5
  lock_retries:
    description:
      - With O(backend=builtin), how many more times a step (with O(atomic), the whole plan) that ran out of
        O(lock_timeout) is tried, after a pause as long as O(lock_timeout) in which the application's queries go
        through. From 0 to 10.
    type: int
    default: 2
seealso:
  - module: community.postgresql.postgresql_db
    description: Take the backup before a rollback (C(state=dump), a C(.pgc) target for the custom format).
notes:
  - O(state=rolled_back) needs O(target) or O(steps).
  - "Wiring Laravel (O(backend=command), O(chdir) the release): C(status: php artisan migrate:status),
    C(rollback: php artisan migrate:rollback --force --step={steps}), C(preview_rollback: php artisan
    migrate:rollback --pretend --step={steps}), C(apply: php artisan migrate --force), C(preview_apply: php artisan
    migrate --pretend)."
  - "Wiring Prisma, which has no down migrations: keep a C(down.sql) per migration (C(prisma migrate diff --script)
    writes one) and give C(rollback: sh -c 'npx prisma db execute --file prisma/migrations/{target}/down.sql &&
    npx prisma migrate resolve --rolled-back {target}'), C(apply: npx prisma migrate deploy), C(status: npx prisma
    migrate status), with O(target) the migration's directory name. See docs/rollback.md."
"""

EXAMPLES = r"""
- name: Where is the schema?
  opsready.runbooks.db_migration:
    path: /srv/demo/current/migrations
    login_host: db1
    login_user: demo
    login_password: "{{ vault_demo_db_password }}"
    login_db: demo
  register: schema

- name: Preview a rollback to 0001 (check mode returns the plan and its SQL)
  opsready.runbooks.db_migration:
    path: /srv/demo/releases/1.1.0/migrations
    state: rolled_back
    target: "0001"
    login_host: db1
    login_user: demo
    login_password: "{{ vault_demo_db_password }}"
    login_db: demo
  check_mode: true
  register: preview

- name: Roll back the newest migration, the connection set once for the group
  module_defaults:
    group/opsready.runbooks.postgres:
      login_host: db1
      login_user: demo
      login_password: "{{ vault_demo_db_password }}"
      login_db: demo
  opsready.runbooks.db_migration:
    path: /srv/demo/releases/1.1.0/migrations
    state: rolled_back
    steps: 1

- name: Roll a Laravel app back one step, previewed first in check mode
  opsready.runbooks.db_migration:
    backend: command
    chdir: /var/www/app/current
    commands:
      status: php artisan migrate:status
      rollback: php artisan migrate:rollback --force --step={steps}
      preview_rollback: php artisan migrate:rollback --pretend --step={steps}
    state: rolled_back
    steps: 1
  environment:
    DB_PASSWORD: "{{ vault_db_password }}"

- name: Apply everything pending
  opsready.runbooks.db_migration:
    path: /srv/demo/current/migrations
    state: applied
    login_host: db1
    login_user: demo
    login_password: "{{ vault_demo_db_password }}"
    login_db: demo
"""

RETURN = r"""
before:
  description:
    - The schema's version before this run - the newest applied version (O(backend=builtin)) or the Alembic
      revision (null when nothing is applied).
  returned: with backend builtin or alembic
  type: str
  sample: "0002"
after:
  description:
    - The schema's version after this run (what it would be, in check mode); equal to RV(before) with
      O(state=status) and when nothing was to do. On failure, the version the database is really at.
  returned: with backend builtin or alembic
  type: str
  sample: "0001"
applied:
  description: Applied versions before this run, oldest first.
  returned: always
  type: list
  elements: str
  sample: ["0001", "0002"]
available:
  description: Every version in O(path), oldest first (the newest is the schema that release needs).
  returned: always
  type: list
  elements: str
  sample: ["0001", "0002"]
pending:
  description: Versions in O(path) that are not applied.
  returned: always
  type: list
  elements: str
  sample: []
irreversible:
  description: Versions in O(path) that have no real down migration.
  returned: always
  type: list
  elements: str
  sample: []
plan:
  description: The steps, in order (what ran, or would run in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{version: "0002", name: add_item_note, direction: down}]
sql:
  description: The plan with each step's SQL.
  returned: in check mode or diff mode
  type: list
  elements: dict
  sample: [{version: "0002", name: add_item_note, direction: down, sql: "ALTER TABLE items DROP COLUMN note;\n"}]
executed:
  description: The steps that ran, with their duration in seconds; empty in check mode and when nothing was to do.
  returned: always
  type: list
  elements: dict
  sample: [{version: "0002", name: add_item_note, direction: down, file: /srv/demo/releases/1.1.0/migrations/0002_add_item_note.down.sql, seconds: 0.004}]
failed_step:
  description: The version whose migration failed.
  returned: on failure of a step
  type: str
  sample: "0002"
blockers:
  description:
    - The sessions seen blocking the step that ran out of O(lock_timeout), from C(pg_stat_activity) (the query
      cut at 200 characters).
  returned: on failure after waiting for a lock
  type: list
  elements: dict
  sample: [{pid: 4242, application_name: demo-api, usename: demo, state: idle in transaction,
            state_change: "2026-03-04 10:00:01 UTC", xact_start: "2026-03-04 10:00:00 UTC",
            query_start: "2026-03-04 10:00:01 UTC", query: "SELECT * FROM items"}]
status_output:
  description: The output of O(commands.status) (O(backend=command)).
  returned: when commands.status is given
  type: str
  sample: "Migration name .... Batch / Status"
plan_output:
  description: The output of the preview command (O(backend=command), check mode).
  returned: in check mode when a preview command is given
  type: str
  sample: "CreateFlightsTable: drop table if exists `flights`"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsready.runbooks.plugins.module_utils import _alembic as alembic
from ansible_collections.opsready.runbooks.plugins.module_utils import _migrations as migrations
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import connection_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_spec(),
            backend={"type": "str", "choices": ["builtin", "alembic", "command"], "default": "builtin"},
            path={"type": "path"},
            commands={"type": "dict", "options": {kind: {"type": "str"} for kind in (
                "status", "apply", "rollback", "preview_apply", "preview_rollback")}},
            chdir={"type": "path"},
            alembic_config={"type": "str", "default": "alembic.ini"},
            alembic_command={"type": "str", "default": "alembic"},
            alembic_version_table={"type": "str", "default": "alembic_version"},
            nothing_regex={"type": "str"},
            timeout={"type": "float", "default": 3600},
            secrets={"type": "list", "elements": "str", "no_log": True},
            table={"type": "str", "default": "schema_migrations"},
            state={"type": "str", "choices": ["status", "applied", "rolled_back"], "default": "status"},
            target={"type": "str"},
            steps={"type": "int"},
            atomic={"type": "bool", "default": True},
            lock_timeout={"type": "float", "default": 5},
            lock_retries={"type": "int", "default": 2},
        ),
        mutually_exclusive=[["target", "steps"]],
        required_if=[["state", "rolled_back", ["target", "steps"], True], ["backend", "builtin", ["path"]],
                     ["backend", "command", ["commands"]]],
        supports_check_mode=True,
    )
    try:
        if module.params["backend"] == "command":
            result = migrations.run_commands(module.params, module.check_mode)
        elif module.params["backend"] == "alembic":
            result = alembic.run(module.params, module.check_mode)
        else:
            result = migrations.run(module.params, module.check_mode, module._diff)
    except OpsreadyError as e:
        module.fail_json(msg=str(e), **e.result)
    except Exception as e:  # the database's own errors (connection, permissions): one line, no traceback
        module.fail_json(msg="%s: %s" % (type(e).__name__, " ".join(str(e).split())))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
