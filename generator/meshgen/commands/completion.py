"""``meshgen completion bash|zsh|fish``: the shell completion script (click's own protocol).

The script calls ``meshgen`` back with ``_MESHGEN_COMPLETE`` set; click answers with the
commands, options and choices that fit what was typed, so completion never drifts from the
CLI.
"""

from __future__ import annotations

import click

from meshgen import output

COMPLETE_VAR = "_MESHGEN_COMPLETE"


def script(cli: click.Command, shell: str) -> str:
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    if completion_class is None:  # the CLI offers only shells click knows
        raise click.UsageError(f"no completion for shell {shell}")
    return completion_class(cli, {}, "meshgen", COMPLETE_VAR).source()


def run(cli: click.Command, shell: str) -> int:
    text = script(cli, shell)
    output.raw(text if text.endswith("\n") else text + "\n")
    return 0
