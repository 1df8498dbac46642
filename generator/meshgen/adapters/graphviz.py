"""Graphviz ``dot``, when installed, to turn a DOT graph into SVG."""

from __future__ import annotations

import shutil
import subprocess

from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError


def to_svg(dot_text: str) -> str:
    executable = shutil.which("dot")
    if executable is None:
        raise MeshgenError(
            "--format svg needs Graphviz's `dot`, which is not on PATH; install Graphviz "
            "(apt-get install graphviz, brew install graphviz) or use --format mermaid or dot"
        )
    result = subprocess.run(
        [executable, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise MeshgenError(f"dot -Tsvg failed: {error_summary(result.stderr or result.stdout)}")
    return result.stdout
