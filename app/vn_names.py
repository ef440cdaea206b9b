"""Vietnamese unit names as people write them, reduced to what identifies the unit.

An address names its province, district and ward with or without the unit's type, in full
or abbreviated, with or without accents: `TP. Hồ Chí Minh`, `Q.1`, `P. Bến Nghé`, `P4`,
`phuong ben nghe`, `Huyện Côn Đảo`. `core(name, level)` folds case, accents and punctuation
away (app.kit.text.fold) and drops a leading type word of that level, so that each of those
and the official name reduce to the same key: `ho chi minh`, `1`, `ben nghe`. A number keeps
no leading zeros (`Phường 04` is `4`).

Accents are dropped for matching, yet they tell apart names that differ only by them (Xã
Hoằng Phú and Xã Hoằng Phụ are in one district): `parse` also keeps the core with its
accents, and the type word that was written (Thị trấn Yên Viên and Xã Yên Viên are too).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from app.kit.text import fold


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    WARD = "ward"


# Type words per level, folded, longest first (so `thi xa` wins over `xa`), each with the
# type it names. The short forms are the usual abbreviations: TP., T., Q., H., TX., P., X., TT.
_TYPE_WORDS: dict[Level, tuple[tuple[str, str], ...]] = {
    Level.PROVINCE: (
        ("thanh pho", "thanh pho"),
        ("tinh", "tinh"),
        ("tp", "thanh pho"),
        ("t", "tinh"),
    ),
    Level.DISTRICT: (
        ("thanh pho", "thanh pho"),
        ("thi xa", "thi xa"),
        ("quan", "quan"),
        ("huyen", "huyen"),
        ("tp", "thanh pho"),
        ("tx", "thi xa"),
        ("q", "quan"),
        ("h", "huyen"),
    ),
    Level.WARD: (
        ("thi tran", "thi tran"),
        ("phuong", "phuong"),
        ("dac khu", "dac khu"),
        ("xa", "xa"),
        ("tt", "thi tran"),
        ("p", "phuong"),
        ("x", "xa"),
    ),
}
# An abbreviation written against a number: `P4`, `Q10`, `p.04` folds to `p 04` already.
_GLUED_NUMBER = re.compile(r"^([a-z]{1,2})([0-9]+)$")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Name:
    core: str  # folded, without its type word: `hoang phu`
    accented: str  # the same words with their accents: `hoằng phú`
    type: str | None  # the type the written word names, folded (`thi tran`); None if none
    # Folded, type word and all: for a name that begins with what reads as one (Huyện Quản
    # Bạ written `quan ba`, Phường Phương Lâm written `phuong lam`).
    whole: str = ""


def _number(word: str) -> str:
    """`04` → `4`; any other word (`¹` is a digit to str.isdigit, not to int) as it is."""
    return str(int(word)) if word.isascii() and word.isdigit() else word


def _accented(name: str) -> list[str]:
    return [
        _number(w)
        for w in _NOT_WORD.sub(" ", unicodedata.normalize("NFC", name).casefold()).split()
    ]


def parse(name: str, level: Level) -> Name:
    """The written name's core, accented core and type word (see the module docstring)."""
    words = fold(name).split()
    whole = " ".join(_number(word) for word in words)
    accented = _accented(name)
    glued = _GLUED_NUMBER.match(words[0]) if len(words) == 1 else None
    if glued and glued[1] in dict(_TYPE_WORDS[level]):
        words, accented = [glued[1], glued[2]], [glued[1], glued[2]]
    written_type = None
    for word, named in _TYPE_WORDS[level]:
        count = word.count(" ") + 1
        if len(words) > count and words[:count] == word.split():
            words, written_type = words[count:], named
            if len(accented) > count:
                accented = accented[count:]
            break
    words = [_number(word) for word in words]
    return Name(" ".join(words), " ".join(accented), written_type, whole)


def core(name: str, level: Level) -> str:
    """The part of `name` that identifies a unit of `level` (see the module docstring)."""
    return parse(name, level).core


def type_of(division_type: str) -> str:
    """A record's division type as `Name.type` names it: `thành phố trung ương` → `thanh pho`."""
    folded = fold(division_type)
    return "thanh pho" if folded.startswith("thanh pho") else folded
