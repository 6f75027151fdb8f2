"""National identity and tax numbers: validation, normalisation, display and masking."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from domain.shared.national_ids import (
    InvalidNationalId,
    NationalId,
    NationalIdType,
    display,
    looks_like_national_id,
    mask,
    parse,
)

T = NationalIdType
RUT_DIGITS = "0123456789K"

# ---------------------------------------------------------------------------------------
# check-digit algorithms, written independently of python-stdnum
# ---------------------------------------------------------------------------------------


def rut_check_digit(body: int) -> str:
    """Chilean RUT modulo 11: weights 2..7 from the right, 11 → 0, 10 → K."""
    total = 0
    for i, digit in enumerate(reversed(str(body))):
        total += int(digit) * (2 + i % 6)
    rest = 11 - total % 11
    return {11: "0", 10: "K"}.get(rest, str(rest))


def cuit_check_digit(first_ten: str) -> int | None:
    """Argentine CUIT/CUIL modulo 11; ``None`` for the ambiguous remainder 10 case."""
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    rest = 11 - sum(w * int(d) for w, d in zip(weights, first_ten, strict=True)) % 11
    if rest == 11:
        return 0
    if rest == 10:
        return None
    return rest


def nit_check_digit(body: str) -> int:
    """Colombian NIT (DIAN) prime weights from the right."""
    primes = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)
    rest = sum(p * int(d) for p, d in zip(primes, reversed(body), strict=False)) % 11
    return rest if rest in (0, 1) else 11 - rest


def ruc_check_digit(first_ten: str) -> int:
    """Peruvian RUC (SUNAT) modulo 11: 10 → 0, 11 → 1."""
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    rest = 11 - sum(w * int(d) for w, d in zip(weights, first_ten, strict=True)) % 11
    return {10: 0, 11: 1}.get(rest, rest)


def dotted(body: int) -> str:
    return f"{body:,}".replace(",", ".")


def test_own_rut_algorithm_matches_known_numbers() -> None:
    assert rut_check_digit(12345678) == "5"
    assert rut_check_digit(10000013) == "K"
    assert rut_check_digit(10000004) == "0"


# ---------------------------------------------------------------------------------------
# CL_RUT
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "12.345.678-5",
        "12345678-5",
        "123456785",
        "12 345 678 5",
        " 12.345.678-5 ",
        "12345678 - 5",
    ],
)
def test_rut_valid_formats(text: str) -> None:
    rut = parse(T.CL_RUT, text)
    assert rut == NationalId(T.CL_RUT, "123456785")
    assert rut.display == "12.345.678-5"


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("10.000.013-K", "10000013K"),
        ("10.000.013-k", "10000013K"),
        ("10000013k", "10000013K"),
        ("10.000.027-K", "10000027K"),
        ("10.000.004-0", "100000040"),
        ("1.234.567-4", "12345674"),
    ],
)
def test_rut_check_digit_k_and_zero(text: str, compact: str) -> None:
    assert parse(T.CL_RUT, text).number == compact


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12.345.678-4", "the check digit does not match"),
        ("12.345.678-K", "the check digit does not match"),
        ("10.000.013-0", "the check digit does not match"),
        ("12.345.6A8-5", "it has characters that do not belong in it"),
        ("1-9", "it has the wrong length"),
        ("123.456.789-0", "it has the wrong length"),
    ],
)
def test_rut_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.CL_RUT, text)
    assert info.value.id_type is T.CL_RUT
    assert info.value.reason == reason
    assert str(info.value) == f"not a valid CL_RUT: {reason}"


@st.composite
def formatted_ruts(draw: st.DrawFn) -> tuple[str, str, int]:
    """(formatted text, expected compact form, body) for a correctly check-digited RUT."""
    body = draw(st.integers(min_value=1_000_000, max_value=99_999_999))
    check = rut_check_digit(body)
    digits = draw(st.sampled_from([dotted(body), str(body), " ".join(dotted(body).split("."))]))
    if body < 10_000_000 and draw(st.booleans()):
        digits = "0" + digits  # zero-padded to eight digits, as some systems print it
    separator = draw(st.sampled_from(["-", "", " ", " - ", "- "]))
    shown_check = check.lower() if check == "K" and draw(st.booleans()) else check
    left = draw(st.sampled_from(["", " ", "  "]))
    right = draw(st.sampled_from(["", " ", "\t"]))
    return f"{left}{digits}{separator}{shown_check}{right}", f"{body}{check}", body


@given(formatted_ruts())
@example(("10.000.013-k", "10000013K", 10000013))
@example(("10000013 k", "10000013K", 10000013))
@example(("1.000.000-9", "10000009", 1000000))
def test_rut_any_common_formatting_normalises_to_compact(case: tuple[str, str, int]) -> None:
    text, compact, body = case
    rut = parse(T.CL_RUT, text)
    assert rut.type is T.CL_RUT
    assert rut.number == compact
    assert rut.display == f"{dotted(body)}-{compact[-1]}"
    # parsing the display or the compact form gives the same value back
    assert parse(T.CL_RUT, rut.display) == rut
    assert parse("CL_RUT", rut.number) == rut


@given(formatted_ruts(), st.sampled_from(RUT_DIGITS))
def test_rut_changing_check_digit_invalidates(case: tuple[str, str, int], other: str) -> None:
    _, compact, body = case
    assume(other != compact[-1])
    for text in (f"{body}-{other}", f"{dotted(body)}-{other.lower()}", f"{body}{other}"):
        with pytest.raises(InvalidNationalId, match="check digit"):
            parse(T.CL_RUT, text)


@given(formatted_ruts())
def test_rut_mask_reveals_at_most_last_three(case: tuple[str, str, int]) -> None:
    _, compact, _ = case
    shown = display(T.CL_RUT, compact)
    masked = mask(T.CL_RUT, compact)
    _assert_masked(shown, masked)


def test_rut_mask_example() -> None:
    assert mask(T.CL_RUT, "123456785") == "••.•••.•78-5"
    assert display(T.CL_RUT, "123456785") == "12.345.678-5"


# ---------------------------------------------------------------------------------------
# Argentina
# ---------------------------------------------------------------------------------------


@st.composite
def cuits(draw: st.DrawFn, prefixes: tuple[str, ...]) -> str:
    prefix = draw(st.sampled_from(prefixes))
    body = draw(st.integers(min_value=0, max_value=99_999_999))
    first_ten = f"{prefix}{body:08d}"
    check = cuit_check_digit(first_ten)
    assume(check is not None)
    return f"{first_ten}{check}"


PERSON_PREFIXES = ("20", "23", "24", "27")
COMPANY_PREFIXES = ("30", "33", "34")


@given(cuits(PERSON_PREFIXES + COMPANY_PREFIXES), st.sampled_from(["dashes", "compact", "spaces"]))
def test_ar_cuit_valid(number: str, style: str) -> None:
    text = {
        "dashes": f"{number[:2]}-{number[2:10]}-{number[10]}",
        "compact": number,
        "spaces": f"{number[:2]} {number[2:10]} {number[10]}",
    }[style]
    cuit = parse(T.AR_CUIT, text)
    assert cuit.number == number
    assert cuit.display == f"{number[:2]}-{number[2:10]}-{number[10]}"


@given(cuits(PERSON_PREFIXES + COMPANY_PREFIXES), st.integers(min_value=1, max_value=9))
def test_ar_cuit_wrong_check_digit(number: str, delta: int) -> None:
    wrong = number[:10] + str((int(number[10]) + delta) % 10)
    with pytest.raises(InvalidNationalId, match="check digit"):
        parse(T.AR_CUIT, wrong)


@given(cuits(PERSON_PREFIXES))
def test_ar_cuil_accepts_people(number: str) -> None:
    assert parse(T.AR_CUIL, number).number == number


@given(cuits(COMPANY_PREFIXES))
def test_ar_cuil_refuses_company_prefixes(number: str) -> None:
    assert parse(T.AR_CUIT, number).number == number
    with pytest.raises(InvalidNationalId) as info:
        parse(T.AR_CUIL, number)
    assert info.value.reason == "a part of it is not valid"


@pytest.mark.parametrize(
    ("id_type", "text", "reason"),
    [
        (T.AR_CUIT, "20-05536168-2", None),
        (T.AR_CUIT, "30-50001091-2", None),
        (T.AR_CUIL, "20-05536168-2", None),
        (T.AR_CUIT, "20-05536168-3", "the check digit does not match"),
        (T.AR_CUIT, "99-05536168-2", "a part of it is not valid"),
        (T.AR_CUIT, "20-0553616-2", "it has the wrong length"),
        (T.AR_CUIT, "20-0553616A-2", "it has characters that do not belong in it"),
        (T.AR_CUIL, "30-50001091-2", "a part of it is not valid"),
    ],
)
def test_ar_cuit_cuil_examples(id_type: NationalIdType, text: str, reason: str | None) -> None:
    if reason is None:
        assert parse(id_type, text).number == text.replace("-", "")
    else:
        with pytest.raises(InvalidNationalId) as info:
            parse(id_type, text)
        assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "compact", "shown"),
    [
        ("20.123.456", "20123456", "20.123.456"),
        ("20123456", "20123456", "20.123.456"),
        ("1.234.567", "1234567", "1.234.567"),
        ("20 123 456", "20123456", "20.123.456"),
    ],
)
def test_ar_dni_valid(text: str, compact: str, shown: str) -> None:
    dni = parse(T.AR_DNI, text)
    assert dni.number == compact
    assert dni.display == shown


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123.456", "it has the wrong length"),
        ("123.456.789", "it has the wrong length"),
        ("20.12A.456", "it has characters that do not belong in it"),
        ("20-123-456", "it has characters that do not belong in it"),
    ],
)
def test_ar_dni_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.AR_DNI, text)
    assert info.value.reason == reason


# ---------------------------------------------------------------------------------------
# Mexico
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("GODE561231GR8", "GODE561231GR8"),
        ("gode561231gr8", "GODE561231GR8"),
        ("GODE 561231 GR8", "GODE561231GR8"),
        ("GODE-561231-GR8", "GODE561231GR8"),
        ("MAB-930714-8T4", "MAB9307148T4"),  # company: 12 characters
        ("GODE561231", "GODE561231"),  # person without homoclave
        ("AÑC831115AB6", "AÑC831115AB6"),
        ("añc831115ab6", "AÑC831115AB6"),
    ],
)
def test_mx_rfc_valid(text: str, compact: str) -> None:
    rfc = parse(T.MX_RFC, text)
    assert rfc.number == compact
    assert rfc.display == compact  # no formatter: the compact form is shown


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("GODE561231GR9", "the check digit does not match"),
        ("VACE460910SX6", "the check digit does not match"),
        ("GODE561331GR8", "a part of it is not valid"),  # month 13
        ("PUTO561231GR8", "a part of it is not valid"),  # blacklisted word
        ("GODE56123", "it has the wrong length"),
        ("1ODE561231GR8", "it has characters that do not belong in it"),
    ],
)
def test_mx_rfc_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.MX_RFC, text)
    assert info.value.reason == reason


def test_mx_rfc_with_ampersand_is_accepted() -> None:
    # '&' is a legal RFC character (companies such as "A&C")
    assert parse(T.MX_RFC, "A&C831115AB6").number == "A&C831115AB6"
    assert parse(T.MX_RFC, "a&c-831115-ab6").number == "A&C831115AB6"
    with pytest.raises(InvalidNationalId, match="check digit"):
        parse(T.MX_RFC, "A&C831115AB7")
    # '&' is still refused where it cannot belong
    with pytest.raises(InvalidNationalId):
        parse(T.CL_RUT, "12345678&5")


@pytest.mark.parametrize(
    "text", ["BOXW310820HNERXN09", "boxw310820hnerxn09", "BOXW-310820-HNERXN-09"]
)
def test_mx_curp_valid(text: str) -> None:
    curp = parse(T.MX_CURP, text)
    assert curp.number == "BOXW310820HNERXN09"
    assert curp.display == "BOXW310820HNERXN09"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("BOXW310820HNERXN08", "the check digit does not match"),
        ("BOXW310820HNERXN0", "it has the wrong length"),
        ("BOXW310820XNERXN09", "a part of it is not valid"),  # gender must be H/M
        ("BOXW310820HXXRXN09", "a part of it is not valid"),  # unknown state
        ("BOXW311320HNERXN09", "a part of it is not valid"),  # month 13
        ("B0XW310820HNERXN09", "it has characters that do not belong in it"),
    ],
)
def test_mx_curp_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.MX_CURP, text)
    assert info.value.reason == reason


# ---------------------------------------------------------------------------------------
# Colombia
# ---------------------------------------------------------------------------------------


@given(st.integers(min_value=1_000_000, max_value=999_999_999_999_999), st.booleans())
@example(213123432, True)
def test_co_nit_valid(body: int, formatted: bool) -> None:
    number = f"{body}{nit_check_digit(str(body))}"
    text = f"{dotted(body)}-{number[-1]}" if formatted else number
    nit = parse(T.CO_NIT, text)
    assert nit.number == number
    assert nit.display == f"{dotted(body)}-{number[-1]}"


@given(st.integers(min_value=1_000_000, max_value=999_999_999), st.integers(1, 9))
def test_co_nit_wrong_check_digit(body: int, delta: int) -> None:
    wrong = (nit_check_digit(str(body)) + delta) % 10
    with pytest.raises(InvalidNationalId, match="check digit"):
        parse(T.CO_NIT, f"{body}-{wrong}")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("213.123.432-1", None),
        ("2131234321", None),
        ("213.123.432-5", "the check digit does not match"),
        ("1234567", "it has the wrong length"),
        ("21312343A1", "it has characters that do not belong in it"),
    ],
)
def test_co_nit_examples(text: str, reason: str | None) -> None:
    if reason is None:
        assert parse(T.CO_NIT, text).number == "2131234321"
    else:
        with pytest.raises(InvalidNationalId) as info:
            parse(T.CO_NIT, text)
        assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("123", "123"),
        ("1.020.304.050", "1020304050"),
        ("1020304050", "1020304050"),
        ("79 123 456", "79123456"),
        ("52-123-456", "52123456"),
    ],
)
def test_co_cc_valid(text: str, compact: str) -> None:
    cc = parse(T.CO_CC, text)
    assert cc.number == compact
    assert cc.display == compact


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12", "it has the wrong length"),
        ("12345678901", "it has the wrong length"),
        ("0123456", "it has the wrong length"),  # no leading zero
        ("12A456", "it has characters that do not belong in it"),
        ("123/456", "it has characters that do not belong in it"),
    ],
)
def test_co_cc_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.CO_CC, text)
    assert info.value.reason == reason


@given(st.integers(min_value=100, max_value=9_999_999_999))
def test_co_cc_accepts_3_to_10_digits(number: int) -> None:
    assert parse(T.CO_CC, dotted(number)).number == str(number)


# ---------------------------------------------------------------------------------------
# Peru
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "10117410",
        "10117410-2",  # numeric check digit
        "10117410-G",  # letter check digit
        "10117410g",
        "10117410 2",
    ],
)
def test_pe_dni_valid(text: str) -> None:
    # the optional ninth (check) digit is verified when given, then dropped
    dni = parse(T.PE_DNI, text)
    assert dni.number == "10117410"
    assert dni.display == "10117410"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10117410-3", "the check digit does not match"),
        ("10117410-I", "the check digit does not match"),
        ("1011741", "it has the wrong length"),
        ("1011741023", "it has the wrong length"),
        ("1011741A", "it has characters that do not belong in it"),
    ],
)
def test_pe_dni_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(T.PE_DNI, text)
    assert info.value.reason == reason


@given(st.sampled_from(["10", "15", "17", "20"]), st.integers(min_value=0, max_value=99_999_999))
@example("20", 51233379)
def test_pe_ruc_valid(prefix: str, body: int) -> None:
    first_ten = f"{prefix}{body:08d}"
    number = f"{first_ten}{ruc_check_digit(first_ten)}"
    ruc = parse(T.PE_RUC, number)
    assert ruc.number == number
    assert ruc.display == number


@given(st.sampled_from(["10", "20"]), st.integers(0, 99_999_999), st.integers(1, 9))
def test_pe_ruc_wrong_check_digit(prefix: str, body: int, delta: int) -> None:
    first_ten = f"{prefix}{body:08d}"
    wrong = (ruc_check_digit(first_ten) + delta) % 10
    with pytest.raises(InvalidNationalId, match="check digit"):
        parse(T.PE_RUC, f"{first_ten}{wrong}")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("20512333797", None),
        ("20512333798", "the check digit does not match"),
        ("30512333797", "a part of it is not valid"),
        ("2051233379", "it has the wrong length"),
        ("2051233379A", "it has characters that do not belong in it"),
    ],
)
def test_pe_ruc_examples(text: str, reason: str | None) -> None:
    if reason is None:
        assert parse(T.PE_RUC, text).number == text
    else:
        with pytest.raises(InvalidNationalId) as info:
            parse(T.PE_RUC, text)
        assert info.value.reason == reason


# ---------------------------------------------------------------------------------------
# normalisation of one document written in different ways
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "one", "other"),
    [
        (T.CL_RUT, "1.234.567-4", "01.234.567-4"),
        (T.CL_RUT, "1234567-4", "012345674"),
        (T.AR_DNI, "1.234.567", "01.234.567"),
        (T.PE_DNI, "10117410", "10117410-2"),
        (T.PE_DNI, "10117410", "10117410-G"),
    ],
)
def test_same_document_normalises_to_same_compact(
    id_type: NationalIdType, one: str, other: str
) -> None:
    # uniqueness on (type, number) must not be bypassable by re-spelling the number
    assert parse(id_type, one) == parse(id_type, other)


@pytest.mark.parametrize(
    ("id_type", "padded", "unpadded", "unpadded_is_valid"),
    [
        (T.CL_RUT, "00.123.456-0", "123.456-0", False),  # 0 is the right check digit
        (T.CL_RUT, "0.123.456-0", "123.456-0", False),
        (T.CL_RUT, "001234560", "1234560", False),
        (T.CL_RUT, "001.234.567-4", "1.234.567-4", True),  # too long once padded
        (T.AR_DNI, "00.123.456", "123.456", False),
        (T.AR_DNI, "0.123.456", "123.456", False),
        (T.AR_DNI, "00123456", "123456", False),
        (T.AR_DNI, "001.234.567", "1.234.567", True),
    ],
)
def test_zero_padding_does_not_make_a_number_valid(
    id_type: NationalIdType, padded: str, unpadded: str, unpadded_is_valid: bool
) -> None:
    # the number is stored without leading zeros, so that form must be valid on its own;
    # and padding cannot stretch a document past its length either
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, padded)
    assert info.value.reason == "it has the wrong length"
    if unpadded_is_valid:
        assert not parse(id_type, unpadded).number.startswith("0")
    else:
        with pytest.raises(InvalidNationalId, match="wrong length"):
            parse(id_type, unpadded)


def _dotted_text(digits: str) -> str:
    """Dots every three digits from the right, keeping leading zeros: "00.123.456"."""
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return ".".join(groups)


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=7, max_value=8))
@example(123456, 8)
@example(1, 8)
def test_rut_too_short_unpadded_is_refused_however_padded(body: int, width: int) -> None:
    check = rut_check_digit(body)
    padded = f"{body:0{width}d}"
    for digits in (str(body), padded, _dotted_text(padded)):
        with pytest.raises(InvalidNationalId, match="wrong length"):
            parse(T.CL_RUT, f"{digits}-{check}")


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=7, max_value=8))
@example(123456, 8)
def test_ar_dni_too_short_unpadded_is_refused_however_padded(body: int, width: int) -> None:
    padded = f"{body:0{width}d}"
    for digits in (str(body), padded, _dotted_text(padded)):
        with pytest.raises(InvalidNationalId, match="wrong length"):
            parse(T.AR_DNI, digits)


_ZEROS = ["0" * n for n in range(1, 14)] + [
    "00.000.000-0",
    "0.000.000-0",
    "00.000.000",
    "00-00000000-0",
    "000.000.000-0",
    "0000 0000",
]


@pytest.mark.parametrize("id_type", list(T))
@pytest.mark.parametrize("zeros", _ZEROS)
def test_all_zero_numbers_are_refused_for_every_type(id_type: NationalIdType, zeros: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, zeros)
    assert info.value.id_type is id_type


@pytest.mark.parametrize(
    ("id_type", "zeros"),
    [
        (T.CO_NIT, "00000000"),
        (T.CO_NIT, "000.000.000-0"),
        (T.CO_NIT, "0000000000000"),
        (T.PE_DNI, "00000000"),
        (T.PE_DNI, "00000000-6"),  # even with the right check digit
    ],
)
def test_all_zero_numbers_of_a_valid_shape_say_so(id_type: NationalIdType, zeros: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, zeros)
    assert info.value.reason == "it is all zeros"
    assert str(info.value) == f"not a valid {id_type.value}: it is all zeros"


@pytest.mark.parametrize(
    ("id_type", "zeros"),
    [
        (T.AR_DNI, "00.000.000"),
        (T.AR_DNI, "0000000"),
        (T.CL_RUT, "00.000.000-0"),
        (T.CL_RUT, "0.000.000-0"),
    ],
)
def test_all_zero_rut_and_dni_say_so(id_type: NationalIdType, zeros: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, zeros)
    assert info.value.reason == "it is all zeros"


# ---------------------------------------------------------------------------------------
# input hygiene and unknown types
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("id_type", list(T))
@pytest.mark.parametrize("text", ["", "   ", "\t\n", None])
def test_parse_refuses_empty(id_type: NationalIdType, text: str | None) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, text)  # type: ignore[arg-type]
    assert info.value.reason == "it is empty"
    assert info.value.id_type is id_type


@pytest.mark.parametrize("id_type", list(T))
def test_parse_refuses_overly_long_input(id_type: NationalIdType) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, "1" * 41)
    assert info.value.reason == "it has characters that do not belong in it"
    # even a valid RUT padded with harmless separators past the limit is refused
    with pytest.raises(InvalidNationalId):
        parse(id_type, "12.345.678-5" + "." * 40)


@pytest.mark.parametrize("id_type", list(T))
@pytest.mark.parametrize(
    "text",
    [
        "<script>12345678</script>",
        "12.345.678-5<",
        "12345678-5;",
        "12345678-5; DROP TABLE people",
        "12'345'678-5",
        '"12345678-5"',
        "12345678`5",
        "12345678\x005",
        "12345678\n5",
        "12345678%5",
        "12345678_5",
        "".join(chr(0xFF10 + int(d)) for d in "12345678") + "-5",  # full-width digits
        "".join(chr(0x0660 + int(d)) for d in "12345678") + "-5",  # Arabic-Indic digits
    ],
)
def test_parse_refuses_unsafe_characters(id_type: NationalIdType, text: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, text)
    assert info.value.reason == "it has characters that do not belong in it"


@given(
    st.sampled_from(list(T)),
    st.text(alphabet=st.sampled_from("<>;'\"`\\%$(){}[]=*!?#@\x00\r"), min_size=1, max_size=3),
    st.text(alphabet="0123456789", max_size=10),
)
def test_parse_refuses_any_unsafe_character(id_type: NationalIdType, bad: str, digits: str) -> None:
    with pytest.raises(InvalidNationalId):
        parse(id_type, digits + bad + digits)


@given(st.sampled_from(list(T)), st.text(max_size=60))
def test_parse_only_raises_invalid_national_id(id_type: NationalIdType, text: str) -> None:
    try:
        result = parse(id_type, text)
    except InvalidNationalId as exc:
        assert exc.id_type is id_type
        return
    assert result.type is id_type
    assert result.number == result.number.upper()
    assert all(ch not in " .-" for ch in result.number)


@pytest.mark.parametrize("id_type", ["XX_ID", "cl_rut", "", "CL", "US_SSN", "CL_RUT "])
def test_unknown_type_raises(id_type: str) -> None:
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, "12.345.678-5")
    assert str(info.value) == f"not a valid national ID: unknown type {id_type!r}"
    assert info.value.reason == f"unknown type {id_type!r}"
    assert info.value.id_type == id_type
    assert not isinstance(info.value.id_type, NationalIdType)


def test_unknown_type_message_shows_at_most_20_characters_of_it() -> None:
    id_type = "X" * 19 + "<script>" * 100
    with pytest.raises(InvalidNationalId) as info:
        parse(id_type, "12.345.678-5")
    assert str(info.value) == "not a valid national ID: unknown type 'XXXXXXXXXXXXXXXXXXX<'"
    assert info.value.id_type == id_type


def test_parse_accepts_type_by_name() -> None:
    assert parse("CL_RUT", "12.345.678-5") == parse(T.CL_RUT, "12.345.678-5")


def test_type_country() -> None:
    assert {t.country for t in T} == {"CL", "AR", "MX", "CO", "PE"}
    assert T.PE_RUC.country == "PE"


def test_national_id_is_frozen() -> None:
    rut = parse(T.CL_RUT, "12.345.678-5")
    with pytest.raises(AttributeError):
        rut.number = "1"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------
# display and mask
# ---------------------------------------------------------------------------------------


VALID_EXAMPLES = [
    (T.CL_RUT, "12.345.678-5", "12.345.678-5"),
    (T.CL_RUT, "10.000.013-K", "10.000.013-K"),
    (T.AR_CUIT, "20055361682", "20-05536168-2"),
    (T.AR_CUIL, "20055361682", "20-05536168-2"),
    (T.AR_DNI, "20123456", "20.123.456"),
    (T.MX_RFC, "GODE561231GR8", "GODE561231GR8"),
    (T.MX_RFC, "AÑC831115AB6", "AÑC831115AB6"),
    (T.MX_CURP, "BOXW310820HNERXN09", "BOXW310820HNERXN09"),
    (T.CO_NIT, "2131234321", "213.123.432-1"),
    (T.CO_CC, "1020304050", "1020304050"),
    (T.PE_DNI, "10117410", "10117410"),
    (T.PE_RUC, "20512333797", "20512333797"),
]


def _assert_masked(shown: str, masked: str) -> None:
    assert len(masked) == len(shown)
    revealed = [ch for ch in masked if ch.isalnum()]
    assert len(revealed) <= 3
    expected = [ch for ch in shown if ch.isalnum()][-3:]
    assert revealed == expected
    for s, m in zip(shown, masked, strict=True):
        if not s.isalnum():
            assert m == s  # separators stay
        else:
            assert m in (s, "•")
    # everything before the last three alphanumerics is hidden
    alnum_positions = [i for i, ch in enumerate(shown) if ch.isalnum()]
    for i in alnum_positions[:-3]:
        assert masked[i] == "•"


@pytest.mark.parametrize(("id_type", "text", "shown"), VALID_EXAMPLES)
def test_display_parses_back_to_the_same_id(id_type: NationalIdType, text: str, shown: str) -> None:
    nid = parse(id_type, text)
    assert parse(id_type, nid.display) == nid
    assert parse(id_type, nid.number) == nid


@given(st.sampled_from(list(T)), st.text(alphabet="0123456789 .-", max_size=20))
@example(T.CL_RUT, "01.234.567-4")
@example(T.AR_DNI, "01.234.567")
@example(T.CL_RUT, "00.123.456-0")
@example(T.AR_DNI, "00.123.456")
@example(T.PE_DNI, "10117410-2")
def test_display_of_anything_accepted_parses_back(id_type: NationalIdType, text: str) -> None:
    try:
        nid = parse(id_type, text)
    except InvalidNationalId:
        return
    assert parse(id_type, nid.display) == nid
    assert parse(id_type, nid.number) == nid
    assert nid.number.strip("0")
    if id_type in (T.CL_RUT, T.AR_DNI):
        assert not nid.number.startswith("0")
    if id_type is T.PE_DNI:
        assert len(nid.number) == 8


@pytest.mark.parametrize(("id_type", "text", "shown"), VALID_EXAMPLES)
def test_display_and_mask_of_valid_numbers(id_type: NationalIdType, text: str, shown: str) -> None:
    nid = parse(id_type, text)
    assert nid.display == shown == display(id_type, nid.number)
    _assert_masked(shown, mask(id_type, nid.number))


@pytest.mark.parametrize(
    ("id_type", "compact", "masked"),
    [
        (T.CL_RUT, "10000013K", "••.•••.•13-K"),
        (T.AR_CUIT, "20055361682", "••-••••••68-2"),
        (T.AR_DNI, "20123456", "••.•••.456"),
        (T.MX_CURP, "BOXW310820HNERXN09", "•••••••••••••••N09"),
        (T.CO_NIT, "2131234321", "•••.•••.•32-1"),
        (T.PE_RUC, "20512333797", "••••••••797"),
        (T.CO_CC, "123", "123"),
    ],
)
def test_mask_examples(id_type: NationalIdType, compact: str, masked: str) -> None:
    assert mask(id_type, compact) == masked


@given(
    st.sampled_from([T.MX_RFC, T.MX_CURP, T.CO_CC, T.PE_DNI, T.PE_RUC]),
    st.text(max_size=40),
)
def test_mask_never_reveals_more_than_three_alphanumerics(
    id_type: NationalIdType, text: str
) -> None:
    _assert_masked(text, mask(id_type, text))


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_mask_of_dni_never_reveals_more_than_three(number: str) -> None:
    assume(not number.startswith("0"))
    _assert_masked(display(T.AR_DNI, number), mask(T.AR_DNI, number))


# ---------------------------------------------------------------------------------------
# looks_like_national_id
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "12.345.678-5",
        "12345678-K",
        "123456785",
        "20-05536168-2",
        "20.123.456",
        "GODE561231GR8",
        "213.123.432-1",
        "1020304050",
        "20512333797",
        "10117410",
        "12345",
        "12 345 678 5",
        "12/345/678",
    ],
)
def test_looks_like_national_id_for_numbers(text: str) -> None:
    assert looks_like_national_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "María José Pérez",
        "Juan",
        "Ñuñoa",
        "O'Higgins",
        "Juan 2",
        "Luis XIV",
        "1234",  # too few digits
        "Pedro 1234",
        "ABCDEF12345GHIJKLM",  # letters dominate
    ],
)
def test_looks_like_national_id_for_names(text: str) -> None:
    assert not looks_like_national_id(text)


@given(st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=40))
def test_looks_like_national_id_never_for_pure_names(text: str) -> None:
    assert not looks_like_national_id(text)


@given(formatted_ruts())
def test_looks_like_national_id_for_any_formatted_rut(case: tuple[str, str, int]) -> None:
    assert looks_like_national_id(case[0])


@pytest.mark.parametrize(
    "text",
    [
        "BOXW310820HNERXN09",
        "boxw310820hnerxn09",
        "BOXW-310820-HNERXN-09",
        "MAB-930714-8T4",
        "mab9307148t4",
        "A&C831115AB6",
        "AÑC831115AB6",
        "GODE561231GR8",
    ],
)
def test_looks_like_national_id_for_mexican_ids(text: str) -> None:
    # a CURP has fewer digits than letters but is still an identity number
    assert looks_like_national_id(text)
