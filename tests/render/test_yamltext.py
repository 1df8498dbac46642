"""The YAML writer: what Helm and kubectl (YAML 1.1 readers) read back is what was written."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgen.render import yamltext

TRAPS = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "null",
    "~",
    "0755",
    "1e3",
    "1_000",
    "0x1F",
    "1:20",
    ".inf",
    "-.5",
    "2001-12-14",
    "*.local",
    "&a",
    "!tag",
    "@x",
    "%p",
    "a: b",
    "a #b",
    "- x",
    "? q",
    "",
    " lead",
    "trail ",
    "multi\nline\n",
    "tab\there",
    "{}",
    "[x]",
    "'q'",
    '"q"',
    "é",
    "\u2028",
    "https://blob.istio.io/istio-release/charts",
    "ghcr.io/istio/release/charts",
    "$values/clusters/a/values/istiod.yaml",
    "CreateNamespace=true",
    "10.0.0.0/8",
    "::1/128",
]

scalars = st.one_of(
    st.sampled_from(TRAPS),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(TRAPS), st.text(max_size=8)), children, max_size=4
        ),
    ),
    max_leaves=20,
)


@given(values)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_yaml_1_1_reader_reads_back_exactly_what_was_written(value: object) -> None:
    assert yaml.safe_load(yamltext.dump(value)) == value


def test_every_trap_is_quoted_and_read_back_as_a_string() -> None:
    for text in TRAPS:
        assert yaml.safe_load(yamltext.dump({"k": text})) == {"k": text}, text


def test_plain_strings_stay_plain_for_readability() -> None:
    out = yamltext.dump({"apiVersion": "argoproj.io/v1alpha1", "url": "https://x.example/charts"})
    assert out == "apiVersion: argoproj.io/v1alpha1\nurl: https://x.example/charts\n"


def test_multi_line_strings_are_literal_blocks() -> None:
    out = yamltext.dump({"patch": "a: 1\nb: 2\n"})
    assert out == "patch: |\n  a: 1\n  b: 2\n"


def test_documents_are_separated() -> None:
    assert yamltext.dump_all([{"a": 1}, {"b": 2}]) == "a: 1\n---\nb: 2\n"


def test_exactly_the_characters_yaml_cannot_hold_raw_are_escaped() -> None:
    """Every code point: escaped when YAML does not allow it raw (NEL included, which YAML 1.1
    reads as a line break) or reads it as a line break or byte order mark."""

    def allowed(code: int) -> bool:
        return (
            code in (0x09, 0x0A, 0x0D)
            or 0x20 <= code <= 0x7E
            or 0xA0 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF
        ) and code not in (0x2028, 0x2029, 0xFEFF)

    wrong = [
        hex(code)
        for code in range(0x110000)
        if (yamltext._NEEDS_ESCAPE.fullmatch(chr(code)) is None) != allowed(code)
    ]
    assert wrong == []
