"""Structured logs: JSON lines off a terminal, the stdlib loggers through the same renderer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.observability.logging import CallLog, configure_logging


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = logging.getLogger("noisy.library").level
    yield
    root.handlers, root.level = saved
    logging.getLogger("noisy.library").setLevel(quiet)


def test_standard_library_lines_come_out_as_json_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream=stream)
    logging.getLogger("gateway.something").warning("upstream %s restarted", "bank")
    line = json.loads(stream.getvalue())
    assert line["event"] == "upstream bank restarted"
    assert line["level"] == "warning" and line["logger"] == "gateway.something" and "timestamp" in line


def test_the_call_line_carries_its_fields_at_info_and_is_skipped_at_warning() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = CallLog()
    assert log.enabled
    log.line({"correlation_id": "call_1", "outcome": "ok", "duration_ms": 1.5})
    line = json.loads(stream.getvalue())
    assert line["correlation_id"] == "call_1" and line["outcome"] == "ok" and line["event"] == "tools/call"
    configure_logging("WARNING", "json", stream=stream)
    assert not log.enabled


def test_the_console_renderer_is_not_json() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "console", stream=stream)
    logging.getLogger("gateway.x").info("hello")
    assert "hello" in stream.getvalue() and not stream.getvalue().startswith("{")


def test_library_loggers_stay_quiet_unless_debug() -> None:
    configure_logging("INFO", "json", stream=io.StringIO(), quiet=["noisy.library"])
    assert logging.getLogger("noisy.library").level == logging.WARNING
    logging.getLogger("noisy.library").setLevel(logging.NOTSET)
    configure_logging("DEBUG", "json", stream=io.StringIO(), quiet=["noisy.library"])
    assert logging.getLogger("noisy.library").level == logging.NOTSET
