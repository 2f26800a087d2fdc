from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import pytest

from pipeline.config import ShardsConfig
from pipeline.fingerprint import DigestCache, FileDigest, Fingerprint, make_fingerprint, to_plain


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_digest_is_canonical_json_hash(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes(b"some input")

    fingerprint = make_fingerprint(config={"shards": {"max_len": 64}}, inputs={"input.txt": data}, packages=["pyarrow"])

    parts = {
        "config": {"shards": {"max_len": 64}},
        "inputs": {"input.txt": {"bytes": 10, "sha256": sha256(b"some input")}},
        "packages": {"pyarrow": importlib.metadata.version("pyarrow")},
    }
    expected = sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode())
    assert fingerprint.digest == expected


def test_dataclass_equals_mapping() -> None:
    section = ShardsConfig(max_len=64)
    as_mapping = dict(reversed(dataclasses.asdict(section).items()))

    from_dataclass = make_fingerprint(config={"shards": section}, packages=[])
    from_mapping = make_fingerprint(config={"shards": as_mapping}, packages=[])

    assert from_dataclass.digest == from_mapping.digest


def test_content_not_mtime_counts(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes(b"abc")
    first = make_fingerprint(config={}, inputs=[data], packages=[])

    os.utime(data, ns=(1, 1))
    touched = make_fingerprint(config={}, inputs=[data], packages=[])
    data.write_bytes(b"abd")
    edited = make_fingerprint(config={}, inputs=[data], packages=[])

    assert touched.digest == first.digest
    assert edited.digest != first.digest


def test_differences_name_config_key() -> None:
    before = Fingerprint(config={"shards": {"max_len": 128, "global_mask": ["cls"]}})
    after = Fingerprint(config={"shards": {"max_len": 64, "global_mask": ["cls"], "layout": "packed"}})

    assert before.differences(after) == [
        'config key shards.layout changed from (not set) to "packed"',
        "config key shards.max_len changed from 128 to 64",
    ]


def test_differences_name_input_file() -> None:
    old = FileDigest(bytes=3, sha256="a" * 64)
    new = FileDigest(bytes=4, sha256="b" * 64)
    before = Fingerprint(inputs={"kept.txt": old, "changed.txt": old, "gone.txt": old})
    after = Fingerprint(inputs={"kept.txt": old, "changed.txt": new, "added.txt": new})

    assert before.differences(after) == [
        "input file added.txt was added",
        "input file changed.txt changed (3 bytes, SHA-256 aaaaaaaaaaaa... became 4 bytes, SHA-256 bbbbbbbbbbbb...)",
        "input file gone.txt was removed",
    ]


def test_differences_name_package() -> None:
    before = Fingerprint(packages={"tokenizers": "0.21.0", "numpy": "2.0.0"})
    after = Fingerprint(packages={"tokenizers": "0.22.1", "numpy": "2.0.0"})

    assert before.differences(after) == ["package tokenizers changed from 0.21.0 to 0.22.1"]


def test_json_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes("データ".encode())
    fingerprint = make_fingerprint(config={"clean": {"filters": ["nfkc"]}}, inputs=[data])

    restored = Fingerprint.from_json(json.loads(json.dumps(fingerprint.to_json())))

    assert restored.digest == fingerprint.digest
    assert restored.differences(fingerprint) == []


def test_malformed_record_rejected() -> None:
    with pytest.raises(ValueError, match="malformed fingerprint record"):
        Fingerprint.from_json({"config": {}, "inputs": {"x": {"bytes": 1}}, "packages": {}})


def test_missing_input_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"input file .*missing\.tar\.gz not found"):
        make_fingerprint(config={}, inputs=[tmp_path / "missing.tar.gz"])


def test_unknown_package_recorded() -> None:
    fingerprint = make_fingerprint(config={}, packages=["no-such-package-for-fingerprints"])

    assert fingerprint.packages == {"no-such-package-for-fingerprints": "not installed"}


def test_unsupported_value_rejected() -> None:
    with pytest.raises(TypeError, match="cannot put a object into a fingerprint"):
        to_plain({"key": object()})


def test_cache_skips_unchanged_file(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes(b"first")
    cache_file = tmp_path / "digests.json"
    cache = DigestCache(cache_file)
    assert cache.digest(data).sha256 == sha256(b"first")
    cache.save()
    status = data.stat()

    # Same size and modification time: the cached digest is trusted, as documented.
    data.write_bytes(b"other")
    os.utime(data, ns=(status.st_atime_ns, status.st_mtime_ns))
    trusted = DigestCache(cache_file).digest(data)
    # A new modification time makes the cache hash the file again.
    os.utime(data, ns=(status.st_atime_ns, status.st_mtime_ns + 1))
    rehashed = DigestCache(cache_file).digest(data)

    assert trusted.sha256 == sha256(b"first")
    assert rehashed.sha256 == sha256(b"other")


def test_unreadable_cache_ignored(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_bytes(b"first")
    cache_file = tmp_path / "digests.json"
    cache_file.write_text("{not json")

    assert DigestCache(cache_file).digest(data).sha256 == sha256(b"first")
