"""Old addresses name units every which way; each way reduces to the official name's key."""

from __future__ import annotations

import pytest

from app.vn_names import Level, core, parse


@pytest.mark.parametrize(
    ("written", "level", "official"),
    [
        ("TP. Hồ Chí Minh", Level.PROVINCE, "Thành phố Hồ Chí Minh"),
        ("T. Long An", Level.PROVINCE, "Tỉnh Long An"),
        ("long an", Level.PROVINCE, "Tỉnh Long An"),
        ("Q.1", Level.DISTRICT, "Quận 1"),
        ("quan 01", Level.DISTRICT, "Quận 1"),
        ("H. Côn Đảo", Level.DISTRICT, "Huyện Côn Đảo"),
        ("TX. Mộc Châu", Level.DISTRICT, "Thị xã Mộc Châu"),
        ("tp thu duc", Level.DISTRICT, "Thành phố Thủ Đức"),
        ("P. Bến Nghé", Level.WARD, "Phường Bến Nghé"),
        ("p.4", Level.WARD, "Phường 4"),
        ("Phường 04", Level.WARD, "Phường 4"),
        ("X. Mỹ Hưng", Level.WARD, "Xã Mỹ Hưng"),
        ("TT. Lai Uyên", Level.WARD, "Thị trấn Lai Uyên"),
        ("thi tran lai uyen", Level.WARD, "Thị trấn Lai Uyên"),
        ("Đặc khu Côn Đảo", Level.WARD, "Côn Đảo"),
        ("P4", Level.WARD, "Phường 4"),
        ("Q10", Level.DISTRICT, "Quận 10"),
        ("TP.HCM", Level.PROVINCE, "HCM"),
    ],
)
def test_a_written_name_and_the_official_one_have_the_same_core(
    written: str, level: Level, official: str
) -> None:
    assert core(written, level) == core(official, level)


def test_the_core_keeps_what_identifies_the_unit() -> None:
    assert core("Thành phố Hồ Chí Minh", Level.PROVINCE) == "ho chi minh"
    assert core("Phường Bến Nghé", Level.WARD) == "ben nghe"
    # A type word of another level is part of the name: "Xã" is not a district type.
    assert core("Xã Tân Phú", Level.DISTRICT) == "xa tan phu"
    # `thi xa` is one district type word, not `thi` then a commune's `xa`.
    assert core("Thị xã Sơn Tây", Level.DISTRICT) == "son tay"
    # A name that is only a type word stays whole.
    assert core("Phường", Level.WARD) == "phuong"


def test_parse_keeps_the_accents_the_type_and_the_whole_name() -> None:
    name = parse("Xã Hoằng Phụ", Level.WARD)
    assert (name.core, name.accented, name.type) == ("hoang phu", "hoằng phụ", "xa")
    # A name that begins with what reads as a type word keeps it in `whole`.
    assert parse("quan ba", Level.DISTRICT).whole == "quan ba"
    assert parse("Phường 04", Level.WARD).whole == "phuong 4"
    # `¹` is a digit to str.isdigit but not to int(): it stays a word.
    assert parse("¹", Level.WARD).core == "1"  # NFKD folds it to 1
    assert parse("x ¹", Level.WARD).accented == "¹"
