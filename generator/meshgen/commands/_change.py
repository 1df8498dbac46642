"""What ``new-cluster`` and ``remove-cluster`` share: a mesh.yaml edit proposed on a branch.

Both lock the repository, load the mesh, edit it, render, and write the files and commit them
on a new branch made from HEAD (or only write them with ``--no-commit``) as one transaction
(:mod:`meshgen.adapters.transaction`: all or nothing, even when killed), and end with the
mesh-level summary and the next step (push, open a pull request). Everything that can be
checked is checked before the first write: the branch, git's state, ``origin`` for ``--push``
and generated files edited by hand.

``--dry-run`` (every command that writes has it) runs the same checks and planning, then prints
the change instead of making it: :func:`preview` lists the files with a diff of the hand-owned
ones (``mesh.yaml``), and a proposal says which branch and commit it would make.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen import mesh_repo, output, pull_request, spec, traffic
from meshgen.adapters import git as gitops
from meshgen.adapters import transaction, workspace
from meshgen.commands.encrypt_remote_secret import missing_secrets
from meshgen.errors import MeshgenError
from meshgen.render.readme import network_reachability

if TYPE_CHECKING:
    from git import Repo


@dataclass(frozen=True)
class BranchOptions:
    repo: Path | None = None
    branch: str | None = None
    commit: bool = True
    push: bool = False
    allow_dirty: bool = False
    dry_run: bool = False
    overwrite_edits: bool = False


DRY_RUN_DONE = "Dry run: nothing was written; run again without --dry-run to make the change."


def preview(
    root: Path, changes: workspace.ChangeSet, show_diff: tuple[str, ...] = (spec.MESH_FILE,)
) -> None:
    """What applying ``changes`` under ``root`` would do: each file with ``would write`` or
    ``would remove``, and a unified diff of those in ``show_diff`` (hand-owned files such as
    mesh.yaml, whose change is the point; generated files follow from it)."""
    output.info(f"Would write {len(changes.write)} files and remove {len(changes.remove)}:")
    for path in changes.paths:
        verb = "write " if path in changes.write else "remove"
        state = "" if path not in changes.write or (root / path).exists() else " (new)"
        output.info(f"  would {verb}  {path}{state}")
    for path in show_diff:
        if path in changes.write:
            for line in workspace.short_diff(root, path, changes.write[path]):
                output.info(f"    {line}")


# The commands running now (innermost last), each with what must end with it: a dirty-tree
# check that no apply() waited for (see checks_awaited).
_running: list[contextlib.ExitStack] = []


@contextlib.contextmanager
def checks_awaited() -> Iterator[None]:
    """Run a command that opens a proposal: a dirty-tree check still running when it ends
    (it ended before applying anything, by an error or with nothing to change) is waited
    for, so git never outlives the command."""
    with contextlib.ExitStack() as stack:
        _running.append(stack)
        try:
            yield
        finally:
            _running.remove(stack)


@dataclass
class Proposal:
    """An opened mesh repository, ready for one edit of ``mesh.yaml``."""

    root: Path
    repo: Repo
    document: spec.MeshDocument
    branch: str
    options: BranchOptions
    title: str | None = None  # the commit title, once apply() was asked to commit

    warnings: list[str] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)  # what render moves off retired locations
    # git status, still running beside the edit and the planning (see open_proposal)
    dirty_check: gitops.DirtyCheck | None = None
    # the objects of the planned change's large files, written from the end of plan() on
    blobs: gitops.BlobWriter | None = None

    def require_clean(self) -> None:
        """Refuse uncommitted changes (unless --allow-dirty), as the dirty-tree check that
        started when the proposal was opened found them."""
        gitops.require_clean(self.repo, self.options.allow_dirty, started=self.dirty_check)

    def plan(
        self, updated: spec.MeshDocument, policies: traffic.TrafficPolicies | None = None
    ) -> workspace.ChangeSet:
        """What writing ``updated`` changes (recording meshgenVersion); ``policies`` default to
        the repository's traffic files, checked against the updated mesh."""
        updated, changes = mesh_repo.plan_writing(
            self.root, updated, policies=policies, before=self.document
        )
        # Checked: noted for the next command, written to the Git folder only once the
        # change is (see tree_cache.flush).
        mesh_repo.note_valid(self.root, updated)
        # Read before the files are rewritten: retired locations, unknown version.
        unknown = mesh_repo.unknown_version_warning(updated.mesh)
        self.warnings = [unknown] if unknown else []
        notices = mesh_repo.location_notices(self.root, updated, changes.write)
        self.warnings += [f"{n.message}; fix: {n.fix}" for n in notices]
        self.moves = [n.change for n in notices if n.change]
        if self.options.commit and not self.options.dry_run and _running:
            # The large files' objects, written by git in the background from now on rather
            # than from apply(): at 1,000 clusters they were not done when staging began.
            # The command waits for them when it ends (see checks_awaited).
            self.blobs = _running[-1].enter_context(gitops.BlobWriter(self.root, changes.write))
        return changes

    def apply(
        self, changes: workspace.ChangeSet, title: str, summary: list[str], verb: str
    ) -> str | None:
        """Write ``changes`` and commit them on the new branch, as one transaction.

        Returns the branch the proposal started from (``None`` with ``--no-commit``). With
        ``--dry-run``, only checks that it could (and writes nothing).
        """
        self.require_clean()  # before anything else is looked at, let alone written
        self.title = title
        base_branch = gitops.current_branch(self.repo)
        commit = None
        if self.options.commit:
            if base_branch is None:
                raise MeshgenError("HEAD is detached; switch to a branch first (git switch main)")
            gitops.require_ready(self.root, self.branch)
            if not self.options.overwrite_edits:
                workspace.require_unedited(self.root, changes)
            if self.options.dry_run:
                return base_branch
            message = "\n".join(
                [
                    title,
                    "",
                    *summary,
                    "",
                    f"Files: {len(changes.write)} written, {len(changes.remove)} removed.",
                    f"Generated by `meshgen {verb}`.",
                ]
            )
            commit = transaction.Commit(message=message, new_branch=self.branch)
        elif self.options.dry_run:
            if not self.options.overwrite_edits:
                workspace.require_unedited(self.root, changes)
            return None
        with contextlib.ExitStack() as writing:
            if commit is not None:  # the objects of its large files, in the background
                blobs = self.blobs
                if blobs is None:
                    blobs = writing.enter_context(gitops.BlobWriter(self.root, changes.write))
                commit = dataclasses.replace(commit, before_staging=blobs.wait)
            workspace.apply_changes(
                self.root,
                changes,
                commit=commit,
                # With a commit, hand edits were looked for above (reading the file record
                # and each changed file again costs milliseconds in a large mesh).
                overwrite_edits=self.options.overwrite_edits or commit is not None,
                command=f"meshgen {verb}",
            )
        return base_branch if commit else None

    def report(
        self,
        heading: str,
        lines: list[str],
        mesh: tuple[spec.Mesh, spec.Mesh],
        changes: workspace.ChangeSet,
        base_branch: str | None,
    ) -> None:
        """The heading and summary ``lines``, warnings that the change (``mesh``: before,
        after) brings, the files, what was committed and pushed, and the next step."""
        output.heading(f"{heading} (dry run)" if self.options.dry_run else heading)
        for line in lines:
            output.info(f"  {line}")
        before = network_reachability(mesh[0])
        for warning in network_reachability(mesh[1]):
            if warning not in before:
                output.warn(warning)
        for warning in [*self.warnings, *missing_secrets(self.root, mesh[1])]:
            output.warn(warning)
        if self.options.dry_run:
            self._report_dry_run(changes, base_branch)
            return
        written = output.counted(len(changes.write), "file")
        output.info(f"{written} written, {len(changes.remove)} removed:")
        output.changed_files(changes.write, changes.remove)
        if base_branch is None:
            output.info("Not committed (--no-commit). Review with `git status`, then commit.")
            return
        branch = self.branch
        output.info(f"Committed on branch {branch} (from {base_branch}).")
        if not self.options.push:
            output.info(
                f"Next: git push -u origin {branch}, then open a pull request into {base_branch}."
            )
            return
        gitops.push(self.repo, branch)
        output.info(f"Pushed {branch} to origin.")
        url = pull_request.open_url(gitops.origin_url(self.repo) or "", branch, base_branch)
        if url is not None:
            output.info(f"Open the pull request: {url}")
        else:
            output.info(f"Next: open a pull request from {branch} into {base_branch}.")

    def _report_dry_run(self, changes: workspace.ChangeSet, base_branch: str | None) -> None:
        preview(self.root, changes)
        if base_branch is None:
            output.info("Would not commit (--no-commit).")
        else:
            title = self.title or ""
            output.info(f"Would commit on a new branch {self.branch} (from {base_branch}): {title}")
            if self.options.push:
                output.info(f"Would push {self.branch} to origin.")
        output.info(DRY_RUN_DONE)


def open_proposal(options: BranchOptions, default_branch: str) -> Proposal:
    """Lock the repository, load the mesh, and check (before anything is written) that a
    commit can be made. ``--dry-run`` takes no lock: it writes nothing.

    The dirty-tree check (``git status``, which takes 30 to 60 ms at 1,000 clusters) runs
    beside the reading of the mesh and, within :func:`checks_awaited`, beside the edit and
    the planning too: :meth:`Proposal.apply` asks for its answer first, before anything is
    written (a command that applies nothing asks :meth:`Proposal.require_clean`). An error
    in the edit is then reported before uncommitted changes are."""
    if options.push and not options.commit:
        raise MeshgenError("--push needs a commit; drop --no-commit or --push")
    if options.dry_run:
        root = mesh_repo.find_root(options.repo)
    else:
        root = mesh_repo.open_for_change(options.repo)
    if options.commit:  # first: the git status below holds git's index.lock while it runs
        gitops.require_ready(root, None)
    with contextlib.ExitStack() as waiting:
        # git status runs while the mesh is read and the rest is checked.
        started = None
        if not options.allow_dirty:
            started = waiting.enter_context(gitops.DirtyCheck(root, read_only=options.dry_run))
        document = mesh_repo.load(root)
        repo = gitops.open_repository(root)
        gitops.require_repository_root(repo, root)
        branch = options.branch or default_branch
        if options.commit:
            gitops.validate_branch_name(repo, branch)
            gitops.require_identity(repo)
            if options.push:
                gitops.require_origin(repo)
        proposal = Proposal(root=root, repo=repo, document=document, branch=branch, options=options)
        proposal.dirty_check = started
        if _running:  # git may run on: the command waits for it when it ends
            _running[-1].push(waiting.pop_all())
        else:
            proposal.require_clean()
    return proposal
