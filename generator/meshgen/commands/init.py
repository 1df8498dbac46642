"""``meshgen init``: create a mesh repository (scaffold, mesh.yaml, generated files) and commit."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen import __version__, mesh_repo, output, spec
from meshgen.adapters import git as gitops
from meshgen.adapters import workspace
from meshgen.errors import MeshgenError, SpecError
from meshgen.render.yamltext import scalar

if TYPE_CHECKING:
    from git import Repo

SCAFFOLD = Path(__file__).resolve().parent.parent / "scaffold"
SCAFFOLD_FILES = (spec.MESH_FILE, ".gitignore", "CODEOWNERS", "traffic/example.yaml")
USER_FILES = SCAFFOLD_FILES[1:]  # an existing one is the user's: kept as it is


@dataclass(frozen=True)
class Options:
    directory: Path
    mesh_id: str
    repo_url: str | None = None
    revision: str = spec.DEFAULT_REVISION
    istio_version: str | None = None  # None: the newest GA release of the catalogue
    trust_domain: str = spec.DEFAULT_TRUST_DOMAIN
    engine: str = "argocd"
    secrets: str = "external-secrets"
    age_recipients: tuple[str, ...] = ()
    allow_dirty: bool = False


def scaffold(options: Options, repo_url: str) -> dict[str, str]:
    """The scaffold files (mesh.yaml, .gitignore, CODEOWNERS, the commented traffic example)
    from the cookiecutter template, as text.

    Values are passed in already YAML-quoted where needed, so the template stays plain YAML.
    Cookiecutter runs in a throw-away folder with its own config, so nothing is written to
    the user's home (no replay files).
    """
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory(prefix="meshgen-init-") as tmp:
        config = Path(tmp) / "cookiecutter.yaml"
        config.write_text(
            f"cookiecutters_dir: {tmp}/templates\nreplay_dir: {tmp}/replay\n", encoding="utf-8"
        )
        context = {
            "folder": "repo",
            "mesh_id": scalar(options.mesh_id),
            "repo_url": scalar(repo_url),
            "revision": scalar(options.revision),
            "istio_version": scalar(options.istio_version or spec.DEFAULT_ISTIO_VERSION),
            "trust_domain": scalar(options.trust_domain),
            "engine": scalar(options.engine),
            "secrets_provider": scalar(options.secrets),
            "secrets_extra": _secrets_extra(options),
            "schema_comment": spec.SCHEMA_COMMENT,
            "meshgen_version": scalar(__version__),
        }
        out = Path(
            cookiecutter(
                str(SCAFFOLD),
                no_input=True,
                extra_context=context,
                output_dir=str(Path(tmp) / "out"),
                config_file=str(config),
                accept_hooks=False,
            )
        )
        return {name: (out / name).read_text(encoding="utf-8") for name in SCAFFOLD_FILES}


def _secrets_extra(options: Options) -> str:
    """The ``secrets.sops`` block of mesh.yaml (empty unless age recipients are given)."""
    if not options.age_recipients:
        return ""
    lines = ["  sops:", "    ageRecipients:"]
    lines += [f"      - {scalar(r)}" for r in options.age_recipients]
    return "\n".join(lines)


# mesh.yaml fields that init fills from its options, for errors that name the option.
OPTION_OF_FIELD = {
    "meshID": "--mesh-id",
    "trustDomain": "--trust-domain",
    "istio.version": "--istio-version",
    "repository.url": "--repo-url",
    "repository.revision": "--revision",
    "secrets": "--secrets sops --age-recipient",
    "secrets.provider": "--secrets",
}


def _repository_at(directory: Path) -> Repo | None:
    """The repository whose root is ``directory``; None when it is in none."""
    if not directory.is_dir():
        return None
    try:
        repo = gitops.open_repository(directory)
    except MeshgenError:
        return None
    if Path(repo.working_tree_dir or "").resolve() != directory:
        raise MeshgenError(
            f"{directory}: is inside the Git repository {repo.working_tree_dir}; run init at "
            "that repository's root or in a new folder"
        )
    return repo


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _outermost_missing(directory: Path) -> Path | None:
    """The outermost folder of ``directory``'s path that does not exist yet (None: all exist)."""
    existing = _existing_parent(directory)
    if existing == directory:
        return None
    return existing / directory.relative_to(existing).parts[0]


def _parse_scaffold(text: str) -> spec.MeshDocument:
    try:
        return spec.parse(text)
    except SpecError as error:
        option = OPTION_OF_FIELD.get(error.field)
        if option is None:
            raise
        raise MeshgenError(f"{option}: {error.detail}") from None


def run(options: Options) -> int:
    directory = options.directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise MeshgenError(f"{directory}: exists and is not a folder; choose another DIR")
    if (directory / spec.MESH_FILE).exists():
        raise MeshgenError(
            f"{directory / spec.MESH_FILE}: already exists, this is a mesh repository; "
            "use `meshgen new-cluster` or `meshgen render` there"
        )
    repo = _repository_at(directory)
    repo_url = options.repo_url or (gitops.origin_url(repo) if repo is not None else None)
    if not repo_url:
        raise MeshgenError(
            "no repository URL: pass --repo-url URL (the Git URL Argo CD pulls), or add an "
            "'origin' remote first"
        )
    if repo is not None:
        gitops.require_clean(repo, options.allow_dirty)
    gitops.require_identity(repo if repo is not None else _existing_parent(directory))

    files = scaffold(options, repo_url)
    document = _parse_scaffold(files[spec.MESH_FILE])
    owned = {
        name: text
        for name, text in files.items()
        if name not in USER_FILES or not (directory / name).exists()
    }
    changes = workspace.plan_changes(directory, mesh_repo.desired_files(document), owned=owned)

    to_create = _outermost_missing(directory)
    previous = workspace.snapshot(directory, changes.paths)
    try:
        if repo is None:
            directory.mkdir(parents=True, exist_ok=True)
            repo = gitops.init(directory, options.revision)
        workspace.apply_changes(directory, changes)
        message = (
            f"Initialize Istio mesh {document.mesh.mesh_id} with meshgen\n\n"
            f"Engine {document.mesh.engine}, secrets provider {document.mesh.secrets_provider}, "
            f"Istio {document.mesh.istio_version}; the engine pulls {repo_url} at "
            f"{document.mesh.revision}.\nGenerated by `meshgen init`."
        )
        gitops.commit_paths(repo, changes.paths, message)
    except BaseException:
        if to_create is not None:
            shutil.rmtree(to_create, ignore_errors=True)
        else:
            workspace.restore(directory, previous)
        raise
    unknown = mesh_repo.unknown_version_warning(document.mesh)
    if unknown:
        output.warn(unknown)
    output.heading(f"Created mesh {document.mesh.mesh_id} in {directory}")
    for path in changes.paths:
        output.info(f"  {path}")
    output.info(
        f"Committed on {gitops.current_branch(repo)}. Next: meshgen new-cluster NAME --network NET"
    )
    return 0
