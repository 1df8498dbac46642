#!/usr/bin/env bash
# The built-in example: mesh `mesh1`, cluster-1 on network1 and cluster-2 on network2, each
# with an east-west gateway and the other's remote-secret placeholder. cluster-1 joins alone,
# without a gateway (one network needs none); the change that brings network2 gives it one.
# Every step is a real meshgen command on a real Git repository with a local bare `origin`.
#
#   bash examples/two-networks.sh [DIR]     (default: a new temporary folder)
#   MESHGEN_ENGINE=flux bash examples/two-networks.sh [DIR]   the same mesh, synced by Flux
#   MESHGEN_DATAPLANE=ambient bash examples/two-networks.sh [DIR]   the same mesh in ambient mode
set -euo pipefail
engine=${MESHGEN_ENGINE:-argocd}
dataplane=${MESHGEN_DATAPLANE:-sidecar}

dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/meshgen-example.XXXXXX")}
if [ -e "$dir/mesh" ]; then
  echo "error: $dir/mesh already exists; pass an empty or new DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
origin="$dir/origin.git"
repo="$dir/mesh"

# The example commits; use a throw-away identity only when git has none configured.
if ! git var GIT_COMMITTER_IDENT >/dev/null 2>&1; then
  export GIT_AUTHOR_NAME="meshgen example" GIT_AUTHOR_EMAIL="example@meshgen.invalid"
  export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
fi

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }

git init -q --bare "$origin"
mkdir -p "$repo"
git -C "$repo" init -q -b main
git -C "$repo" remote add origin "$origin"

step meshgen init "$repo" --mesh-id mesh1 --repo-url https://git.example.com/platform/mesh.git --engine "$engine" --dataplane "$dataplane"
meshgen init "$repo" --mesh-id mesh1 --repo-url https://git.example.com/platform/mesh.git --engine "$engine" --dataplane "$dataplane"
git -C "$repo" push -q -u origin main
cd "$repo"

step meshgen new-cluster cluster-1 --network network1 --push
meshgen new-cluster cluster-1 --network network1 --push

step "git switch main && git merge meshgen/add-cluster-cluster-1   # the pull request is merged"
git switch -q main
git merge -q --ff-only meshgen/add-cluster-cluster-1
git push -q origin main

step meshgen new-cluster cluster-2 --network network2 --push
meshgen new-cluster cluster-2 --network network2 --push

step meshgen render --check
meshgen render --check

# Offline, before the pull request is merged: overlays build, Applications are wired, no
# secrets. Without --crds/--charts it lists the kinds and charts it could not check.
step meshgen validate
meshgen validate

branch=$(git rev-parse --abbrev-ref HEAD)
printf '\n%sFiles the last change wrote (commit %s on branch %s):%s\n' \
  "$bold" "$(git rev-parse --short HEAD)" "$branch" "$plain"
git show --stat=100 --format='%B' HEAD
printf '%sRepository:%s %s\n%sBranch committed and pushed:%s %s (open a pull request into main)\n' \
  "$bold" "$plain" "$repo" "$bold" "$plain" "$branch"
