"""Frozen dataclasses made by the thousand: an ``__init__`` that sets every field in one step.

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__`` (its
``__setattr__`` refuses), one call per field. A mesh of 1,000 clusters makes a few thousand
such objects per command (its clusters, their plans' components), where that was a third of
the time spent building them. :func:`fields_at_once` gives such a class an ``__init__`` with
the same signature (defaults and default factories included) that hands the instance its
whole ``__dict__`` at once; everything else the dataclass made (frozen attributes, equality,
hashing, ``repr``, ``dataclasses.replace``) stays as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_NO_VALUE = object()  # a field with a default factory, not given


def fields_at_once(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of the frozen dataclass ``cls`` (without ``__post_init__``,
    slots or fields left out of ``__init__``) by one that sets all fields at once."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (
        not cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        or hasattr(cls, "__post_init__")
        or hasattr(cls, "__slots__")
        or len(fields) != len(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        or not all(f.init for f in fields)
    ):
        raise TypeError(f"{cls.__name__}: not a plain frozen dataclass")
    scope: dict[str, Any] = {"_set": object.__setattr__, "_NO_VALUE": _NO_VALUE}
    arguments, values = [], []
    for number, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{number}"] = f.default
            arguments.append(f"{f.name}=_default_{number}")
            values.append(f.name)
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{number}"] = f.default_factory
            arguments.append(f"{f.name}=_NO_VALUE")
            values.append(f"_factory_{number}() if {f.name} is _NO_VALUE else {f.name}")
        else:
            arguments.append(f.name)
            values.append(f.name)
    items = ", ".join(f"{f.name!r}: {value}" for f, value in zip(fields, values, strict=True))
    source = (
        f"def __init__(self, {', '.join(arguments)}):\n    _set(self, '__dict__', {{{items}}})\n"
    )
    exec(source, scope)  # the way dataclasses writes its own methods
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc,method-assign]
    return cls
