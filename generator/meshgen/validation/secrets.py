"""Check 8: no secret material anywhere in the repository, nor in the staged change.

A ``Secret`` with ``data`` or ``stringData``, a kubeconfig with credentials, a bearer token or a
private key is a finding. Placeholders are fine: ``ExternalSecret`` objects (the store holds the
value), ``SealedSecret`` ciphertext (only the cluster's controller can open it), Secrets
without data, and SOPS-encrypted Secrets (a ``sops`` block, every value ``ENC[...]``: Flux
decrypts them in the cluster).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from meshgen import library
from meshgen.adapters import git as gitops
from meshgen.validation import Finding, cluster_of, object_label
from meshgen.validation.cache import Cache, FileDigests, Table, digest
from meshgen.validation.repository import YAML_SUFFIXES, load_documents, split_documents

MAX_BYTES = 2_000_000
SKIP_DIRS = {".git", ".venv", "node_modules"}
FIX = (
    "remove it from the repository (and its history) and rotate the credential; keep secrets "
    "in the secret store (ExternalSecret) or seal them (SealedSecret)"
)

PATTERNS = [
    (re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"), "a private key"),
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        "a bearer token (JWT)",
    ),
    (re.compile(r"(?i)\bauthorization:\s*bearer\s+[A-Za-z0-9._~+/-]{16,}"), "a bearer token"),
    (
        re.compile(
            r"""(?i)["']?\b(?:bearerToken|token)["']?\s*[:=]\s*["']?[A-Za-z0-9._~+/-]{20,}"""
        ),
        "a token",
    ),
    (
        re.compile(r"\b(?:client-key-data|client-certificate-data)\s*:\s*\S{20,}"),
        "a kubeconfig credential",
    ),
]
# What every match of each pattern contains, and whether it is looked for in the text folded
# to lower case (for the patterns matched ignoring case): a pattern is run only on a text
# that holds its word. A pattern that starts with ``\b`` is tried at every character (1 to
# 3 ms per 100 KB, each), the word is found by ``str.find``; a 100-cluster mesh's file
# record alone took 10 ms to scan. Each folded word is made of letters whose only matches
# ignoring case (in ``re``) fold to them with ``str.lower()`` (K for Kelvin included), so a
# text without it cannot match (``tests/validation/test_secrets.py`` holds them to it).
PATTERN_WORDS = [
    ("PRIVATE KEY-----", False),
    ("eyJ", False),
    ("bearer", True),
    ("token", True),
    ("client-", False),
]


def _files(root: Path) -> list[str]:
    listed = gitops.work_tree_files(root)
    if listed is not None:
        return listed
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        found += [(Path(dirpath) / f).relative_to(root).as_posix() for f in filenames]
    return sorted(found)


def _secret_objects(path: str, text: str) -> list[tuple[int, str, str]]:
    """(line, object, message) of every plain Secret with data and every kubeconfig in a file."""
    if not any(word in text for word in _KIND_SPELLINGS):
        # No document can be of kind Secret or Config: YAML and JSON spell those kinds
        # literally (plain, quoted, folded, tagged or anchored), except with a backslash
        # escape in a double-quoted scalar. Parsing every file took most of the scan.
        return []
    try:
        docs = load_documents(text)
    except Exception:  # not YAML after all: the patterns still apply
        return []
    found = []
    for line, doc in docs:
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if (
            kind == "Secret"
            and (doc.get("data") or doc.get("stringData"))
            and not sops_encrypted(doc)
        ):
            keys = sorted([*(doc.get("data") or {}), *(doc.get("stringData") or {})])
            found.append((line, object_label(doc), f"Secret with data ({', '.join(keys)})"))
        elif kind == "Config" and isinstance(doc.get("users"), list):
            users = [u.get("user") or {} for u in doc["users"] if isinstance(u, dict)]
            if any(isinstance(u, dict) and set(u) & CREDENTIAL_KEYS for u in users):
                found.append((line, "kubeconfig", "a kubeconfig with user credentials"))
    return found


_KIND_SPELLINGS = ("Secret", "Config", "\\")


def sops_encrypted(doc: dict[str, Any]) -> bool:
    """A Secret SOPS encrypted: its ``sops`` metadata, and no value left in plain text."""
    values = [
        value
        for key in ("data", "stringData")
        if isinstance(doc.get(key), dict)
        for value in doc[key].values()
    ]
    return isinstance(doc.get("sops"), dict) and all(
        isinstance(v, str) and v.startswith("ENC[") for v in values
    )


CREDENTIAL_KEYS = {"token", "client-key-data", "client-key", "password", "tokenFile"}


def scan_text(path: str, text: str) -> list[tuple[int | None, str | None, str]]:
    """(line, object, what) of the secret material in one file's text."""
    found: list[tuple[int | None, str | None, str]] = []
    if path.endswith(YAML_SUFFIXES) or path.endswith(".json"):
        found += _secret_objects(path, text)
    folded = text.lower()
    matching = [
        (pattern, what)
        for (pattern, what), (word, fold) in zip(PATTERNS, PATTERN_WORDS, strict=True)
        if word in (folded if fold else text)
    ]
    if not matching:
        return found
    # A document already reported as a Secret is not reported again line by line.
    starts = [line for line, _ in split_documents(text)] or [1]
    reported = {line for line, _, _ in found}
    flagged: set[int] = set()
    for pattern, what in matching:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            document = max((s for s in starts if s <= line), default=1)
            if line not in flagged and document not in reported:
                flagged.add(line)
                found.append((line, None, what))
    return found


def _read(root: Path, path: str) -> str | None:
    data = _read_bytes(root, path)
    return None if data is None else _text(data)


def _read_bytes(root: Path, path: str) -> bytes | None:
    """The bytes of a file small enough to scan (None: not a file, too large, unreadable)."""
    target = root / path
    try:
        if not target.is_file() or target.stat().st_size > MAX_BYTES:
            return None
        return target.read_bytes()
    except OSError:
        return None


def _text(data: bytes) -> str | None:
    """The text of a file's bytes; None for a binary file."""
    return None if b"\0" in data[:8192] else data.decode("utf-8", "replace")


def _scanned(
    table: Table, root: Path, path: str, files: FileDigests
) -> list[tuple[int | None, str | None, str]]:
    """:func:`scan_text` of a file (nothing for one that is not text, too large or gone),
    replayed from ``table`` by the sha256 of its bytes (and whether it is read as YAML)."""
    as_yaml = path.endswith(YAML_SUFFIXES) or path.endswith(".json")
    sha = files.digest(path)
    stored = table.get(_key(as_yaml, sha)) if sha != "-" else None
    if isinstance(stored, list) and all(isinstance(s, list) and len(s) == 3 for s in stored):
        return [(line, obj, what) for line, obj, what in stored]
    data = _read_bytes(root, path)
    if data is None:
        return []
    text = _text(data)
    found = scan_text(path, text) if text is not None else []
    # keyed by the bytes scanned (the file may have changed since it was hashed)
    table.set(_key(as_yaml, hashlib.sha256(data).hexdigest()), [list(i) for i in found])
    return found


def _key(as_yaml: bool, sha: str) -> str:
    """A file's entry in the table: the sha256 of its bytes, and whether it is read as YAML
    (a digest of the two, made for each of a 100-cluster mesh's 1,100 files, cost more)."""
    return f"{'yaml' if as_yaml else 'text'} {sha}"


def check(
    root: Path, cache: Cache | None = None, files: FileDigests | None = None
) -> list[Finding]:
    """Every file of the work tree and of the staged change scanned for secret material;
    ``cache`` keeps each file's result between runs, by the sha256 of its bytes (``files``
    knows those of files unchanged since, without reading them)."""
    cache = cache or Cache.disabled()
    files = files or FileDigests(cache, root)
    table = Table(cache, "secrets", digest("secrets", 3, library.code_fingerprint()))
    findings = []
    for path in _files(root):
        found = _scanned(table, root, path, files)
        findings += [
            Finding(
                check="secrets",
                message=f"{what} is committed in the repository",
                fix=FIX,
                cluster=cluster_of(path),
                file=path,
                line=line,
                obj=obj,
            )
            for line, obj, what in found
        ]
    table.store()
    for path, blob in sorted(gitops.staged_blobs(root).items()):
        if len(blob) > MAX_BYTES or b"\0" in blob[:8192]:
            continue
        on_disk = _read(root, path)
        text = blob.decode("utf-8", "replace")
        if text == on_disk:
            continue  # already scanned above
        findings += [
            Finding(
                check="secrets",
                message=f"{what} is in the staged change (git index)",
                fix="unstage it (`git restore --staged` the file) and remove the secret; " + FIX,
                cluster=cluster_of(path),
                file=path,
                line=line,
                obj=obj,
            )
            for line, obj, what in scan_text(path, text)
        ]
    return findings
