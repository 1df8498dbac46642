"""Plain messages are printed without rich, byte for byte as rich prints them."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from meshgen import output

SAMPLES = [
    "",
    "clusters/c1/values.yaml: differs from mesh.yaml",
    "trailing spaces  ",
    "    an indented diff line",
    "x" * 400,  # never wrapped
    "two\nlines\n",
    "[bold]not markup[/bold] :smile: not an emoji",
    "ünïcødé → ✓ 漢字 🎉",
]


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("message", SAMPLES)
def test_plain_messages_are_printed_as_rich_prints_them(message: str, terminal: bool) -> None:
    assert output._plain(message)
    expected = io.StringIO()
    Console(
        file=expected,
        highlight=False,
        markup=False,
        soft_wrap=True,
        emoji=False,
        force_terminal=terminal,
        width=40,
    ).print(message)
    fast = io.StringIO()
    output._print(fast, message)
    assert fast.getvalue() == expected.getvalue()


@pytest.mark.parametrize("message", ["a\tb", "bell\x07", "cr\r"])
def test_text_rich_would_change_goes_through_rich(message: str) -> None:
    assert not output._plain(message)
    printed = io.StringIO()
    output._print(printed, message)
    assert printed.getvalue() != f"{message}\n"
