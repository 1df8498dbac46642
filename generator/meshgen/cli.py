"""Command-line entry point: parses arguments, dispatches to ``meshgen.commands.<verb>``.

This is the only place that turns errors into exit codes. Exit 0: success; 1: a check failed;
2: bad usage or bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from meshgen.cli_options import DRY_RUN_OPTION, output_options

if TYPE_CHECKING:
    from meshgen.commands._change import BranchOptions

REPO_OPTION = click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The mesh repository (default: the Git repository containing the current directory).",
)


OVERWRITE_EDITS_OPTION = click.option(
    "--overwrite-edits",
    is_flag=True,
    help="Overwrite generated files changed by hand since meshgen wrote them (the edits are lost).",
)


def proposal_options(default_branch: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--repo, --branch, --no-commit, --push, --allow-dirty and --dry-run of a command that
    proposes a change on a branch, passed on as one ``proposal`` (a ``BranchOptions``)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(function)
        def wrapper(
            *args: Any,
            repo: Path | None,
            branch: str | None,
            no_commit: bool,
            push: bool,
            allow_dirty: bool,
            dry_run: bool,
            overwrite_edits: bool,
            **kwargs: Any,
        ) -> None:
            from meshgen.commands._change import BranchOptions, checks_awaited

            proposal = BranchOptions(
                repo=repo,
                branch=branch,
                commit=not no_commit,
                push=push,
                allow_dirty=allow_dirty,
                dry_run=dry_run,
                overwrite_edits=overwrite_edits,
            )
            with checks_awaited():
                function(*args, proposal=proposal, **kwargs)

        options = [
            REPO_OPTION,
            click.option("--branch", help=f"Branch to commit on (default: {default_branch})."),
            click.option(
                "--no-commit", is_flag=True, help="Only write the files; do not branch or commit."
            ),
            click.option(
                "--push", is_flag=True, help="Push the branch to origin after committing."
            ),
            click.option(
                "--allow-dirty", is_flag=True, help="Allow uncommitted changes in the work tree."
            ),
            DRY_RUN_OPTION,
            OVERWRITE_EDITS_OPTION,
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from meshgen.commands import version as command

    command.run("text")
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show meshgen's version and the versions it pins (as `meshgen version`), and exit.",
)
def cli() -> None:
    """Run one Istio mesh across many clusters and networks, declared in Git.

    mesh.yaml describes the networks and clusters; meshgen renders Helm values for the upstream
    Istio charts, kustomize overlays and Argo CD or Flux objects from it, and commits each change
    on a branch for review.
    """


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--mesh-id", required=True, help="global.meshID of every cluster (DNS-1123 label).")
@click.option("--repo-url", help="Git URL the engine pulls this repository from (default: origin).")
@click.option(
    "--revision",
    help="Branch the engine tracks (default: the current branch of an existing repository, "
    "else main).",
)
@click.option(
    "--istio-version",
    help="Istio release to install (default: the newest GA release meshgen knows, as "
    "`meshgen version` says).",
)
@click.option(
    "--trust-domain",
    default="cluster.local",
    show_default=True,
    help="meshConfig.trustDomain of every cluster (the SPIFFE trust domain).",
)
@click.option(
    "--engine",
    type=click.Choice(["argocd", "flux"]),
    default="argocd",
    show_default=True,
    help="GitOps engine that syncs the clusters.",
)
@click.option(
    "--secrets",
    type=click.Choice(["external-secrets", "manual", "sops", "sealed-secrets"]),
    default="external-secrets",
    show_default=True,
    help="How remote secrets reach the clusters (sops: encrypted in Git, Flux only).",
)
@click.option(
    "--age-recipient",
    "age_recipients",
    multiple=True,
    help="age public key the sops provider encrypts to (repeatable).",
)
@click.option(
    "--dataplane",
    type=click.Choice(["sidecar", "ambient"]),
    default="sidecar",
    show_default=True,
    help="Data plane of the whole mesh (ambient: istio-cni, ztunnel, waypoints; multi-primary).",
)
@click.option("--allow-dirty", is_flag=True, help="Allow uncommitted changes in an existing repo.")
@DRY_RUN_OPTION
def init(directory: Path, **kwargs: object) -> None:
    """Create a mesh repository in DIRECTORY (default: here) and commit it."""
    from meshgen.commands import init as command

    if kwargs["istio_version"] is None:
        from meshgen.commands.version import default_istio_version

        kwargs["istio_version"] = default_istio_version()
    sys.exit(command.run(command.Options(directory=directory, **kwargs)))  # type: ignore[arg-type]


@cli.command("new-cluster")
@click.argument("name")
@click.option("--network", required=True, help="Network of the cluster (created when new).")
@click.option(
    "--east-west-gateway/--no-east-west-gateway",
    default=None,
    help="Run an east-west gateway (default: on when the mesh spans more than one network).",
)
@click.option(
    "--role",
    type=click.Choice(["primary", "remote", "external-control-plane"]),
    default="primary",
    show_default=True,
    help="primary runs istiod; remote is managed by --control-plane; external-control-plane "
    "hosts the istiod of one config cluster.",
)
@click.option("--control-plane", help="For --role remote: the cluster whose istiod manages it.")
@click.option(
    "--discovery-address",
    help="For --role remote: the IP of the control plane's east-west gateway "
    "(recorded on the control plane in mesh.yaml).",
)
@click.option(
    "--istio-revision", help="Istio revision of this cluster (default: the mesh's istio.revision)."
)
@click.option("--api-server", help="API server URL other clusters' istiod use (https://...).")
@click.option("--pod-cidr", "pod_cidrs", multiple=True, help="Pod CIDR (repeatable).")
@click.option("--service-cidr", "service_cidrs", multiple=True, help="Service CIDR (repeatable).")
@click.option(
    "--region", help="Cloud region of the cluster (topology.kubernetes.io/region of its nodes)."
)
@click.option(
    "--zone", help="Default zone of the cluster (topology.kubernetes.io/zone), for locality."
)
@proposal_options("meshgen/add-cluster-NAME")
def new_cluster(
    name: str,
    network: str,
    east_west_gateway: bool | None,
    role: str,
    control_plane: str | None,
    discovery_address: str | None,
    istio_revision: str | None,
    api_server: str | None,
    pod_cidrs: tuple[str, ...],
    service_cidrs: tuple[str, ...],
    region: str | None,
    zone: str | None,
    proposal: BranchOptions,
) -> None:
    """Add cluster NAME on network NET, render, and commit on a new branch."""
    from meshgen import spec
    from meshgen.commands import new_cluster as command

    request = spec.NewCluster(
        name=name,
        network=network,
        east_west_gateway=east_west_gateway,
        role=role,
        control_plane=control_plane,
        discovery_address=discovery_address,
        revision=istio_revision,
        api_server=api_server,
        pod_cidrs=pod_cidrs,
        service_cidrs=service_cidrs,
        region=region,
        zone=zone,
    )
    sys.exit(command.run(request, proposal))


@cli.command("remove-cluster")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Also remove the remotes NAME is the control plane of, and remove NAME even when "
    "traffic files name it.",
)
@proposal_options("meshgen/remove-cluster-NAME")
def remove_cluster(name: str, force: bool, proposal: BranchOptions) -> None:
    """Remove cluster NAME from the mesh, render, and commit on a new branch."""
    from meshgen.commands import remove_cluster as command

    sys.exit(command.run(name, force, proposal))


@cli.command("set-cluster")
@click.argument("name")
@click.option(
    "--east-west-gateway/--no-east-west-gateway",
    default=None,
    help="Run an east-west gateway, or stop running it.",
)
@click.option("--api-server", help="API server URL other clusters' istiod use (https://...).")
@click.option("--pod-cidr", "pod_cidrs", multiple=True, help="Pod CIDR (repeatable; replaces).")
@click.option(
    "--service-cidr", "service_cidrs", multiple=True, help="Service CIDR (repeatable; replaces)."
)
@click.option("--region", help="Region of the cluster (label meshgen.io/region).")
@click.option("--zone", help="Zone of the cluster (label meshgen.io/zone).")
@click.option(
    "--role",
    type=click.Choice(["primary", "remote", "external-control-plane"]),
    help="New role; only remote -> primary is made in place (the others are refused, saying why).",
)
@click.option(
    "--unset",
    multiple=True,
    type=click.Choice(["api-server", "pod-cidrs", "service-cidrs", "region", "zone"]),
    help="Remove a setting from the cluster's entry (repeatable).",
)
@proposal_options("meshgen/set-cluster-NAME")
def set_cluster(
    name: str,
    east_west_gateway: bool | None,
    api_server: str | None,
    pod_cidrs: tuple[str, ...],
    service_cidrs: tuple[str, ...],
    region: str | None,
    zone: str | None,
    role: str | None,
    unset: tuple[str, ...],
    proposal: BranchOptions,
) -> None:
    """Change cluster NAME's settings, render, and commit on a new branch."""
    from meshgen import spec
    from meshgen.commands import set_cluster as command

    settings = spec.ClusterSettings(
        name=name,
        east_west_gateway=east_west_gateway,
        api_server=api_server,
        pod_cidrs=pod_cidrs or None,
        service_cidrs=service_cidrs or None,
        region=region,
        zone=zone,
        role=role,
        unset=unset,
    )
    sys.exit(command.run(settings, proposal))


def _cluster_list(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


@cli.command()
@click.option("--istio-version", help="Istio release to upgrade to (from meshgen's catalogue).")
@click.option(
    "--clusters",
    callback=_cluster_list,
    help="Comma-separated clusters to move (default: every cluster not there yet).",
)
@click.option("--canary", help="The one cluster that goes first.")
@click.option(
    "--strategy",
    type=click.Choice(["in-place", "revision"]),
    help="in-place: upgrade the releases; revision (default): run the new istiod next to the "
    "old one, under a revision named after the version.",
)
@click.option("--promote", is_flag=True, help="Move the revision tags to the new revision.")
@click.option("--finish", is_flag=True, help="Remove the old revision once nothing uses it.")
@click.option("--status", is_flag=True, help="Where every cluster stands (writes nothing).")
@output_options(("text", "json", "yaml"), "text")
@proposal_options("meshgen/upgrade-istio-V[-STEP]")
def upgrade(proposal: BranchOptions, **kwargs: Any) -> None:
    """Upgrade Istio across the mesh, one reviewed step (branch) at a time."""
    from meshgen.commands import upgrade as command

    sys.exit(command.run(command.Options(proposal=proposal, **kwargs)))


@cli.command()
@REPO_OPTION
@click.option("--base", help="Git ref to compare with (default: merge base with origin/main).")
@output_options(("text", "markdown", "json", "yaml"), "text", legacy_format=True)
def diff(repo: Path | None, base: str | None, output_format: str) -> None:
    """What the working tree's mesh.yaml changes against --base: mesh, clusters, files."""
    from meshgen.commands import diff as command

    sys.exit(command.run(repo, base, output_format))


@cli.command()
@REPO_OPTION
@output_options(
    ("mermaid", "dot", "svg", "json", "yaml"),
    "mermaid",
    file_option=True,
    legacy_format=True,
    legacy_output_file=True,
)
@click.option(
    "--service",
    metavar="NAME.NAMESPACE",
    help="Draw this service's traffic (from traffic/): clients, weighted routes, gateways.",
)
def graph(
    repo: Path | None, output_format: str, output_file: Path | None, service: str | None
) -> None:
    """Draw the mesh: networks, clusters, gateways, control planes (Mermaid, DOT or SVG)."""
    from meshgen.commands import graph as command

    sys.exit(command.run(repo, output_format, output_file, service))


@cli.command()
@REPO_OPTION
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
@DRY_RUN_OPTION
@click.option(
    "--overwrite-edits",
    "--force",
    "overwrite_edits",
    is_flag=True,
    help="Overwrite generated files changed by hand since meshgen wrote them (the edits are lost).",
)
def render(repo: Path | None, check: bool, dry_run: bool, overwrite_edits: bool) -> None:
    """Regenerate every generated file from mesh.yaml."""
    from meshgen.commands import render as command

    sys.exit(command.run(repo, check, dry_run=dry_run, overwrite_edits=overwrite_edits))


@cli.command()
@REPO_OPTION
@click.option(
    "--forget",
    is_flag=True,
    help="Drop the record of the interrupted change and keep everything as it is now.",
)
def recover(repo: Path | None, forget: bool) -> None:
    """Roll back what an interrupted meshgen command left half-done (every writing command
    does this first on its own)."""
    from meshgen.commands import recover as command

    sys.exit(command.run(repo, forget))


@cli.command("encrypt-remote-secret")
@click.argument("cluster")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@REPO_OPTION
@DRY_RUN_OPTION
def encrypt_remote_secret(cluster: str, file: Path, repo: Path | None, dry_run: bool) -> None:
    """Encrypt CLUSTER's remote secret with sops into the repository.

    FILE is the output of `istioctl create-remote-secret --name CLUSTER`; `-` reads it from
    stdin, so the plaintext never touches a disk:

    istioctl create-remote-secret --context CLUSTER --name CLUSTER |
    meshgen encrypt-remote-secret CLUSTER -
    """
    from meshgen.commands import encrypt_remote_secret as command

    sys.exit(command.run(cluster, file, repo, dry_run=dry_run))


@cli.command("encrypt-cacerts")
@click.argument("cluster")
@click.option(
    "--cacerts",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="CLUSTER's bundle folder (from `meshgen ca issue CLUSTER --out DIR`).",
)
@REPO_OPTION
@DRY_RUN_OPTION
def encrypt_cacerts(cluster: str, cacerts: Path, repo: Path | None, dry_run: bool) -> None:
    """Encrypt CLUSTER's cacerts (its intermediate CA bundle) into its overlay with sops."""
    from meshgen.commands import encrypt_cacerts as command

    sys.exit(command.run(cluster, cacerts, repo, dry_run=dry_run))


@cli.command("remote-secret")
@click.argument("cluster")
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig of CLUSTER (its API server address and CA); default: $KUBECONFIG (a "
    "list, merged as kubectl does), else ~/.kube/config.",
)
@click.option("--context", help="Context in the kubeconfig (default: its current-context).")
@click.option("--server", help="API server URL for istiod (default: the cluster's apiServer).")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Token of istio-reader-service-account (default: the context user's token).",
)
@output_options(
    ("yaml", "json"),
    "yaml",
    file_option=True,
    legacy_output_file=True,
    file_help="Write it to FILE (mode 0600, outside any Git work tree) instead of stdout.",
)
@REPO_OPTION
@DRY_RUN_OPTION
def remote_secret(cluster: str, **kwargs: object) -> None:
    """Print the remote secret istiod needs to watch CLUSTER (as istioctl would).

    The file goes only outside Git (--output-file: mode 0600, never in a work tree)."""
    from meshgen.commands import remote_secret as command

    sys.exit(command.run(command.Options(cluster=cluster, **kwargs)))  # type: ignore[arg-type]


# 100 years: far beyond any sane CA, and far below X.509's end of time (9999-12-31).
MAX_CERTIFICATE_DAYS = 36500


def _days_option(name: str, default: int, help: str) -> Callable[[Any], Any]:
    return click.option(
        name,
        type=click.IntRange(1, MAX_CERTIFICATE_DAYS),
        default=default,
        show_default=True,
        help=help,
    )


KEY_SIZE_OPTION = click.option(
    "--key-size",
    type=click.Choice(["2048", "3072", "4096"]),
    default="4096",
    show_default=True,
    help="RSA key size.",
)


@cli.group()
def ca() -> None:
    """The mesh's shared root CA and each cluster's intermediate (Istio's cacerts)."""


@ca.command("init")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="New folder."
)
@_days_option("--root-days", 3650, "Root lifetime.")
@KEY_SIZE_OPTION
@DRY_RUN_OPTION
def ca_init(out: Path, root_days: int, key_size: str, dry_run: bool) -> None:
    """Create the shared root CA (root-cert.pem, root-key.pem) outside Git."""
    from meshgen.commands import ca as command

    options = command.InitOptions(
        out=out, root_days=root_days, key_size=int(key_size), dry_run=dry_run
    )
    sys.exit(command.run_init(options))


@ca.command("issue")
@click.argument("cluster")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the root CA (from `ca init`).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the cluster's cacerts files (outside Git).",
)
@_days_option("--days", 730, "Intermediate lifetime.")
@KEY_SIZE_OPTION
@REPO_OPTION
@DRY_RUN_OPTION
def ca_issue(
    cluster: str,
    ca_dir: Path,
    out: Path,
    days: int,
    key_size: str,
    repo: Path | None,
    dry_run: bool,
) -> None:
    """Issue CLUSTER's intermediate CA: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem."""
    from meshgen.commands import ca as command

    options = command.IssueOptions(
        cluster=cluster,
        ca_dir=ca_dir,
        out=out,
        days=days,
        key_size=int(key_size),
        repo=repo,
        dry_run=dry_run,
    )
    sys.exit(command.run_issue(options))


@cli.command()
@click.argument("cluster")
@click.option(
    "--cert",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CLUSTER's Sealed Secrets certificate (kubeseal --fetch-cert).",
)
@click.option(
    "--remote-secret",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="Another cluster's remote secret (from `meshgen remote-secret` or `istioctl "
    "create-remote-secret`; - reads stdin).",
)
@click.option(
    "--cacerts",
    type=click.Path(path_type=Path, file_okay=False),
    help="CLUSTER's bundle from `meshgen ca issue`.",
)
@REPO_OPTION
@DRY_RUN_OPTION
@OVERWRITE_EDITS_OPTION
def seal(cluster: str, **kwargs: object) -> None:
    """Seal a remote secret or cacerts for CLUSTER into its folder (ciphertext only)."""
    from meshgen.commands import seal as command

    sys.exit(command.run(command.Options(cluster=cluster, **kwargs)))  # type: ignore[arg-type]


@cli.command()
@REPO_OPTION
@click.option(
    "--crds",
    multiple=True,
    type=click.Path(path_type=Path),
    help="CRD YAML file or folder (repeatable) to validate custom resources against.",
)
@click.option(
    "--charts",
    type=click.Path(path_type=Path),
    help="Folder of unpacked charts (DIR/<version>/<chart>, DIR/<version>/charts/<chart> or "
    "DIR/<chart>).",
)
@click.option("--pull", is_flag=True, help="helm pull missing charts into the chart cache.")
@output_options(("text", "json", "yaml"), "text", legacy_format=True)
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Parallel jobs (default: twice the CPU count)."
)
@click.option(
    "--ca",
    "ca_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="CA folder from `meshgen ca issue --out` (or a folder of them): warn on an "
    "intermediate within 30 days of expiry (repeatable).",
)
@click.option(
    "--allow-unknown-version",
    is_flag=True,
    help="Accept an istio.version that is not in meshgen's release catalogue.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the validate cache (default: $MESHGEN_CACHE_DIR, else "
    "~/.cache/meshgen/validate).",
)
@click.option("--no-cache", is_flag=True, help="Neither reuse nor store cached results.")
def validate(
    repo: Path | None,
    crds: tuple[Path, ...],
    charts: Path | None,
    pull: bool,
    output_format: str,
    jobs: int | None,
    ca_dirs: tuple[Path, ...],
    allow_unknown_version: bool,
    cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Check offline that every cluster's config will sync and work (exit 1 on findings)."""
    from meshgen.validation.schema_worker import SchemaWorker

    # Objects new to the cache are schema-checked in a second process, whose imports (a
    # tenth of a second) run on the other core while this one imports and keys; a run that
    # builds nothing new ends it once the overlays are keyed.
    worker = SchemaWorker()
    from meshgen import entrypoint

    # Everything validate writes is written when it exits (the cache, the report), and it
    # holds much data to the end: the process ends without Python's teardown.
    entrypoint.exit_quickly()
    from meshgen.commands import validate as command

    options = command.Options(
        repo=repo,
        crds=crds,
        charts=charts,
        pull=pull,
        format=output_format,
        jobs=jobs,
        ca_dirs=ca_dirs,
        allow_unknown_version=allow_unknown_version,
        cache_dir=cache_dir,
        use_cache=not no_cache,
    )
    sys.exit(command.run(options, worker))


@cli.group()
def tools() -> None:
    """The pinned helm and kubectl (kustomize) binaries meshgen runs."""


@tools.command("install")
@click.option("--force", is_flag=True, help="Download and install again even if present.")
@click.option("--only-missing", is_flag=True, help="Skip tools already on PATH.")
@DRY_RUN_OPTION
@output_options(("text", "json", "yaml"), "text")
def tools_install(force: bool, only_missing: bool, dry_run: bool, output_format: str) -> None:
    """Install the pinned, checksum-verified helm and kubectl.

    Where the pinned ones cannot be had (no download for this platform, offline, the tools
    folder not writable), compatible helm and kubectl on PATH are used, and it says so."""
    from meshgen.commands import tools as command

    sys.exit(
        command.run_install(
            force=force,
            only_missing=only_missing,
            echo=click.echo,
            dry_run=dry_run,
            output_format=output_format,
        )
    )


@tools.command("list")
@output_options(("text", "json", "yaml"), "text")
def tools_list(output_format: str) -> None:
    """Show which helm and kubectl meshgen uses."""
    from meshgen.commands import tools as command

    sys.exit(command.run_list(echo=click.echo, output_format=output_format))


@cli.command()
@output_options(("text", "json", "yaml"), "text")
def version(output_format: str) -> None:
    """Show meshgen's version, the Istio version it renders, and the pinned tool versions."""
    from meshgen.commands import version as command

    sys.exit(command.run(output_format))


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash: eval "$(meshgen completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(meshgen completion zsh)"    (in ~/.zshrc)
    fish: meshgen completion fish > ~/.config/fish/completions/meshgen.fish
    """
    from meshgen.commands import completion as command

    sys.exit(command.run(cli, shell))


def _usage(error: click.exceptions.UsageError) -> str:
    """The usage of the command that got no arguments, with its subcommands, on a few lines."""
    ctx = error.ctx
    if ctx is None:
        return "Usage: meshgen [OPTIONS] COMMAND [ARGS]..."
    lines = [ctx.get_usage()]
    command = ctx.command
    if isinstance(command, click.Group):
        lines.append(f"Commands: {', '.join(command.list_commands(ctx))}")
    lines.append(f"Run `{ctx.command_path} --help` for details.")
    return "\n".join(lines)


def _verb(argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-")][:2]
    return " ".join(["meshgen", *words[:1]])


def _interrupted() -> None:
    """One line for an interruption, and exit 128 + the signal."""
    import signal as signals

    from meshgen import output
    from meshgen.adapters import transaction

    signum = transaction.stop_requested() or signals.SIGINT
    name = signals.Signals(signum).name
    if transaction.completed():
        output.error(f"interrupted ({name}) after the change was complete; see `git status`")
    else:
        output.error(f"interrupted ({name}); the repository is as it was before the command")
    sys.exit(128 + signum)


def main(argv: list[str] | None = None, early_signals: list[int] | None = None) -> None:
    """The error boundary: every failure becomes one line on stderr and an exit code.

    SIGTERM and SIGHUP stop a command like Ctrl-C does (a KeyboardInterrupt), so a
    transaction rolls back in an orderly way (see :mod:`meshgen.adapters.transaction`). A
    signal Python cannot turn into an exception where it lands (in a callback of the import
    system, say) is remembered instead: the next transaction does not start, or the command
    ends as interrupted once it is done. ``early_signals`` are those the executable received
    before this ran (see :mod:`meshgen.entrypoint`).
    """
    import signal as signals

    from meshgen import output
    from meshgen.adapters import lock, transaction
    from meshgen.errors import MeshgenError

    transaction.forget_stop()
    python_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if info.exc_type is None or not issubclass(info.exc_type, KeyboardInterrupt):
            python_hook(info)

    previous = {}
    for signum in (signals.SIGINT, signals.SIGTERM, signals.SIGHUP):
        try:
            previous[signum] = signals.signal(signum, transaction.on_signal)
        except ValueError:  # not the main thread (an embedding program): leave its handlers
            break
    sys.unraisablehook = unraisable
    args = sys.argv[1:] if argv is None else argv
    lock.describe(_verb(args))
    try:
        if early_signals:  # received while meshgen was starting, maybe dropped by Python
            transaction.on_signal(early_signals[-1], None)
        cli.main(args=args, prog_name="meshgen", standalone_mode=False)
    except SystemExit as done:
        if not done.code and transaction.stop_requested():
            _interrupted()  # a signal that was swallowed where it landed
        raise
    except MeshgenError as exc:
        _fail(str(exc), exc.exit_code, argv)
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stderr.write(_usage(exc) + "\n")
        sys.exit(2)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            _interrupted()
        output.error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _fail(exc.format_message(), 2, argv)
    except KeyboardInterrupt:
        _interrupted()
    except OSError as exc:  # the system refused something no check foresaw; nothing changed
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}; check the path and run the command again", 2, argv)
    finally:
        with transaction.signals_deferred():
            lock.release_all()
            sys.unraisablehook = python_hook
            for signum, handler in previous.items():
                # As the meshgen executable (no argv given), the work is done: a signal now
                # must not turn a finished command into a failure. Embedded: as it was.
                signals.signal(signum, signals.SIG_IGN if argv is None else handler)
    if transaction.stop_requested():
        _interrupted()
    sys.exit(0)


def _fail(message: str, exit_code: int, argv: list[str] | None) -> None:
    """One line on stderr; with -o json|yaml, a usage or input error (exit 2) is also an
    object on stdout (``{"error": ..., "exitCode": 2}``) where the result would have been."""
    from meshgen import output
    from meshgen.cli_options import error_document, requested_format

    output.error(message)
    fmt = requested_format(sys.argv[1:] if argv is None else argv)
    if fmt is not None and exit_code == 2:
        output.raw(error_document(message, exit_code, fmt))
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
