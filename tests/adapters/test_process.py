"""One-line summaries of failed programs' output."""

from __future__ import annotations

import signal
import subprocess

import pytest

from meshgen.adapters import transaction
from meshgen.adapters.process import error_summary, require_not_stopped


def test_the_error_line_wins_over_trailing_hints() -> None:
    output = "walk.go:74: found symbolic link\nError: parse error at (x.yaml:3)\nUse --debug flag\n"
    assert error_summary(output) == "Error: parse error at (x.yaml:3)"


def test_an_announcing_error_line_takes_its_details_along() -> None:
    output = (
        "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "gateway:\n- at '': additional properties 'networkGatway' not allowed\n\n"
        "Use --debug flag to render out invalid YAML\n"
    )
    summary = error_summary(output)
    assert summary.endswith("gateway: - at '': additional properties 'networkGatway' not allowed")
    assert "\n" not in summary


def test_without_an_error_line_the_last_line_is_used() -> None:
    assert error_summary("step one\nsomething broke\n\n") == "something broke"
    assert error_summary("") == "no output"


def test_a_tool_stopped_by_a_stop_signal_is_a_stop_not_a_failure() -> None:
    ended = subprocess.run(["sh", "-c", "kill -TERM $$"], check=False)
    assert ended.returncode == -signal.SIGTERM
    try:
        require_not_stopped(1)  # an ordinary failure: the caller reports it
        require_not_stopped(-signal.SIGKILL)  # not a signal a terminal sends
        assert transaction.stop_requested() is None
        with pytest.raises(KeyboardInterrupt):
            require_not_stopped(ended.returncode)
        assert transaction.stop_requested() == signal.SIGTERM
    finally:
        transaction.forget_stop()
