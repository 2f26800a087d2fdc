"""Broken and hostile inputs for the Livedoor and WikiText readers, each with its expected outcome.

Every test runs from an empty working directory inside ``tmp_path`` and checks that the
reader wrote nothing anywhere under it.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.filters import build_filters
from pipeline.sources import ReaderReject, SourceError, livedoor, wikitext
from tests import hostile
from tests.hostile import Member

pytestmark = pytest.mark.timeout(60)

Records = list[Document | ReaderReject]


@pytest.fixture(autouse=True)
def empty_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@contextmanager
def nothing_written(tmp_path: Path) -> Iterator[None]:
    """Check that the block changes no file or folder beside or under ``tmp_path``."""
    root = tmp_path.parent
    before = hostile.snapshot(root)
    yield
    assert hostile.snapshot(root) == before


def source(path: Path, **limits: Any) -> SourceConfig:
    return SourceConfig(path=path, **limits)


def read_livedoor(path: Path, **limits: int) -> Records:
    return list(livedoor.read(source(path, **limits), raw_dir=path.parent / "raw"))


def read_livedoor_until_error(path: Path, **limits: int) -> tuple[Records, SourceError]:
    records: Records = []
    with pytest.raises(SourceError) as error:
        for record in livedoor.read(source(path, **limits), raw_dir=path.parent / "raw"):
            records.append(record)
    return records, error.value


def member_of(record: Document | ReaderReject) -> str:
    document = record.document if isinstance(record, ReaderReject) else record
    return document.metadata["member"]


def rejects(records: Records) -> list[ReaderReject]:
    return [record for record in records if isinstance(record, ReaderReject)]


def documents(records: Records) -> list[Document]:
    return [record for record in records if isinstance(record, Document)]


# Archives: member names and member kinds.


@pytest.mark.parametrize("name", ["../../evil/evil-1.txt", "/etc/evil/evil-2.txt"])
def test_member_name_never_written(tmp_path: Path, name: str) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", [Member(name, hostile.article()), *hostile.articles(1)])
    with nothing_written(tmp_path):
        records = read_livedoor(archive)

    assert not (tmp_path.parent / "evil").exists()
    assert not Path("/etc/evil").exists()
    assert [member_of(record) for record in records] == [name, "text/cat/cat-1.txt"]


@pytest.mark.parametrize("name", ["../../evil/evil-1.txt", "/etc/evil/evil-2.txt"])
def test_member_name_outside_rejected(tmp_path: Path, name: str) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", [Member(name, hostile.article())])

    (record,) = read_livedoor(archive)

    assert isinstance(record, ReaderReject)
    assert name in record.reason


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (Member("text/cat/cat-9.txt", kind="symlink", target="/etc/passwd"), "symbolic link to '/etc/passwd'"),
        (Member("text/cat/cat-9.txt", kind="hardlink", target="text/cat/cat-1.txt"), "hard link to"),
        (Member("text/cat/cat-9.txt", kind="fifo"), "device or FIFO"),
    ],
    ids=["symlink", "hardlink", "fifo"],
)
def test_link_member_rejected(tmp_path: Path, member: Member, expected: str) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", [*hostile.articles(1), member, *hostile.articles(1, start=2)])
    with nothing_written(tmp_path):
        records = read_livedoor(archive)

    (reject,) = rejects(records)
    assert "text/cat/cat-9.txt" in reject.reason
    assert expected in reject.reason
    assert reject.document.text == ""
    assert [document.title for document in documents(records)] == ["記事1", "記事2"]


def test_folder_symlink_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "ldcc" / "text" / "cat"
    folder.mkdir(parents=True)
    (folder / "cat-1.txt").write_bytes(hostile.article())
    secret = tmp_path / "secret.txt"
    secret.write_bytes(hostile.article("秘密"))
    (folder / "cat-2.txt").symlink_to(secret)
    os.mkfifo(folder / "cat-3.txt")
    with nothing_written(tmp_path):
        records = read_livedoor(tmp_path / "ldcc")

    reasons = [reject.reason for reject in rejects(records)]
    assert reasons == [
        "file text/cat/cat-2.txt is a symbolic link; links and special files are not followed",
        "file text/cat/cat-3.txt is not a regular file; links and special files are not followed",
    ]
    assert [document.title for document in documents(records)] == ["タイトル"]


# Archives: streams cut short or corrupt.


@pytest.mark.parametrize("compression", ["gz", "bz2"])
@pytest.mark.parametrize("fraction", [0.5, 0.8, 0.97])
def test_cut_stream_names_last_member(tmp_path: Path, compression: str, fraction: float) -> None:
    archive = hostile.write_tar(tmp_path / f"ldcc.tar.{compression}", hostile.articles(200), compression=compression)
    hostile.cut_short(archive, keep=int(archive.stat().st_size * fraction))

    records, error = read_livedoor_until_error(archive)

    message = str(error)
    assert str(archive) in message
    assert "download it again" in message
    assert 0 < len(records) < 200
    assert f"truncated or corrupt after member '{member_of(records[-1])}'" in message


@pytest.mark.parametrize("drop", [1, 4, 8])
def test_cut_gzip_trailer_detected(tmp_path: Path, drop: int) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", hostile.articles(5))
    hostile.cut_short(archive, keep=-drop)

    records, error = read_livedoor_until_error(archive)

    assert "truncated or corrupt after member 'text/cat/cat-5.txt'" in str(error)
    assert len(records) == 5


def test_gzip_checksum_mismatch_detected(tmp_path: Path) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", hostile.articles(5))
    hostile.flip_byte(archive, offset=-8)  # the first byte of the CRC-32 in the gzip trailer

    _, error = read_livedoor_until_error(archive)

    assert "CRC check failed" in str(error)


def test_tar_without_end_marker_detected(tmp_path: Path) -> None:
    raw = hostile.tar_bytes(hostile.articles(3))
    # Drop the zero blocks that end the archive: a cut exactly at a member boundary.
    last_data_end = len(raw.rstrip(b"\0"))
    cut = -(-last_data_end // 512) * 512
    archive = tmp_path / "ldcc.tar"
    archive.write_bytes(raw[:cut])

    records, error = read_livedoor_until_error(archive)

    assert "without its end-of-archive marker" in str(error)
    assert len(records) == 3


def test_appended_data_detected(tmp_path: Path) -> None:
    archive = tmp_path / "ldcc.tar"
    archive.write_bytes(hostile.tar_bytes(hostile.articles(2)) + b"\0" * 20480 + b"garbage" * 5000)

    _, error = read_livedoor_until_error(archive)

    assert "follow the end-of-archive marker" in str(error)


# Archives: decompression bombs.


def test_member_bomb_rejected_unread(tmp_path: Path) -> None:
    limit = 1 << 20
    bomb = Member("text/cat/cat-2.txt", hostile.article(body="0" * (8 << 20)))
    archive = hostile.write_tar(
        tmp_path / "ldcc.tar.gz", [*hostile.articles(1), bomb, *hostile.articles(1, start=3)], compression="gz"
    )
    assert archive.stat().st_size < 64 * 1024

    tracemalloc.start()
    try:
        records = read_livedoor(archive, max_document_bytes=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    (reject,) = rejects(records)
    assert "member text/cat/cat-2.txt is" in reject.reason
    assert "over sources.livedoor.max_document_bytes (1048576)" in reject.reason
    assert [document.title for document in documents(records)] == ["記事1", "記事3"]
    assert peak < limit


def test_archive_bomb_stops_read(tmp_path: Path) -> None:
    members = [*hostile.articles(3), Member("text/cat/filler.bin", b"\0" * (4 << 20)), *hostile.articles(2, start=4)]
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", members)

    records, error = read_livedoor_until_error(archive, max_archive_bytes=1 << 20)

    message = str(error)
    assert "expands past sources.livedoor.max_archive_bytes (1048576 bytes)" in message
    assert "after member 'text/cat/cat-3.txt'" in message
    assert "raise the limit" in message
    assert [document.title for document in documents(records)] == ["記事1", "記事2", "記事3"]


def test_folder_oversized_file_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "ldcc" / "text" / "cat"
    folder.mkdir(parents=True)
    (folder / "cat-1.txt").write_bytes(hostile.article(body="長" * 1000))

    (record,) = read_livedoor(tmp_path / "ldcc", max_document_bytes=100)

    assert isinstance(record, ReaderReject)
    assert "over sources.livedoor.max_document_bytes (100)" in record.reason


# Text content.


def test_invalid_utf8_member_rejected(tmp_path: Path) -> None:
    members = [
        *hostile.articles(1),
        Member("text/cat/cat-2.txt", hostile.invalid_utf8()),
        *hostile.articles(1, start=3),
    ]
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", members)

    records = read_livedoor(archive)

    (reject,) = rejects(records)
    assert "member text/cat/cat-2.txt is not valid UTF-8" in reject.reason
    assert len(documents(records)) == 2


def test_utf16_member_rejected(tmp_path: Path) -> None:
    text = hostile.article().decode()
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", [Member("text/cat/cat-1.txt", hostile.utf16_with_bom(text))])

    (record,) = read_livedoor(archive)

    assert isinstance(record, ReaderReject)
    assert "member text/cat/cat-1.txt is not valid UTF-8" in record.reason


def test_nul_bytes_removed_by_cleaning(tmp_path: Path) -> None:
    archive = hostile.write_tar(
        tmp_path / "ldcc.tar.gz", [Member("text/cat/cat-1.txt", hostile.article("題\0名", "本\0\0文"))]
    )

    (document,) = documents(read_livedoor(archive))
    assert document.text == "題\0名\n本\0\0文"
    for cleaning in build_filters(["remove_invisible"]):
        document = cleaning.apply(document)  # type: ignore[assignment]

    assert document.text == "題名\n本文"
    assert document.title == "題名"


@pytest.mark.parametrize("body", [hostile.EMOJI_ONLY, hostile.COMBINING_ONLY], ids=["emoji", "combining"])
def test_symbol_only_body_kept(tmp_path: Path, body: str) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", [Member("text/cat/cat-1.txt", hostile.article("記号", body))])

    (document,) = documents(read_livedoor(archive))

    assert document.text == "記号\n" + body
    assert document.headings[0].end == len("記号")


def test_single_line_50mb_bounded(tmp_path: Path) -> None:
    size = 50 * 1024**2
    folder = tmp_path / "ldcc" / "text" / "cat"
    folder.mkdir(parents=True)
    line = hostile.single_line(size)
    (folder / "cat-1.txt").write_bytes(hostile.article("長文", line))
    del line

    tracemalloc.start()
    try:
        (document,) = documents(read_livedoor(tmp_path / "ldcc"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(document.text.encode()) > size - 100
    assert document.text.count("\n") == 1
    # Raw bytes, their decoded string and the joined document text: a few copies, never more.
    assert peak < 6 * size


# WikiText raw files.


def read_wikitext(path: Path) -> list[Document]:
    records = list(wikitext.read(SourceConfig(path=path), raw_dir=path.parent / "raw"))
    return [record for record in records if isinstance(record, Document)]


def test_wikitext_invalid_utf8_names_line(tmp_path: Path) -> None:
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(" = 題 = \n".encode() + hostile.invalid_utf8())
    with nothing_written(tmp_path), pytest.raises(SourceError) as error:
        read_wikitext(raw)

    assert f"{raw} is not valid UTF-8 at line 3" in str(error.value)
    assert "re-download" in str(error.value)


def test_wikitext_utf16_named(tmp_path: Path) -> None:
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(hostile.utf16_with_bom(" = Title = \n Body . \n"))

    with pytest.raises(SourceError, match=r"is UTF-16 .*iconv -f UTF-16 -t UTF-8"):
        read_wikitext(raw)


def test_wikitext_utf8_bom_kept_title(tmp_path: Path) -> None:
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(b"\xef\xbb\xbf = Title = \n Body text . \n")

    (document,) = read_wikitext(raw)

    assert document.title == "Title"


def test_wikitext_nul_bytes_kept(tmp_path: Path) -> None:
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(b" = Title = \n Bo\0dy . \n")

    (document,) = read_wikitext(raw)

    assert document.text == "Title\nBo\0dy ."


def test_wikitext_single_line_50mb(tmp_path: Path) -> None:
    size = 50 * 1024**2
    raw = tmp_path / "wiki.test.raw"
    raw.write_text(" = Long = \n " + hostile.single_line(size, unit="word ") + "\n", encoding="utf-8")

    tracemalloc.start()
    try:
        (document,) = read_wikitext(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(document.text) > size - 100
    assert peak < 6 * size


def test_wikitext_fifo_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "wikitext"
    folder.mkdir()
    os.mkfifo(folder / "wiki.test.raw")

    with pytest.raises(SourceError, match=r"wiki\.test\.raw is not a regular file"):
        read_wikitext(folder)


# WikiText in the Hugging Face Parquet layout.


def test_parquet_lone_surrogate_names_row(tmp_path: Path) -> None:
    values = [b" = Title = ", b" Fine line . ", b" Bad " + hostile.LONE_SURROGATE_UTF8 + b" line . "]
    parquet = hostile.string_parquet_with_invalid_utf8(tmp_path / "test-00000-of-00001.parquet", values)
    with nothing_written(tmp_path), pytest.raises(SourceError) as error:
        read_wikitext(parquet)

    assert f"{parquet} has invalid UTF-8 in column 'text' at row 2" in str(error.value)


def test_parquet_binary_column_named(tmp_path: Path) -> None:
    parquet = hostile.binary_parquet(tmp_path / "test-00000-of-00001.parquet", [b" = Title = "])

    with pytest.raises(SourceError, match="'text' column of type binary, expected string"):
        read_wikitext(parquet)
