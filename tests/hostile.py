"""Builders of broken and hostile inputs, written into a test's own temporary folder.

Every builder writes only under the path it is given and returns the path it wrote. The
tests in ``test_hostile_inputs.py`` pair each input with its expected outcome; the builders
for XML dumps serve the Japanese Wikipedia reader's tests.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import random
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

LONE_SURROGATE_UTF8 = b"\xed\xa0\x80"
"""U+D800 encoded as if it were a character (CESU-8 style): invalid in UTF-8."""

EMOJI_ONLY = "😀🎉🍣🗾👍🏽👨‍👩‍👧\n🌸🌸🌸"
COMBINING_ONLY = "\u0301\u0308\u0323\u3099\u309a\u0301\u0301"


def article(title: str = "タイトル", body: str = "本文です。", *, url: str = "http://example.com/a") -> bytes:
    """Return a Livedoor article file: URL, date, title and body lines, UTF-8."""
    return f"{url}\n2020-01-01T00:00:00+0900\n{title}\n{body}\n".encode()


@dataclass(frozen=True)
class Member:
    """One tar member to write.

    Args:
        name: Member name, written as given (``../x`` and ``/etc/x`` included).
        data: File content, for regular files.
        kind: ``file``, ``symlink``, ``hardlink`` or ``fifo``. Default: ``file``.
        target: Link target, for links.
    """

    name: str
    data: bytes = b""
    kind: str = "file"
    target: str = ""


_KINDS = {"file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}


def tar_bytes(members: Iterable[Member]) -> bytes:
    """Return an uncompressed tar archive holding ``members``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = _KINDS[member.kind]
            info.linkname = member.target
            info.mtime = 1_577_836_800
            if member.kind == "file":
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def write_tar(path: Path, members: Iterable[Member], *, compression: str = "gz") -> Path:
    """Write a tar archive compressed with ``gz``, ``bz2`` or ``none``."""
    raw = tar_bytes(members)
    if compression == "gz":
        raw = gzip.compress(raw, compresslevel=6, mtime=0)
    elif compression == "bz2":
        # Level 1 uses 100 kB blocks, so a cut-short file still holds some whole blocks.
        raw = bz2.compress(raw, compresslevel=1)
    elif compression != "none":
        raise ValueError(f"unsupported compression {compression!r}; supported: gz, bz2, none")
    path.write_bytes(raw)
    return path


def articles(count: int, *, category: str = "cat", start: int = 1) -> list[Member]:
    """Return ``count`` valid article members ``text/<category>/<category>-<n>.txt``."""
    return [
        Member(f"text/{category}/{category}-{n}.txt", article(f"記事{n}", _kanji(n)))
        for n in range(start, start + count)
    ]


def _kanji(seed: int, length: int = 300) -> str:
    """Return ``length`` CJK ideographs drawn by a generator seeded with ``seed``, so that bodies compress poorly."""
    generator = random.Random(seed)
    return "".join(chr(0x4E00 + generator.randrange(20000)) for _ in range(length))


def cut_short(path: Path, *, keep: int) -> Path:
    """Truncate ``path`` in place to its first ``keep`` bytes (negative: drop that many from the end)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return path


def flip_byte(path: Path, *, offset: int) -> Path:
    """Invert one byte of ``path`` in place (negative offsets count from the end)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def invalid_utf8() -> bytes:
    return "前の行\n".encode() + b"\xff\xfe\x80 broken\n" + "後の行\n".encode()


def utf16_with_bom(text: str) -> bytes:
    """Encode ``text`` as UTF-16 little-endian with its byte order mark, as Windows tools write it."""
    return text.encode("utf-16")


def single_line(size: int, *, unit: str = "あいうえお。") -> str:
    """Return one line of about ``size`` UTF-8 bytes without a line break."""
    encoded = len(unit.encode())
    return unit * (size // encoded)


def string_parquet_with_invalid_utf8(path: Path, values: list[bytes], *, column: str = "text") -> Path:
    """Write a Parquet file whose string column contains ``values`` unvalidated, invalid UTF-8 included.

    ``pyarrow`` rejects invalid UTF-8 when it builds a string array from Python objects, so the
    array is built as binary and reinterpreted as string without validation.
    """
    array = pa.array(values, pa.binary()).view(pa.string())
    pq.write_table(pa.table({column: array}), path)
    return path


def binary_parquet(path: Path, values: list[bytes], *, column: str = "text") -> Path:
    """Write a Parquet file whose ``column`` is binary instead of string."""
    pq.write_table(pa.table({column: pa.array(values, pa.binary())}), path)
    return path


def billion_laughs_xml(path: Path, *, levels: int = 10) -> Path:
    """Write a MediaWiki-like XML file whose one entity expands to 10**levels copies of a word."""
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels)]
    body = f"<!DOCTYPE mediawiki [\n{chr(10).join(entities)}\n]>\n"
    page = f"<page><title>爆弾</title><ns>0</ns><id>1</id><revision><text>&lol{levels - 1};</text></revision></page>"
    path.write_text(f'<?xml version="1.0"?>\n{body}<mediawiki>{page}</mediawiki>\n', encoding="utf-8")
    return path


def external_entity_xml(path: Path, *, target: Path) -> Path:
    """Write an XML file whose page text is an external entity pointing at ``target``."""
    doctype = f'<!DOCTYPE mediawiki [<!ENTITY leak SYSTEM "file://{target}">]>\n'
    page = "<page><title>外部</title><ns>0</ns><id>2</id><revision><text>&leak;</text></revision></page>"
    path.write_text(f'<?xml version="1.0"?>\n{doctype}<mediawiki>{page}</mediawiki>\n', encoding="utf-8")
    return path


def snapshot(root: Path, *, skip: Iterable[Path] = ()) -> dict[str, str]:
    """Return ``{relative path: SHA-256}`` of every file under ``root``, plus ``{folder/: ""}`` for folders.

    Paths inside ``skip`` (folders the code under test may write) are left out.
    """
    skipped = [folder.resolve() for folder in skip]
    tree = {}
    for path in sorted(root.rglob("*")):
        resolved = path.resolve()
        if any(resolved == folder or folder in resolved.parents for folder in skipped):
            continue
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            tree[relative] = "special"
        elif path.is_dir():
            tree[relative + "/"] = ""
        else:
            tree[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree
