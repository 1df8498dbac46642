"""The state of a mesh repository as the promises of issue 12 speak of it, for comparison.

A state is HEAD, every ref (as the tree it points to: commits made at different moments
differ, their trees do not), the index and every file of the work tree (untracked ones too).
``leftovers`` lists what meshgen or git would have left behind after an interruption.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers import tree_bytes


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class RepoState:
    head: str
    refs: dict[str, str]
    index: str
    files: dict[str, bytes]

    def differences(self, other: RepoState) -> list[str]:
        """What differs from ``other``, briefly (for assertion messages)."""
        found = []
        if self.head != other.head:
            found.append(f"HEAD {self.head} != {other.head}")
        if self.refs != other.refs:
            found.append(f"refs {sorted(self.refs.items())} != {sorted(other.refs.items())}")
        if self.index != other.index:
            found.append("index differs")
        changed = sorted(
            p for p in {*self.files, *other.files} if self.files.get(p) != other.files.get(p)
        )
        if changed:
            found.append(f"files differ: {changed[:8]}{' ...' if len(changed) > 8 else ''}")
        return found


def capture(root: Path) -> RepoState:
    """Read-only: nothing here refreshes or writes the index."""
    head = _git(root, "symbolic-ref", "-q", "HEAD").stdout.strip()
    if not head:
        head = _git(root, "rev-parse", "-q", "--verify", "HEAD").stdout.strip()
    listing = _git(root, "for-each-ref", "--format=%(refname) %(tree)", "refs/heads").stdout
    refs = dict(line.split(" ", 1) for line in listing.splitlines() if line.strip())
    index = _git(root, "ls-files", "-s").stdout
    return RepoState(head=head, refs=refs, index=index, files=tree_bytes(root))


def leftovers(root: Path) -> list[str]:
    """Lock files, journals, staging and build folders that no running process owns."""
    git_dir = root / ".git"
    found = []
    for pattern in (
        "meshgen-txn",
        "meshgen-staging-*",
        "index.lock",
        "HEAD.lock",
        "next-index-*.lock",
        "packed-refs.lock",
        "refs/**/*.lock",
    ):
        found += [p.relative_to(root).as_posix() for p in git_dir.glob(pattern)]
    for pattern in (f".{root.name}.meshgen-init-*", f".{root.name}.meshgen"):
        found += [p.name for p in root.parent.glob(pattern)]
    return sorted(found)


def fsck_errors(root: Path) -> str:
    """``git fsck``'s complaints (unreachable objects of a rolled-back commit are fine)."""
    result = _git(root, "fsck", "--no-dangling", "--no-progress")
    problems = (result.stdout + result.stderr).strip()
    return problems if result.returncode != 0 or problems else ""
