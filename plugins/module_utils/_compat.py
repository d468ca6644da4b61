# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Whether pending schema migrations keep the live release working (expand/contract).

A deploy migrates the schema forward while the old release still serves traffic. A migration that only expands
(new tables, indexes, nullable columns or columns with a default, views) leaves the old code working; one that
contracts (drops, renames, retypes or tightens what the old code uses) breaks it until the new release is everywhere,
and belongs in a later release. breaking() reads one migration's SQL; judge() reads a plan (db_migration's sql list
in check mode) against the versions the user declared reviewed.

The SQL is read with _migrations.split(), the reading db_migration itself uses: words in strings, comments, quoted
names and dollar-quoted bodies do not count. A table created by a pending step is new to the live release: what
later steps do to it breaks nothing. What the judge cannot see is not judged: what the old code writes (a
new CHECK, UNIQUE or FOREIGN KEY constraint it may violate is not flagged), dynamic SQL, and the code of functions
called. A DO block runs code that is not read, so it is flagged for a human to read.
"""

from __future__ import annotations

import json
import shlex

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._migrations import split

VARIABLE = "deploy_migrations_acknowledged"  # the deploy runbook's extra variable, named in the way forward
EXCERPT = 120  # characters of a statement shown in a finding
LISTED = 10  # findings named in the message; every one is in "findings"
KINDS = ("drop table", "drop column", "rename table", "rename column", "alter column type", "set not null",
         "drop default", "add column not null without default", "drop view", "rename view", "drop function",
         "rename function", "drop schema", "rename schema", "drop sequence", "drop type", "drop extension",
         "truncate", "do block")
# DROP <object>: the old code reads or calls it (a type or a sequence in use goes only with CASCADE, which drops the
# columns or defaults using it; an extension's functions and types go with it). DROP INDEX is not counted: queries
# never name an index, so the old code keeps working, only slower if the planner needed it (an index replaced by
# CREATE INDEX CONCURRENTLY then dropped is expand/contract done right). The exception, not detectable here: a
# unique index that an INSERT ... ON CONFLICT (column) of the old code relies on. The same goes for DROP CONSTRAINT.
DROPS = {("table",): "drop table", ("foreign", "table"): "drop table", ("view",): "drop view",
         ("materialized", "view"): "drop view", ("function",): "drop function", ("procedure",): "drop function",
         ("routine",): "drop function", ("aggregate",): "drop function", ("schema",): "drop schema",
         ("sequence",): "drop sequence", ("type",): "drop type", ("domain",): "drop type",
         ("extension",): "drop extension"}
RENAMES = {("view",): "rename view", ("materialized", "view"): "rename view", ("function",): "rename function",
           ("procedure",): "rename function", ("routine",): "rename function", ("aggregate",): "rename function",
           ("schema",): "rename schema"}
TABLE_CONSTRAINTS = ("constraint", "primary", "unique", "check", "foreign", "exclude")
SERIALS = ("serial", "bigserial", "smallserial", "serial2", "serial4", "serial8")
# Breaking unless the column has a default once the migration is done: the old code does not fill the column.
NEEDS_DEFAULT = ("set not null", "add column not null without default", "drop default")
OPEN, CLOSE = ("(", "["), (")", "]")


# ------------------------------------------------------------------------------------------ one migration
def breaking(sql, new_tables=()):
    """[{"line", "kind", "statement"}]: the statements of one migration's SQL that break the code of the release
    still live while the schema goes forward, in order; one finding per kind and statement. kind is one of KINDS;
    statement is the statement's first EXCERPT characters on one line, as written.

    A table created earlier in this SQL, or named in new_tables (created_tables() of the plan's earlier steps), is
    unknown to the live release: what is done to it breaks nothing."""
    if not isinstance(sql, str):
        raise OpsreadyError("breaking expects a migration's SQL as a string, got %s" % _type(sql))
    seen, defaults, created = [], {}, set(new_tables)
    for statement in split(sql):
        tokens = [(kind, text.lower() if kind == "word" else text) for kind, text, offset in statement["tokens"]]
        created.update(_created(tokens))
        for kind, tables, column, default in _actions(tokens):
            if tables and all(table in created for table in tables):
                continue
            if default is not None:
                defaults[column] = default
            if kind:
                seen.append((statement, kind, column))
    findings = []
    for statement, kind, column in seen:
        if kind in NEEDS_DEFAULT and defaults.get(column) is True:
            continue  # the column has a default when the migration is done: the old code need not fill it
        finding = {"line": statement["line"], "kind": kind, "statement": excerpt(statement["tokens"])}
        if finding not in findings:
            findings.append(finding)
    return findings


def created_tables(sql):
    """The tables a migration's SQL creates, each as a tuple of its name's parts as PostgreSQL folds them."""
    return set(table for statement in split(sql) for table in _created(
        [(kind, text.lower() if kind == "word" else text) for kind, text, offset in statement["tokens"]]))


def excerpt(tokens):
    """A statement as written, on one line (comments out, blanks as one space), cut at EXCERPT characters."""
    text, last = "", None
    for dummy, value, offset in tokens:
        if last is not None and offset > last:
            text += " "
        text += value
        last = offset + len(value)
        if len(text) > 4 * EXCERPT:
            break
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[:EXCERPT - 3].rstrip() + "..."


def _created(tokens):
    """[table] for CREATE [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED] TABLE [IF NOT EXISTS] name, else []."""
    i = 1 if _at(tokens, 0, "create") else len(tokens)
    i += 1 if _at(tokens, i) in ("global", "local") else 0
    i += 1 if _at(tokens, i) in ("temp", "temporary", "unlogged") else 0
    if not _at(tokens, i, "table"):
        return []
    i += 4 if _at(tokens, i + 1, "if", "not", "exists") else 1
    return [name for name in [_name(tokens, i)[1]] if name]


def _actions(tokens):
    """[(kind or None, tables, (table, column) or None, default)] for what a statement does: kind when it breaks
    the old code, about these tables (none for objects other than tables); default True or False when it gives a
    column a default or takes it away."""
    if _at(tokens, 0, "drop"):
        kind = _lookup(DROPS, tokens, 1)
        if kind == "drop table":
            return [(kind, _tables(tokens, 2 if _at(tokens, 1, "table") else 3), None, None)]
        return [(kind, (), None, None)] if kind else []
    if _at(tokens, 0, "truncate"):
        return [("truncate", _tables(tokens, 1), None, None)]
    if _at(tokens, 0, "do"):
        return [("do block", (), None, None)]  # its code is a string, not read here: a human reads it
    if _at(tokens, 0, "alter", "table"):
        return _alter_table(tokens, 2)
    if _at(tokens, 0, "alter", "foreign", "table"):
        return _alter_table(tokens, 3)
    if _at(tokens, 0, "alter"):
        kind = _lookup(RENAMES, tokens, 1)
        if kind:
            return [(_renamed(tokens, kind), (), None, None)]
    return []


def _tables(tokens, i):
    """The tables of DROP TABLE [IF EXISTS] a, b ... or TRUNCATE [TABLE] [ONLY] a [*], b ...: () when one is not
    read as a name."""
    i += 1 if _at(tokens, i, "table") else 0
    i += 2 if _at(tokens, i, "if", "exists") else 0
    names = []
    for part in _commas(tokens[i:]):
        dummy, name = _name(part, 1 if _at(part, 0, "only") else 0)
        if name is None:
            return ()
        names.append(name)
    return tuple(names)


def _alter_table(tokens, start):
    """ALTER TABLE [IF EXISTS] [ONLY] name [*] action [, action ...]"""
    i = start + 2 if _at(tokens, start, "if", "exists") else start
    i += 1 if _at(tokens, i, "only") else 0
    if _at(tokens, i, "all", "in", "tablespace"):
        return []  # moves tables between tablespaces: the old code does not see it
    parenthesized = tokens[i:i + 1] == [("symbol", "(")]  # ONLY (name)
    i, table = _name(tokens, i + parenthesized)
    if table is None:
        return []
    i += 1 if tokens[i:i + 1] == [("symbol", ")" if parenthesized else "*")] else 0
    return [(kind, (table,), column, default) for action in _commas(tokens[i:])
            for kind, column, default in _action(table, action)]


def _action(table, action):
    """[(kind or None, (table, column) or None, default)] for one action of an ALTER TABLE."""
    if _at(action, 0, "rename"):
        if _at(action, 1, "to"):
            return [("rename table", None, None)]
        if _at(action, 1, "constraint"):
            return []  # the old code does not name constraints (but see ON CONFLICT ON CONSTRAINT)
        return [("rename column", None, None)]  # RENAME [COLUMN] a TO b
    if _at(action, 0, "set", "schema"):
        return [("rename table", None, None)]  # the old code finds the table where it was
    if _at(action, 0, "drop"):
        return [] if _at(action, 1, "constraint") else [("drop column", None, None)]
    if _at(action, 0, "add"):
        return [] if _at(action, 1) in TABLE_CONSTRAINTS else _add_column(table, action)
    if _at(action, 0, "alter") and _at(action, 1) != "constraint":
        i = 2 if _at(action, 1, "column") else 1
        end, column = _name(action, i, qualified=False)
        return _alter_column((table, column), action[end:]) if column is not None else []
    return []


def _add_column(table, action):
    """ADD [COLUMN] [IF NOT EXISTS] name type [constraints]: breaking when NOT NULL (or PRIMARY KEY) without a
    value the database fills itself (DEFAULT, GENERATED, a serial type)."""
    i = 2 if _at(action, 1, "column") else 1
    i += 3 if _at(action, i, "if", "not", "exists") else 0
    i, column = _name(action, i, qualified=False)
    if column is None:
        return []
    rest = _top(action[i:])
    words = [text if kind == "word" else None for kind, text in rest]
    pairs = list(zip(words, words[1:]))
    required = ("not", "null") in pairs or ("primary", "key") in pairs
    filled = bool(words) and words[0] in SERIALS or "generated" in words or any(
        word == "default" and (n == 0 or words[n - 1] != "set") for n, word in enumerate(words))  # SET DEFAULT: FKs
    if filled:
        return [(None, (table, column), True)]
    return [("add column not null without default", (table, column), None)] if required else []


def _alter_column(column, rest):
    if _at(rest, 0, "type") or _at(rest, 0, "set", "data", "type"):
        return [("alter column type", column, None)]
    if _at(rest, 0, "set", "not", "null"):
        return [("set not null", column, None)]
    if _at(rest, 0, "set", "default") or _at(rest, 0, "add", "generated"):
        return [(None, column, True)]
    if _at(rest, 0, "drop", "default") or _at(rest, 0, "drop", "identity"):
        return [("drop default", column, False)]  # the old code, not filling the column, now gets NULL or an error
    return []


def _renamed(tokens, kind):
    """ALTER VIEW / FUNCTION / SCHEMA ...: kind when it renames or moves the object, rename column for a view's
    column, else None."""
    words = [text if sort == "word" else None for sort, text in _top(tokens)]
    for n, word in enumerate(words):
        if word == "rename":
            return kind if words[n + 1:n + 2] == ["to"] else (
                None if words[n + 1:n + 2] == ["constraint"] else "rename column")
        if word == "set" and words[n + 1:n + 2] == ["schema"]:
            return kind
    return None


# ------------------------------------------------------------------------------------------ reading tokens
def _at(tokens, i, *words):
    """True when tokens from i are these words; without words, the word at i (None if not a word)."""
    if not words:
        return tokens[i][1] if i < len(tokens) and tokens[i][0] == "word" else None
    return tokens[i:i + len(words)] == [("word", word) for word in words]


def _lookup(table, tokens, i):
    for words, kind in table.items():
        if _at(tokens, i, *words):
            return kind
    return None


def _name(tokens, i, qualified=True):
    """(index after, the name) of a name at i, (i, None) when there is none. The name is a tuple of its parts
    (schema, name) when qualified, else its one part; each as PostgreSQL folds it (a quoted part keeps its case, an
    unquoted one is lower case)."""
    if i >= len(tokens) or tokens[i][0] not in ("word", "ident"):
        return i, None
    end, parts = i + 1, [tokens[i]]
    while qualified and tokens[end:end + 1] == [("symbol", ".")] and end + 1 < len(tokens) and (
            tokens[end + 1][0] in ("word", "ident")):
        end, parts = end + 2, parts + [tokens[end + 1]]
    folded = tuple(text if kind == "word" else text[1:-1].replace('""', '"') for kind, text in parts)
    return end, folded if qualified else folded[0]


def _commas(tokens):
    """The tokens cut at each comma outside parentheses and brackets."""
    parts, depth = [[]], 0
    for token in tokens:
        if token == ("symbol", ",") and depth == 0:
            parts.append([])
            continue
        depth += 1 if token in (("symbol", c) for c in OPEN) else -1 if token in (("symbol", c) for c in CLOSE) else 0
        parts[-1].append(token)
    return [part for part in parts if part]


def _top(tokens):
    """The tokens outside parentheses and brackets (CHECK (...), numeric(10, 2) and USING f(a, b) left out)."""
    kept, depth = [], 0
    for token in tokens:
        if token in (("symbol", c) for c in OPEN):
            depth += 1
        elif token in (("symbol", c) for c in CLOSE):
            depth -= 1
        elif depth == 0:
            kept.append(token)
    return kept


# ------------------------------------------------------------------------------------------ a plan
def judge(steps, acknowledged):
    """Judge the pending steps of a plan going forward (db_migration's sql list in check mode, state=applied:
    [{"version", "sql", ...}]) against the versions acknowledged as reviewed. Returns {"compatible", "findings":
    [{"version", "line", "kind", "statement", "acknowledged"}], "unjudged": [version whose SQL is not given],
    "message"}; compatible only when every finding and every unjudged version is acknowledged."""
    _check(steps, acknowledged)
    findings, unjudged, new_tables = [], [], set()
    for step in steps:
        if step.get("sql") is None:
            unjudged.append(step["version"])
            continue
        findings.extend(dict({"version": step["version"]}, **finding, acknowledged=step["version"] in acknowledged)
                        for finding in breaking(step["sql"], new_tables))
        new_tables.update(created_tables(step["sql"]))
    compatible = all(f["acknowledged"] for f in findings) and all(v in acknowledged for v in unjudged)
    return {"compatible": compatible, "findings": findings, "unjudged": unjudged,
            "message": _message(steps, acknowledged, findings, unjudged, compatible)}


def _check(steps, acknowledged):
    if isinstance(steps, dict) and "sql" in steps:
        raise OpsreadyError("expects the sql list of db_migration's result, got the whole result: give its .sql")
    if not isinstance(steps, list):
        raise OpsreadyError("expects the sql list db_migration returns in check mode with state=applied (a list of "
                            "{version, sql}), got %s%s" % (_type(steps), "; backend=command returns no sql (the tool's "
                                                           "preview is plan_output): there is no SQL to judge"
                                                           if steps is None else ""))
    for n, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise OpsreadyError("step %d of the plan is %s, not a dict with version and sql" % (n, _type(step)))
        version = step.get("version")
        if not isinstance(version, str) or not version:
            raise OpsreadyError("step %d of the plan has %s: a version is a string (db_migration returns \"0003\")"
                                % (n, "no version" if version is None else "the version %s" % _type(version)))
        if step.get("sql") is not None and not isinstance(step["sql"], str):
            raise OpsreadyError("migration %s: its sql is %s, not the migration's SQL as a string"
                                % (version, _type(step["sql"])))
        if step.get("direction", "up") != "up":
            raise OpsreadyError("migration %s goes %s: only a plan going forward is judged (db_migration "
                                "state=applied in check mode)" % (version, step["direction"]))
    example = "-e %s" % _extra_vars(["0003"])
    if isinstance(acknowledged, str):
        raise OpsreadyError("acknowledged is the string %r, not a list of versions: give a list, as in %s"
                            % (acknowledged, example))
    if not isinstance(acknowledged, list):
        raise OpsreadyError("acknowledged is %s, not a list of versions: give a list, as in %s"
                            % (_type(acknowledged), example))
    for version in acknowledged:
        if not isinstance(version, str):
            raise OpsreadyError("acknowledged holds %s: versions are strings, quoted as in %s (unquoted, YAML reads "
                                "0003 as the number 3)" % (_type(version), example))


def _message(steps, acknowledged, findings, unjudged, compatible):
    versions = [step["version"] for step in steps]
    if not versions:
        return "No pending migration: nothing to judge."
    pending = "Pending migration%s %s" % ("s" if len(versions) > 1 else "", ", ".join(versions))
    stray = [v for v in acknowledged if v not in versions]
    also = " Acknowledged but not pending: %s." % ", ".join(stray) if stray else ""
    if not findings and not unjudged:
        return ("%s: backward compatible, no statement drops, renames, retypes or tightens what the live release may "
                "use.%s" % (pending, also))
    if compatible:
        return "%s: compatible as acknowledged; %s.%s" % (pending, "; ".join(
            (["breaking, but checked as not used by the live release: %s" % _listed(findings)] if findings else [])
            + (["SQL not known, read by hand: %s" % ", ".join(unjudged)] if unjudged else [])), also)
    todo = [f for f in findings if not f["acknowledged"]]
    unread = [v for v in unjudged if v not in acknowledged]
    said = ["Not backward compatible: the release still serving traffic breaks once the schema goes forward."]
    if todo:
        said.append("Breaking: %s." % _listed(todo))
    if unread:
        said.append("Not judged: the SQL of %s is not known (the backend gives none); read %s by hand." % (
            ", ".join(unread), "them" if len(unread) > 1 else "it"))
    done = [v for v in versions if v in acknowledged]
    if done:
        said.append("Already acknowledged: %s." % ", ".join(done))
    if also:
        said.append(also.strip())
    said.append("Either ship %s in a later release, once the live release no longer uses what %s, or, after "
                "checking that it does not, acknowledge %s (the list replaces the one given):" % (
                    ("these contract steps", "they change", "them") if len(todo) + len(unread) > 1 else
                    ("this contract step", "it changes", "it")))
    needed = [v for v in versions if v in acknowledged or v in unread or any(f["version"] == v for f in todo)]
    # The command on a line of its own (the yaml result format prints it as typed), as JSON (kept whole by Ansible).
    return " ".join(said) + "\n-e %s" % _extra_vars(needed)


def _listed(findings):
    named = ["%s line %d: %s (%s)" % (f["version"], f["line"], f["kind"], f["statement"]) for f in findings[:LISTED]]
    if len(findings) > LISTED:
        named.append("and %d more (see findings)" % (len(findings) - LISTED))
    return "; ".join(named)


def _extra_vars(versions):
    return shlex.quote(json.dumps({VARIABLE: versions}))


def _type(value):
    """What a value is, in words; by its base type (Ansible hands filters subclasses of str, list and dict)."""
    if value is None:
        return "None"
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return "the %s %r" % (base.__name__, base(value))
    for base in (dict, list, tuple):
        if isinstance(value, base):
            return "a %s" % base.__name__
    return "a %s" % type(value).__name__
