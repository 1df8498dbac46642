"""Where to open a pull request for a pushed branch, from the ``origin`` URL (pure)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# scp-like syntax: [user@]host:path (no scheme, no slash before the colon)
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


def host_and_path(url: str) -> tuple[str, str] | None:
    """(host, owner/repo path without ``.git``) of an https, ssh or scp-like Git URL."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh", "git+ssh") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    else:
        match = _SCP_LIKE.match(url)
        if match is None:
            return None
        host, path = match["host"], match["path"]
    path = path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        return None
    return host.lower(), path


def _kind(host: str) -> str | None:
    labels = host.split(".")
    for kind in ("github", "gitlab", "bitbucket"):
        if kind in labels:
            return kind
    return None


def open_url(origin: str, branch: str, base: str) -> str | None:
    """The page that opens a pull (merge) request from ``branch`` into ``base``.

    ``None`` when ``origin`` is not on a host this knows (GitHub, GitLab, Bitbucket, including
    self-hosted ones named so, such as ``gitlab.example.com``).
    """
    found = host_and_path(origin)
    if found is None:
        return None
    host, path = found
    kind = _kind(host)
    source, target = quote(branch, safe=""), quote(base, safe="")
    if kind == "github":
        return (
            f"https://{host}/{path}/compare/{quote(base, safe='/')}...{quote(branch, safe='/')}"
            "?expand=1"
        )
    if kind == "gitlab":
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D="
            f"{source}&merge_request%5Btarget_branch%5D={target}"
        )
    if kind == "bitbucket":
        return f"https://{host}/{path}/pull-requests/new?source={source}&dest={target}"
    return None
