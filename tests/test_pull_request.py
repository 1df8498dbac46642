"""Pull-request pages for known origins (https and scp-like ssh URLs)."""

from __future__ import annotations

import pytest

from meshgen.pull_request import host_and_path, open_url


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (
            "https://github.com/acme/mesh.git",
            "https://github.com/acme/mesh/compare/main...meshgen/add-cluster-c1?expand=1",
        ),
        (
            "git@github.com:acme/mesh.git",
            "https://github.com/acme/mesh/compare/main...meshgen/add-cluster-c1?expand=1",
        ),
        (
            "ssh://git@gitlab.example.com:2222/platform/infra/mesh.git",
            "https://gitlab.example.com/platform/infra/mesh/-/merge_requests/new?"
            "merge_request%5Bsource_branch%5D=meshgen%2Fadd-cluster-c1"
            "&merge_request%5Btarget_branch%5D=main",
        ),
        (
            "git@bitbucket.org:acme/mesh.git",
            "https://bitbucket.org/acme/mesh/pull-requests/new?"
            "source=meshgen%2Fadd-cluster-c1&dest=main",
        ),
        ("https://git.example.com/acme/mesh.git", None),
        ("/srv/git/mesh.git", None),
        ("file:///srv/git/mesh.git", None),
        ("https://github.com/justone", None),
    ],
)
def test_open_url(origin: str, expected: str | None) -> None:
    assert open_url(origin, "meshgen/add-cluster-c1", "main") == expected


def test_host_and_path_strips_user_port_and_suffix() -> None:
    assert host_and_path("https://user@GitHub.com/acme/mesh/") == ("github.com", "acme/mesh")
    assert host_and_path("ssh://git@github.com:22/acme/mesh.git") == ("github.com", "acme/mesh")
