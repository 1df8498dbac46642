"""What a reviewer gets on every pull request: a template and a workflow posting ``meshgen diff``.

Both are GitHub files (``.github/``); GitLab and Bitbucket users can run the same command in
their own CI. The workflow compares the pull request with its target branch and keeps one
comment up to date (edited on each push instead of adding a new one).
"""

from __future__ import annotations

from meshgen.render.ci import install_requirement
from meshgen.render.files import GENERATED_MARK, YAML_HEADER
from meshgen.render.yamltext import scalar
from meshgen.spec import Mesh

PR_TEMPLATE = ".github/pull_request_template.md"
DIFF_WORKFLOW = ".github/workflows/meshgen-diff.yaml"


def pull_request_template(mesh: Mesh) -> str:
    return f"""<!-- {GENERATED_MARK}; do not edit: change mesh.yaml, then run `meshgen render`. -->
## What changes in mesh `{mesh.mesh_id}`

<!-- One or two sentences: why this change. The meshgen diff comment below says what it does
to the mesh and to each cluster. -->

## Checklist

- [ ] Only `mesh.yaml` and `traffic/` were edited by hand; `meshgen render --check` passes.
- [ ] Every new cluster is registered with Argo CD under its mesh name.
- [ ] Remote secrets for new clusters are in the secret store (see {mesh.readme}).
- [ ] For a removed cluster: the clean-up outside Git listed by `meshgen remove-cluster` is
      planned for after the merge.
"""


def diff_workflow(mesh: Mesh) -> str:
    # ${{ }} are GitHub expressions, written literally.
    return (
        YAML_HEADER
        + f"""name: meshgen diff
on:
  pull_request:
    branches: [{scalar(mesh.revision)}]
permissions:
  contents: read
  pull-requests: write
jobs:
  diff:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install meshgen and its pinned helm and kubectl
        run: |
          pip install "{install_requirement(mesh)}"
          meshgen tools install
      - name: Describe the change
        env:
          BASE: origin/${{{{ github.base_ref }}}}
        run: meshgen diff --base "$BASE" --format markdown > "$RUNNER_TEMP/meshgen-diff.md"
      - name: Post it on the pull request (one comment, kept up to date)
        env:
          GH_TOKEN: ${{{{ github.token }}}}
          PR: ${{{{ github.event.pull_request.number }}}}
        run: |
          gh pr comment "$PR" --edit-last --body-file "$RUNNER_TEMP/meshgen-diff.md" \\
            || gh pr comment "$PR" --body-file "$RUNNER_TEMP/meshgen-diff.md"
"""
    )


def files(mesh: Mesh) -> dict[str, str]:
    return {PR_TEMPLATE: pull_request_template(mesh), DIFF_WORKFLOW: diff_workflow(mesh)}
