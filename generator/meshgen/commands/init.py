"""``meshgen init``: create a mesh repository (scaffold, mesh.yaml, generated files) and commit.

It also works in a fresh clone of a new Git hosting repository (README, LICENSE, .gitignore,
an origin): what is there stays. A README of the user's own is kept, and meshgen's generated
guide goes to ``MESH.md`` instead (``repository.readme`` in mesh.yaml says so for every later
render); an existing ``.gitignore`` is kept and gains the lines that keep secret material out
of Git that it lacks.
"""

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
GUIDE_BESIDE_OWN_README = "MESH.md"
GITIGNORE_ADDITION = "# Added by `meshgen init`: secret material must never be committed."


@dataclass(frozen=True)
class Options:
    directory: Path
    mesh_id: str
    repo_url: str | None = None
    revision: str | None = None  # None: the existing repository's branch, else main
    istio_version: str | None = None  # None: the newest GA release of the catalogue
    trust_domain: str = spec.DEFAULT_TRUST_DOMAIN
    engine: str = "argocd"
    secrets: str = "external-secrets"
    age_recipients: tuple[str, ...] = ()
    allow_dirty: bool = False
    dry_run: bool = False


def scaffold(
    options: Options, repo_url: str, revision: str = spec.DEFAULT_REVISION, readme: str = ""
) -> dict[str, str]:
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
            "revision": scalar(revision),
            "readme": scalar(readme) if readme else "",
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


def _commit_message(document: spec.MeshDocument, repo_url: str) -> str:
    mesh = document.mesh
    return (
        f"Initialize Istio mesh {mesh.mesh_id} with meshgen\n\n"
        f"Engine {mesh.engine}, secrets provider {mesh.secrets_provider}, "
        f"Istio {mesh.istio_version}; the engine pulls {repo_url} at "
        f"{mesh.revision}.\nGenerated by `meshgen init`."
    )


def _preview(
    directory: Path,
    document: spec.MeshDocument,
    changes: workspace.ChangeSet,
    repo: Repo | None,
    to_create: Path | None,
) -> None:
    """``init --dry-run``: the folder, repository, files and commit init would make."""
    from meshgen.commands._change import DRY_RUN_DONE, preview

    output.heading(f"Would create mesh {document.mesh.mesh_id} in {directory} (dry run)")
    if to_create is not None:
        output.info(f"Would create the folder {directory}.")
    if repo is None:
        output.info(f"Would run git init (branch {document.mesh.revision}).")
    preview(directory, changes, show_diff=(".gitignore",))  # the user's file, if it was there
    branch = document.mesh.revision if repo is None else gitops.current_branch(repo)
    title = _commit_message(document, "").splitlines()[0]
    output.info(f"Would commit on {branch or 'the current branch'}: {title}")
    output.info(DRY_RUN_DONE)


def _current_branch(repo: Repo | None) -> str | None:
    return gitops.current_branch(repo) if repo is not None else None


def _own_readme(directory: Path) -> bool:
    """Whether ``directory`` holds a README that is not meshgen's (README.md, README.rst …)."""
    if not directory.is_dir():
        return False
    return any(
        path.is_file()
        and path.name.upper().startswith("README")
        and not workspace.is_generated(path)
        for path in directory.iterdir()
    )


def _gitignore(existing: Path, ours: str) -> str:
    """meshgen's .gitignore, or the user's with the lines of ours it lacks appended."""
    try:
        theirs = existing.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ours
    except (OSError, UnicodeDecodeError) as exc:
        raise MeshgenError(f"{existing}: cannot be read ({exc}); fix or move it") from None
    present = {line.strip() for line in theirs.splitlines()}
    missing = [line for line in ours.splitlines() if line.strip() and not line.startswith("#")]
    missing = [line for line in missing if line.strip() not in present]
    if not missing:
        return theirs
    separator = "" if not theirs or theirs.endswith("\n") else "\n"
    return theirs + separator + "\n".join([GITIGNORE_ADDITION, *missing]) + "\n"


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

    revision = options.revision or _current_branch(repo) or spec.DEFAULT_REVISION
    readme = GUIDE_BESIDE_OWN_README if _own_readme(directory) else ""
    files = scaffold(options, repo_url, revision, readme)
    document = _parse_scaffold(files[spec.MESH_FILE])
    owned = {
        name: text
        for name, text in files.items()
        if name not in USER_FILES or not (directory / name).exists()
    }
    owned[".gitignore"] = _gitignore(directory / ".gitignore", files[".gitignore"])
    changes = workspace.plan_changes(directory, mesh_repo.desired_files(document), owned=owned)

    to_create = _outermost_missing(directory)
    if options.dry_run:
        _preview(directory, document, changes, repo, to_create)
        return 0
    previous = workspace.snapshot(directory, changes.paths)
    try:
        if repo is None:
            directory.mkdir(parents=True, exist_ok=True)
            repo = gitops.init(directory, revision)
        workspace.apply_changes(directory, changes)
        gitops.commit_paths(repo, changes.paths, _commit_message(document, repo_url))
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
    if readme:
        output.info(
            f"Your README stays as it is; meshgen's guide to this repository is "
            f"{readme} (repository.readme in mesh.yaml): link it from your README."
        )
    output.info(
        f"Committed on {gitops.current_branch(repo)}. Next: meshgen new-cluster NAME --network NET"
    )
    return 0
