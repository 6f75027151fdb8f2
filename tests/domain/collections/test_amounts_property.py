"""Amounts read from statements are exact (hypothesis): whatever a bank writes — camt
decimals, MT940 commas, CSV with thousands separators and signs, XLSX numbers — the minor
units read are the amount written, and an amount with more decimals than its currency is
refused, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.collections.errors import StatementRefused
from domain.collections.formats.base import to_minor
from domain.collections.formats.tabular import ColumnMapping, _amount
from domain.shared.money import CURRENCY_EXPONENTS, Money

CURRENCIES = sorted(CURRENCY_EXPONENTS)
MINOR = st.integers(min_value=0, max_value=10**15)


def _major(minor: int, currency: str) -> str:
    return format(Money(minor, currency).to_decimal(), "f")


@settings(max_examples=200, deadline=None)
@given(
    minor=MINOR, currency=st.sampled_from(CURRENCIES), comma=st.booleans(), zeros=st.integers(0, 3)
)
def test_statement_amounts_read_exactly(minor: int, currency: str, comma: bool, zeros: int) -> None:
    text = _major(minor, currency)
    if "." not in text:
        text += "." if comma else ""
    text += "0" * zeros if "." in text else ""
    if comma:
        text = text.replace(".", ",")
    assert to_minor(text, currency, "here") == minor


@settings(max_examples=100, deadline=None)
@given(minor=st.integers(min_value=1, max_value=10**12), extra=st.integers(1, 9))
def test_a_digit_past_the_currency_is_refused(minor: int, extra: int) -> None:
    for currency in ("CLP", "USD", "CLF"):
        text = _major(minor, currency)
        text = (text if "." in text else text + ".") + "0" * 0 + str(extra)
        with pytest.raises(StatementRefused) as refused:
            to_minor(text, currency, "here")
        assert refused.value.code == "MALFORMED_STATEMENT"


def _grouped(whole: str, sep: str) -> str:
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sep.join(groups)


@settings(max_examples=200, deadline=None)
@given(
    minor=st.integers(min_value=-(10**13), max_value=10**13),
    currency=st.sampled_from(CURRENCIES),
    style=st.sampled_from([(".", ""), (",", "."), (".", ","), (",", " "), (".", "'")]),
    negative=st.sampled_from(["-", "()", "trailing"]),
)
def test_csv_amounts_with_separators_and_signs(
    minor: int, currency: str, style: tuple[str, str], negative: str
) -> None:
    decimal_sep, thousands = style
    mapping = ColumnMapping(
        date="Fecha", amount="Monto", decimal_separator=decimal_sep, thousands_separator=thousands
    )
    major = _major(abs(minor), currency)
    whole, _, fraction = major.partition(".")
    text = _grouped(whole, thousands) if thousands else whole
    if fraction:
        text += decimal_sep + fraction
    if minor < 0:
        text = {"-": f"-{text}", "()": f"({text})", "trailing": f"{text}-"}[negative]
    assert _amount(text, mapping, currency, "row 2") == minor


@settings(max_examples=200, deadline=None)
@given(
    minor=st.integers(min_value=-(10**12), max_value=10**12), currency=st.sampled_from(CURRENCIES)
)
def test_xlsx_numbers_are_taken_by_their_decimal_form(minor: int, currency: str) -> None:
    mapping = ColumnMapping(date="Fecha", amount="Monto")
    value = float(Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency]))
    # A float that still says the amount exactly is read exactly; one that does not (a
    # computed cell) is refused rather than rounded.
    try:
        read = _amount(value, mapping, currency, "row 2")
    except StatementRefused:
        assert Decimal(repr(value)).scaleb(CURRENCY_EXPONENTS[currency]) != minor
    else:
        assert read == minor
