# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Change windows: is a moment inside one of the allowed windows (weekdays + time range + time zone), outside every
blackout date? Pure functions; the caller passes the moment."""

from __future__ import annotations

import datetime
import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name):
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise OpsreadyError("windows: unknown time zone %r (use an IANA name such as UTC or Europe/Berlin)" % name)


def _days(spec, where):
    """{"mon", ...} from "mon-fri", "wed", "sat,sun" or a list of those."""
    items = spec if isinstance(spec, list) else str(spec).split(",")
    days = set()
    for item in (str(item).strip().lower() for item in items):
        first, dummy, last = item.partition("-")
        first, last = first.strip()[:3], (last.strip()[:3] or first.strip()[:3])
        if first not in DAYS or last not in DAYS:
            raise OpsreadyError("windows: %s: days %r: use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri"
                                % (where, item))
        start = DAYS.index(first)
        days.update(DAYS[(start + n) % 7] for n in range((DAYS.index(last) - start) % 7 + 1))
    return days


def _clock(value, where):
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match.group(2)) > 59 or int(match.group(1)) * 60 + int(match.group(2)) > 24 * 60:
        raise OpsreadyError("windows: %s: time %r: use HH:MM (24-hour, 00:00 to 24:00)" % (where, value))
    return int(match.group(1)) * 60 + int(match.group(2))


def normalize(windows, blackouts):
    """Validated windows [{days, start, end, tz, label}] and blackout spans [(first date, last date, label)]. No
    windows (an empty list) means any time outside the blackouts."""
    if not isinstance(windows, list):
        raise OpsreadyError("windows: the change windows must be a list of {days, start, end, timezone}")
    result = []
    for index, window in enumerate(windows):
        where = "window %d" % (index + 1)
        if not isinstance(window, dict) or not {"days", "start", "end"} <= set(window):
            raise OpsreadyError("windows: %s needs days, start and end (and optionally timezone, name), got %r"
                                % (where, window))
        start, end = _clock(window["start"], where), _clock(window["end"], where)
        if start == end:
            raise OpsreadyError("windows: %s: start and end are both %s; a window needs a length"
                                % (where, window["start"]))
        result.append({"days": _days(window["days"], where), "start": start, "end": end,
                       "tz": _zone(window.get("timezone", "UTC")), "label": window.get("name") or "%s %s-%s %s" % (
                           window["days"] if isinstance(window["days"], str) else ",".join(window["days"]),
                           window["start"], window["end"], window.get("timezone", "UTC"))})
    spans = []
    for entry in blackouts or []:
        first, last, label = (entry.get("from"), entry.get("to"), entry.get("reason", "")) if isinstance(entry, dict) \
            else (entry, entry, "")
        try:
            span = (datetime.date.fromisoformat(str(first)), datetime.date.fromisoformat(str(last or first)), label)
        except ValueError:
            raise OpsreadyError("blackouts: %r: use YYYY-MM-DD or {from: YYYY-MM-DD, to: YYYY-MM-DD, reason: ...}"
                                % entry)
        if span[1] < span[0]:
            raise OpsreadyError("blackouts: %r ends before it starts" % entry)
        spans.append(span)
    return result, spans


def _inside(window, moment):
    """Does the window contain the aware datetime `moment`? Windows that cross midnight belong to their start day."""
    local = moment.astimezone(window["tz"])
    minute = local.hour * 60 + local.minute
    day = DAYS[local.weekday()]
    if window["start"] < window["end"]:
        return day in window["days"] and window["start"] <= minute < window["end"]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return (day in window["days"] and minute >= window["start"]) or (yesterday in window["days"] and minute < window["end"])


def decide(windows, blackouts=None, at=None):
    """{allowed, at, window, reason, next_window}: `at` is an aware datetime (default now, UTC)."""
    at = at or datetime.datetime.now(datetime.timezone.utc)
    if at.tzinfo is None:
        raise OpsreadyError("at: the moment to check needs a time zone (e.g. 2026-11-25T16:30:00+00:00)")
    windows, spans = normalize(windows, blackouts)
    stamp = at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for first, last, label in spans:
        # a blackout date is a date in the first window's time zone (the team's calendar; UTC without windows)
        if first <= at.astimezone(_calendar(windows)).date() <= last:
            return {"allowed": False, "at": stamp, "window": None, "next_window": _next(windows, spans, at),
                    "reason": "%s is inside the blackout %s%s" % (stamp, first if first == last else "%s..%s" % (
                        first, last), " (%s)" % label if label else "")}
    if not windows:
        return {"allowed": True, "at": stamp, "window": None, "next_window": None,
                "reason": "no change window is configured and %s is outside every blackout" % stamp}
    for window in windows:
        if _inside(window, at):
            return {"allowed": True, "at": stamp, "window": window["label"], "next_window": None,
                    "reason": "%s is inside the change window %s" % (stamp, window["label"])}
    following = _next(windows, spans, at)
    return {"allowed": False, "at": stamp, "window": None, "next_window": following,
            "reason": "%s is outside every change window (%s)%s" % (
                stamp, "; ".join(w["label"] for w in windows), "; the next opens %s" % following if following else "")}


def start(decision, rehearsal, check_mode, override_reason):
    """How a change starts, given the decision: allowed, by override (with a reason) or refused.

    `rehearsal` says the decision is for a given moment, not now. That is honoured in check mode only (a rehearsal
    of a scheduled run): in a real run the moment would let anyone past the guard, so it needs the override reason
    there too. The decision records all of it."""
    result = dict(decision, rehearsal=bool(rehearsal), override_reason=override_reason or None)
    if rehearsal and not check_mode:
        result["reason"] = ("%s; a rehearsal time is honoured in check mode only: a real run with one needs an "
                            "override reason" % decision["reason"])
        result["started"] = "by override" if override_reason else "refused"
    else:
        result["started"] = "allowed" if decision["allowed"] else ("by override" if override_reason else "refused")
    return result


def _calendar(windows):
    return windows[0]["tz"] if windows else datetime.timezone.utc


def _next(windows, spans, at):
    """The next moment (UTC, minute resolution, within 35 days) that is inside a window and outside blackouts."""
    if not windows:   # any time outside the blackouts: the day after the one that holds `at`, at midnight UTC
        day = at.astimezone(datetime.timezone.utc).date()
        while any(first <= day <= last for first, last, label in spans):
            day += datetime.timedelta(days=1)
        return "%sT00:00:00Z" % day.isoformat()
    moment = at.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    for dummy in range(35 * 24 * 4):  # quarter-hour steps are enough to find an opening...
        if any(_inside(w, moment) for w in windows) and not any(
                first <= moment.astimezone(windows[0]["tz"]).date() <= last for first, last, label in spans):
            while True:  # ...then walk back to the minute it opened
                earlier = moment - datetime.timedelta(minutes=1)
                if earlier <= at or not any(_inside(w, earlier) for w in windows):
                    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                moment = earlier
        moment += datetime.timedelta(minutes=15)
    return None
