"""Tests for sim.clock: durations in and out, and sim seconds <-> UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sim.clock import (
    Clock,
    ClockError,
    format_duration,
    human_duration,
    parse_datetime,
    parse_duration,
)

SEED_START = "2019-12-17T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("12h", 43200.0),
        ("1h30m", 5400.0),
        ("7d", 604800.0),
        ("1d12h", 129600.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("1h0m0s", 3600.0),
        ("45d15h", 45 * 86400 + 15 * 3600.0),
        ("30m1h", 5400.0),  # any order, as Go allows
        ("90", 90.0),
        ("0.25", 0.25),
        (" 10s ", 10.0),
        (90, 90.0),
        (2.5, 2.5),
        (0, 0.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_accepts(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12x", 'invalid duration "12x": unknown unit "x" (expected ms, s, m, h or d)'),
        ("2w", 'invalid duration "2w": unknown unit "w" (expected ms, s, m, h or d)'),
        ("5us", 'invalid duration "5us": unknown unit "us" (expected ms, s, m, h or d)'),
        ("1h30", 'invalid duration "1h30": missing unit after "30" (expected ms, s, m, h or d)'),
        ("", 'invalid duration "": empty'),
        ("h", 'invalid duration "h": expected a number at "h"'),
        ("1h 30m", 'invalid duration "1h 30m": expected a number at " 30m"'),
        ("-5s", 'invalid duration "-5s": must not be signed'),
        (-5, 'invalid duration "-5": must not be negative'),
        (float("nan"), 'invalid duration "nan": not finite'),
        (True, 'invalid duration "True": not a number or a duration'),
        (None, 'invalid duration "None": not a number or a duration'),
    ],
)
def test_parse_duration_rejects(text: object, message: str) -> None:
    with pytest.raises(ClockError) as caught:
        parse_duration(text)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.999, "59.999s"),
        (60, "1m0s"),
        (2700, "45m0s"),
        (3600, "1h0m0s"),
        (5400, "1h30m0s"),
        (86400, "24h0m0s"),
        (15768000, "4380h0m0s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (0.000001, "1\u00b5s"),
        (0.0000005, "500ns"),
        (-90, "-1m30s"),
        (3600.000000001, "1h0m0.000000001s"),
    ],
)
def test_format_duration_is_go_duration_string(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (90, "1m30s"),
        (3600, "1h"),
        (86400, "1d"),
        (45 * 86400 + 15 * 3600, "45d15h"),
        (3944.5, "1h5m44.5s"),
        (3600.5, "1h0.5s"),
    ],
)
def test_human_duration_round_trips(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-12-17T00:00:00Z", datetime(2019, 12, 17, tzinfo=UTC)),
        ("2019-12-17T09:00:00+09:00", datetime(2019, 12, 17, tzinfo=UTC)),
        ("2019-12-17t00:00:00z", datetime(2019, 12, 17, tzinfo=UTC)),
        ("2019-12-17T00:00:00.123456789Z", datetime(2019, 12, 17, 0, 0, 0, 123456, tzinfo=UTC)),
        (
            datetime(2019, 12, 17, 9, tzinfo=timezone(timedelta(hours=9))),
            datetime(2019, 12, 17, tzinfo=UTC),
        ),
    ],
)
def test_parse_datetime_accepts(text: str | datetime, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2019-12-17 00:00",
            'invalid datetime "2019-12-17 00:00": expected RFC 3339 like "2019-12-17T00:00:00Z"',
        ),
        (
            "2019-12-17T00:00:00",
            'invalid datetime "2019-12-17T00:00:00": expected RFC 3339 like "2019-12-17T00:00:00Z"',
        ),
        (
            "2019-02-30T00:00:00Z",
            'invalid datetime "2019-02-30T00:00:00Z": day is out of range for month',
        ),
        (
            datetime(2019, 12, 17),
            'invalid datetime "2019-12-17T00:00:00": missing time zone '
            '(write it like "2019-12-17T00:00:00Z")',
        ),
    ],
)
def test_parse_datetime_rejects(text: str | datetime, message: str) -> None:
    with pytest.raises(ClockError) as caught:
        parse_datetime(text)
    assert str(caught.value) == message


def test_clock_renders_the_seed_timestamps() -> None:
    clock = Clock.parse(SEED_START)
    refreshed = parse_duration("29m32s")
    assert clock.rfc3339(refreshed) == "2019-12-17T00:29:32Z"
    # The next refresh the seed's server scheduled, 45d15h later.
    assert clock.rfc3339(refreshed + parse_duration("45d15h")) == "2020-01-31T15:29:32Z"
    handshake = parse_duration("5h26m41s") + 0.381518
    assert clock.golog(handshake) == "2019/12/17 05:26:41.381518"
    assert clock.timestamp(handshake) == "2019-12-17T05:26:41.381518Z"


@pytest.mark.parametrize(
    ("sim_seconds", "rfc3339", "golog"),
    [
        (0, "2019-12-17T00:00:00Z", "2019/12/17 00:00:00.000000"),
        (0.9999994, "2019-12-17T00:00:00Z", "2019/12/17 00:00:00.999999"),
        (0.9999996, "2019-12-17T00:00:01Z", "2019/12/17 00:00:01.000000"),  # rounds to the us
        (59.5, "2019-12-17T00:00:59Z", "2019/12/17 00:00:59.500000"),  # RFC 3339 truncates
        (-1, "2019-12-16T23:59:59Z", "2019/12/16 23:59:59.000000"),
        (86400 * 15 + 0.000001, "2020-01-01T00:00:00Z", "2020/01/01 00:00:00.000001"),
    ],
)
def test_clock_formats(sim_seconds: float, rfc3339: str, golog: str) -> None:
    clock = Clock.parse(SEED_START)
    assert clock.rfc3339(sim_seconds) == rfc3339
    assert clock.golog(sim_seconds) == golog


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, "2020-02-28T23:59:59Z"),
        (1, "2020-02-29T00:00:00Z"),
        (86400, "2020-02-29T23:59:59Z"),
        (86401, "2020-03-01T00:00:00Z"),
        (366 * 86400, "2021-02-28T23:59:59Z"),
    ],
)
def test_clock_round_trips_across_a_leap_day(offset: float, expected: str) -> None:
    clock = Clock.parse("2020-02-28T23:59:59Z")
    assert clock.rfc3339(offset) == expected
    dt = clock.to_datetime(offset)
    assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0)
    assert clock.to_sim(dt) == offset
    assert clock.to_sim(expected) == offset


def test_clock_round_trips_fractions() -> None:
    clock = Clock.parse(SEED_START)
    for t in (0.000001, 0.381518, 19601.381518, 1e7 + 0.5):
        assert clock.to_sim(clock.to_datetime(t)) == pytest.approx(t, abs=1e-6)


def test_clock_normalises_its_anchor_to_utc() -> None:
    tokyo = Clock(datetime(2019, 12, 17, 9, tzinfo=timezone(timedelta(hours=9))))
    assert tokyo == Clock.parse(SEED_START)
    assert tokyo.start.tzinfo is UTC


def test_clock_refuses_a_naive_anchor() -> None:
    with pytest.raises(ClockError, match="missing time zone"):
        Clock(datetime(2019, 12, 17))
