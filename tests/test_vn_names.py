"""Old addresses name units every which way; each way reduces to the official name's key."""

from __future__ import annotations

import pytest

from app.vn_names import Level, core, parse


@pytest.mark.parametrize(
    ("written", "level", "official", "expected"),
    [
        ("TP. Hồ Chí Minh", Level.PROVINCE, "Thành phố Hồ Chí Minh", "ho chi minh"),
        ("T. Long An", Level.PROVINCE, "Tỉnh Long An", "long an"),
        ("long an", Level.PROVINCE, "Tỉnh Long An", "long an"),
        ("Q.1", Level.DISTRICT, "Quận 1", "1"),
        ("quan 01", Level.DISTRICT, "Quận 1", "1"),
        ("H. Côn Đảo", Level.DISTRICT, "Huyện Côn Đảo", "con dao"),
        ("TX. Mộc Châu", Level.DISTRICT, "Thị xã Mộc Châu", "moc chau"),
        ("tp thu duc", Level.DISTRICT, "Thành phố Thủ Đức", "thu duc"),
        ("P. Bến Nghé", Level.WARD, "Phường Bến Nghé", "ben nghe"),
        ("p.4", Level.WARD, "Phường 4", "4"),
        ("Phường 04", Level.WARD, "Phường 4", "4"),
        ("X. Mỹ Hưng", Level.WARD, "Xã Mỹ Hưng", "my hung"),
        ("TT. Lai Uyên", Level.WARD, "Thị trấn Lai Uyên", "lai uyen"),
        ("thi tran lai uyen", Level.WARD, "Thị trấn Lai Uyên", "lai uyen"),
        ("Đặc khu Côn Đảo", Level.WARD, "Côn Đảo", "con dao"),
        ("P4", Level.WARD, "Phường 4", "4"),
        ("Q10", Level.DISTRICT, "Quận 10", "10"),
    ],
)
def test_a_written_name_and_the_official_one_have_the_same_core(
    written: str, level: Level, official: str, expected: str
) -> None:
    assert core(written, level) == expected
    assert core(official, level) == expected


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
    # `TP.HCM` is the city's usual short form: its core is what app/conversion.py aliases.
    assert core("TP.HCM", Level.PROVINCE) == core("hcm", Level.PROVINCE) == "hcm"
