"""URLs of mesh.yaml: the forms engines pull, and credentials that never stay."""

from __future__ import annotations

import pytest

from meshgen.spec import urls

PASSWORD = ["the password"]


@pytest.mark.parametrize(
    ("url", "clean", "removed"),
    [
        ("https://u:pw@h.example/x.git", "https://h.example/x.git", ["the user name and password"]),
        ("https://ghp_x@github.com/o/r.git", "https://github.com/o/r.git", ["the user info"]),
        (
            "https://h/x?private_token=t&r=1",
            "https://h/x?r=1",
            ["the query parameter 'private_token'"],
        ),
        ("https://h/x?X-Amz-Signature=s", "https://h/x", ["the query parameter 'X-Amz-Signature'"]),
        ("ssh://git:pw@h/x.git", "ssh://git@h/x.git", PASSWORD),
        ("ssh://git@h:2222/x.git", "ssh://git@h:2222/x.git", []),
        ("git:pw@github.com:o/r.git", "git@github.com:o/r.git", PASSWORD),
        ("git@github.com:o/r.git", "git@github.com:o/r.git", []),
        ("/srv/git/r.git", "/srv/git/r.git", []),
    ],
)
def test_credentials_are_removed_and_named_never_shown(
    url: str, clean: str, removed: list[str]
) -> None:
    assert urls.without_credentials(url) == (clean, removed)
    assert urls.repository_url_problem(clean) is None


@pytest.mark.parametrize(
    "url",
    ["not-a-url", "", "https://", "https://host", "ftp://h/x", "https://h/a b", "file://rel",
     "http://h:port/x", "relative/path.git"],
)  # fmt: skip
def test_what_is_no_git_url_says_what_is(url: str) -> None:
    problem = urls.repository_url_problem(url)
    assert problem is not None and "use https://host/path.git" in problem


def test_api_servers_are_https_urls_with_a_host() -> None:
    assert urls.api_server_problem("https://203.0.113.1:6443") is None
    for bad in ("http://h:6443", "https://", "10.0.0.3:6443", "https://h:port"):
        assert urls.api_server_problem(bad) is not None, bad
