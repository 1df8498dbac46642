"""fields_at_once: the same dataclass, made with one step per object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from meshgen import spec
from meshgen.frozen import fields_at_once


@fields_at_once
@dataclass(frozen=True)
class Point:
    x: int
    y: int = 2
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlainPoint:
    x: int
    y: int = 2
    tags: list[str] = field(default_factory=list)


def test_it_takes_the_same_arguments_and_gives_the_same_object() -> None:
    for args, kwargs in [
        ((1,), {}),
        ((1, 5), {}),
        ((), {"x": 1, "tags": ["a"]}),
        ((1, 3, ["b"]), {}),
    ]:
        made, plain = Point(*args, **kwargs), PlainPoint(*args, **kwargs)
        assert dataclasses.astuple(made) == dataclasses.astuple(plain)
        assert repr(made) == repr(plain).replace("PlainPoint", "Point")
    assert Point(1) == Point(1, 2, []) and Point(1) != Point(1, 3)
    assert hash(Point(1, 2, None)) == hash(Point(1, 2, None))  # type: ignore[arg-type]


def test_each_object_gets_its_own_default_from_a_factory() -> None:
    first, second = Point(1), Point(1)
    first.tags.append("a")
    assert second.tags == []


def test_it_stays_frozen_and_replace_works() -> None:
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    moved = dataclasses.replace(point, y=7)
    assert (moved.x, moved.y) == (1, 7) and point.y == 2


def test_missing_or_unknown_arguments_are_refused_as_before() -> None:
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_what_it_cannot_copy_is_refused() -> None:
    @dataclass
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class Hidden:
        x: int
        y: int = field(default=0, init=False)

    for cls in (Mutable, Checked, Hidden):
        with pytest.raises(TypeError, match="not a plain frozen dataclass"):
            fields_at_once(cls)


def test_the_model_is_built_the_same() -> None:
    """The model's classes that use it: a cluster read from mesh.yaml equals one made field by
    field, defaults included."""
    mesh = spec.parse(
        "apiVersion: meshgen.io/v1alpha1\nkind: Mesh\nmeshID: m\n"
        "repository: {url: https://example.com/m.git}\nnetworks: [{name: n1}]\n"
        "clusters:\n  - name: c1\n    network: n1\n"
    ).mesh
    cluster = mesh.clusters[0]
    assert cluster == spec.Cluster(
        name="c1",
        network="n1",
        role=spec.PRIMARY,
        east_west_gateway=spec.EastWestGateway(enabled=False, explicit=False),
    )
    assert cluster.labels == {} and cluster.east_west_gateway.annotations == {}
