from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kei_agent.policies import parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # delay-seconds
        ({"Retry-After": "5"}, 5.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 120 "}, 120.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "86400"}, 86400.0),
        # retry-after-ms wins over Retry-After
        ({"retry-after-ms": "250", "Retry-After": "5"}, 0.25),
        ({"Retry-After-Ms": "1500.5"}, 1.5005),
        ({"retry-after-ms": "0"}, 0.0),
        # an invalid retry-after-ms falls back to Retry-After
        ({"retry-after-ms": "soon", "Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "-5", "Retry-After": "3"}, 3.0),
        # HTTP dates, relative to now; the past gives 0
        ({"Retry-After": "Wed, 25 Nov 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 25 Nov 2026 13:00:00 +0100"}, 0.0),
        ({"Retry-After": "Wed, 25 Nov 2026 14:00:00 +0100"}, 3600.0),
        ({"Retry-After": "Wed, 25 Nov 2026 11:59:00 GMT"}, 0.0),
        ({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0),
        # garbage and invalid numbers
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "+5"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e3"}, None),
        ({"Retry-After": "5 seconds"}, None),
        ({"Retry-After": "Wed, 99 Foo 2026 25:61:00 GMT"}, None),
        ({"retry-after-ms": "garbage"}, None),
        # absent
        ({}, None),
        ({"Content-Type": "application/json"}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_naive_now_and_naive_dates_are_utc():
    naive_now = NOW.replace(tzinfo=None)
    assert parse_retry_after({"Retry-After": "Wed, 25 Nov 2026 12:00:10 -0000"}, now=naive_now) == pytest.approx(10.0)


def test_now_in_another_zone():
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after({"Retry-After": "Wed, 25 Nov 2026 12:01:00 GMT"}, now=now) == pytest.approx(60.0)


def test_date_defaults_to_the_current_time():
    later = datetime.now(UTC) + timedelta(hours=1)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    result = parse_retry_after({"Retry-After": header})
    assert result is not None
    assert 3500 < result <= 3600


def test_works_with_case_insensitive_header_objects():
    class Headers(dict[str, str]):
        def get(self, key, default=None):  # type: ignore[override]
            return super().get(key.lower(), default)

    assert parse_retry_after(Headers({"retry-after": "7"})) == 7.0
