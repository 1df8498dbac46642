"""``meshgen recover``: roll back what an interrupted meshgen command left half-done.

Every command that writes does this first on its own; this verb does only that, for a person
or a CI job that wants the repository back to its last complete state without changing
anything else. ``--forget`` drops the record of the interrupted change instead, keeping the
work tree, index and branches exactly as they are (for when they were changed by hand since).
"""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, output
from meshgen.adapters import lock, transaction


def run(repo: Path | None, forget: bool) -> int:
    root = mesh_repo.find_root_unchecked(repo)
    lock.acquire(root)
    done = transaction.recover(root, forget=forget)
    for line in done:
        output.info(line[0].upper() + line[1:] + ".")
    if not done:
        output.info(f"{root}: nothing to recover; no meshgen command was interrupted here.")
    return 0
