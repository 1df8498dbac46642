"""Helm values merging (:func:`meshgen.render.values.deep_merge`)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshgen.render.values import deep_merge
from render.test_flux import merge_values as reference_merge  # Helm's rule, written plainly

KEYS = st.sampled_from(["a", "b", "c", "global", "meshConfig"])
# Cheap leaves (generating text is slow on a busy CI machine: hypothesis's health check).
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "true"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=10,
)
MAPPINGS = st.dictionaries(KEYS, PLAIN, max_size=4)


def containers(value: Any) -> list[int]:
    """The ids of every dict and list in ``value``."""
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in containers(item))]
    return []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MAPPINGS, MAPPINGS)
def test_merge_is_the_rule_and_shares_nothing(
    base: dict[str, Any], override: dict[str, Any]
) -> None:
    before = (copy.deepcopy(base), copy.deepcopy(override))
    merged = deep_merge(base, override)
    expected = reference_merge(base, override)
    assert merged == expected and list(merged) == list(expected)
    assert (base, override) == before  # the inputs are left as they were
    assert not set(containers(merged)) & set(containers(base) + containers(override))
