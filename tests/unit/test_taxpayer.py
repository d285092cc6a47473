"""Taxpayer ids: the unified social credit code check character (GB 32100-2015) and older ids."""

from __future__ import annotations

import pytest

from fapiao_server.domain.taxpayer import USCC_ALPHABET, check_tax_id, uscc_check_character

REAL_CODES = ("9144030071526726XG", "914403001922038216", "91330100716105852F", "91110108551385082Q")


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert check_tax_id(code) == code
    assert uscc_check_character(code[:17]) == code[17]


def test_check_character_formula() -> None:
    # alphabet[(31 - sum mod 31) mod 31]: a body whose weighted sum is 0 mod 31 has check character "0".
    assert uscc_check_character("0" * 17) == "0"
    # "1" at position 1 (weight 1) -> 31 - 1 = 30 -> "Y"; at position 2 (weight 3) -> 28 -> "W".
    assert uscc_check_character("1" + "0" * 16) == "Y"
    assert uscc_check_character("01" + "0" * 15) == "W"


def test_alphabet_leaves_out_i_o_s_v_z() -> None:
    assert len(USCC_ALPHABET) == 31
    assert not set("IOSVZ") & set(USCC_ALPHABET)
    assert set(USCC_ALPHABET) | set("IOSVZ") == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_single_substitution_is_rejected(code: str) -> None:
    accepted = []
    for position, original in enumerate(code):
        for replacement in USCC_ALPHABET:
            if replacement == original:
                continue
            changed = code[:position] + replacement + code[position + 1 :]
            try:
                check_tax_id(changed)
            except ValueError:
                continue
            accepted.append(changed)
    assert accepted == []


@pytest.mark.parametrize("letter", list("IOSVZ"))
@pytest.mark.parametrize("position", [0, 8, 17])
def test_letters_outside_the_alphabet_are_rejected(letter: str, position: int) -> None:
    code = REAL_CODES[0]
    changed = code[:position] + letter + code[position + 1 :]
    with pytest.raises(ValueError, match=f"not allowed.*{letter}"):
        check_tax_id(changed)


def test_lower_case_is_accepted_and_upper_cased() -> None:
    assert check_tax_id("9144030071526726xg") == "9144030071526726XG"
    assert check_tax_id("91330100716105852f") == "91330100716105852F"


@pytest.mark.parametrize(
    "tax_id", ["440300715267264", "110108I0O0S0V0Z", "44030119650101123X00", "ABCDEFGHIJKLMNOPQRST"]
)
def test_older_ids_are_checked_for_their_alphabet_only(tax_id: str) -> None:
    assert check_tax_id(tax_id) == tax_id


def test_older_ids_are_upper_cased() -> None:
    assert check_tax_id("44030119650101123x00") == "44030119650101123X00"


@pytest.mark.parametrize("tax_id", ["44030071526726-", "4403007152 6726", "440301196501011.3X00", "44030071526726_"])
def test_older_ids_with_other_characters_are_rejected(tax_id: str) -> None:
    with pytest.raises(ValueError, match="digits and capital letters"):
        check_tax_id(tax_id)


@pytest.mark.parametrize("length", [0, 1, 14, 16, 17, 19, 21, 30])
def test_other_lengths_are_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="18-character"):
        check_tax_id(("9144030071526726XG" * 2)[:length])


@pytest.mark.parametrize("tax_id", ["4403007152672ı1", "440300715267ß4"])
def test_non_ascii_letters_are_rejected(tax_id: str) -> None:
    with pytest.raises(ValueError):
        check_tax_id(tax_id)
