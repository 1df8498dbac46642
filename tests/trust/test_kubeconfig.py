"""Which kubeconfig files kubectl reads, and how it merges them (meshgen.trust.kubeconfig)."""

from __future__ import annotations

import os
from pathlib import Path

from meshgen.trust import kubeconfig


def test_default_paths_follow_kubeconfig_then_home() -> None:
    home = Path("/home/u")
    joined = os.pathsep.join(["/a/config", "", "/b/config", "/a/config"])
    assert kubeconfig.default_paths(joined, home) == [Path("/a/config"), Path("/b/config")]
    assert kubeconfig.default_paths("", home) == [home / ".kube" / "config"]
    assert kubeconfig.default_paths(None, home) == [home / ".kube" / "config"]


def test_merge_first_name_and_first_current_context_win() -> None:
    cluster = {"server": "https://one", "certificate-authority": "ca.crt"}
    first = {
        "clusters": [{"name": "c", "cluster": cluster}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t1", "client-key": "/abs/key"}}],
    }
    second = {
        "current-context": "x",
        "clusters": [
            {"name": "c", "cluster": {"server": "https://two"}},
            {"name": "d", "cluster": {"server": "https://three"}},
        ],
        "users": [{"name": "u", "user": {"token": "t2"}}],
    }
    third = {"current-context": "y"}
    merged = kubeconfig.merge(
        [(Path("/first/config"), first), (Path("/second/config"), second), (Path("/t"), third)]
    )
    assert merged["current-context"] == "x"
    resolved = {"server": "https://one", "certificate-authority": "/first/ca.crt"}
    assert merged["clusters"] == [
        {"name": "c", "cluster": resolved},
        {"name": "d", "cluster": {"server": "https://three"}},
    ]
    assert merged["users"] == [{"name": "u", "user": {"token": "t1", "client-key": "/abs/key"}}]


def test_load_skips_files_that_do_not_exist() -> None:
    texts = {Path("/b"): "current-context: b\n"}
    merged, label = kubeconfig.load(
        [Path("/a"), Path("/b")], texts.get, lambda text, _source: {"current-context": "b"}
    )
    assert merged["current-context"] == "b" and label == "/b"
