"""Change windows: inside/outside, time zones, windows across midnight, blackouts, the next opening, bad input."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.opsready.runbooks.plugins.filter.change_window import change_window

WEDNESDAY = [{"days": "wed", "start": "16:00", "end": "18:00", "timezone": "UTC", "name": "weekly window"}]


@pytest.mark.parametrize("at, allowed", [
    ("2026-11-25T16:00:00+00:00", True),    # Wednesday, the first minute
    ("2026-11-25T17:59:59+00:00", True),
    ("2026-11-25T18:00:00+00:00", False),   # the end is exclusive
    ("2026-11-25T15:59:00+00:00", False),
    ("2026-11-26T16:30:00+00:00", False),   # Thursday
    ("2026-11-25T17:30:00+01:00", True),    # 16:30 UTC, given in another offset
])
def test_weekly_window(at, allowed):
    assert change_window(WEDNESDAY, at=at)["allowed"] is allowed


def test_outside_says_why_and_when_the_next_window_opens():
    decision = change_window(WEDNESDAY, at="2026-11-22T22:00:00Z")
    assert decision == {"allowed": False, "at": "2026-11-22T22:00:00Z", "window": None,
                        "next_window": "2026-11-25T16:00:00Z",
                        "reason": "2026-11-22T22:00:00Z is outside every change window (weekly window); "
                                  "the next opens 2026-11-25T16:00:00Z"}


def test_time_zones_and_daylight_saving():
    berlin = [{"days": "mon-fri", "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}]
    assert change_window(berlin, at="2026-01-05T08:30:00Z")["allowed"] is True    # 09:30 CET
    assert change_window(berlin, at="2026-07-06T07:30:00Z")["allowed"] is True    # 09:30 CEST
    assert change_window(berlin, at="2026-07-06T15:30:00Z")["allowed"] is False   # 17:30 CEST
    assert change_window(berlin, at="2026-07-04T10:00:00Z")["allowed"] is False   # Saturday


def test_a_window_across_midnight_belongs_to_its_start_day():
    night = [{"days": "fri", "start": "22:00", "end": "02:00"}]
    assert change_window(night, at="2026-11-27T23:00:00Z")["allowed"] is True     # Friday night
    assert change_window(night, at="2026-11-28T01:30:00Z")["allowed"] is True     # Saturday early
    assert change_window(night, at="2026-11-28T23:00:00Z")["allowed"] is False    # Saturday night
    assert change_window(night, at="2026-11-27T01:30:00Z")["allowed"] is False    # Friday early (Thursday's night)


def test_several_windows_and_blackouts():
    windows = WEDNESDAY + [{"days": ["sat", "sun"], "start": "06:00", "end": "08:00"}]
    assert change_window(windows, at="2026-11-29T07:00:00Z")["window"] == "sat,sun 06:00-08:00 UTC"
    blackouts = ["2026-11-25", {"from": "2026-12-21", "to": "2027-01-03", "reason": "holiday freeze"}]
    frozen = change_window(windows, blackouts, at="2026-11-25T16:30:00Z")
    assert frozen["allowed"] is False and frozen["reason"].endswith("is inside the blackout 2026-11-25")
    assert frozen["next_window"] == "2026-11-28T06:00:00Z"
    holiday = change_window(windows, blackouts, at="2026-12-23T16:30:00Z")
    assert holiday["reason"] == "2026-12-23T16:30:00Z is inside the blackout 2026-12-21..2027-01-03 (holiday freeze)"
    assert holiday["next_window"] == "2027-01-06T16:00:00Z"


def test_now_is_the_default():
    assert set(change_window(WEDNESDAY)) == {"allowed", "at", "window", "next_window", "reason"}


def test_a_real_run_decides_for_now_and_a_rehearsal_time_needs_an_override():
    """Issue 12: change_window_at is a rehearsal time, honoured in check mode only."""
    inside = "2026-11-25T16:30:00Z"
    rehearsal = change_window(WEDNESDAY, at=inside, check_mode=True, override_reason="")
    assert rehearsal["allowed"] is True and rehearsal["started"] == "allowed" and rehearsal["rehearsal"] is True
    real = change_window(WEDNESDAY, at=inside, check_mode=False, override_reason="")
    assert real["started"] == "refused" and real["rehearsal"] is True
    assert real["reason"].startswith("2026-11-25T16:30:00Z is inside the change window weekly window")
    assert "honoured in check mode only" in real["reason"]
    forced = change_window(WEDNESDAY, at=inside, check_mode=False, override_reason="INC-1 rehearsal on staging")
    assert forced["started"] == "by override" and forced["override_reason"] == "INC-1 rehearsal on staging"


@pytest.mark.parametrize("check_mode, override, at, started", [
    (False, "", None, "refused"),
    (True, "", None, "refused"),
    (False, "INC-7", None, "by override"),
    (True, "", "2026-11-25T16:30:00Z", "allowed"),
    (True, "", "2026-11-25T12:00:00Z", "refused"),
    (False, "", "2026-11-25T12:00:00Z", "refused"),
    (False, "INC-7", "2026-11-25T12:00:00Z", "by override"),
])
def test_how_the_change_starts(check_mode, override, at, started):
    never = [{"days": "mon", "start": "00:00", "end": "00:01", "timezone": "Pacific/Kiritimati"}]
    windows = WEDNESDAY if at else never   # without a rehearsal time: now, which no one-minute window holds here
    decision = change_window(windows, at=at, check_mode=check_mode, override_reason=override)
    if not at and decision["allowed"]:
        pytest.skip("now happens to be inside the one-minute window")
    assert decision["started"] == started and decision["rehearsal"] is bool(at)
    assert decision["override_reason"] == (override or None)


def test_blackouts_without_windows_are_a_freeze():
    """A freeze (blackout dates) with no change window configured: refused on those dates, allowed on the others;
    the dates are UTC dates then (with windows, the first window's time zone)."""
    freeze = [{"from": "2026-11-27", "to": "2026-11-30", "reason": "Black Friday freeze"}]
    inside = change_window([], freeze, at="2026-11-27T10:00:00Z")
    assert inside["allowed"] is False and inside["next_window"] == "2026-12-01T00:00:00Z"
    assert inside["reason"] == "2026-11-27T10:00:00Z is inside the blackout 2026-11-27..2026-11-30 (Black Friday freeze)"
    outside = change_window([], freeze, at="2026-12-01T00:00:00Z")
    assert outside["allowed"] is True and outside["window"] is None
    assert outside["reason"] == "no change window is configured and 2026-12-01T00:00:00Z is outside every blackout"
    started = change_window([], freeze, at="2026-11-28T10:00:00Z", check_mode=True, override_reason="INC-4711: fix")
    assert started["started"] == "by override"


def test_without_check_mode_it_only_decides():
    assert "started" not in change_window(WEDNESDAY, at="2026-11-25T16:30:00Z")


# (id, windows, blackouts, at, check_mode, override_reason, the option the message names, a part of the message)
BAD_INPUT = [
    ("windows-not-a-list", "wed 16:00-18:00", None, None, None, None, "windows", "must be a list"),
    ("windows-a-dict", {"days": "wed"}, None, None, None, None, "windows", "must be a list"),
    ("window-not-a-dict", ["wed 16:00-18:00"], None, None, None, None, "windows", "needs days, start and end"),
    ("window-without-end", [{"days": "wed", "start": "16:00"}], None, None, None, None, "windows",
     "needs days, start and end"),
    ("days-unknown", [{"days": "someday", "start": "16:00", "end": "18:00"}], None, None, None, None, "windows",
     "days 'someday': use mon, tue"),
    ("days-empty", [{"days": "", "start": "16:00", "end": "18:00"}], None, None, None, None, "windows",
     "use mon, tue"),
    ("start-not-a-time", [{"days": "wed", "start": "4pm", "end": "18:00"}], None, None, None, None, "windows",
     "time '4pm': use HH:MM"),
    ("start-hour-25", [{"days": "wed", "start": "25:00", "end": "18:00"}], None, None, None, None, "windows",
     "use HH:MM"),
    ("end-past-24", [{"days": "wed", "start": "16:00", "end": "24:30"}], None, None, None, None, "windows",
     "use HH:MM"),
    ("start-equals-end", [{"days": "wed", "start": "16:00", "end": "16:00"}], None, None, None, None, "windows",
     "a window needs a length"),
    ("timezone-unknown", [{"days": "wed", "start": "16:00", "end": "18:00", "timezone": "Mars/Olympus"}], None, None,
     None, None, "windows", "unknown time zone 'Mars/Olympus'"),
    ("timezone-newline", [{"days": "wed", "start": "16:00", "end": "18:00", "timezone": "UTC\n"}], None, None, None,
     None, "windows", "unknown time zone"),
    ("blackout-not-iso", WEDNESDAY, ["25/11/2026"], None, None, None, "blackouts", "'25/11/2026': use YYYY-MM-DD"),
    ("blackout-without-from", WEDNESDAY, [{"to": "2026-12-01"}], None, None, None, "blackouts", "use YYYY-MM-DD"),
    ("blackout-reversed", WEDNESDAY, [{"from": "2026-12-31", "to": "2026-12-01"}], None, None, None, "blackouts",
     "ends before it starts"),
    ("at-not-iso", WEDNESDAY, None, "next wednesday", None, None, "at", "is not an ISO 8601 time"),
    ("at-without-time-zone", WEDNESDAY, None, "2026-11-25T16:30:00", None, None, "at", "needs a time zone"),
    ("at-newline", WEDNESDAY, None, "2026-11-25T16:30:00Z\n", None, None, "at", "is not an ISO 8601 time"),
    ("check-mode-a-string", WEDNESDAY, None, None, "false", None, "check_mode", "true or false"),
    ("override-reason-a-list", WEDNESDAY, None, None, False, ["INC-1"], "override_reason", "text"),
]


@pytest.mark.parametrize("windows, blackouts, at, check_mode, override, option, message",
                         [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_says_what_to_fix(windows, blackouts, at, check_mode, override, option, message):
    with pytest.raises(AnsibleFilterError) as error:
        change_window(windows, blackouts, at, check_mode=check_mode, override_reason=override)
    assert message in str(error.value) and "change_window: %s" % option in str(error.value), str(error.value)
