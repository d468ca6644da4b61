# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The planned switchover's plan, from what pg_replication_info read on each member of the cluster: which one is the
primary, which standby takes over, and the refusals. Pure functions."""

from __future__ import annotations

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, number
from ansible_collections.opsready.runbooks.plugins.module_utils._replication import lsn_bytes

NAME = "db_switchover_plan"


def _said(result):
    return " ".join(str(result.get("msg") or "no answer").split())


def members(results):
    """{member: its pg_replication_info result} from the registered loop (item: the member), and the ones that did
    not answer as {member: why}."""
    if not isinstance(results, list) or not results:
        raise OpsreadyError("%s: the input is the registered results of pg_replication_info over the cluster's members "
                            "(db_switchover_members, by default the group db: is it empty?), got %r" % (NAME, results))
    answered, down = {}, {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("item"), str):
            raise OpsreadyError("%s: each result names its member (item), got %r" % (NAME, result))
        if (result.get("unreachable") or result.get("failed") or result.get("role") not in ("primary", "standby")
                or not isinstance(result.get("lsn"), dict)):
            down[result["item"]] = _said(result)
        else:
            answered[result["item"]] = result
    return answered, down


def state_text(answered, down):
    """Every member in words: 'db1: primary at 0/3000148, db2: standby streaming from db1, 0 bytes behind'."""
    words = []
    for name in sorted(set(answered) | set(down)):
        if name in down:
            words.append("%s: did not answer (%s)" % (name, down[name]))
            continue
        state = answered[name]
        if state["role"] == "primary":
            words.append("%s: primary at %s" % (name, state["lsn"]["current"]))
        else:
            receiver = state.get("wal_receiver") or {}
            words.append("%s: standby %s%s" % (
                name, "streaming from %s" % receiver.get("sender_host") if receiver.get("status") == "streaming"
                else "not streaming", ", replay paused" if state.get("replay_paused") else ""))
    return ", ".join(words)


def plan(results, to="", max_lag_bytes=16 * 1024 * 1024):
    """The switchover from the members' states: {todo, primary, target, text, members}. Refuses (OpsreadyError,
    step=True: said as it is) anything a planned switchover must not start on: a member down, no primary or two, a
    target that is not a member, not streaming from the primary or on another timeline, or further behind than
    max_lag_bytes (the clients would wait that long in PgBouncer). A target already primary is nothing to do."""
    if not isinstance(to, str):
        raise OpsreadyError("%s: to is a member's name or empty, got %r" % (NAME, to))
    if isinstance(max_lag_bytes, bool) or not isinstance(max_lag_bytes, int) or max_lag_bytes < 0:
        raise OpsreadyError("%s: max_lag_bytes is a whole number of bytes, 0 or more, got %r" % (NAME, max_lag_bytes))
    answered, down = members(results)
    now = state_text(answered, down)
    if to and to not in answered and to not in down:
        raise OpsreadyError("The member to switch over to, %s, is not one of the cluster's members (%s). Nothing was "
                            "changed." % (to, ", ".join(sorted(set(answered) | set(down)))), step=True)
    primaries = sorted(name for name, state in answered.items() if state["role"] == "primary")
    if to and to in primaries and len(primaries) == 1 and not down:
        return {"todo": False, "primary": to, "target": to, "members": now,
                "text": "%s is already primary: nothing to do (%s)" % (to, now)}
    if down:
        raise OpsreadyError("A switchover needs every member up, and %s did not answer. Now: %s. Nothing was changed. "
                            "For a primary that is lost, run playbooks/db_failover.yml." % (", ".join(sorted(down)), now),
                            step=True)
    if len(primaries) != 1:
        raise OpsreadyError("%s. Now: %s. Nothing was changed: find out which one clients write to before anything "
                            "else." % ("No member is primary" if not primaries else "%s are all primary (split brain)"
                                       % " and ".join(primaries), now), step=True)
    primary = primaries[0]
    streaming = [name for name, state in sorted(answered.items())
                 if state["role"] == "standby" and (state.get("wal_receiver") or {}).get("status") == "streaming"]
    target = to or (streaming[0] if len(streaming) == 1 else "")
    if not target:
        raise OpsreadyError("Name the standby to switch over to, one of %s: -e '{\"db_switchover_to\": \"<member>\"}'. "
                            "Now: %s. Nothing was changed." % (", ".join(streaming) or "none streaming", now), step=True)
    state = answered[target]
    receiver = state.get("wal_receiver") or {}
    if receiver.get("status") != "streaming":
        raise OpsreadyError("%s is not streaming from %s (WAL receiver: %s): it may lack what the primary wrote. Now: %s. "
                            "Nothing was changed." % (target, primary, receiver.get("status") or "not running", now),
                            step=True)
    if state.get("system_identifier") != answered[primary].get("system_identifier"):
        raise OpsreadyError("%s is not a copy of %s (system identifier %s, %s's %s): it streams from another cluster. Now: %s. "
                            "Nothing was changed." % (target, primary, state.get("system_identifier"), primary,
                                                      answered[primary].get("system_identifier"), now), step=True)
    if state.get("timeline") != answered[primary].get("timeline"):
        raise OpsreadyError("%s is on timeline %s, %s on %s: it does not follow this primary. Now: %s. Nothing was "
                            "changed." % (target, state.get("timeline"), primary, answered[primary].get("timeline"), now),
                            step=True)
    # what the primary wrote that the target has not replayed (read one after the other: an estimate, the guard at
    # the promotion is the primary's last position)
    lag = max(0, lsn_bytes(answered[primary]["lsn"]["current"]) - lsn_bytes(state["lsn"].get("replayed") or "0/0"))
    if lag > max_lag_bytes:
        raise OpsreadyError("%s is %d bytes behind %s, over db_switchover_max_lag_bytes (%d): the clients would wait in "
                            "PgBouncer while it catches up. Run again when it has. Now: %s. Nothing was changed."
                            % (target, lag, primary, max_lag_bytes, now), step=True)
    return {"todo": True, "primary": primary, "target": target, "members": now,
            "target_slot": receiver.get("slot") or "",
            "synchronous": bool((state.get("synchronous_standby_names") or "").strip()),
            "text": "%s -> %s (%s)" % (primary, target, now)}


def recovery(plan, paused, fenced, target, promote_asked=False):
    """After a failure: what to put back. plan: the plan (or None when it failed before one); paused: the clients'
    PgBouncer was touched (the target written in its file, or paused); fenced: the old primary may be stopped and
    fenced (standby.signal); target:
    the target's pg_replication_info result now (None when it was not read); promote_asked: pg_promote was called (a
    promotion that timed out may still finish: such a target is never taken for a standby). Returns {action, text}:
    none (nothing was changed), resume (clients let through to the old primary, still running), undo (the target was
    not promoted: the old primary unfenced and started, clients let through to it), forward (the target is primary:
    clients repointed at it), hold (the target cannot be read: nothing more is done, it is said what is left)."""
    if not plan or not plan.get("todo") or not paused:
        return {"action": "none", "text": "Nothing was stopped and the clients were never paused."}
    primary, to = plan["primary"], plan["target"]
    if not fenced:
        return {"action": "resume", "text": "%s runs as the primary (never stopped, or started again): PgBouncer points "
                "the clients at it and lets them through." % primary}
    role = (target or {}).get("role") if not (target or {}).get("failed") and not (target or {}).get("unreachable") else None
    if role == "standby" and promote_asked:
        role = None   # its promotion was asked for and may still be under way: never start the old primary beside it
    if role == "standby":
        return {"action": "undo", "text": "%s was not promoted: %s is started again as the primary (standby.signal "
                "removed) and the clients are let through to it." % (to, primary)}
    if role == "primary":
        return {"action": "forward", "text": "%s is the primary now: the clients are repointed at it. %s stays fenced "
                "(standby.signal): if it is stopped, start it and it rejoins as a standby (check that it streams)."
                % (to, primary)}
    return {"action": "hold", "text": "%s is stopped and fenced, and %s %s: whether it becomes the primary is unknown, "
            "so nothing more is done and the platform lock stays held. The clients wait in PgBouncer (until its "
            "query_wait_timeout). Look at %s: "
            "promoted - repoint PgBouncer at it (module opsready.runbooks.pgbouncer, state running); not promoted - "
            "remove %s's standby.signal and start it, then RESUME PgBouncer."
            % (primary, to, "was asked to promote and is not primary yet" if promote_asked and role is None
               and (target or {}).get("role") == "standby" else "could not be read (%s)" % _said(target or {}), to,
               primary)}


CONSOLE_KEYS = ("login_port", "login_user", "login_password", "ssl_mode", "ca_cert")


def consoles(pgbouncer, hosts):
    """Every play host's PgBouncer console as pg_switchover reaches it from the old primary's host: the console
    options of `pgbouncer` (db_switchover_pgbouncer) with each host's address (ansible_host, else its name) as
    login_host. hosts: the play hosts' hostvars."""
    if not isinstance(pgbouncer, dict):
        raise OpsreadyError("db_switchover_consoles: the input is the PgBouncer options (a dict), got %r"
                            % (type(pgbouncer).__name__,))
    found = []
    for host in hosts or ():
        address = host.get("ansible_host") or host.get("inventory_hostname")
        if not _name(address):
            raise OpsreadyError("db_switchover_consoles: a play host has no address (ansible_host) or name")
        found.append(dict({k: pgbouncer[k] for k in CONSOLE_KEYS if pgbouncer.get(k) is not None}, login_host=address))
    return found


def members_text(results):
    """Every member's state in words from the registered loop of pg_replication_info (for a report: never fails)."""
    try:
        return state_text(*members(results))
    except OpsreadyError:
        return "no member's state could be read"


def conninfo(settings):
    """A libpq connection string from {key: value} (primary_conninfo): each value quoted, its quotes and backslashes
    escaped, empty values left out; keys are libpq's own names (letters and _ only)."""
    if not isinstance(settings, dict):
        raise OpsreadyError("db_switchover_conninfo: the input is a dict of libpq settings, got %r" % (settings,))
    words = []
    for key, value in settings.items():
        if not isinstance(key, str) or not key.replace("_", "").isalpha() or not key.isascii():
            raise OpsreadyError("db_switchover_conninfo: %r is not a libpq setting's name" % (key,))
        if value is None or value == "":
            continue
        text = str(value)
        if any(ord(c) < 32 for c in text):
            raise OpsreadyError("db_switchover_conninfo: the value of %s holds a control character" % key)
        words.append("%s='%s'" % (key, text.replace("\\", "\\\\").replace("'", "\\'")))
    return " ".join(words)


def _name(value):
    return isinstance(value, str) and value.strip() == value and value != "" and all(
        ord(c) >= 32 and not c.isspace() for c in value)


def settings(values):
    """Refuse, before anything is read or changed, settings the switchover cannot run with: every problem at once
    (OpsreadyError, step=True). values: members, to, max_lag_bytes, pause_timeout, promote_timeout, pg_port,
    pgbouncer, replication (the role's db_switchover_* variables). Returns True."""
    problems = []
    members = values.get("members")
    if not isinstance(members, list) or len(members) < 2 or not all(_name(m) for m in members):
        problems.append("db_switchover_members must list at least two members by name (the group db), got %r" % (members,))
    elif len(set(members)) != len(members):
        problems.append("db_switchover_members names a member twice: %s" % ", ".join(members))
    to = values.get("to")
    if to not in ("", None) and not (_name(to) and isinstance(members, list) and to in members):
        problems.append("db_switchover_to must be empty or one of db_switchover_members, got %r" % (to,))
    for key, low, high, unit in (("max_lag_bytes", 0, 2 ** 40, "bytes"), ("pause_timeout", 1, 3600, "seconds"),
                                 ("promote_timeout", 1, 3600, "seconds"), ("pg_port", 1, 65535, "")):
        given = number(values.get(key))
        if given is None or not low <= given <= high or given != int(given):   # inf, nan: out of range first
            problems.append("db_switchover_%s must be a whole number from %d to %d%s, got %r"
                            % (key, low, high, " " + unit if unit else "", values.get(key)))
    pgbouncer = values.get("pgbouncer")
    if not isinstance(pgbouncer, dict) or not _name(pgbouncer.get("database")):
        problems.append("db_switchover_pgbouncer must name the database PgBouncer pools for the clients (database)")
    replication = values.get("replication")
    if not isinstance(replication, dict) or not _name(replication.get("user")):
        problems.append("db_switchover_replication must name the role the old primary streams as (user, password)")
    elif any(ord(c) < 32 for c in str(replication.get("password") or "")):
        problems.append("db_switchover_replication's password holds a control character")
    login = values.get("login")
    if not isinstance(login, dict) or not _name(login.get("user")):
        problems.append("db_switchover_login must name the role the old primary's host promotes the target as (user, "
                        "password - EXECUTE on pg_promote, pg_monitor)")
    if problems:
        raise OpsreadyError("%s. Nothing was changed." % "; ".join(problems), step=True)
    return True
