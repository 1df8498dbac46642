"""meshgen.yamlload gives exactly what PyYAML's CSafeLoader gives: values of the same types
(True is not 1, 1.0 is not 1), aliases as the same object, the same errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshgen import yamlload

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT.parent / "shared" / "upstream"

TRICKY = [
    "a: 1\nb: -0\nc: +7\nd: 007\ne: 0x1F\nf: 0o17\ng: 1_000\nh: 1:30\ni: 0b101\n",
    "a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 1e3\nf: 6.8523015e+5\ng: 190:20:30.15\n",
    "a: yes\nb: No\nc: ON\nd: off\ne: True\nf: FALSE\ng: y\nh: n\n",
    "a: ~\nb: null\nc: Null\nd:\ne: ''\nf: 'null'\ng: \"true\"\n",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14\nc: !!binary aGVsbG8=\n",
    "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  z: 3\n",
    "list: &l [a, b]\nagain: *l\nnested: {inner: *l}\n",
    "s: !!set {a, b}\no: !!omap [a: 1, b: 2]\np: !!pairs [a: 1, a: 2]\n",
    "a: !!str 12\nb: !!int '12'\nc: !!float '1'\nd: !!null ''\ne: !!bool 'yes'\n",
    "dup: 1\ndup: 2\n",
    "1: int key\n2.5: float key\ntrue: bool key\n~: null key\n",
    "= : value key\nk: v\n",
    "block: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\nplain: a b  c\n",
    "unicode: \u00e9\u00e8\nquoted: 'it''s'\nescaped: \"tab\\there\"\n",
    "- [1, [2, [3, {a: [4]}]]]\n- {}\n- []\n- ''\n",
    "huge: 1" + "0" * 5000 + "\n",
    "deep: " + "[" * 2000 + "]" * 2000 + "\n",
    "recursive: &r\n  self: *r\n",
    "? [unhashable]\n: value\n",
    "? {a: 1}\n: value\n",
    "a: !custom thing\n",
    "a: !!bool maybe\n",
    "a: !!str {b: 1}\n",
    "a: [unclosed\n",
    "a: 1\n  b: 2\n",
    "---\na: 1\n---\n---\n- b\n...\n",
    "",
    "# only a comment\n",
]


def same(a: Any, b: Any, seen: set[tuple[int, int]] | None = None) -> bool:
    """Equal and of the same types, all the way down (a recursive value too)."""
    seen = set() if seen is None else seen
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list, tuple)):
        if (id(a), id(b)) in seen:
            return True
        seen.add((id(a), id(b)))
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            same(k1, k2, seen) and same(a[k1], b[k2], seen) for k1, k2 in zip(a, b, strict=True)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        return ("value", load(text))
    except Exception as exc:  # the same error, or none
        return ("error", (type(exc).__name__, str(exc)))


def reference_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def check(text: str) -> None:
    for ours, theirs in (
        (yamlload.load, lambda t: yaml.load(t, Loader=yaml.CSafeLoader)),
        (lambda t: list(yamlload.load_all(t)), reference_all),
    ):
        got, expected = outcome(ours, text), outcome(theirs, text)
        assert got[0] == expected[0], (text[:200], got, expected)
        if got[0] == "error":
            assert got[1] == expected[1], text[:200]
        else:
            assert same(got[1], expected[1]), text[:200]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_load_as_pyyaml_loads_them(text: str) -> None:
    check(text)


def test_an_alias_is_the_object_of_its_anchor() -> None:
    loaded = yamlload.load("base: &b {x: [1]}\nuse: *b\nlist: &l [1]\nagain: *l\n")
    assert loaded["use"] is loaded["base"] and loaded["again"] is loaded["list"]
    recursive = yamlload.load("r: &r\n  self: *r\n")
    assert recursive["r"]["self"] is recursive["r"]


def corpus() -> list[Path]:
    files = [
        p
        for folder in ("examples", "overlays", "charts", "schemas", ".github")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    ]
    if UPSTREAM.is_dir():
        files += sorted(p for p in UPSTREAM.rglob("*.yaml") if "/templates/" not in str(p))
    return files


def test_every_yaml_file_at_hand_loads_as_pyyaml_loads_it() -> None:
    files = corpus()
    # This repository's own overlays, chart profiles, schemas and workflows (14 today), and
    # Istio's charts and CRDs when ../shared/upstream is there (a fresh clone has none).
    own = [p for p in files if p.is_relative_to(ROOT)]
    assert len(own) >= 10
    if UPSTREAM.is_dir():
        assert len(files) > len(own) + 100
    for path in files:
        check(path.read_text(encoding="utf-8", errors="replace"))
