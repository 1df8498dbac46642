"""The URLs of ``mesh.yaml``: the Git repository the engine pulls, each cluster's API server.

Both end up in committed files (``mesh.yaml``, the engine's objects, the README), so they never
carry credentials. :func:`without_credentials` strips them from what a user passes or what
``origin`` says, and names what it removed (never the secret itself); the invariants refuse
them in ``mesh.yaml``. :func:`repository_url_problem` says what is wrong with a repository URL
that no engine could pull from.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from meshgen.errors import excerpt

REPOSITORY_SCHEMES = ("https", "http", "ssh", "git+ssh", "file")
# Query parameters that carry secrets in the wild (?token=, ?private_token=, ?X-Amz-Signature=).
_CREDENTIAL_PARAMETER = re.compile(
    r"token|passw|pwd|secret|key|auth|sig|credential|session", re.IGNORECASE
)
# scp-like syntax: [user[:password]@]host:path (no scheme, no slash before the colon)
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/\s]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>[^\s]+)$"
)
ACCEPTED = (
    "use https://host/path.git, ssh://git@host/path.git, git@host:path.git or, for local "
    "tests, an absolute path"
)


def _strip_query(query: str) -> tuple[str, list[str]]:
    if not query:
        return query, []
    kept, removed = [], []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _CREDENTIAL_PARAMETER.search(name):
            removed.append(f"the query parameter {excerpt(name, 30)}")
        else:
            kept.append((name, value))
    return (urlencode(kept) if removed else query), removed


def without_credentials(url: str) -> tuple[str, list[str]]:
    """``url`` without credentials, and what was removed (``[]``: it had none).

    Removed: a password; for http(s) the whole user info (a token often stands in the user
    name); query parameters named like credentials. The user of an ssh URL (``git@``) is an
    address, not a secret, and stays.
    """
    if "://" in url:
        parts = urlsplit(url)
        removed = []
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            if parts.scheme in ("ssh", "git+ssh") and user:
                if has_password:
                    removed.append("the password")
                    netloc = f"{user}@{hostport}"
            else:
                removed.append("the user name and password" if has_password else "the user info")
                netloc = hostport
        query, from_query = _strip_query(parts.query)
        removed += from_query
        if not removed:
            return url, []
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), removed
    match = _SCP_LIKE.match(url)
    if match is not None and match["user"] and ":" in match["user"]:
        user = match["user"].partition(":")[0]
        return f"{user}@{match['host']}:{match['path']}", ["the password"]
    return url, []


def repository_url_problem(url: str) -> str | None:
    """Why ``url`` is not a Git URL an engine can pull (None: it is one)."""
    shown = excerpt(url)
    if not url or any(c.isspace() for c in url):
        return f"{shown} is not a Git URL (it is empty or holds spaces); {ACCEPTED}"
    if url.startswith("/"):
        return None
    if "://" in url:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            return f"{shown} is not a valid URL; {ACCEPTED}"
        if parts.scheme not in REPOSITORY_SCHEMES:
            return f"{shown}: the scheme {parts.scheme!r} is not one Git engines pull; {ACCEPTED}"
        if parts.scheme == "file":
            if parts.path.startswith("/"):
                return None
            return f"{shown}: a file URL needs an absolute path; {ACCEPTED}"
        if not parts.hostname:
            return f"{shown} names no host; {ACCEPTED}"
        if parts.path.strip("/") == "":
            return f"{shown} names no repository (no path after the host); {ACCEPTED}"
        return None
    if _SCP_LIKE.match(url):
        return None
    return f"{shown} is not a Git URL; {ACCEPTED}"


def api_server_problem(url: str) -> str | None:
    """Why ``url`` is not an API server URL istiod can use (None: it is one)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError:
        return f"{excerpt(url)} is not a valid URL; use https://HOST:PORT"
    if parts.scheme != "https" or not parts.hostname:
        return f"{excerpt(url)} is not an https:// URL with a host; use https://HOST:PORT"
    return None
