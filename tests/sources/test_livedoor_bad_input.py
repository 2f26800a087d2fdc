"""Damaged Livedoor archives, built in tmp_path: each problem is rejected or named, nothing else is lost."""

from __future__ import annotations

import io
import json
import random
import re
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import corpus
from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError, livedoor

BODY = "本文です。これは記事の本文として、品質の規則を満たすだけの長さを持つ段落です。二つ目の文もあります。"


def article(number: int, body: str = BODY) -> bytes:
    return f"http://example.com/{number}\n2020-01-01T00:00:00+0900\nタイトル{number}\n{body}\n".encode()


def write_tarball(path: Path, members: list[tuple[str, bytes]], *, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def read_all(path: Path, tmp_path: Path) -> list[Document | ReaderReject]:
    return list(livedoor.read(SourceConfig(path=path), raw_dir=tmp_path / "raw"))


def rejects_by_member(records: list[Document | ReaderReject]) -> dict[str, str]:
    return {r.document.metadata["member"]: r.reason for r in records if isinstance(r, ReaderReject)}


def kept_ids(records: list[Document | ReaderReject]) -> list[str]:
    return [record.id for record in records if isinstance(record, Document)]


def test_invalid_utf8_member_rejected(tmp_path: Path) -> None:
    archive = write_tarball(
        tmp_path / "a.tar.gz",
        [("text/cat/cat-1.txt", article(1)), ("text/cat/cat-2.txt", b"http://x/\n2020\n\xff\xfe bad\nbody\n")],
    )

    records = read_all(archive, tmp_path)

    assert kept_ids(records) == ["livedoor/cat-1"]
    reason = rejects_by_member(records)["text/cat/cat-2.txt"]
    assert reason.startswith("member text/cat/cat-2.txt is not valid UTF-8")


def test_invalid_utf8_text_kept(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path / "a.tar.gz", [("text/cat/cat-2.txt", b"http://x/\n2020\n\xff title\nbody\n")])

    (record,) = read_all(archive, tmp_path)

    assert isinstance(record, ReaderReject)
    assert record.document.text == "http://x/\n2020\n\ufffd title\nbody\n"


def test_empty_member_rejected(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path / "a.tar.gz", [("text/cat/cat-1.txt", b""), ("text/cat/cat-2.txt", article(2))])

    records = read_all(archive, tmp_path)

    assert kept_ids(records) == ["livedoor/cat-2"]
    assert rejects_by_member(records) == {"text/cat/cat-1.txt": "member text/cat/cat-1.txt is empty"}


def test_url_only_member_rejected(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path / "a.tar.gz", [("text/cat/cat-1.txt", b"http://news.livedoor.com/1/\n")])

    records = read_all(archive, tmp_path)

    assert rejects_by_member(records) == {
        "text/cat/cat-1.txt": "member text/cat/cat-1.txt has 1 lines, expected URL, date, title and body"
    }


@pytest.mark.parametrize("name", ["../x", "../x.txt", "text/../../x.txt", "/etc/x.txt"])
def test_unsafe_member_rejected(tmp_path: Path, name: str) -> None:
    archive = write_tarball(tmp_path / "a.tar.gz", [(name, article(9)), ("text/cat/cat-1.txt", article(1))])

    records = read_all(archive, tmp_path)

    assert kept_ids(records) == ["livedoor/cat-1"]
    reason = rejects_by_member(records)[name]
    assert reason == f"member name {name!r} is absolute or contains '..'; such members are never read"
    assert not (tmp_path.parent / "x").exists()
    assert not (tmp_path.parent / "x.txt").exists()


def test_symlink_member_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("text/cat/cat-1.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../etc/passwd"
        tar.addfile(link)

    records = read_all(archive, tmp_path)

    assert "links are not followed" in rejects_by_member(records)["text/cat/cat-1.txt"]


def large_member_archive(path: Path) -> bytes:
    """Write three small articles around one of 400 kB of incompressible text; return the gzip bytes."""
    noise = random.Random(1).randbytes(200_000).hex()
    members = [
        ("text/cat/cat-1.txt", article(1)),
        ("text/cat/cat-2.txt", article(2)),
        ("text/cat/cat-3.txt", article(3, noise)),
        ("text/cat/cat-4.txt", article(4)),
    ]
    return write_tarball(path, members).read_bytes()


def test_truncated_gzip_names_member(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    data = large_member_archive(archive)
    archive.write_bytes(data[: int(len(data) * 0.6)])
    records: list[Document | ReaderReject] = []

    with pytest.raises(SourceError) as error:
        records.extend(livedoor.read(SourceConfig(path=archive), raw_dir=tmp_path / "raw"))

    # The message names the member being read or the last complete one.
    assert re.search(r"corrupt .*'text/cat/cat-[23]\.txt'", str(error.value))
    assert kept_ids(records) == ["livedoor/cat-1", "livedoor/cat-2"]


def test_corrupt_gzip_detected(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    data = bytearray(large_member_archive(archive))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    archive.write_bytes(bytes(data))
    records: list[Document | ReaderReject] = []

    with pytest.raises(SourceError, match=r"sources\.livedoor\.path") as error:
        records.extend(livedoor.read(SourceConfig(path=archive), raw_dir=tmp_path / "raw"))

    assert str(archive) in str(error.value)
    assert kept_ids(records)[:2] == ["livedoor/cat-1", "livedoor/cat-2"]


def test_not_a_tarball_named(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"this is not an archive")

    with pytest.raises(SourceError, match="is not a readable tar archive"):
        read_all(archive, tmp_path)


def test_bzip2_tarball_read(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path / "a.tar.bz2", [("text/cat/cat-1.txt", article(1))], mode="w:bz2")

    assert kept_ids(read_all(archive, tmp_path)) == ["livedoor/cat-1"]


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_corpus_keeps_all_and_stays_inside(tmp_path: Path, make_config) -> None:
    archive = tmp_path / "input" / "bad.tar.gz"
    archive.parent.mkdir()
    url_only = b"http://news.livedoor.com/4/\n2020-01-01T00:00:00+0900\nURL only\nhttp://example.com/4\n"
    members = [
        ("text/cat/cat-1.txt", article(1)),
        ("text/cat/cat-2.txt", b"\xff\xfe"),
        ("text/cat/cat-3.txt", b""),
        ("text/cat/cat-4.txt", url_only),
        ("../x.txt", article(5)),
        ("/tmp/pipeline-absolute-member.txt", article(6)),
        ("text/cat/cat-7.txt", article(7, "別の本文です。" + BODY)),
        ("text/cat/cat-8.txt", article(8, random.Random(1).randbytes(200_000).hex())),
    ]
    data = write_tarball(archive, members).read_bytes()
    archive.write_bytes(data[: int(len(data) * 0.8)])  # cut inside the last, large member
    before = files_under(tmp_path)
    config = make_config({"livedoor": {"path": str(archive)}})

    with pytest.raises(SourceError, match=r"corrupt .*'text/cat/cat-[78]\.txt'"):
        corpus.run(config)

    folder = config.clean_dir / "livedoor"
    kept = pq.read_table(folder / "documents-00000.parquet").column("id").to_pylist()
    assert kept == ["livedoor/cat-1", "livedoor/cat-7"]
    rejects = pq.read_table(folder / "rejects" / "rejects-00000.parquet").to_pylist()
    by_member = {dict(row["metadata"])["member"]: (row["filter"], row["reason"]) for row in rejects}
    assert len(rejects) == 5
    assert by_member["text/cat/cat-2.txt"][0] == "read"
    assert by_member["text/cat/cat-3.txt"] == ("read", "member text/cat/cat-3.txt is empty")
    assert by_member["text/cat/cat-4.txt"] == ("reject_empty", "document has no body text after cleaning")
    assert by_member["../x.txt"][0] == "read"
    assert by_member["/tmp/pipeline-absolute-member.txt"][0] == "read"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert re.search(r"corrupt .*'text/cat/cat-[78]\.txt'", manifest["error"])
    assert manifest["counts"]["documents_in"] == 7
    assert files_under(tmp_path) - before == files_under(config.corpora_dir)
    assert not Path("/tmp/pipeline-absolute-member.txt").exists()
