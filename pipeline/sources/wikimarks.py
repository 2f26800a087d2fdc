"""Marks shared by the steps of the wikitext conversion in :mod:`pipeline.sources.wikimarkup`.

The marks are Unicode noncharacters (U+FDD0 to U+FDEF), which never belong to real text, and
the conversion deletes any that a page contains before it starts.
"""

from __future__ import annotations

import re

REMOVED = "\ufdef"
"""Mark left where markup was removed, so that brackets it emptied can be found later."""

# Characters shielded inside <nowiki> and <pre> are swapped for noncharacters until the end.
SHIELDED = "[]{}|=<>'*#:;!-_~"
SHIELD = str.maketrans({char: chr(0xFDD0 + index) for index, char in enumerate(SHIELDED)})
UNSHIELD = str.maketrans({chr(0xFDD0 + index): char for index, char in enumerate(SHIELDED)})
NONCHARACTERS = str.maketrans(dict.fromkeys(range(0xFDD0, 0xFDF0)))
NONCHARACTER = re.compile("[\ufdd0-\ufdef]")
SHIELDED_PIPE = "|".translate(SHIELD)
SHIELDED_EQUALS = "=".translate(SHIELD)
