"""``meshgen init``: create a mesh repository (scaffold, mesh.yaml, generated files) and commit.

It also works in a fresh clone of a new Git hosting repository (README, LICENSE, .gitignore,
an origin): what is there stays. A README of the user's own is kept, and meshgen's generated
guide goes to ``MESH.md`` instead (``repository.readme`` in mesh.yaml says so for every later
render); an existing ``.gitignore`` is kept and gains the lines that keep secret material out
of Git that it lacks.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen import __version__, mesh_repo, output, spec
from meshgen.adapters import git as gitops
from meshgen.adapters import lock, process, transaction, workspace
from meshgen.errors import MeshgenError, SpecError, excerpt
from meshgen.render.yamltext import scalar
from meshgen.spec import urls

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
    dataplane: str = spec.SIDECAR


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
            "dataplane_extra": _dataplane_extra(options),
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


AMBIENT_BLOCK = """\
# Ambient data plane: istio-cni and ztunnel on every node, waypoints where L7 is needed
# (multi-primary only; istio.dnsCapture switches istio-cni's DNS capture).
dataplane: ambient
# Services reachable from every cluster (each needs the label istio.io/global=true), and
# waypoints, rendered the same in every cluster that runs their namespace:
# globalServices:
#   - {namespace: sample, name: helloworld}
# waypoints:
#   - {namespace: sample, name: waypoint, for: service}"""


def _dataplane_extra(options: Options) -> str:
    """The ``dataplane`` block of mesh.yaml (nothing for the default, sidecars)."""
    return AMBIENT_BLOCK if options.dataplane == spec.AMBIENT else ""


# mesh.yaml fields that init fills from its options, for errors that name the option.
OPTION_OF_FIELD = {
    "meshID": "--mesh-id",
    "trustDomain": "--trust-domain",
    "istio.version": "--istio-version",
    "repository.url": "--repo-url",
    "repository.revision": "--revision",
    "secrets": "--secrets sops --age-recipient",
    "secrets.provider": "--secrets",
    "dataplane": "--dataplane",
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
    while not path.exists() and not path.is_symlink():
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


# Folders init builds beside their final place, then renames into it (atomic).
BUILD_MARK = ".meshgen-init-"


def _build_folder(parent: Path, name: str) -> Path:
    """A new hidden folder beside ``parent / name``, named after this process."""
    _remove_abandoned_builds(parent, name)
    folder = parent / f".{name}{BUILD_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        folder.mkdir()
    except OSError as exc:
        raise MeshgenError(
            f"{parent}: cannot create folders there ({exc.strerror}); choose another DIR"
        ) from None
    return folder


def _remove_abandoned_builds(parent: Path, name: str) -> None:
    """Build folders of init runs that were killed (their process is gone)."""
    for folder in parent.glob(f".{name}{BUILD_MARK}*"):
        pid = folder.name.rpartition(BUILD_MARK)[2].split("-")[0]
        if pid.isdigit() and not process.alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _git_init(folder: Path, branch: str) -> None:
    transaction.git(folder, "init", "-q", "-b", branch)


def _commit_message(document: spec.MeshDocument, repo_url: str) -> str:
    mesh = document.mesh
    return (
        f"Initialize Istio mesh {mesh.mesh_id} with meshgen\n\n"
        f"Engine {mesh.engine}, secrets provider {mesh.secrets_provider}, "
        f"Istio {mesh.istio_version}; the engine pulls {repo_url} at "
        f"{mesh.revision}.\nGenerated by `meshgen init`."
    )


def _create_aside(
    directory: Path, outermost: Path, changes: workspace.ChangeSet, message: str, branch: str
) -> None:
    """A new folder: built completely beside its place, then renamed into it (atomic)."""
    build = _build_folder(outermost.parent, outermost.name)
    try:
        target = build / directory.relative_to(outermost)
        target.mkdir(parents=True, exist_ok=True)
        _git_init(target, branch)
        for path, text in changes.write.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_text(text, encoding="utf-8")
        transaction.git(target, "add", "-A", "--", *changes.write)
        transaction.git(target, "commit", "-q", "-m", message)
        try:
            with transaction.signals_deferred():
                os.rename(build, outermost)
                transaction.record_completion()
        except OSError as exc:
            raise MeshgenError(
                f"{outermost}: cannot be created ({exc.strerror}); did something else create "
                "it meanwhile? Run init again"
            ) from None
    except OSError as exc:
        raise MeshgenError(
            f"{exc.filename or build}: cannot be written ({exc.strerror}); check permissions "
            "and free space (nothing was created)"
        ) from None
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _init_in_place(
    directory: Path, changes: workspace.ChangeSet, message: str, branch: str
) -> None:
    """An existing folder that is no repository yet: ``git init`` beside it, record the change
    in that new Git folder's journal, move the Git folder in, then write and commit. A kill
    after the move leaves a journal that removes the Git folder and the files again."""
    build = _build_folder(directory.parent, directory.name)
    state = build / ".git"
    change: transaction.Transaction | None = None
    try:
        _git_init(build, branch)
        lock.acquire(build)
        change = transaction.Transaction(directory, "meshgen init", state_dir=state)
        writes = {path: text.encode("utf-8") for path, text in changes.write.items()}
        change.begin(writes, changes.remove, transaction.Commit(message), git_dir_created=True)
        with transaction.signals_deferred():  # the move and what knows of it, together
            os.rename(state, directory / ".git")
            lock.relocate(state, directory / ".git")
            change.move_state(directory / ".git")
        shutil.rmtree(build, ignore_errors=True)
        change.publish(transaction.Commit(message))
        change.finish()
    except OSError as exc:
        if change is not None:
            change.roll_back()
        shutil.rmtree(build, ignore_errors=True)
        raise MeshgenError(
            f"{exc.filename or build}: cannot be written ({exc.strerror}); check permissions "
            "and free space (nothing was created)"
        ) from None
    except BaseException:
        if change is not None:
            change.roll_back()
        shutil.rmtree(build, ignore_errors=True)
        raise


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
    directory = options.directory.absolute()
    existing = _existing_parent(directory)
    if not existing.is_dir():
        raise MeshgenError(f"{existing}: exists and is not a folder; choose another DIR")
    directory = directory.resolve()
    if options.revision is not None:
        problem = gitops.branch_name_problem(options.revision)
        if problem is not None:
            raise MeshgenError(f"--revision {excerpt(options.revision)}: {problem}; choose another")
    repo = _repository_at(directory)
    if repo is not None and not options.dry_run:
        mesh_repo.prepare_for_change(directory)  # may roll back an interrupted init
        repo = _repository_at(directory)
    if (directory / spec.MESH_FILE).exists():
        raise MeshgenError(
            f"{directory / spec.MESH_FILE}: already exists, this is a mesh repository; "
            "use `meshgen new-cluster` or `meshgen render` there"
        )
    repo_url = options.repo_url or (gitops.origin_url(repo) if repo is not None else None)
    if not repo_url:
        raise MeshgenError(
            "no repository URL: pass --repo-url URL (the Git URL Argo CD pulls), or add an "
            "'origin' remote first"
        )
    repo_url, removed = urls.without_credentials(repo_url)
    if removed:
        source = "--repo-url" if options.repo_url else "the origin remote's URL"
        output.warn(
            f"{source}: left out {' and '.join(removed)}: credentials are never committed; "
            f"the engine pulls {repo_url} with its own repository secret"
        )
    if repo is not None:
        gitops.require_clean(repo, options.allow_dirty, read_only=options.dry_run)
        gitops.require_ready(directory, None)
    gitops.require_identity(repo if repo is not None else existing)

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

    outermost = _outermost_missing(directory)
    if options.dry_run:
        _preview(directory, document, changes, repo, outermost)
        return 0
    message = _commit_message(document, repo_url)
    if outermost is not None:
        _create_aside(directory, outermost, changes, message, revision)
    elif repo is None:
        _init_in_place(directory, changes, message, revision)
    else:
        workspace.apply_changes(
            directory, changes, commit=transaction.Commit(message), command="meshgen init"
        )
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
    branch = gitops.current_branch(gitops.open_repository(directory)) or revision
    output.info(f"Committed on {branch}. Next: meshgen new-cluster NAME --network NET")
    return 0
