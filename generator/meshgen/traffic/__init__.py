"""The home of the traffic files: ``traffic/*.yaml`` beside ``mesh.yaml``, one TrafficPolicy
per service, owned by application teams (``mesh.yaml`` is the platform team's).

One module per job, as in :mod:`meshgen.spec`:

- :mod:`~meshgen.traffic.model`: the frozen :class:`TrafficPolicy` and the repository's
  :class:`TrafficPolicies`, with the queries callers need (per service, per client, the
  services exported across clusters, the files naming a cluster);
- :mod:`~meshgen.traffic.load`: text to schema-checked models (``schemas/traffic.schema.json``),
  errors naming file, line and field;
- :mod:`~meshgen.traffic.placement`: where configuration must live in the mesh's topology;
- :mod:`~meshgen.traffic.checks`: the rules against a mesh (weights, clusters, reachability,
  subsets, one policy per client, localities);
- :mod:`~meshgen.traffic.changes`: what a change does, in sentences for review.

Rendering the policies into Istio objects is :mod:`meshgen.render.traffic`'s job; reading the
folder from disk is :mod:`meshgen.mesh_repo`'s.
"""

from meshgen.traffic.changes import summarize
from meshgen.traffic.checks import check, problems
from meshgen.traffic.load import parse_file, parse_files, parse_files_collecting
from meshgen.traffic.model import (
    API_VERSION,
    CLUSTER_LOCAL,
    FOLDER,
    GLOBAL,
    HTTP,
    KIND,
    NO_POLICIES,
    SCHEMA_PATH,
    TCP,
    Destination,
    Distribution,
    Failover,
    Problem,
    Retries,
    Service,
    TrafficPolicies,
    TrafficPolicy,
    schema_comment,
)

__all__ = [
    "API_VERSION",
    "CLUSTER_LOCAL",
    "FOLDER",
    "GLOBAL",
    "HTTP",
    "KIND",
    "NO_POLICIES",
    "SCHEMA_PATH",
    "TCP",
    "Destination",
    "Distribution",
    "Failover",
    "Problem",
    "Retries",
    "Service",
    "TrafficPolicies",
    "TrafficPolicy",
    "check",
    "parse_file",
    "parse_files",
    "parse_files_collecting",
    "problems",
    "schema_comment",
    "summarize",
]
