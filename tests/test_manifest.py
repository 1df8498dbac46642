"""The record of generated files: sha256sum's format, rendered with the files, deterministic."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import two_network_mesh, write_files
from meshgen import library, manifest
from meshgen.render import render_repository


def test_the_record_lists_every_generated_file_but_itself(tmp_path: Path) -> None:
    files = render_repository(two_network_mesh().mesh, library.load())
    record = files[manifest.PATH]
    recorded = manifest.parse(record)
    assert set(recorded) == set(files) - {manifest.PATH}
    assert record == manifest.text(files)  # a pure function of the other files
    lines = record.splitlines()
    assert lines == sorted(lines, key=lambda line: line.split("  ", 1)[1])
    write_files(tmp_path, files)
    checked = subprocess.run(
        ["sha256sum", "--strict", "-c", manifest.PATH],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert manifest.read(tmp_path) == recorded
    assert manifest.edited(tmp_path, recorded, recorded) == []
    edited = "clusters/cluster-1/values/istiod.yaml"
    (tmp_path / edited).write_text("changed\n")
    (tmp_path / "README.md").unlink()  # deleted: nothing to lose
    assert manifest.edited(tmp_path, recorded, recorded) == [edited]


def test_no_record_reads_as_none(tmp_path: Path) -> None:
    assert manifest.read(tmp_path) is None
    (tmp_path / ".meshgen").mkdir()
    (tmp_path / manifest.PATH).symlink_to("/etc/hostname")
    assert manifest.read(tmp_path) is None  # never read through a link


def test_a_rendered_record_is_read_and_edited_by_its_lines(tmp_path: Path) -> None:
    """A record meshgen rendered answers as the parsed record does, and an edit of its
    lines gives the record :func:`manifest.text` writes for the edited files."""
    files = render_repository(two_network_mesh().mesh, library.load())
    content = files[manifest.PATH]
    recorded = manifest.parse(content)
    rendered = manifest.RenderedRecord(content)
    assert dict(rendered) == recorded and len(rendered) == len(recorded)
    assert rendered.get("clusters/no-such/file.yaml") is None
    first, last = sorted(recorded)[0], sorted(recorded)[-1]
    removed = [first, "README.md", "not/recorded.yaml"]
    added = {last: "0" * 64, "aaa/new.yaml": "1" * 64, "zzz/new.yaml": "2" * 64}
    edited = {p: t for p, t in files.items() if p not in removed and p != manifest.PATH}
    text, listed = rendered.changed(removed, added)
    expected = {p: recorded[p] for p in edited} | added
    assert text == "".join(f"{d}  {p}\n" for p, d in sorted(expected.items()))
    assert listed == len(expected) == len(edited) + 2
    write_files(tmp_path, files)
    assert manifest.read(tmp_path) is rendered  # the same content: not parsed again
    (tmp_path / manifest.PATH).write_text(content + f"{'3' * 64}  extra.yaml\n")
    assert manifest.read(tmp_path) == {**recorded, "extra.yaml": "3" * 64}


def test_the_digests_of_large_bytes_remembered_are_their_own() -> None:
    """Large bytes hashed again (equal, in another object) take the remembered digest; bytes
    of the same length but other content, and more blobs than are remembered, still get
    their own."""
    import hashlib

    size = manifest.REMEMBERED_BYTES
    blobs = [bytes([n]) * size for n in range(manifest.REMEMBERED + 2)]
    blobs.append(b"x" * (size - 1) + b"y")  # the length of others, one byte apart
    for _ in range(2):
        for blob in blobs:
            again = bytes(bytearray(blob))  # equal, not the same object
            assert manifest.digest(again) == hashlib.sha256(blob).hexdigest()
    assert manifest.digest(b"small") == hashlib.sha256(b"small").hexdigest()
