"""Vietnamese unit names as people write them, reduced to what identifies the unit.

An address names its province, district and ward with or without the unit's type, in full
or abbreviated, with or without accents: `TP. Hồ Chí Minh`, `Q.1`, `P. Bến Nghé`,
`phuong ben nghe`, `Huyện Côn Đảo`. `core(name, level)` folds case, accents and punctuation
away (app.reference.fold) and drops a leading type word of that level, so that each of those
and the official name reduce to the same key: `ho chi minh`, `1`, `ben nghe`. A number keeps
no leading zeros (`Phường 04` is `4`).
"""

from __future__ import annotations

from enum import StrEnum

from app.reference import fold


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    WARD = "ward"


# Type words per level, folded, longest first (so `thi xa` wins over `xa`). The short
# forms are the usual abbreviations: TP., T., Q., H., TX., P., X., TT.
_TYPE_WORDS: dict[Level, tuple[str, ...]] = {
    Level.PROVINCE: ("thanh pho", "tinh", "tp", "t"),
    Level.DISTRICT: ("thanh pho", "thi xa", "quan", "huyen", "tp", "tx", "q", "h"),
    Level.WARD: ("thi tran", "phuong", "dac khu", "xa", "tt", "p", "x"),
}


def core(name: str, level: Level) -> str:
    """The part of `name` that identifies a unit of `level` (see the module docstring)."""
    folded = fold(name)
    for word in _TYPE_WORDS[level]:
        if folded.startswith(word + " "):
            rest = folded[len(word) + 1 :]
            if rest:
                folded = rest
            break
    if folded.isdigit():
        return str(int(folded))
    return folded
