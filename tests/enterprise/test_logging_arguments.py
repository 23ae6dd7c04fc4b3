"""``configure_logging`` checks every argument before it touches a sink: a bad call raises
``ConfigurationError`` naming the argument and the previous configuration keeps logging; stdlib
level names and numbers are accepted (kei-agent-py-sdk 0.1.0b6's docs pass ``logging.DEBUG``)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kei_agent import ConfigurationError
from kei_agent.logging import configure_logging, get_logger, reset_logging


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    reset_logging()


def test_regression_a_bad_level_no_longer_drops_all_later_logging() -> None:
    # Issue 14: configure_logging removed every sink, then failed on the level: all logging was lost.
    buf = io.StringIO()
    configure_logging(level="INFO", stream=buf)
    get_logger("app").info("first line")
    with pytest.raises(ConfigurationError) as caught:
        configure_logging(level="LOUD")
    assert [problem.path for problem in caught.value.problems] == ["level"]
    assert "'LOUD'" in str(caught.value)
    get_logger("app").info("second line")
    assert buf.getvalue().count('"first line"') == 1
    assert buf.getvalue().count('"second line"') == 1


def test_the_issue_repro_with_an_int_level_now_works() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(level="INFO", stream=first)
    get_logger("app").info("before")
    configure_logging(level=logging.DEBUG, stream=second)
    get_logger("app").debug("debug after")
    assert '"before"' in first.getvalue()
    assert '"debug after"' in second.getvalue()
    assert '"debug after"' not in first.getvalue()  # the old sink is gone


@pytest.mark.parametrize(
    ("level", "shown", "hidden"),
    [
        (logging.WARNING, "warning", "info"),
        ("warn", "warning", "info"),
        ("FATAL", "critical", "error"),
        ("debug", "debug", None),
        (logging.ERROR, "error", "warning"),
        ("NOTSET", "debug", None),
        ("30", "warning", "info"),
    ],
)
def test_stdlib_level_names_and_numbers_are_accepted(level: str | int, shown: str, hidden: str | None) -> None:
    buf = io.StringIO()
    configure_logging(level=level, stream=buf)
    logger = get_logger("app")
    getattr(logger, shown)("shown line")
    if hidden is not None:
        getattr(logger, hidden)("hidden line")
    assert '"shown line"' in buf.getvalue()
    assert '"hidden line"' not in buf.getvalue()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"level": True}, ["level"]),
        ({"level": -5}, ["level"]),
        ({"level": 1.5}, ["level"]),
        ({"enable_file": "yes"}, ["enable_file"]),
        ({"extra_fields": ["service"]}, ["extra_fields"]),
        ({"rotation": True}, ["rotation"]),
        ({"retention": []}, ["retention"]),
        ({"redact_keys": "password"}, ["redact_keys"]),
        ({"pii_keys": [1]}, ["pii_keys"]),
        ({"intercept_stdlib": "httpx"}, ["intercept_stdlib"]),
        ({"stream": object()}, ["stream"]),
        ({"level": "LOUD", "enable_console": 1, "extra_fields": 3}, ["level", "enable_console", "extra_fields"]),
    ],
)
def test_bad_arguments_are_named_and_the_previous_configuration_keeps_working(
    arguments: dict[str, Any], named: list[str]
) -> None:
    buf = io.StringIO()
    configure_logging(level="INFO", stream=buf)
    with pytest.raises(ConfigurationError) as caught:
        configure_logging(**arguments)
    assert [problem.path for problem in caught.value.problems] == named
    get_logger("app").info("still logging")
    assert buf.getvalue().count('"still logging"') == 1


def test_unparsable_rotation_is_named_and_no_sink_is_left_behind(tmp_path: Path) -> None:
    buf = io.StringIO()
    configure_logging(level="INFO", stream=buf)
    second = io.StringIO()
    with pytest.raises(ConfigurationError) as caught:
        configure_logging(stream=second, enable_file=True, file_path=tmp_path / "a.log", rotation="10 parsecs")
    assert [problem.path for problem in caught.value.problems] == ["rotation"]
    get_logger("app").info("after the failed call")
    assert '"after the failed call"' in buf.getvalue()
    assert second.getvalue() == ""  # the console sink of the failed call was removed again


def test_a_log_file_under_a_regular_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    buf = io.StringIO()
    configure_logging(stream=buf)
    with pytest.raises(ConfigurationError) as caught:
        configure_logging(enable_file=True, file_path=blocker / "app.log")
    assert [problem.path for problem in caught.value.problems] == ["file_path"]
    get_logger("app").info("kept")
    assert '"kept"' in buf.getvalue()
