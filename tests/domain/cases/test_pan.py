"""The card-number detector: every way people write a PAN is caught, lookalikes are not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared import pan
from domain.shared.errors import Problems


def with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if pan.luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111.1111.1111.1111",
        "4111  1111  1111  1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "378282246310005",  # Amex, 15 digits
        "3782 822463 10005",
        "4222222222222",  # 13 digits
        "6011000990139424",
        "mi tarjeta es 5500-0000-0000-0004 y no reconozco el cargo",
        "tarjeta 4111 1111 1111 1111 vence 12/27",
        "4111 1111 1111 1111 123",  # followed by the CVV in the same run
        "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
        "PAN:4111111111111111.",
        with_check_digit("601100099013942" + "123"),  # 19 digits
    ],
)
def test_card_numbers_are_found(text: str) -> None:
    assert pan.contains_pan(text), text
    problems = Problems()
    pan.check(problems, "description", text)
    assert [p.field for p in problems.items] == ["description"]
    assert "last four digits" in problems.items[0].message


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "4111 1111 1111 1112",  # fails Luhn
        "12.345.678-5",  # a RUT
        "+56 9 1234 5678",  # a phone number
        "0110599520000001234567",  # a 22-digit CBU is not split into windows
        "$150.000 cobrados el 2026-11-21",
        "411111111111",  # 12 digits: too short to be a PAN
        "0000 0000 0000 0000",
        "últimos 4: 4321",
        "41111111111111111111111",  # 23 unbroken digits
    ],
)
def test_lookalikes_are_not_card_numbers(text: str | None) -> None:
    assert not pan.contains_pan(text)


def test_luhn_vectors() -> None:
    assert pan.luhn_valid("79927398713")
    assert not pan.luhn_valid("79927398710")
    assert not pan.luhn_valid("")
    assert not pan.luhn_valid("12a4")


def test_match_reports_position_and_last_four() -> None:
    [match, *_] = pan.find_pans("card 4111-1111-1111-1111 please")
    assert match.last4 == "1111"
    assert (match.start, match.end) == (5, 24)


@given(
    body=st.text(alphabet="0123456789", min_size=12, max_size=18).filter(lambda b: b.strip("0")),
    groups=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
    separator=st.sampled_from([" ", "-", ".", "  ", " - "[:2]]),
    prefix=st.text(alphabet="abcxyz ,:;()ÁÑ", max_size=20),
    suffix=st.text(alphabet="abcxyz ,:;()ÁÑ", max_size=20),
)
def test_any_grouping_of_a_valid_number_is_found(
    body: str, groups: list[int], separator: str, prefix: str, suffix: str
) -> None:
    number = with_check_digit(body)
    parts: list[str] = []
    rest = number
    for size in groups:
        if not rest:
            break
        parts.append(rest[:size])
        rest = rest[size:]
    if rest:
        parts.append(rest)
    text = f"{prefix} {separator.join(parts)} {suffix}"
    found = pan.find_pans(text)
    assert any(m.last4 == number[-4:] for m in found), text


@given(st.text(alphabet="0123456789 -", max_size=40))
def test_whatever_is_found_is_a_valid_number(text: str) -> None:
    for match in pan.find_pans(text):
        digits = "".join(ch for ch in text[match.start : match.end] if ch.isdigit())
        assert pan.PAN_MIN_DIGITS <= len(digits) <= pan.PAN_MAX_DIGITS
        assert pan.luhn_valid(digits)
