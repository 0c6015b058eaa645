"""Durations at the edges: parsing units into seconds, rendering windows."""

from __future__ import annotations

import math

import pytest

from emac_sim.units import format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("800us", 0.0008),
        ("800µs", 0.0008),
        ("120ns", 1.2e-7),
        ("5m", 300.0),
        ("6h", 21600.0),
        ("30d", 2592000.0),
        ("1w", 604800.0),
        ("2", 2.0),
        (".5s", 0.5),
        ("5.", 5.0),
        ("1e3ms", 1.0),
        (" 10 ms ", 0.01),
        ("0s", 0.0),
        ("-0s", 0.0),
        (0.4, 0.4),
        (3, 3.0),
        (0, 0.0),
    ],
)
def test_parse(text, seconds):
    got = parse_duration(text)
    assert got == seconds  # exact: decimal arithmetic gives the double nearest the written value
    assert isinstance(got, float)


def test_sub_second_units_are_exact():
    # 800 * 1e-6 in binary floating point is 0.0007999999999999999; we want the literal 0.0008
    assert parse_duration("800us") == 0.0008
    assert parse_duration("70ms") == 0.07
    assert parse_duration("0.1ms") == 0.0001


@pytest.mark.parametrize(
    "value, message",
    [
        ("10 parsecs", "malformed duration '10 parsecs': unknown unit 'parsecs' (use ns, us, ms, s, m, h, d, w)"),
        ("5MS", "malformed duration '5MS': unknown unit 'MS' (use ns, us, ms, s, m, h, d, w)"),
        ("fast", "malformed duration 'fast': expected a number with a unit (ns, us, ms, s, m, h, d, w)"),
        ("1.2.3s", "malformed duration '1.2.3s': expected a number with a unit (ns, us, ms, s, m, h, d, w)"),
        ("", "malformed duration '': expected a number with a unit (ns, us, ms, s, m, h, d, w)"),
        ("-10ms", "duration must be non-negative, got '-10ms'"),
        (-0.5, "duration must be non-negative, got -0.5"),
        ("1e999s", "duration must be finite, got '1e999s'"),
        ("1e99999999999999s", "duration must be finite, got '1e99999999999999s'"),
        (math.inf, "duration must be finite, got inf"),
        (math.nan, "duration must be finite, got nan"),
        (10**400, "duration must be finite, got a 401-digit number"),
        (True, "expected a duration like 250ms or 1.5s, got True"),
        (None, "expected a duration like 250ms or 1.5s, got nothing (null)"),
        ([1], "expected a duration like 250ms or 1.5s, got a list"),
    ],
)
def test_bad_durations(value, message):
    with pytest.raises(ValueError) as err:
        parse_duration(value)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "seconds, text",
    [(300.0, "5m"), (3600.0, "1h"), (21600.0, "6h"), (2592000.0, "30d"), (604800.0, "7d"), (30.0, "30s"), (0.25, "250ms"), (90.0, "90s")],
)
def test_format(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
