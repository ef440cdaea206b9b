"""Text as this service compares and tags it: `fold` for search and name matching, `etag_of`
for strong validators."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")
# The Unicode blocks of combining marks (accents, tones, hooks), left over by NFKD.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Vietnamese đ/Đ is a letter of its own, not d plus a mark, so NFKD leaves it alone.
_LETTERS_WITHOUT_DECOMPOSITION = str.maketrans({"đ": "d", "Đ": "d", "ø": "o", "Ø": "o"})


def fold(text: str) -> str:
    """Case-, accent- and punctuation-free: `Thành phố Hồ Chí Minh` → `thanh pho ho chi minh`."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS_WITHOUT_DECOMPOSITION))
    return _NOT_WORD.sub(" ", _MARKS.sub("", decomposed).casefold()).strip()


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes always give the same tag."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
