"""Argo CD: app of apps per cluster, ordered by sync waves, plus the bootstrap folder.

``bootstrap/argocd/`` is applied once by a person: an AppProject restricted to the mesh's
clusters and namespaces, a self-managing bootstrap Application, and one root Application per
cluster pointing at ``clusters/<cluster>/``, whose kustomization lists that cluster's child
Applications (one per upstream chart, one per overlay). Waves on the child Applications only
block when Argo CD has a health check for Applications, so the bootstrap folder also carries
the ``argocd-cm`` patch that restores it.
"""

from __future__ import annotations

from typing import Any

from meshgen.errors import MeshgenError
from meshgen.releases import is_oci, strip_scheme
from meshgen.render.files import cluster_labels, kustomization, mesh_labels, yaml_file
from meshgen.render.plan import ClusterPlan, Component, component_version
from meshgen.spec import Mesh

API_VERSION = "argoproj.io/v1alpha1"
BOOTSTRAP = "bootstrap/argocd"
CM_PATCH = f"{BOOTSTRAP}/argocd-cm-patch.yaml"
IN_CLUSTER = "in-cluster"
CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io"

# Cluster-scoped kinds the Istio charts and overlays create; nothing else is allowed.
CLUSTER_RESOURCES = [
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
]

# Fallback for Istio versions whose charts do not honour base.validationFailurePolicy:
# istiod patches these fields at run time, which Git can never match.
WEBHOOK_IGNORE_DIFFERENCES = [
    {
        "group": "admissionregistration.k8s.io",
        "kind": "ValidatingWebhookConfiguration",
        "jqPathExpressions": [
            ".webhooks[]?.failurePolicy",
            ".webhooks[]?.clientConfig.caBundle",
        ],
    },
    {
        "group": "admissionregistration.k8s.io",
        "kind": "MutatingWebhookConfiguration",
        "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle"],
    },
]

APPLICATION_HEALTH_LUA = """\
-- Health of an Application as a resource of its parent (removed from Argo CD in 1.8).
-- Without it, sync waves between child Applications do not wait for each other.
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
"""


def root_app_name(cluster: str) -> str:
    return cluster


def child_app_name(cluster: str, component: Component) -> str:
    return f"{cluster}-{component.name}"


def bootstrap_app_name(mesh: Mesh) -> str:
    return f"{mesh.mesh_id}-bootstrap"


def _metadata(
    mesh: Mesh,
    name: str,
    labels: dict[str, str],
    wave: int | None = None,
    cascade: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": mesh.argocd_namespace,
        "labels": labels,
    }
    if wave is not None:
        metadata["annotations"] = {"argocd.argoproj.io/sync-wave": str(wave)}
    if cascade:
        metadata["finalizers"] = [CASCADE_FINALIZER]
    return metadata


# Retries of a failed sync, with backoff: 10s, 20s, 40s, ... capped at 5m, ten times (about
# half an hour in all), each on the newest commit. A remote's mesh-config is rejected by its
# validating webhook (failurePolicy: Fail) until its primary's istiod is up and has patched
# that webhook, which takes as long as the primary's install; retrying rather than waiting for
# the next change lets it sync once that has happened. Without a retry block an automated
# sync that failed is not attempted again for the same commit.
SYNC_RETRY = {
    "limit": 10,
    "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"},
    "refresh": True,
}


def _sync_policy(*options: str) -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "retry": SYNC_RETRY,
        "syncOptions": list(options),
    }


def chart_repo_url(mesh: Mesh) -> str:
    """The chart repository as Argo CD takes it: an OCI registry (``oci://host/path``) is a
    Helm source whose ``repoURL`` has no scheme (``host/path``), the chart named by ``chart``;
    a Helm repository keeps its URL."""
    url = mesh.chart_repository
    return strip_scheme(url).rstrip("/") if is_oci(url) else url


def _git_source(mesh: Mesh, path: str) -> dict[str, Any]:
    return {"repoURL": mesh.repo_url, "targetRevision": mesh.revision, "path": path}


def child_application(mesh: Mesh, plan: ClusterPlan, component: Component) -> dict[str, Any]:
    labels = cluster_labels(mesh, plan)
    labels["meshgen.io/component"] = component.name
    spec: dict[str, Any] = {
        "project": mesh.argocd_project,
        "destination": {"name": plan.cluster.name, "namespace": component.namespace},
    }
    options = ["CreateNamespace=true", "ServerSideApply=true"]
    if component.chart is not None:
        spec["sources"] = [
            {
                "repoURL": chart_repo_url(mesh),
                "chart": component.chart.chart,
                "targetRevision": component_version(mesh, component),
                "helm": {
                    "releaseName": component.name,
                    "valueFiles": [f"$values/{component.values_path}"],
                },
            },
            {"repoURL": mesh.repo_url, "targetRevision": mesh.revision, "ref": "values"},
        ]
        if component.chart.ignore_webhook_drift:
            spec["ignoreDifferences"] = WEBHOOK_IGNORE_DIFFERENCES
            options.append("RespectIgnoreDifferences=true")
    else:
        assert component.overlay_path is not None
        spec["source"] = _git_source(mesh, component.overlay_path)
    spec["syncPolicy"] = _sync_policy(*options)
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": _metadata(
            mesh,
            child_app_name(plan.cluster.name, component),
            labels,
            wave=component.sync_wave,
            cascade=True,
        ),
        "spec": spec,
    }


def root_application(mesh: Mesh, plan: ClusterPlan) -> dict[str, Any]:
    labels = cluster_labels(mesh, plan)
    labels["meshgen.io/component"] = "root"
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": _metadata(mesh, root_app_name(plan.cluster.name), labels, cascade=True),
        "spec": {
            "project": mesh.argocd_project,
            "source": _git_source(mesh, plan.folder),
            "destination": {"name": IN_CLUSTER, "namespace": mesh.argocd_namespace},
            "syncPolicy": _sync_policy("ServerSideApply=true"),
        },
    }


def app_project(mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, Any]:
    destinations = [{"name": IN_CLUSTER, "namespace": mesh.argocd_namespace}]
    for plan in plans:
        namespaces = sorted({c.namespace for c in plan.components})
        destinations += [{"name": plan.cluster.name, "namespace": ns} for ns in namespaces]
    return {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {
            "name": mesh.argocd_project,
            "namespace": mesh.argocd_namespace,
            "labels": mesh_labels(mesh.mesh_id),
        },
        "spec": {
            "description": f"Istio mesh {mesh.mesh_id}, managed by meshgen",
            "sourceRepos": sorted({mesh.repo_url, chart_repo_url(mesh)}),
            "destinations": destinations,
            "clusterResourceWhitelist": [
                {"group": group, "kind": kind} for group, kind in CLUSTER_RESOURCES
            ],
        },
    }


def bootstrap_application(mesh: Mesh) -> dict[str, Any]:
    """Keeps ``bootstrap/argocd`` itself in sync, so clusters added later get their root app."""
    labels = mesh_labels(mesh.mesh_id)
    labels["meshgen.io/component"] = "bootstrap"
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": _metadata(mesh, bootstrap_app_name(mesh), labels),
        "spec": {
            "project": mesh.argocd_project,
            "source": _git_source(mesh, BOOTSTRAP),
            "destination": {"name": IN_CLUSTER, "namespace": mesh.argocd_namespace},
            "syncPolicy": _sync_policy("ServerSideApply=true"),
        },
    }


def argocd_cm_patch() -> dict[str, Any]:
    return {
        "data": {"resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA}
    }


def _check_unique_names(mesh: Mesh, plans: list[ClusterPlan]) -> None:
    owners: dict[str, str | None] = {bootstrap_app_name(mesh): None}  # None: the bootstrap
    for plan in plans:
        cluster = plan.cluster.name
        names = [root_app_name(cluster)] + [child_app_name(cluster, c) for c in plan.components]
        for name in names:
            if name in owners:
                owner = owners[name]
                used_by = "the bootstrap Application" if owner is None else f"cluster {owner!r}"
                raise MeshgenError(
                    f"mesh.yaml: Argo CD Application name {name!r} of cluster {cluster!r} "
                    f"is also used by {used_by}; rename one of the clusters"
                )
            owners[name] = cluster


class ArgoCDEngine:
    name = "argocd"
    display_name = "Argo CD"

    def layout_rows(self) -> list[tuple[str, str]]:
        return [
            (
                "clusters/<cluster>/applications/",
                "the cluster's Argo CD Applications, listed by "
                "`clusters/<cluster>/kustomization.yaml`",
            ),
            (f"{BOOTSTRAP}/", "applied once to the Argo CD cluster"),
        ]

    def after_merge(self) -> str:
        return (
            "once it is merged, Argo CD installs Istio on the new cluster and updates the others. "
            "The cluster must be\nregistered with Argo CD under the same name first."
        )

    def after_removal(self) -> str:
        return (
            "After the merge, Argo CD's cascade finalizer uninstalls Istio from the\ncluster. "
            "Then unregister the cluster (`argocd cluster rm <name>`) once its Applications\n"
            "are gone"
        )

    def files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        files: dict[str, str] = {}
        for plan in plans:
            files.update(self.cluster_files(mesh, plan))
        files.update(self.shared_files(mesh, plans))
        return files

    def cluster_files(self, mesh: Mesh, plan: ClusterPlan) -> dict[str, str]:
        """The files of one cluster: its child Applications, their kustomization and its root
        Application (a pure function of the mesh's settings and the cluster's plan)."""
        files: dict[str, str] = {}
        app_files = []
        for component in plan.components:
            relative = f"applications/{component.name}.yaml"
            app_files.append(relative)
            files[f"{plan.folder}/{relative}"] = yaml_file(child_application(mesh, plan, component))
        files[f"{plan.folder}/kustomization.yaml"] = yaml_file(kustomization(resources=app_files))
        files[f"{BOOTSTRAP}/roots/{plan.cluster.name}.yaml"] = yaml_file(
            root_application(mesh, plan)
        )
        return files

    def shared_files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        """The files that list every cluster: the AppProject and the bootstrap folder."""
        _check_unique_names(mesh, plans)
        roots = [f"roots/{plan.cluster.name}.yaml" for plan in plans]
        return {
            f"{BOOTSTRAP}/project.yaml": yaml_file(app_project(mesh, plans)),
            f"{BOOTSTRAP}/bootstrap.yaml": yaml_file(bootstrap_application(mesh)),
            f"{BOOTSTRAP}/kustomization.yaml": yaml_file(
                kustomization(resources=["project.yaml", "bootstrap.yaml", *roots])
            ),
            CM_PATCH: yaml_file(argocd_cm_patch()),
        }

    def readme_section(self, mesh: Mesh, plans: list[ClusterPlan]) -> str:
        ns = mesh.argocd_namespace
        waves = sorted(
            {(c.sync_wave, c.name) for plan in plans for c in plan.components},
        )
        wave_rows = "".join(f"| {wave} | `<cluster>-{name}` |\n" for wave, name in waves)
        return f"""## Bootstrap Argo CD (once)

1. Register every cluster of the mesh with Argo CD **under its mesh name** (the
   Applications use `destination.name`), for example
   `argocd cluster add <kube-context> --name <cluster>`.
2. Restore the Application health check that sync waves between Applications rely on
   (Argo CD removed it in 1.8):

   ```sh
   kubectl -n {ns} patch configmap argocd-cm --type merge --patch-file {CM_PATCH}
   ```
3. Apply the bootstrap folder:

   ```sh
   kubectl apply -k {BOOTSTRAP}
   ```

   It creates the AppProject `{mesh.argocd_project}` (only this mesh's clusters and
   namespaces), the Application `{bootstrap_app_name(mesh)}` that keeps `{BOOTSTRAP}` in sync
   (so clusters added later appear on their own after merge), and one root Application per
   cluster, which syncs `clusters/<cluster>/`.

Each root Application creates its cluster's child Applications, in this order (sync waves):

| wave | Application |
| --- | --- |
{wave_rows}
All Applications sync automatically (prune, self-heal, server-side apply) and retry a failed
sync with backoff (10 s doubling to 5 min, ten times): a remote's `mesh-config` is rejected by
its validating webhook until its primary's istiod is up, and syncs on a retry once it is.
Root and child
Applications carry Argo CD's cascade finalizer: removing a cluster from `mesh.yaml` and merging
removes its Istio installation too.
"""
