# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Is the primary lost? Probes of its postmaster from the standby's host, confirmed by the standby's own WAL
receiver: a host that merely lost its route to the primary sees the standby's WAL receiver still stream, and nothing
is promoted. A standby cut off from a primary that lives loses both; the runbook then asks from the controller too
(roles/db_failover), and the lag guard's reference is the latest position anyone saw (primary_lsn).

A probe is what pg_isready does, without credentials: an SSLRequest to the postmaster, which answers one byte ('S'
or 'N') whatever pg_hba.conf says. The receiver confirms when it is not streaming, or when it has heard nothing from
the primary for longer than half the standby's wal_receiver_timeout (when it pings the primary) plus a second."""

from __future__ import annotations

import collections
import re
import socket
import struct
import threading
import time

from ansible_collections.opsready.runbooks.plugins.module_utils import _replication as replication
from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, number
from ansible_collections.opsready.runbooks.plugins.module_utils._postgres import servers

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_ADDRESSES = {}   # (host, port): the addresses probe() found, and whether the last probe answered
_LOOKUPS = {}   # (host, port): the name lookup running (a thread) and its result, one per name
LIMITS = {"probes": (1, 100), "interval": (0.1, 60), "probe_timeout": (0.1, 30), "watch": (0, 7 * 24 * 3600)}
KEPT_PROBES = 20   # a watch returns its last probes, not every one of a week
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?\Z")
SETTINGS = """SELECT current_setting('primary_conninfo'),
  (SELECT setting::int FROM pg_settings WHERE name = 'wal_receiver_timeout')"""


def validate(params):
    """Every option checked before anything is reached."""
    problems = []
    for key, (low, high) in LIMITS.items():
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            problems.append("%s must be a number from %s to %s, got %r" % (key, low, high, value))
    if params.get("primary") is not None:
        try:
            found = servers({"login_host": params["primary"], "login_port": 5432})
        except OpsreadyError as e:
            problems.append("primary: %s" % e)
        else:
            if len(found) != 1 or found[0][0].startswith("/"):
                problems.append("primary: one server's host or host:port, got %r" % params["primary"])
    if not problems and params["probe_timeout"] > params["interval"]:
        problems.append("probe_timeout (%s) must be at most interval (%s): a probe ends before the next one starts"
                        % (params["probe_timeout"], params["interval"]))
    if params.get("primary_lsn") is not None:
        try:
            replication.lsn_bytes(params["primary_lsn"])
        except OpsreadyError as e:
            problems.append("primary_lsn: %s" % e)
    if problems:
        raise OpsreadyError("; ".join(problems))


def lookup(host, port, timeout, resolve=socket.getaddrinfo, running=None):
    """([(family, type, proto, address)], why not): every address of host for TCP, looked up within `timeout` s.
    The system's resolver has no timeout of its own, and podman's DNS once hung 40 s on a just-killed container's
    name: a stalled lookup is an unanswered probe, not a stalled detection. One lookup of a name at a time (`running`,
    this process's by default): a later probe waits on the one still running instead of starting another."""
    running = _LOOKUPS if running is None else running
    key = (host, port)
    thread, box = running.get(key, (None, None))
    if thread is None or (not thread.is_alive() and not box):
        box = []

        def work():
            try:
                box.append([(family, kind, proto, address)
                            for family, kind, proto, dummy, address in resolve(host, port, 0, socket.SOCK_STREAM)])
            except Exception as e:   # socket.gaierror, or a name the IDNA codec refuses (UnicodeError)
                box.append(e)

        thread = threading.Thread(target=work, daemon=True)   # left behind while it stalls; one per name
        running[key] = (thread, box)
        thread.start()
    thread.join(timeout)
    if not box:
        return None, "the name lookup of %s took more than %s s" % (host, timeout)
    running.pop(key, None)
    if isinstance(box[0], Exception):
        return None, "the name lookup of %s failed: %s" % (host, getattr(box[0], "strerror", None) or box[0])
    return (box[0], None) if box[0] else (None, "the name lookup of %s found no address" % host)


def probe(host, port, timeout, clock=time.monotonic, resolve=socket.getaddrinfo, known=None, running=None):
    """One probe of the postmaster at host:port: (answered, why not). Bounded by timeout as a whole (the name lookup,
    connect, send and the one-byte answer), whatever the other side does; each address of the name is tried in turn.
    The addresses found are kept in `known` (this process's, by default): after a probe that answered the next one
    uses them without a lookup; after one that did not, the name is looked up again (within half the timeout) and
    the kept addresses serve when that lookup fails or stalls."""
    known = _ADDRESSES if known is None else known
    deadline = clock() + timeout
    kept = known.get((host, port))
    if kept and kept["answered"]:
        addresses = kept["addresses"]
    else:
        found, why = lookup(host, port, timeout / 2.0 if kept else timeout, resolve, running)
        if found:
            kept = known[(host, port)] = {"addresses": found, "answered": False}
        elif not kept:
            return False, why
        addresses = kept["addresses"]
    answered, why = _ask(addresses, deadline, clock, timeout)
    kept["answered"] = answered
    return answered, why


def _ask(addresses, deadline, clock, timeout):
    """The SSLRequest to each address in turn until one answers or the deadline passes: (answered, why not)."""
    why = "no address to try"
    for family, kind, proto, address in addresses:
        try:
            left = deadline - clock()
            if left <= 0:
                raise socket.timeout()
            with socket.socket(family, kind, proto) as conn:
                conn.settimeout(left)
                conn.connect(address)
                conn.sendall(SSL_REQUEST)
                left = deadline - clock()
                if left <= 0:
                    raise socket.timeout()
                conn.settimeout(left)
                answer = conn.recv(1)
        except socket.timeout:
            return False, "no answer within %s s" % timeout
        except OSError as e:   # refused, unreachable: the next address, if any
            why = e.strerror or str(e)
            continue
        if answer in (b"S", b"N"):
            return True, None
        return False, "answered %r: not a PostgreSQL postmaster" % answer if answer else "closed the connection"
    return False, why


def receiver_verdict(state, silence):
    """(lost, why) from the standby's own view (state: _replication.read's): its WAL receiver gone, not streaming,
    or silent for `silence` seconds or more (None: its wal_receiver_timeout is off, only the status counts)."""
    receiver = state["wal_receiver"]
    if receiver is None:
        return True, "the standby's WAL receiver has stopped"
    if receiver["status"] != "streaming":
        return True, "the standby's WAL receiver is %s" % receiver["status"]
    age = receiver["seconds_since_message"]
    if silence is not None and age is not None and age >= silence:
        return True, "the standby's WAL receiver has heard nothing from %s for %.1f s" % (receiver["sender_host"], age)
    return False, "the standby's WAL receiver still streams from %s (last message %.1f s ago)" % (
        receiver["sender_host"], age or 0.0)


def primary_of(params, state, conninfo, parse_dsn):
    """The primary to probe: the option, else the standby's WAL receiver's sender, else its primary_conninfo."""
    if params.get("primary"):
        host, port = servers({"login_host": params["primary"], "login_port": 5432})[0]
        return host, port
    receiver = state["wal_receiver"]
    if receiver and receiver["sender_host"]:
        return receiver["sender_host"], receiver["sender_port"] or 5432
    options = parse_dsn(conninfo) if conninfo else {}
    if not options.get("host"):
        raise OpsreadyError("the standby names no primary (no WAL receiver, primary_conninfo has no host): give primary")
    return options["host"], int(options.get("port") or 5432)


def lag_bytes(primary_end, state):
    """What the primary had written (primary_end: its WAL end as its last message said) beyond what this standby
    received; None when unknown."""
    received = state["lsn"]["received"]
    if primary_end is None or received is None:
        return None
    return max(0, replication.lsn_bytes(primary_end) - replication.lsn_bytes(received))


def later(lsn, other):
    """The later of two LSNs (None: unknown)."""
    known = [x for x in (lsn, other) if x is not None]
    return max(known, key=replication.lsn_bytes) if known else None


def detect(conn, params, parse_dsn, clock=time.monotonic, sleep=time.sleep, probe_one=probe):
    """Probe the primary every `interval` s and read the standby's state; `probes` failures in a row, confirmed by
    the standby's WAL receiver, is a lost primary. Without watch, a probe that answers ends it (alive); with watch, it
    goes on until the primary is lost or `watch` s have passed. Returns the module's result, with the primary's last
    known WAL end (the latest its messages to the standby said: the lag guard's reference)."""
    validate(params)
    start = clock()
    state = replication.read(conn)
    if state["role"] != "standby":
        return {"changed": False, "lost": False, "already_primary": True, "primary": None, "probes": [],
                "msg": "this server is a primary, not a standby: nothing to detect (promoted already?)",
                "standby": state, "primary_end_lsn": None, "lag_bytes": None, "elapsed_s": round(clock() - start, 3)}
    with conn.cursor() as cur:
        cur.execute(SETTINGS)
        conninfo, receiver_timeout_ms = cur.fetchone()
    host, port = primary_of(params, state, conninfo, parse_dsn)
    silence = receiver_timeout_ms / 2000.0 + 1 if receiver_timeout_ms else None
    n, interval, timeout = params["probes"], params["interval"], params["probe_timeout"]
    # without watch: n probes, then as long as the receiver needs to confirm (it pings the primary at half its timeout)
    window = params["watch"] or (n - 1) * interval + timeout + (silence or 0) + interval
    probes, streak, first_failure, lost, verdict = collections.deque(maxlen=KEPT_PROBES), 0, None, False, None
    primary_end, tick = params.get("primary_lsn"), start
    while True:
        primary_end = later(primary_end, (state["wal_receiver"] or {}).get("primary_end_lsn"))
        at = clock()
        answered, error = probe_one(host, port, timeout)
        probes.append({"at_s": round(at - start, 3), "answered": answered, "error": error,
                       "ms": round((clock() - at) * 1000, 1)})
        streak, first_failure = (0, None) if answered else (streak + 1, at if first_failure is None else first_failure)
        if answered and not params["watch"]:
            break
        state = replication.read(conn)
        if state["role"] != "standby":
            raise OpsreadyError("the standby was promoted while this ran (by another run or by hand): nothing is "
                                "decided here", probes=list(probes), standby=state)
        if streak >= n:
            lost, verdict = receiver_verdict(state, silence)
            if lost:
                break
        tick += interval
        if clock() - start > window:   # by the clock: probes that take their whole timeout never stretch the window
            break
        sleep(max(0.0, tick - clock()))
    primary_end = later(primary_end, (state["wal_receiver"] or {}).get("primary_end_lsn"))
    now = clock()
    if lost:
        msg = "primary %s:%s lost: %d probes in a row unanswered (%s), and %s" % (
            host, port, streak, probes[-1]["error"], verdict)
    elif streak >= n:
        msg = ("primary %s:%s does not answer this host's probes, but %s: its route from here is lost, not the "
               "primary; nothing to do" % (host, port, verdict))
    elif streak:
        msg = "primary %s:%s: %d probe(s) unanswered in a row, fewer than %d; nothing to do" % (host, port, streak, n)
    else:
        msg = "primary %s:%s answers" % (host, port)
    return {"changed": False, "lost": lost, "already_primary": False, "primary": {"host": host, "port": port},
            "probes": list(probes), "failed_in_a_row": streak, "receiver_silence_s": silence, "msg": msg,
            "standby": state, "primary_end_lsn": primary_end, "lag_bytes": lag_bytes(primary_end, state),
            "since_first_failure_s": round(now - first_failure, 3) if first_failure is not None else None,
            "elapsed_s": round(now - start, 3)}


DURABLE_COMMIT = ("on", "remote_write", "remote_apply")


def synchronous(answered, down, target, primary):
    """Whether every commit the primary acknowledged is on the target (RPO 0): {configured, rpo0, source, why}.

    `configured`: the target's own synchronous_standby_names is set - once promoted it would wait for a standby of
    its own, so the promotion suspends it until one rejoins. `rpo0` needs the primary's own view, read by this run
    while it answered (a watch started ahead of time): its synchronous_standby_names set, its synchronous_commit at
    least remote_write, the target streaming as its synchronous standby (sync or quorum), and no other walsender that
    could stand in for it (sync, quorum or potential: another member, pg_receivewal, a DR replica). Then it could not
    acknowledge a commit the target lacked. A dead primary's settings are not read from the standby's copy: an
    ALTER SYSTEM on the primary (not replicated) may have turned synchronous replication off before it died. Not seen
    from here: what changed on the primary after it was read, a session that set synchronous_commit to local or off,
    a commit whose wait was cancelled (committed locally, the client told with a warning)."""
    names = answered[target].get("synchronous_standby_names") or ""
    found = {"configured": bool(names.strip()), "rpo0": False, "source": primary}
    if not primary:
        found["why"] = ("not known: the primary did not answer when this run started, and only its own settings and "
                        "standbys can say whether it waited for %s (its copy of them may differ)" % target)
        return found
    state = answered[primary]
    said, commit = (state.get("synchronous_standby_names") or "").strip(), state.get("synchronous_commit")
    standbys = state.get("standbys") or []
    ours = [w for w in standbys if _is_target(w, target, answered[target], primary, len(standbys))]
    others = sorted("%s (%s)" % (w.get("name"), w.get("sync_state")) for w in standbys
                    if w not in ours and w.get("sync_state") in ("sync", "quorum", "potential"))
    ours = [w.get("sync_state") for w in ours]
    if not said:
        found["why"] = "asynchronous: %s's synchronous_standby_names is empty" % primary
    elif commit not in DURABLE_COMMIT:
        found["why"] = ("synchronous_standby_names is %r but %s's synchronous_commit is %s: commits were acknowledged "
                        "before a standby had them" % (said, primary, commit))
    elif not any(sync in ("sync", "quorum") for sync in ours):
        found["why"] = ("synchronous_standby_names is %r, but %s did not stream to %s as its synchronous standby (%s)"
                        % (said, primary, target, ", ".join(str(s) for s in ours) or "not streaming"))
    elif others:
        found["why"] = ("synchronous (%r), but %s could also stand in for %s: the primary may have acknowledged "
                        "commits %s lacks" % (said, ", ".join(others), target, target))
    else:
        found.update(rpo0=True, why="RPO 0: %s had synchronous_standby_names %r, synchronous_commit %s and %s as its "
                     "only synchronous standby (read at %s): it acknowledged no commit before %s had it" % (
                         primary, said, commit, target, state.get("at") or "the start", target))
    return found


def _is_target(walsender, target, target_state, primary, count):
    """Whether a walsender of the primary (pg_stat_replication, as pg_replication_info shows it) is the target's: its
    application_name is the target's name as the runbooks set it (non [a-z0-9_] as _), or it is the primary's only
    walsender while the target's WAL receiver streams from the primary."""
    name = walsender.get("name") or ""
    if name in (target, re.sub(r"[^a-z0-9_]", "_", target)):
        return True
    receiver = target_state.get("wal_receiver") or {}
    return count == 1 and receiver.get("status") == "streaming" and receiver.get("sender_host") == primary


def plan(results, standby=""):
    """The failover's target from what pg_replication_info read on each member (the registered loop): {promoted,
    target, primary, down, members, text}. Refuses (OpsreadyError, step=True) a standby that is not a member or did
    not answer, no standby that answers, two standbys and none named, two primaries (split brain). A live primary is
    not refused here: the detection decides (a watch starts while it lives). The target already primary (promoted:
    an earlier run, or by hand) leaves the clients and the fence to see to, with nothing to detect or promote."""
    from ansible_collections.opsready.runbooks.plugins.module_utils import _switchover as switchover
    answered, down = switchover.members(results)
    now = switchover.state_text(answered, down)
    if not isinstance(standby, str) or (standby and standby not in answered and standby not in down):
        raise OpsreadyError("The standby to promote, %r, is not one of the cluster's members (%s). Nothing was changed."
                            % (standby, ", ".join(sorted(set(answered) | set(down)))), step=True)
    primaries = sorted(name for name, state in answered.items() if state["role"] == "primary")
    standbys = sorted(name for name, state in answered.items() if state["role"] == "standby")
    if len(primaries) > 1:
        raise OpsreadyError("%s are all primary (split brain). Now: %s. Nothing was changed: find out which one clients "
                            "write to before anything else." % (" and ".join(primaries), now), step=True)
    if standby in primaries:
        return {"promoted": True, "target": standby, "primary": standby, "primary_lsn": None, "down": sorted(down),
                "members": now, "synchronous": None,
                "text": "%s is primary already: the clients and the fence are seen to (%s)" % (standby, now)}
    if standby in down:
        raise OpsreadyError("The standby to promote, %s, did not answer. Now: %s. Nothing was changed." % (standby, now),
                            step=True)
    if not standby and not standbys:
        if primaries and down:
            raise OpsreadyError(
                "%s is primary and %s did not answer: a standby down is not a failover. If %s is the standby an earlier "
                "run promoted, name it to see to the clients and the fence: -e '{\"db_failover_standby\": \"%s\"}'. "
                "Now: %s. Nothing was changed." % (primaries[0], ", ".join(sorted(down)), primaries[0], primaries[0], now),
                step=True)
        raise OpsreadyError("No standby answers: there is nothing to promote. Now: %s. Nothing was changed." % now,
                            step=True)
    if not standby and len(standbys) > 1:
        raise OpsreadyError("Name the standby to promote, one of %s: -e '{\"db_failover_standby\": \"<member>\"}'. "
                            "Now: %s. Nothing was changed." % (", ".join(standbys), now), step=True)
    target = standby or standbys[0]
    primary = primaries[0] if primaries else None
    sync = synchronous(answered, down, target, primary)
    return {"promoted": False, "target": target, "primary": primary, "down": sorted(down),
            "primary_lsn": answered[primary]["lsn"]["current"] if primary else None, "members": now,
            "synchronous": sync, "text": "%s would be promoted if its primary is lost (%s; %s)" % (
                target, now, sync["why"])}


def settings(values):
    """Refuse, before anything is read or changed, settings the failover cannot run with: every problem at once
    (OpsreadyError, step=True). values: the role's db_failover_* variables without the prefix. Returns True."""
    def _name(value):   # an inventory host name: it reaches shells on the members, so nothing a shell would read
        return isinstance(value, str) and HOST.match(value) is not None
    problems = []
    members = values.get("members")
    if not isinstance(members, list) or len(members) < 2 or not all(_name(m) for m in members):
        problems.append("db_failover_members must list at least two members by name (the group db), got %r" % (members,))
    elif len(set(members)) != len(members):
        problems.append("db_failover_members names a member twice: %s" % ", ".join(members))
    standby = values.get("standby")
    if standby not in ("", None) and not (_name(standby) and isinstance(members, list) and standby in members):
        problems.append("db_failover_standby must be empty or one of db_failover_members, got %r" % (standby,))
    for key, low, high in (("probes", 1, 100), ("interval", 0.1, 60), ("probe_timeout", 0.1, 30),
                           ("watch", 0, 7 * 24 * 3600), ("max_lag_bytes", 0, 2 ** 40), ("promote_timeout", 1, 3600),
                           ("fence_timeout", 1, 600), ("verify_timeout", 1, 3600)):
        given = number(values.get(key))
        whole = key in ("probes", "max_lag_bytes")
        if given is None or not low <= given <= high or (whole and given != int(given)):
            problems.append("db_failover_%s must be a %snumber from %s to %s, got %r"
                            % (key, "whole " if whole else "", low, high, values.get(key)))
    interval, timeout = number(values.get("interval")), number(values.get("probe_timeout"))
    if interval is not None and timeout is not None and timeout > interval:
        problems.append("db_failover_probe_timeout (%s) must be at most db_failover_interval (%s): a probe ends before "
                        "the next one starts" % (values.get("probe_timeout"), values.get("interval")))
    if not isinstance(values.get("accept_data_loss"), bool):
        problems.append("db_failover_accept_data_loss must be true or false, got %r" % (values.get("accept_data_loss"),))
    reason = values.get("data_loss_reason")
    if values.get("accept_data_loss") is True and not (isinstance(reason, str) and reason.strip()):
        problems.append("db_failover_accept_data_loss needs db_failover_data_loss_reason: why losing what the standby "
                        "did not receive is acceptable (it is recorded)")
    pgbouncer = values.get("pgbouncer")
    if not isinstance(pgbouncer, dict) or not _name(pgbouncer.get("database")):
        problems.append("db_failover_pgbouncer must name the database PgBouncer pools for the clients (database)")
    if problems:
        raise OpsreadyError("%s. Nothing was changed." % "; ".join(problems), step=True)
    return True


def rejoin_plan(results, member):
    """Whether `member` must rejoin the primary, from what pg_replication_info read on each member: {todo, primary,
    text}. Refuses (OpsreadyError, step=True) no primary answering, two primaries, a member that is not one. Nothing
    to do for the primary itself, or for a standby already streaming from it."""
    from ansible_collections.opsready.runbooks.plugins.module_utils import _switchover as switchover
    answered, down = switchover.members(results)
    now = switchover.state_text(answered, down)
    if member not in answered and member not in down:
        raise OpsreadyError("%r is not one of the cluster's members (%s). Nothing was changed."
                            % (member, ", ".join(sorted(set(answered) | set(down)))), step=True)
    primaries = sorted(name for name, state in answered.items() if state["role"] == "primary")
    if len(primaries) != 1:
        raise OpsreadyError("%s. Now: %s. Nothing was changed: %s" % (
            "No member is primary" if not primaries else "%s are all primary (split brain)" % " and ".join(primaries),
            now, "fail over first (playbooks/db_failover.yml)" if not primaries else
            "stop the one clients do not write to (PgBouncer's target says which), then rejoin it"), step=True)
    primary = primaries[0]
    if member == primary:
        return {"todo": False, "primary": primary, "text": "%s is the primary: nothing to rejoin (%s)" % (member, now)}
    receiver = (answered.get(member) or {}).get("wal_receiver") or {}
    if receiver.get("status") == "streaming" and receiver.get("sender_host") == primary:
        return {"todo": False, "primary": primary,
                "text": "%s streams from %s already: nothing to do (%s)" % (member, primary, now)}
    return {"todo": True, "primary": primary, "text": "%s rejoins %s (%s)" % (member, primary, now)}
