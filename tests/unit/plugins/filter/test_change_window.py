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


@pytest.mark.parametrize("windows, blackouts, at, message", [
    ([], None, None, "must be a non-empty list"),
    ([{"days": "wed", "start": "16:00"}], None, None, "needs days, start and end"),
    ([{"days": "someday", "start": "16:00", "end": "18:00"}], None, None, "days 'someday': use mon, tue"),
    ([{"days": "wed", "start": "4pm", "end": "18:00"}], None, None, "time '4pm': use HH:MM"),
    ([{"days": "wed", "start": "16:00", "end": "16:00"}], None, None, "a window needs a length"),
    ([{"days": "wed", "start": "16:00", "end": "18:00", "timezone": "Mars/Olympus"}], None, None,
     "unknown time zone 'Mars/Olympus'"),
    (WEDNESDAY, ["25/11/2026"], None, "blackout '25/11/2026': use YYYY-MM-DD"),
    (WEDNESDAY, None, "next wednesday", "is not an ISO 8601 time"),
    (WEDNESDAY, None, "2026-11-25T16:30:00", "needs a time zone"),
])
def test_bad_input_says_what_to_fix(windows, blackouts, at, message):
    with pytest.raises(AnsibleFilterError, match=message):
        change_window(windows, blackouts, at)
