"""Money: exact parsing, integer-only amounts, currency safety and exact allocation."""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
)
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.shared.money import (
    CURRENCY_EXPONENTS,
    MAX_MAJOR_DIGITS,
    Money,
    MoneyError,
    allocate_int,
    exponent,
)

CURRENCIES = sorted(CURRENCY_EXPONENTS)

# ---------------------------------------------------------------------------------------
# parse
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("1234.50", "ARS", 123450),
        ("15000", "CLP", 15000),
        ("1.2345", "CLF", 12345),
        ("0.5", "ARS", 50),
        ("0.01", "USD", 1),
        ("-12.34", "MXN", -1234),
        ("  7.10 ", "PEN", 710),
        ("0", "COP", 0),
        ("-0.00", "ARS", 0),
        ("1.0", "CLP", 1),  # a trailing zero is not an extra decimal
        ("1.000", "CLP", 1),
        ("+5", "CLP", 5),
        ("1.23450", "CLF", 12345),
        ("99999999999999999.99", "ARS", 9999999999999999999),
        (Decimal("1234.5"), "ARS", 123450),
        (Decimal("-0.0001"), "CLF", -1),
        (Decimal("1.000"), "CLP", 1),
        (Decimal("1e3"), "CLP", 1000),  # a Decimal may use exponent notation
        (Decimal("1.5E+3"), "USD", 150000),
        (Decimal("-0E+5"), "ARS", 0),
        (15000, "CLP", 15000),
        (12, "ARS", 1200),
        (3, "CLF", 30000),
    ],
)
def test_parse_is_exact(value: str | Decimal | int, currency: str, amount: int) -> None:
    money = Money.parse(value, currency)
    assert money == Money(amount, currency)
    assert type(money.amount) is int


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("0.5", "CLP"),
        ("1.1", "CLP"),
        ("1.23456", "CLF"),
        ("0.00001", "CLF"),
        ("1.001", "ARS"),
        ("1234.505", "USD"),
        (Decimal("0.5"), "CLP"),
        (Decimal("1.23456"), "CLF"),
    ],
)
def test_parse_refuses_extra_decimals(value: str | Decimal, currency: str) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        Money.parse(value, currency)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "1,50",
        "1.2.3",
        "$5",
        "12 34",
        "0x10",
        "1e",
        "--1",
        "+-1",
        "5-",
        "one",
        "True",
        ".5",  # at least one digit before the point
        "5.",  # and after it
        "1 000",
    ],
)
def test_parse_refuses_non_numbers(value: str) -> None:
    with pytest.raises(MoneyError, match="not a plain decimal amount"):
        Money.parse(value, "ARS")


@pytest.mark.parametrize(
    "value",
    [
        "1e3",
        "1E3",
        "1e-5",
        "1.5E+3",
        "0e0",
        "1e29",
        "1_000",
        "1_000.50",
        "\u0661\u0662\u0663",  # ARABIC-INDIC DIGITS ONE TWO THREE: Decimal() would accept them
        "\uff11\uff12",  # FULLWIDTH DIGITS ONE TWO
        "1\u0660.50",
        "\u00b2",  # SUPERSCRIPT TWO
    ],
)
def test_parse_refuses_strings_that_are_not_plain_ascii_decimals(value: str) -> None:
    # Decimal(value) accepts every one of these; a string amount must be written plainly
    with pytest.raises(MoneyError, match="not a plain decimal amount"):
        Money.parse(value, "ARS")


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-inf"]
)
def test_parse_refuses_non_finite_strings(value: str) -> None:
    with pytest.raises(MoneyError, match="not a plain decimal amount"):
        Money.parse(value, "ARS")


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_parse_refuses_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(MoneyError, match="not a finite decimal amount"):
        Money.parse(value, "ARS")


@pytest.mark.parametrize("value", [None, [1], b"1", Fraction(1, 2), object()])
def test_parse_refuses_other_types(value: object) -> None:
    with pytest.raises(MoneyError, match="not a finite decimal amount"):
        Money.parse(value, "ARS")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False])
def test_parse_refuses_bool(value: bool) -> None:
    # bool is an int subclass, but True is not an amount of one peso
    with pytest.raises(MoneyError):
        Money.parse(value, "CLP")


@pytest.mark.parametrize("currency", ["EUR", "BTC", "ars", "clp", "", " ARS", "XXX"])
def test_parse_refuses_unknown_currency(currency: str) -> None:
    with pytest.raises(MoneyError, match="unsupported currency"):
        Money.parse("1", currency)


@pytest.mark.parametrize("currency", ["EUR", "ars", ""])
def test_exponent_refuses_unknown_currency(currency: str) -> None:
    with pytest.raises(MoneyError):
        exponent(currency)


@pytest.mark.parametrize("value", [0.1, 0.5, 1234.5, 12345678901234567.89, 15000.0, -1.0])
def test_parse_refuses_floats(value: float) -> None:
    # a float has already lost the exact value (12345678901234567.89 is stored as
    # 12345678901234568.0), so parse must refuse it rather than go through str()
    with pytest.raises(MoneyError, match="float"):
        Money.parse(value, "ARS")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("12345678901234567890123456789.01", "ARS", 1234567890123456789012345678901),
        ("123456789012345678901234567890", "CLP", 123456789012345678901234567890),
        ("-999999999999999999999999999999.9999", "CLF", -9999999999999999999999999999999999),
        ("1" + "0" * 29, "CLP", 10**29),
        ("1." + "0" * 40, "ARS", 100),
        ("0." + "0" * 39 + "1", "ARS", None),  # 40 decimals, too many for ARS
    ],
)
def test_parse_is_exact_beyond_28_digits(value: str, currency: str, amount: int | None) -> None:
    # no Decimal context precision may round the digits silently
    for given_as in (value, Decimal(value)):
        if amount is None:
            with pytest.raises(MoneyError, match="decimals"):
                Money.parse(given_as, currency)
        else:
            assert Money.parse(given_as, currency).amount == amount


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        (Decimal("1e29"), "CLP", 10**29),
        (Decimal("1.5E+3"), "USD", 150000),
        (Decimal("0e999999999"), "CLP", 0),
        (Decimal("-0e-999999999"), "CLP", 0),
        (Decimal("1234567890123456789012345678901e-1"), "ARS", 12345678901234567890123456789010),
        (Decimal("1" + "0" * 5000 + "e-5000"), "CLF", 10000),
        (Decimal("1." + "0" * 5000), "ARS", 100),
        (10**29 + 1, "CLP", 10**29 + 1),
        (-(10**29), "CLF", -(10**33)),
    ],
)
def test_parse_decimal_and_int_use_exact_digit_arithmetic(
    value: Decimal | int, currency: str, amount: int
) -> None:
    assert Money.parse(value, currency) == Money(amount, currency)


@pytest.mark.parametrize(
    "value",
    [
        "1" + "0" * MAX_MAJOR_DIGITS,
        "-1" + "0" * MAX_MAJOR_DIGITS,
        "1234567890123456789012345678901",
        "1" + "0" * MAX_MAJOR_DIGITS + ".00",
        Decimal("1e999999999"),
        Decimal("1e5000"),
        Decimal("1e30"),
        Decimal("-1e30"),
        Decimal("1e100"),
        Decimal("1" * 5000),
        10**MAX_MAJOR_DIGITS,
        -(10**MAX_MAJOR_DIGITS),
        pytest.param(10**5000, id="10**5000"),  # more digits than str(int) allows
    ],
)
def test_parse_refuses_amounts_too_large(value: str | Decimal | int) -> None:
    with pytest.raises(MoneyError, match="too large"):
        Money.parse(value, "CLP")


@pytest.mark.parametrize("currency", CURRENCIES)
def test_parse_largest_accepted_amount_is_just_below_10_to_the_30(currency: str) -> None:
    exp = CURRENCY_EXPONENTS[currency]
    largest = "9" * MAX_MAJOR_DIGITS + ("." + "9" * exp if exp else "")
    expected = 10 ** (MAX_MAJOR_DIGITS + exp) - 1
    assert Money.parse(largest, currency).amount == expected
    assert Money.parse("-" + largest, currency).amount == -expected
    assert Money.parse(Decimal(largest), currency).amount == expected
    assert Money.parse(10**MAX_MAJOR_DIGITS - 1, currency).amount == (
        (10**MAX_MAJOR_DIGITS - 1) * 10**exp
    )
    with pytest.raises(MoneyError, match="too large"):
        Money.parse("1" + "0" * MAX_MAJOR_DIGITS, currency)


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (Decimal("1e-999999999"), "CLP"),
        (Decimal("5e-1000030"), "ARS"),
        (Decimal("1e-5"), "CLF"),
        (Decimal("1e-3"), "USD"),
        (Decimal("1" * 4400 + "e-4390"), "ARS"),
    ],
)
def test_parse_refuses_tiny_amounts_instead_of_rounding_to_zero(
    value: Decimal, currency: str
) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        Money.parse(value, currency)


def _is_plain_ascii_decimal(text: str) -> bool:
    """Up to 40 ASCII digits, optionally a point and 1 to 40 more, optionally a sign."""
    unsigned = text[1:] if text.startswith(("+", "-")) else text
    whole, _, frac = unsigned.partition(".")
    return (
        text.count(".") <= 1
        and 1 <= len(whole) <= 40
        and (("." not in text) or 1 <= len(frac) <= 40)
        and all(ch in "0123456789" for ch in whole + frac)
    )


@given(
    st.sampled_from(CURRENCIES),
    st.decimals(allow_nan=False, allow_infinity=False),
)
@example("CLP", Decimal("1E+1"))
@example("ARS", Decimal("1.000000000000000000000000000000000000000000000000"))
@example("CLF", Decimal("-0E-50"))
def test_parse_accepts_exactly_the_representable_decimals(currency: str, value: Decimal) -> None:
    exp = CURRENCY_EXPONENTS[currency]
    scaled = Fraction(value) * 10**exp
    representable = scaled.denominator == 1 and (
        value.is_zero() or value.adjusted() < MAX_MAJOR_DIGITS
    )
    if representable:
        assert Money.parse(value, currency).amount == scaled
    else:
        with pytest.raises(MoneyError):
            Money.parse(value, currency)
    # as a string only the plain form is accepted, never the exponent notation
    plain = format(value, "f")
    if representable and _is_plain_ascii_decimal(plain):
        assert Money.parse(plain, currency).amount == scaled
    else:
        with pytest.raises(MoneyError):
            Money.parse(plain, currency)
    if "E" in str(value):
        with pytest.raises(MoneyError, match="not a plain decimal amount"):
            Money.parse(str(value), currency)


@pytest.mark.parametrize(
    "value",
    [
        "1." + "0" * 5000,  # the value is 1.00, but no string over 40 decimals is read
        "1" * 4400 + "e-4390",
        "1" * 41,
        "0." + "0" * 40 + "1",
        " " * 5000 + "x",
    ],
)
def test_parse_refuses_long_strings_and_echoes_at_most_40_characters(value: str) -> None:
    with pytest.raises(MoneyError, match="not a plain decimal amount") as info:
        Money.parse(value, "ARS")
    message = str(info.value)
    assert repr(value)[:37] in message  # the start of the input is shown
    assert repr(value)[:41] not in message  # but no more than 40 characters of it
    assert len(message) < 100


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (Decimal("1" * 4400 + "e-4390"), "ARS"),
        (Decimal("1" * 100), "CLP"),
        pytest.param(10**100, "CLP", id="10**100-CLP"),
        ([1] * 100, "ARS"),
    ],
)
def test_parse_echoes_at_most_40_characters_of_any_input(value: object, currency: str) -> None:
    with pytest.raises(MoneyError) as info:
        Money.parse(value, currency)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(value)[:41] not in message
    assert repr(value)[:41] not in message


# ---------------------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", [1.0, 0.0, 1.5, True, False, Decimal(1), Decimal("1.5"), "1", None, Fraction(1)]
)
def test_money_refuses_non_int_amounts(amount: object) -> None:
    with pytest.raises(MoneyError, match="integer"):
        Money(amount, "CLP")  # type: ignore[arg-type]


def test_money_refuses_unknown_currency() -> None:
    with pytest.raises(MoneyError):
        Money(1, "EUR")


def test_zero_and_is_zero() -> None:
    assert Money.zero("ARS") == Money(0, "ARS")
    assert Money.zero("ARS").is_zero()
    assert not Money(1, "ARS").is_zero()
    assert not Money(-1, "ARS").is_zero()


def test_money_is_immutable_and_hashable() -> None:
    m = Money(5, "ARS")
    with pytest.raises(AttributeError):
        m.amount = 6  # type: ignore[misc]
    assert {Money(5, "ARS"), Money(5, "ARS"), Money(5, "CLP")} == {
        Money(5, "ARS"),
        Money(5, "CLP"),
    }


# ---------------------------------------------------------------------------------------
# arithmetic and comparison
# ---------------------------------------------------------------------------------------


def test_arithmetic_same_currency() -> None:
    a, b = Money(1050, "ARS"), Money(250, "ARS")
    assert a + b == Money(1300, "ARS")
    assert a - b == Money(800, "ARS")
    assert b - a == Money(-800, "ARS")
    assert -a == Money(-1050, "ARS")


@pytest.mark.parametrize("op", ["add", "sub"])
def test_arithmetic_across_currencies_raises(op: str) -> None:
    a, b = Money(100, "ARS"), Money(100, "USD")
    with pytest.raises(MoneyError, match="cannot combine ARS with USD"):
        _ = a + b if op == "add" else a - b


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1", None])
def test_arithmetic_with_non_money_raises_type_error(other: object) -> None:
    with pytest.raises(TypeError):
        _ = Money(1, "ARS") + other  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Money(1, "ARS") - other  # type: ignore[operator]


def test_comparison_same_currency() -> None:
    a, b = Money(1, "CLP"), Money(2, "CLP")
    assert a < b
    assert a <= b
    assert a <= Money(1, "CLP")
    assert b > a
    assert b >= a
    assert b >= Money(2, "CLP")
    assert not a > b
    assert sorted([Money(3, "CLP"), a, b]) == [a, b, Money(3, "CLP")]


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge"])
def test_comparison_across_currencies_raises(op: str) -> None:
    a, b = Money(1, "CLP"), Money(1, "CLF")
    with pytest.raises(MoneyError):
        getattr(a, f"__{op}__")(b)


def test_ordering_operators_across_currencies_raise() -> None:
    a, b = Money(1, "CLP"), Money(2, "ARS")
    with pytest.raises(MoneyError):
        _ = a < b
    with pytest.raises(MoneyError):
        _ = a >= b
    with pytest.raises(MoneyError):
        sorted([a, b])


def test_equality_across_currencies_is_false_not_an_error() -> None:
    # documented behaviour: == is the dataclass equality, so it compares both fields
    assert Money(1, "CLP") != Money(1, "ARS")
    assert Money(1, "CLP") == Money(1, "CLP")


def test_comparison_with_non_money_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Money(1, "CLP") < 2  # type: ignore[operator]


def test_times_rounds_once() -> None:
    assert Money(100, "CLP").times(Decimal("0.125")) == Money(12, "CLP")  # 12.5 → even
    assert Money(100, "CLP").times(Decimal("0.125"), rounding=ROUND_HALF_UP) == Money(13, "CLP")
    assert Money(1000, "ARS").times(Decimal("1.5")) == Money(1500, "ARS")
    assert Money(-100, "CLP").times(Decimal("0.125"), rounding=ROUND_HALF_UP) == Money(-13, "CLP")


# ---------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(123450, "ARS"), "1234.50"),
        (Money(15000, "CLP"), "15000"),
        (Money(12345, "CLF"), "1.2345"),
        (Money(10000, "CLF"), "1.0000"),
        (Money(5, "CLF"), "0.0005"),
        (Money(0, "CLF"), "0.0000"),
        (Money(0, "CLP"), "0"),
        (Money(0, "USD"), "0.00"),
        (Money(5, "USD"), "0.05"),
        (Money(-5, "ARS"), "-0.05"),
        (Money(-150000, "COP"), "-1500.00"),
        (Money(-1, "CLP"), "-1"),
        (Money(10**18 + 1, "CLF"), "100000000000000.0001"),
        (Money(-(10**18) - 7, "MXN"), "-10000000000000000.07"),
    ],
)
def test_format_prints_exactly_the_currency_decimals(money: Money, text: str) -> None:
    assert money.format() == text
    assert str(money) == f"{text} {money.currency}"


@given(st.sampled_from(CURRENCIES), st.integers(-(10**18), 10**18))
def test_format_has_exactly_exponent_decimals(currency: str, amount: int) -> None:
    text = Money(amount, currency).format()
    exp = CURRENCY_EXPONENTS[currency]
    assert "e" not in text.lower()
    if exp == 0:
        assert "." not in text
    else:
        assert len(text.split(".")[1]) == exp


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(10**30 + 1, "ARS"), "10000000000000000000000000000.01"),
        (Money(-(10**40) - 1, "CLF"), "-1000000000000000000000000000000000000.0001"),
        (Money(10**50 + 7, "CLP"), "1" + "0" * 49 + "7"),
    ],
)
def test_format_is_exact_for_amounts_beyond_28_digits(money: Money, text: str) -> None:
    assert money.format() == text
    assert money.to_decimal() == Decimal(text)


def test_to_decimal() -> None:
    assert Money(123450, "ARS").to_decimal() == Decimal("1234.50")
    assert Money(12345, "CLF").to_decimal() == Decimal("1.2345")
    assert Money(15000, "CLP").to_decimal() == Decimal(15000)


@given(st.sampled_from(CURRENCIES), st.integers(-(10**18), 10**18))
@example("CLP", 0)
@example("CLF", -1)
@example("ARS", 10**18)
@example("USD", -(10**18))
def test_parse_format_round_trip(currency: str, amount: int) -> None:
    money = Money(amount, currency)
    assert Money.parse(money.format(), currency) == money
    assert Money.parse(money.to_decimal(), currency) == money


# ---------------------------------------------------------------------------------------
# from_decimal
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "half_even", "half_up"),
    [
        ("2.5", "CLP", 2, 3),
        ("3.5", "CLP", 4, 4),
        ("0.5", "CLP", 0, 1),
        ("-2.5", "CLP", -2, -3),
        ("-0.5", "CLP", 0, -1),
        ("0.125", "ARS", 12, 13),
        ("0.135", "ARS", 14, 14),
        ("1.005", "USD", 100, 101),
        ("1.00005", "CLF", 10000, 10001),
        ("1.00015", "CLF", 10002, 10002),
        ("2.4", "CLP", 2, 2),
        ("2.6", "CLP", 3, 3),
        ("1234.50", "ARS", 123450, 123450),
    ],
)
def test_from_decimal_rounding_modes(
    value: str, currency: str, half_even: int, half_up: int
) -> None:
    dec = Decimal(value)
    assert Money.from_decimal(dec, currency, rounding=ROUND_HALF_EVEN) == Money(half_even, currency)
    assert Money.from_decimal(dec, currency, rounding=ROUND_HALF_UP) == Money(half_up, currency)


@pytest.mark.parametrize(
    ("rounding", "positive", "negative"),
    [(ROUND_DOWN, 2, -2), (ROUND_FLOOR, 2, -3), (ROUND_CEILING, 3, -2)],
)
def test_from_decimal_directed_rounding(rounding: str, positive: int, negative: int) -> None:
    assert Money.from_decimal(Decimal("2.7"), "CLP", rounding=rounding).amount == positive
    assert Money.from_decimal(Decimal("-2.7"), "CLP", rounding=rounding).amount == negative


def test_from_decimal_requires_explicit_rounding() -> None:
    with pytest.raises(TypeError):
        Money.from_decimal(Decimal("1.5"), "CLP")  # type: ignore[call-arg]


def test_from_decimal_refuses_unknown_currency() -> None:
    with pytest.raises(MoneyError):
        Money.from_decimal(Decimal(1), "EUR", rounding=ROUND_HALF_EVEN)


@given(st.sampled_from(CURRENCIES), st.integers(-(10**18), 10**18))
def test_from_decimal_agrees_with_parse_on_exact_values(currency: str, amount: int) -> None:
    dec = Money(amount, currency).to_decimal()
    for rounding in (ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_FLOOR, ROUND_CEILING):
        assert Money.from_decimal(dec, currency, rounding=rounding) == Money.parse(dec, currency)


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_from_decimal_non_finite_raises_money_error(value: Decimal) -> None:
    with pytest.raises(MoneyError, match="finite"):
        Money.from_decimal(value, "CLP", rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("value", [1.5, 2, "2.5", None])
def test_from_decimal_refuses_non_decimals(value: object) -> None:
    with pytest.raises(MoneyError):
        Money.from_decimal(value, "CLP", rounding=ROUND_HALF_EVEN)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1e30", "1e1000", "-9.9e31"])
def test_from_decimal_refuses_amounts_too_large(value: str) -> None:
    with pytest.raises(MoneyError, match="too large"):
        Money.from_decimal(Decimal(value), "CLP", rounding=ROUND_HALF_EVEN)


def test_from_decimal_large_but_allowed() -> None:
    value = Decimal("123456789012345678901234567890.125")  # 30 integer digits
    assert Money.from_decimal(value, "ARS", rounding=ROUND_HALF_EVEN).amount == (
        12345678901234567890123456789012
    )
    assert Money.from_decimal(value, "ARS", rounding=ROUND_HALF_UP).amount == (
        12345678901234567890123456789013
    )


@pytest.mark.parametrize("factor", [Decimal("NaN"), Decimal("Infinity"), 1.5, 2, "2"])
def test_times_refuses_non_finite_or_non_decimal_factors(factor: object) -> None:
    with pytest.raises(MoneyError):
        Money(100, "CLP").times(factor)  # type: ignore[arg-type]


def test_times_out_of_range_raises_money_error() -> None:
    with pytest.raises(MoneyError, match="out of range"):
        Money(10**900, "CLP").times(Decimal("1e200"))


@pytest.mark.parametrize(
    ("value", "currency", "rounding", "expected"),
    [
        ("2.5" + "0" * 90 + "1", "CLP", ROUND_HALF_EVEN, 3),
        ("-2.5" + "0" * 90 + "1", "CLP", ROUND_HALF_EVEN, -3),
        ("2.5", "CLP", ROUND_HALF_EVEN, 2),  # the exact half still goes to even
        ("2.4" + "9" * 90, "CLP", ROUND_HALF_UP, 2),
        ("0.025" + "0" * 90 + "1", "ARS", ROUND_HALF_EVEN, 3),
        ("1e-2000", "CLP", ROUND_CEILING, 1),
        ("1e-2000", "CLP", ROUND_FLOOR, 0),
        ("-1e-2000", "CLP", ROUND_FLOOR, -1),
        ("-1e-2000", "CLP", ROUND_CEILING, 0),
        ("1e-999999", "CLF", ROUND_CEILING, 1),
    ],
)
def test_from_decimal_rounds_exactly_once(
    value: str, currency: str, rounding: str, expected: int
) -> None:
    assert Money.from_decimal(Decimal(value), currency, rounding=rounding).amount == expected
    if currency == "CLP":
        assert Money(1, "CLP").times(Decimal(value), rounding=rounding).amount == expected


# ---------------------------------------------------------------------------------------
# allocate
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (100, [1, 2], [33, 67]),
        (1, [1, 1], [1, 0]),  # tie broken by position
        (2, [1, 1, 1], [1, 1, 0]),
        (0, [1, 2, 3], [0, 0, 0]),
        (10, [0, 1, 0], [0, 10, 0]),
        (10, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], [5, 3, 2]),
        (7, [5], [7]),
        (5, [Decimal("0.1"), 0, Decimal("0.2")], [2, 0, 3]),
    ],
)
def test_allocate_examples(total: int, weights: list[int | Decimal], parts: list[int]) -> None:
    assert allocate_int(total, weights) == parts
    assert Money(total, "CLP").allocate(weights) == [Money(p, "CLP") for p in parts]


@pytest.mark.parametrize(
    "bad",
    [1.0, 0.5, float("nan"), float("inf"), "1", "0.5", True, False, None, Fraction(1, 2)],
)
def test_allocate_refuses_weights_that_are_not_int_or_decimal(bad: object) -> None:
    for weights in ([bad], [1, bad], [bad, Decimal(1)]):
        with pytest.raises(MoneyError, match="integers or Decimals"):
            allocate_int(100, weights)  # type: ignore[arg-type]
        with pytest.raises(MoneyError, match="integers or Decimals"):
            Money(100, "CLP").allocate(weights)  # type: ignore[arg-type]


def test_allocate_keeps_currency() -> None:
    parts = Money(12345, "CLF").allocate([1, 1])
    assert {p.currency for p in parts} == {"CLF"}
    assert sum(p.amount for p in parts) == 12345


_weight = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)
_weights = st.lists(_weight, min_size=1, max_size=12).filter(lambda ws: any(w > 0 for w in ws))
_totals = st.integers(min_value=-(10**18), max_value=10**18)


@given(_totals, _weights)
@example(10**18, [1, 1, 1])
@example(-(10**18), [Decimal("0.3333"), Decimal("0.3333"), Decimal("0.3334")])
@example(0, [0, 5])
@example(1, [10**9, 1])
def test_allocate_properties(total: int, weights: list[int | Decimal]) -> None:
    parts = Money(total, "ARS").allocate(weights)
    amounts = [p.amount for p in parts]

    assert len(parts) == len(weights)
    assert all(p.currency == "ARS" and type(p.amount) is int for p in parts)
    # the parts add up to the whole, exactly
    assert sum(amounts) == total
    # each part is within one minor unit of its exact proportional share
    weight_sum = sum(Fraction(w) for w in weights)
    for amount, weight in zip(amounts, weights, strict=True):
        share = Fraction(total) * Fraction(weight) / weight_sum
        assert abs(Fraction(amount) - share) < 1
    # zero weight gets zero
    for amount, weight in zip(amounts, weights, strict=True):
        if weight == 0:
            assert amount == 0
    # deterministic
    assert Money(total, "ARS").allocate(list(weights)) == parts
    assert allocate_int(total, tuple(weights)) == amounts
    # a negative total is the mirror of the positive one
    assert allocate_int(-total, weights) == [-a for a in amounts]


@given(_totals, st.integers(min_value=1, max_value=12))
def test_allocate_all_zero_weights_raise(total: int, n: int) -> None:
    with pytest.raises(MoneyError, match="sum to zero"):
        Money(total, "CLP").allocate([0] * n)
    with pytest.raises(MoneyError, match="sum to zero"):
        allocate_int(total, [Decimal(0)] * n)


@given(_totals)
def test_allocate_empty_weights_raise(total: int) -> None:
    with pytest.raises(MoneyError, match="at least one weight"):
        Money(total, "CLP").allocate([])


@given(
    _totals,
    st.lists(_weight, max_size=6),
    st.one_of(
        st.integers(max_value=-1),
        st.decimals(max_value=Decimal("-0.0001"), allow_nan=False, allow_infinity=False),
    ),
    st.data(),
)
def test_allocate_negative_weight_raises(
    total: int, weights: list[int | Decimal], negative: int | Decimal, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(weights)))
    bad = [*weights[:position], negative, *weights[position:]]
    with pytest.raises(MoneyError, match="negative"):
        Money(total, "CLP").allocate(bad)


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (10**40, [10**30 + 1] * 3),
        (10**70, [1, 1, 1]),
        (-(10**70) - 1, [Decimal("0.1"), Decimal("0.2"), Decimal("0.7")]),
        (10**18, [10**40, 1, 10**40 + 1]),
    ],
)
def test_allocate_sums_exactly_for_huge_totals(total: int, weights: list[int | Decimal]) -> None:
    parts = allocate_int(total, weights)
    assert sum(parts) == total
    weight_sum = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total) * Fraction(weight) / weight_sum) < 1


@given(
    st.integers(min_value=-(10**80), max_value=10**80),
    st.lists(st.integers(min_value=0, max_value=10**50), min_size=1, max_size=6).filter(any),
)
def test_allocate_huge_properties(total: int, weights: list[int]) -> None:
    parts = allocate_int(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total * weight, weight_sum)) < 1


@pytest.mark.parametrize(
    "bad", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_allocate_non_finite_weight_raises_money_error(bad: Decimal) -> None:
    with pytest.raises(MoneyError):
        Money(100, "CLP").allocate([bad, 1])
