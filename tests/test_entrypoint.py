"""The ``meshgen`` executable's quick exit: a command that asks for it ends without Python's
teardown, yet with its ``atexit`` functions run, its output flushed and its exit status."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SNIPPET = """\
import atexit, sys, threading, time
from meshgen import entrypoint

atexit.register(lambda: sys.stdout.write(" atexit"))
entrypoint.exit_quickly()
{setup}
try:
    sys.stdout.write("report")  # buffered: a pipe
    sys.exit({code})
except SystemExit as done:
    entrypoint._exit_now(done.code)
    sys.stdout.write(" teardown")
    raise
"""


def run(code: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    script = SNIPPET.format(code=code, setup=textwrap.dedent(setup))
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("3", 3), ("130", 130)])
def test_a_quick_exit_keeps_the_status_the_output_and_atexit(code: str, status: int) -> None:
    result = run(code)
    assert result.returncode == status
    assert result.stdout == "report atexit"  # flushed, atexit ran, nothing after the exit


def test_a_message_exits_1_and_is_written_to_stderr_as_python_does() -> None:
    result = run("'error: something'")
    assert result.returncode == 1
    assert result.stderr == "error: something\n"
    assert result.stdout == "report atexit"


def test_a_running_thread_python_waits_for_gets_the_normal_teardown() -> None:
    result = run(
        "4",
        """
        done = threading.Event()
        def late():
            done.wait(0.3)
            sys.stdout.write(" thread")
        threading.Thread(target=late).start()
        """,
    )
    assert result.returncode == 4
    # _exit_now returned: the teardown waited for the thread, as Python does without it
    assert result.stdout == "report teardown thread atexit"
