# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""What the runbook skeleton reports about hosts: where each one is after a stop (a host that died is a state,
not a crash), and what an earlier run left behind (pure functions, no I/O)."""

from __future__ import annotations

import datetime
import posixpath
import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError


def timeline(entries, step, detail="", after=None, now=None):
    """The runbook's timeline with one more entry, {at (UTC, microseconds), step, detail}; a new list, so a
    set_fact of the result is the only change. entries None (the first step) starts one.

    `after` is the registered result of the step's action, run with ignore_unreachable and ignore_errors (a dead
    host must fail as an ordinary failure the rescue reports, not end the play): when it, or any item of its loop,
    failed or could not reach its host, the step failed and this refuses with the step's name and each failure
    (raised with step=True: the failure is the step's, said as it is)."""
    if entries is None:
        entries = []
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise OpsreadyError("timeline: the timeline must be a list of entries (dicts), got %r" % (entries,))
    if not isinstance(step, str) or not step.strip():
        raise OpsreadyError("timeline: give the step's name (a non-empty string), got %r" % (step,))
    if after is not None and not isinstance(after, dict):
        raise OpsreadyError("timeline: after is a task's registered result (a dict), got %r" % (after,))
    if after and (after.get("failed") or after.get("unreachable") or _failed_items(after)):
        raise OpsreadyError("%s: %s" % (step, failure_message(after)), step=True)
    at = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return entries + [{"at": at, "step": step, "detail": "" if detail is None else str(detail)}]


# How Ansible (2.19 and later) wraps an error raised by a filter in a task's arguments; the error itself follows.
_FILTER_FAILED = re.compile(r"The filter plugin 'opsready\.runbooks\.\w+' failed: (.*)\Z", re.DOTALL)


def _failed_items(result):
    return [r for r in result.get("results") or [] if isinstance(r, dict) and (r.get("failed") or r.get("unreachable"))]


def _message(result):
    msg = result.get("msg")
    if not msg and result.get("stderr"):
        msg = result["stderr"]
    if not msg and result.get("unreachable"):
        msg = "unreachable"
    said = _FILTER_FAILED.search(str(msg)) if msg else None
    return " ".join(str(said.group(1) if said else msg if msg else "failed").split())


def _label(result):
    item = result.get(result.get("ansible_loop_var") or "item")
    label = (result.get("_ansible_item_label") if result.get("_ansible_item_label") is not None else item)
    return label if isinstance(label, str) else str(label)


def failure_message(result):
    """What a failed task said, in one line: each failed or unreachable item of a loop as its label and its own
    message (a loop otherwise says only "One or more items failed"); a failure raised by one of this collection's
    filters as the filter said it, without Ansible's wrapping."""
    if not isinstance(result, dict):
        return " ".join(str(result).split()) or "failed"
    failed = _failed_items(result)
    if not failed:
        return _message(result)
    return "; ".join("%s: %s" % (_label(r), _message(r)) for r in failed)


def _results(results, what):
    if not isinstance(results, list) or not all(isinstance(r, dict) and "item" in r for r in results):
        raise OpsreadyError("%s: expected the results of a loop over hosts (a list of dicts with item)" % what)
    return results


def _dict(value):
    """A part of a module's result that should be a dict (stat, before); anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def _reason(result):
    return " ".join(str(result.get("msg") or "unreachable").split())


def hosts_now(results, last_known=None, at=""):
    """Where each host's live link points, from the results of an ansible.builtin.stat loop over the hosts run with
    ignore_unreachable. Returns {hosts: {host: version, or 'unreachable'}, unreachable: {host: {at, last_known,
    reason}}, text: 'app1 on 1.0.0, app2 unreachable at ... (last known on 1.1.0)', way_back: what to do about each
    host that could not be reached (empty when every host answered)}."""
    last_known = last_known or {}
    if not isinstance(last_known, dict):
        raise OpsreadyError("hosts_now: last_known must be a dict of host: version")
    hosts, unreachable, words = {}, {}, []
    for result in _results(results, "hosts_now"):
        host = str(result["item"])
        if result.get("unreachable"):
            known = last_known.get(host)
            hosts[host] = "unreachable"
            unreachable[host] = {"at": at, "last_known": known, "reason": _reason(result)}
            words.append("%s unreachable%s%s" % (host, " at %s" % at if at else "",
                                                 " (last known on %s)" % known if known else ""))
            continue
        target = _dict(result.get("stat")).get("lnk_target")
        version = posixpath.basename(target.rstrip("/")) if isinstance(target, str) and target.strip("/") else "unknown"
        hosts[host] = version
        words.append("%s on %s" % (host, version))
    way_back = " ".join("%s cannot be reached: what it runs now is not known, and the load balancers keep it out of "
                        "rotation; once it is back, run again (a host at the target but out of rotation is put back "
                        "in)." % host for host in unreachable)
    return {"hosts": hosts, "unreachable": unreachable, "text": ", ".join(words), "way_back": way_back}


def _by_host(results, what):
    return [(str(r["item"]), r) for r in _results(results or [], what)]


def leftovers(maintenance=None, workers=None, lb=None, services=None, to_switch=None):
    """What an earlier run may have left on the app hosts, from three read-only loops run with ignore_unreachable:
    maintenance (opsready.runbooks.maintenance_mode in check mode, item = host), workers (`systemctl is-active
    <services>`, item = host) and lb (opsready.runbooks.haproxy_server in check mode, item = [load balancer, host]).
    Returns {hosts: {host: [what is left, ...]}, text: 'app1: maintenance on since ...; app2: in MAINT on lb1'}
    (a host with nothing left is not listed), and the hosts by kind: maintenance, workers_stopped, out_of_rotation,
    unreachable (lists in the order found); to_finish, the hosts out of rotation that this run does not switch (it puts
    them back), record, the sentence for the timeline (empty when nothing is left), and states, each host's maintenance
    state and its workers' states as read ({maintenance: {host: present}, workers: {host: 'active active'}})."""
    found = {}
    kinds = {"maintenance": [], "workers_stopped": [], "out_of_rotation": [], "unreachable": []}
    states = {"maintenance": {}, "workers": {}}   # as read, for a runbook's record of the hosts' state

    def add(host, what, kind):
        if what not in found.setdefault(host, []):
            found[host].append(what)
        if host not in kinds[kind]:
            kinds[kind].append(host)

    for host, r in _by_host(maintenance, "leftovers (maintenance)"):
        if r.get("unreachable"):
            states["maintenance"][host] = "unreachable"
            add(host, "unreachable (%s)" % _reason(r), "unreachable")
            continue
        if r.get("failed"):
            states["maintenance"][host] = "unknown"
            add(host, "maintenance state unknown (%s)" % _reason(r), "maintenance")
            continue
        before = _dict(r.get("before"))
        states["maintenance"][host] = str(before.get("state") or "unknown")
        if before.get("state") == "present":
            add(host, "maintenance on%s%s" % (" since %s" % before["since"] if before.get("since") else "",
                                              " (%s)" % before["reason"] if before.get("reason") else ""),
                "maintenance")
    if not isinstance(services, (list, tuple)) and services is not None:
        raise OpsreadyError("leftovers: services must be a list of service names, got %r" % (services,))
    services = [str(name) for name in services or []]
    for host, r in _by_host(workers, "leftovers (workers)"):
        if r.get("unreachable"):
            states["workers"][host] = "unreachable"
            add(host, "unreachable (%s)" % _reason(r), "unreachable")
            continue
        if r.get("skipped"):
            continue
        words = str(r.get("stdout") or "").split()
        states["workers"][host] = " ".join(words)
        stopped = ["%s %s" % (name, state) for name, state in zip(services, words) if state != "active"]
        if stopped:
            add(host, "workers not running: %s" % ", ".join(stopped), "workers_stopped")
    for r in _results(lb or [], "leftovers (lb)"):
        item = r["item"]
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise OpsreadyError("leftovers (lb): each item must be [load balancer, host], got %r" % (item,))
        balancer, host = str(item[0]), str(item[1])
        if r.get("unreachable"):
            add(host, "load balancer %s unreachable (%s)" % (balancer, _reason(r)), "out_of_rotation")
            continue
        if r.get("failed"):
            add(host, "state unknown on %s (%s)" % (balancer, _reason(r)), "out_of_rotation")
            continue
        admin = _dict(r.get("before")).get("admin")
        if admin in ("MAINT", "DRAIN"):
            add(host, "in %s on %s" % (admin, balancer), "out_of_rotation")
    if not isinstance(to_switch, (list, tuple)) and to_switch is not None:
        raise OpsreadyError("leftovers: to_switch must be a list of hosts, got %r" % (to_switch,))
    to_finish = [host for host in kinds["out_of_rotation"] if host not in [str(h) for h in to_switch or []]]
    text = "; ".join("%s: %s" % (host, ", ".join(what)) for host, what in sorted(found.items()))
    record = ("An earlier run left %s%s" % (text, "; put back in rotation: " + ", ".join(to_finish) if to_finish else "")
              if text else "")
    return dict(kinds, hosts=found, text=text, to_finish=to_finish, record=record, states=states)
