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

from meshgen import __version__

if TYPE_CHECKING:
    from meshgen.commands._change import BranchOptions

REPO_OPTION = click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The mesh repository (default: the Git repository containing the current directory).",
)


def proposal_options(default_branch: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--repo, --branch, --no-commit, --push and --allow-dirty of a command that proposes a
    change on a branch, passed on as one ``proposal`` (a ``BranchOptions``)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(function)
        def wrapper(
            *args: Any,
            repo: Path | None,
            branch: str | None,
            no_commit: bool,
            push: bool,
            allow_dirty: bool,
            **kwargs: Any,
        ) -> None:
            from meshgen.commands._change import BranchOptions

            proposal = BranchOptions(
                repo=repo, branch=branch, commit=not no_commit, push=push, allow_dirty=allow_dirty
            )
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
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="meshgen")
def cli() -> None:
    """Run one Istio mesh across many clusters and networks, declared in Git.

    mesh.yaml describes the networks and clusters; meshgen renders Helm values for the upstream
    Istio charts, kustomize overlays and Argo CD Applications from it, and commits each change
    on a branch for review.
    """


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
@click.option("--mesh-id", required=True, help="global.meshID of every cluster (DNS-1123 label).")
@click.option("--repo-url", help="Git URL Argo CD pulls this repository from (default: origin).")
@click.option("--revision", default="main", show_default=True, help="Branch Argo CD tracks.")
@click.option("--istio-version", default="1.30.3", show_default=True)
@click.option("--trust-domain", default="cluster.local", show_default=True)
@click.option("--engine", type=click.Choice(["argocd"]), default="argocd", show_default=True)
@click.option(
    "--secrets",
    type=click.Choice(["external-secrets", "manual"]),
    default="external-secrets",
    show_default=True,
    help="How remote secrets reach the clusters (never through Git).",
)
@click.option("--allow-dirty", is_flag=True, help="Allow uncommitted changes in an existing repo.")
def init(directory: Path, **kwargs: object) -> None:
    """Create a mesh repository in DIRECTORY (default: here) and commit it."""
    from meshgen.commands import init as command

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
@click.option("--region")
@click.option("--zone")
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
@click.option("--force", is_flag=True, help="Also remove the remotes NAME is the control plane of.")
@proposal_options("meshgen/remove-cluster-NAME")
def remove_cluster(name: str, force: bool, proposal: BranchOptions) -> None:
    """Remove cluster NAME from the mesh, render, and commit on a new branch."""
    from meshgen.commands import remove_cluster as command

    sys.exit(command.run(name, force, proposal))


@cli.command()
@REPO_OPTION
@click.option("--base", help="Git ref to compare with (default: merge base with origin/main).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
def diff(repo: Path | None, base: str | None, output_format: str) -> None:
    """What the working tree's mesh.yaml changes against --base: mesh, clusters, files."""
    from meshgen.commands import diff as command

    sys.exit(command.run(repo, base, output_format))


@cli.command()
@REPO_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE.")
def graph(repo: Path | None, output_format: str, output: Path | None) -> None:
    """Draw the mesh: networks, clusters, gateways, control planes (Mermaid, DOT or SVG)."""
    from meshgen.commands import graph as command

    sys.exit(command.run(repo, output_format, output))


@cli.command()
@REPO_OPTION
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
def render(repo: Path | None, check: bool) -> None:
    """Regenerate every generated file from mesh.yaml."""
    from meshgen.commands import render as command

    sys.exit(command.run(repo, check))


@cli.group()
def tools() -> None:
    """The pinned helm and kubectl (kustomize) binaries meshgen runs."""


@tools.command("install")
@click.option("--force", is_flag=True, help="Download and install again even if present.")
@click.option("--only-missing", is_flag=True, help="Skip tools already on PATH.")
def tools_install(force: bool, only_missing: bool) -> None:
    """Install the pinned, checksum-verified helm and kubectl."""
    from meshgen.commands import tools as command

    sys.exit(command.run_install(force=force, only_missing=only_missing, echo=click.echo))


@tools.command("list")
def tools_list() -> None:
    """Show which helm and kubectl meshgen uses."""
    from meshgen.commands import tools as command

    sys.exit(command.run_list(echo=click.echo))


def main(argv: list[str] | None = None) -> None:
    """The error boundary: every failure becomes one line on stderr and an exit code."""
    from meshgen import output
    from meshgen.errors import MeshgenError

    try:
        cli.main(args=argv, prog_name="meshgen", standalone_mode=False)
    except MeshgenError as exc:
        output.error(str(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        output.error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        output.error(exc.format_message())
        sys.exit(2)
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
