from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from pipeline.config import Config
from pipeline.document import Document
from pipeline.parquet import documents_to_table
from pipeline.shards.encoded import DocumentColumns
from pipeline.shards.masks import GlobalMasker, heading_token_range
from pipeline.tokenizer import TOKENIZER_FILE

DOCUMENT = Document.from_blocks(
    id="t/1",
    source="t",
    title="Rivers",
    blocks=[
        ("Rivers", 1),
        ("Water flows downhill. It reaches the sea!", 0),
        ("Course", 2),
        ("川は海へ流れます。最後", 0),
    ],
)


@pytest.fixture(scope="module")
def tokenizer(shared_run: Config) -> Tokenizer:
    return Tokenizer.from_file(str(shared_run.tokenizer_dir / TOKENIZER_FILE))


def global_texts(tokenizer: Tokenizer, policies: list[str]) -> list[str]:
    """Return the decoded text of each global token of DOCUMENT under the given policies."""
    masker = GlobalMasker.for_tokenizer(tokenizer, policies)
    encodings = tokenizer.encode_batch([DOCUMENT.text], add_special_tokens=False)
    tokens = np.array(encodings[0].ids, dtype=np.uint16)
    lengths = np.array([len(tokens)])
    mask = masker.content_mask(DocumentColumns.from_documents([DOCUMENT]), encodings, tokens, lengths)
    offsets = encodings[0].offsets
    return [DOCUMENT.text[offsets[i][0] : offsets[i][1]] for i in np.flatnonzero(mask)]


def test_headings_policy(tokenizer: Tokenizer) -> None:
    text = "".join(global_texts(tokenizer, ["headings"]))

    assert text == "RiversCourse"


def test_title_policy(tokenizer: Tokenizer) -> None:
    text = "".join(global_texts(tokenizer, ["title"]))

    assert text == "Rivers"


def test_sentence_end_policy(tokenizer: Tokenizer) -> None:
    texts = global_texts(tokenizer, ["sentence_end"])

    assert texts
    assert all(text.rstrip()[-1] in ".!。" for text in texts)
    assert sum(text.rstrip().endswith(".") for text in texts) == 1
    assert sum(text.rstrip().endswith("!") for text in texts) == 1
    assert sum(text.rstrip().endswith("。") for text in texts) == 1


def test_no_content_policy(tokenizer: Tokenizer) -> None:
    assert global_texts(tokenizer, ["cls", "sep"]) == []


def test_unknown_policy(tokenizer: Tokenizer) -> None:
    with pytest.raises(ValueError, match="supported policies: cls, headings"):
        GlobalMasker.for_tokenizer(tokenizer, ["everything"])


def test_heading_range_matches_offsets(tokenizer: Tokenizer) -> None:
    encoding = tokenizer.encode(DOCUMENT.text, add_special_tokens=False)

    for heading in DOCUMENT.headings:
        first, stop = heading_token_range(encoding, heading.start, heading.end) or (0, 0)
        overlapping = [
            index for index, (start, end) in enumerate(encoding.offsets) if end > heading.start and start < heading.end
        ]
        assert list(range(first, stop)) == overlapping


def test_heading_range_of_empty_span(tokenizer: Tokenizer) -> None:
    encoding = tokenizer.encode(DOCUMENT.text, add_special_tokens=False)

    assert heading_token_range(encoding, 3, 3) is None


def test_columns_of_sliced_batch() -> None:
    documents = [
        Document.from_blocks(id=f"t/{index}", source="t", title="T" * (index + 1), blocks=[("T" * (index + 1), 1)])
        for index in range(4)
    ]
    batch = documents_to_table(documents).to_batches()[0].slice(2)

    columns = DocumentColumns.from_record_batch(batch)

    assert columns.ids == ["t/2", "t/3"]
    assert columns.heading_offsets.tolist() == [0, 1, 2]
    assert columns.heading_starts.tolist() == [0, 0]
    assert columns.heading_ends.tolist() == [3, 4]
    assert columns.heading_levels.tolist() == [1, 1]
