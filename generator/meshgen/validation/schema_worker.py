"""The schema check of new objects in a second process, on another core.

An incremental run is Python on one core nearly from start to end (its threads share the
GIL), and the objects a change makes new need ``jsonschema`` and ``kubernetes-validate``:
importing them cost a run a tenth of a second of that core. ``meshgen validate`` starts a
worker before it imports the checks, so that it imports them on the other core while the
run imports, reads and keys (before kubectl starts); a run whose overlays all come from the
cache ends it once they are keyed. A run started without one (``collect``) starts one once
new builds are done. A worker answers one batch: the
problems of each object, computed by :func:`meshgen.validation.schemas.schema_problems`,
the function the check calls when there is no worker. Objects go as JSON, so only objects
JSON gives back exactly are sent; a worker that fails or answers out of shape is ignored
and the objects are checked in the run's own process.

Request (stdin, one JSON document): ``{"kubernetes": version, "schemas": [schema, ...],
"objects": [[object, index of its CRD schema or null], ...]}``; answer (stdout): one list
of problem strings per object.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any


class SchemaWorker:
    """A started worker process, asked once (:meth:`problems`) or closed (:meth:`close`)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        with contextlib.suppress(OSError):
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )

    def problems(
        self, kubernetes_version: str, schemas: list[Any], objects: list[tuple[Any, int | None]]
    ) -> list[list[str]] | None:
        """The problems of each object, or None when the worker could not answer."""
        process, self._process = self._process, None
        if process is None:
            return None
        request = {"kubernetes": kubernetes_version, "schemas": schemas, "objects": objects}
        try:
            out, _ = process.communicate(json.dumps(request).encode(), timeout=600)
            answer = json.loads(out)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            with contextlib.suppress(OSError):
                process.kill()
                process.wait()
            return None
        if process.returncode != 0 or not (
            isinstance(answer, list)
            and len(answer) == len(objects)
            and all(isinstance(a, list) and all(isinstance(p, str) for p in a) for a in answer)
        ):
            return None
        return answer

    def close(self) -> None:
        """End a worker that is not needed, without waiting for its imports to finish (a run
        in which nothing is new would otherwise wait for them)."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
                process.wait()


def main() -> None:
    # imported before the request comes, while the run's checks go on: that is the point
    import jsonschema

    from meshgen.validation.schemas import CoreSchemas, schema_problems

    try:
        request = json.load(sys.stdin.buffer)
    except ValueError:
        return  # closed unused
    # The core schemas (kubernetes-validate, and PyYAML with it) only for an object that has
    # no CRD schema: those a one-cluster change makes new are mostly Argo CD Applications.
    needs_core = any(index is None for _, index in request["objects"])
    core = CoreSchemas(request["kubernetes"]) if needs_core else None
    validators = [jsonschema.Draft7Validator(s) for s in request["schemas"]]
    answer = [
        schema_problems(obj, validators[index] if index is not None else None, core)
        for obj, index in request["objects"]
    ]
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
