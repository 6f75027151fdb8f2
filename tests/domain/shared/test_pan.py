"""The card-number detector: every network's numbers in every way people write them are
found; look-alikes (RUTs, phone numbers, amounts, dates, invoice numbers, UUIDs, bank
account numbers) are not."""

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


#: The networks' published test numbers (Visa, Mastercard, American Express, Discover, JCB,
#: Diners, UnionPay: their developer documentation and the gateways' — Stripe, Adyen,
#: Braintree; Elo, Hipercard, Maestro, Naranja, Cabal: the test numbers ActiveMerchant and
#: Brazilian gateways use), and real-format numbers (Luhn check digit added) in ranges of
#: networks that publish none.
TEST_CARDS: dict[str, list[str]] = {
    "Visa": [
        "4111111111111111",
        "4012888888881881",
        "4242424242424242",
        "4000056655665556",
        "4222222222222",  # 13 digits
        with_check_digit("401288888888188" + "123"),  # 19 digits
    ],
    "Mastercard": [
        "5555555555554444",
        "5105105105105100",
        "5200828282828210",
        "5425233430109903",
        "2223003122003222",  # the 2-series
        with_check_digit("272099000000000"),
    ],
    "American Express": ["378282246310005", "371449635398431", "378734493671000"],
    "Discover": ["6011111111111117", "6011000990139424", with_check_digit("644564456445644")],
    "Diners Club": ["30569309025904", "38520000023237", "36227206271667", "3056930009020004"],
    "JCB": ["3530111333300000", "3566002020360505", "3566111111111113"],
    "UnionPay": ["6200000000000005", "6250941006528599", "6205500000000000004"],
    "Maestro": ["6759649826438453", "6799990100000000019", with_check_digit("501800000000000")],
    "Mir": [with_check_digit("220000000000000")],
    "Elo": ["6362970000457013", "5066991111111118", with_check_digit("509051000000000")],
    "Hipercard": ["6062825624254001", "6062828888666688"],
    "Naranja": ["5895627823453005", "5895620000000002", "5895626746595650"],
    "Cabal": [with_check_digit("604400900000000"), with_check_digit("603522440000000")],
    "Carnet": [with_check_digit("506221000000000")],
    "RuPay": [with_check_digit("508500000000000")],
    "Verve": [with_check_digit("506099000000000")],
    "Troy": [with_check_digit("979200000000000")],
    "Dankort": ["5019717010103742"],
}


@pytest.mark.parametrize(
    ("network", "number"), [(n, c) for n, cards in TEST_CARDS.items() for c in cards]
)
def test_every_networks_test_numbers_are_found(network: str, number: str) -> None:
    assert pan.card_network(number) == network
    [match] = pan.find_pans(f"tarjeta {number} del cliente")
    assert (match.last4, match.network) == (number[-4:], network)


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "4111111111111111")
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in "4111111111111111")
PERSIAN = "".join(chr(0x06F0 + int(d)) for d in "5555555555554444")
DEVANAGARI = "".join(chr(0x0966 + int(d)) for d in "378282246310005")


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111.1111.1111.1111",
        "4111  1111  1111  1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111 - 1111 - 1111 - 1111",
        "4111/1111/1111/1111",
        "4111\t1111\t1111\t1111",
        "4111_1111_1111_1111",
        "4111\u20131111\u20131111\u20131111",  # en dash
        "4111\u20141111\u20141111\u20141111",  # em dash
        "4111,1111,1111,1111",
        "4111, 1111, 1111, 1111",
        "4111\n1111\n1111\n1111",
        "4111\r\n1111\r\n1111\r\n1111",
        '"4111";"1111";"1111";"1111"',  # CSV cells
        "4111 | 1111 | 1111 | 1111",
        "4111\u200b1111\u200b1111\u200b1111",  # zero-width spaces
        "4111\u202f1111\u202f1111\u202f1111",  # narrow no-break spaces
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",  # one digit per box
        "4|1|1|1|1|1|1|1|1|1|1|1|1|1|1|1",
        FULL_WIDTH,
        "\uff14\uff11\uff11\uff11\uff0d\uff11\uff11\uff11\uff11\uff0d" * 0 + FULL_WIDTH,
        ARABIC_INDIC,
        PERSIAN,
        DEVANAGARI,
        "378282246310005",
        "3782 822463 10005",
        "3056 930902 5904",
        "mi tarjeta es 5500-0000-0000-0004 y no reconozco el cargo",
        "tarjeta 4111 1111 1111 1111 vence 12/27",
        "4111 1111 1111 1111 123",  # the CVV after it, in the same run
        "4111111111111111 123",
        "4111111111111111123",  # the CVV after it, unbroken
        "41111111111111111227",  # the expiry after it, unbroken
        "3782822463100051234",  # an Amex and its four-digit code
        "4111-1111-1111-1111/123",
        "cuota 3 4111 1111 1111 1111",
        "PAN:4111111111111111.",
        "visa4111111111111111",  # glued to a word (that is no hexadecimal string)
        "ref abc4111111111111111",
        "n\u00b04111111111111111",
    ],
)
def test_card_numbers_are_found_however_they_are_written(text: str) -> None:
    assert pan.contains_pan(text), text
    problems = Problems()
    pan.check(problems, "description", text)
    assert [p.field for p in problems.items] == ["description"]
    assert "last four digits" in problems.items[0].message


def _clabe(body17: str) -> str:
    weights = (3, 7, 1) * 6
    total = sum(int(d) * w % 10 for d, w in zip(body17, weights, strict=False))
    return body17 + str((10 - total % 10) % 10)


def _clabe_that_passes_luhn(bank: str) -> str:
    """A valid CLABE of ``bank`` that also passes Luhn (one in ten does)."""
    for n in range(1000):
        number = _clabe(f"{bank}180{n:011d}")
        if pan.luhn_valid(number):
            return number
    raise AssertionError("unreachable")


LOOKALIKES = {
    # Chilean RUTs
    "rut": "12.345.678-5",
    "rut without dots": "12345678-5",
    "company rut": "RUT 76.086.428-5",
    "ruts listed": "12.345.678-5, 9.876.543-3, 11.111.111-1",
    # phone numbers
    "chilean mobile": "+56 9 1234 5678",
    "chilean mobile e164": "+56912345678",
    "argentine mobile": "+54 9 11 4123-4567",
    "argentine mobile e164": "+5491141234567",
    "mexican mobile": "+52 55 1234 5678",
    "colombian mobile e164": "+573001234567",
    "german mobile e164": "+4915123456789",
    "german mobile": "+49 1512 3456789",
    "brazilian mobile": "+55 11 91234-5678",
    "phones listed": "+56 9 1234 5678 / +56 9 8765 4321 / +56 2 2123 4567",
    "phone then date": "9 3812 3456, 2026-11-21",
    "landline": "(011) 4123-4567",
    # amounts
    "clp amount": "$ 4.500.000",
    "amount with decimals": "1.234.567,89",
    "usd amount": "USD 1,234,567.89",
    "amounts listed": "4.500.000,00 3.200.000,00 1.100.000,00",
    "amounts added": "$1.500.000 + $2.300.000 + $4.100.000 = $7.900.000",
    # dates and times
    "iso date": "2026-11-21",
    "dates listed": "21/11/2026 22/11/2026 23/11/2026 24/11/2026",
    "dotted dates": "30.11.2026 01.12.2026",
    "timestamp": "2026-11-21T14:30:00Z",
    "date and time": "21/11/2026 14:30:15",
    # invoice and document numbers
    "argentine invoice": "Factura B 00003-00045678",
    "peruvian invoice": "F001-00004567",
    "chilean folio": "Boleta N° 4567891",
    "isbn": "978-3-16-148410-0",
    "imei": "35-209900-176148-1",
    # UUIDs
    "uuid7": "0191f6a4-7c1e-7b8a-9d3e-5f2a1b4c6d8e",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    # a uuid7 whose middle groups read as a Visa in four-digit groups (they pass Luhn)
    "uuid7 with a visa inside": "01a2518f-2529-7002-9335-3697ddde9526",
    "uppercase uuid with a visa inside": "01A2518F-2529-7002-9335-3697DDDE9526",
    "uuid7 in an audit key": "credit:01a2518f-2529-7002-9335-3697ddde9526/payment",
    # bank accounts
    "cbu": "0110599520000001234567",
    "cbu that starts with a visa number": "4111111111111111003456",
    "cvu": "0000003100010000000001",
    "clabe of stp": _clabe_that_passes_luhn("646"),
    "clabe of a unionpay-like bank": _clabe_that_passes_luhn("621"),
    "iban": "ES91 2100 0418 4502 0005 1332",
    "german iban": "DE89 3704 0044 0532 0130 00",
    # hashes: a run of digits in a long hexadecimal string
    "sha256": "e3b0c442" + "4111111111111111" + "9afbf4c8996fb92427ae41e4649b934ca495991b",
    "uuid without dashes": "4111111111111111" + "abcdef0123456789",
    # numbers that are not card numbers
    "luhn fails": "4111 1111 1111 1112",
    "luhn passes, no network": "1234567812345670",
    "12 digits": "411111111111",
    "zeros": "0000 0000 0000 0000",
    "23 unbroken digits": "41111111111111111111111",
    "last four only": "**** **** **** 1111",
    "masked": "XXXX-XXXX-XXXX-1111",
    "last four": "últimos 4: 4321",
    "empty": "",
}


@pytest.mark.parametrize("text", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_lookalikes_are_not_card_numbers(text: str) -> None:
    assert not pan.find_pans(text), text


def test_none_holds_no_card_number() -> None:
    assert not pan.contains_pan(None)


def test_a_clabe_is_not_a_card_number_though_its_digits_pass_luhn() -> None:
    clabe = LOOKALIKES["clabe of stp"]
    assert pan.luhn_valid(clabe) and pan.clabe_valid(clabe)
    assert not pan.contains_pan(clabe)


def test_luhn_vectors() -> None:
    assert pan.luhn_valid("79927398713")
    assert not pan.luhn_valid("79927398710")
    assert not pan.luhn_valid("")
    assert not pan.luhn_valid("12a4")
    assert not pan.luhn_valid("\uff17\uff19")


def test_match_reports_position_network_and_last_four() -> None:
    [match, *_] = pan.find_pans("card 4111-1111-1111-1111 please")
    assert (match.start, match.end, match.last4, match.network) == (5, 24, "1111", "Visa")
    [match, *_] = pan.find_pans(f"tarjeta {ARABIC_INDIC}")
    assert match.last4 == "1111" and (match.start, match.end) == (8, 24)


def test_redact_keeps_only_the_last_four_digits() -> None:
    text = "pagó con 4111 1111 1111 1111 y luego con 5555-5555-5555-4444 el 21/11/2026"
    assert pan.redact(text) == "pagó con ****1111 y luego con ****4444 el 21/11/2026"
    assert pan.redact("sin tarjeta 12.345.678-5") == "sin tarjeta 12.345.678-5"
    assert pan.redact("4111111111111111123") == "****1111"
    assert not pan.contains_pan(pan.redact(f"{FULL_WIDTH} {PERSIAN}"))


# --- properties ---------------------------------------------------------------------------
SEPARATORS = [" ", "-", ".", "  ", " - ", "/", "\t", "_", "\u2013", ",", "\n", "\r\n", '";"', "|"]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    network, number = draw(
        st.sampled_from([(n, c) for n, cards in TEST_CARDS.items() for c in cards])
    )
    if network == "Naranja":
        return number
    keep = draw(st.integers(min_value=6, max_value=len(number) - 1))
    body = number[:keep] + draw(
        st.text("0123456789", min_size=len(number) - keep - 1, max_size=len(number) - keep - 1)
    )
    return with_check_digit(body)


@given(
    number=card_numbers(),
    layout=st.sampled_from(["unbroken", "fours", "amex", "boxes", "fours and cvv"]),
    separator=st.sampled_from(SEPARATORS),
    prefix=st.text(alphabet="abcxyz :;()ÁÑ", max_size=20),
    suffix=st.text(alphabet="abcxyz :;()ÁÑ", max_size=20),
    digits=st.sampled_from(["ascii", "full-width", "arabic-indic"]),
)
def test_any_card_number_written_as_cards_are_written_is_found(
    number: str, layout: str, separator: str, prefix: str, suffix: str, digits: str
) -> None:
    if layout == "unbroken":
        parts = [number]
    elif layout == "amex" and len(number) in (14, 15):  # 4-6-4, 4-6-5
        parts = [number[:4], number[4:10], number[10:]]
    elif layout in ("boxes", "amex"):
        parts = list(number)
    else:
        parts = [number[i : i + 4] for i in range(0, len(number), 4)]
        if layout == "fours and cvv":
            parts.append("123")
    written = separator.join(parts)
    base = {"ascii": 0x30, "full-width": 0xFF10, "arabic-indic": 0x0660}[digits]
    written = "".join(chr(base + int(c)) if c.isdigit() else c for c in written)
    text = f"{prefix} {written} {suffix}"
    at = len(prefix) + 1
    found = pan.find_pans(text)
    # found where it was written (a 19-digit number may be read as its first 16 digits)
    assert any(at <= m.start < at + len(written) for m in found), text


LOOKALIKE_PARTS = st.sampled_from(
    [
        "12.345.678-5",
        "9.876.543-3",
        "+56 9 1234 5678",
        "+54 9 11 4123-4567",
        "$1.234.567",
        "1.234.567,89",
        "2026-11-21",
        "21/11/2026",
        "14:30",
        "F001-00004567",
        "00003-00045678",
        "cuota 3 de 36",
    ]
)


@given(
    parts=st.lists(LOOKALIKE_PARTS, min_size=1, max_size=12),
    joiner=st.sampled_from([" ", ", ", "; ", "\n", " y ", "\t", " / "]),
)
def test_text_made_of_lookalikes_holds_no_card_number(parts: list[str], joiner: str) -> None:
    text = joiner.join(parts)
    assert not pan.find_pans(text), text


@given(st.text(alphabet="0123456789 -\n", max_size=60))
def test_whatever_is_found_is_a_card_number(text: str) -> None:
    for match in pan.find_pans(text):
        digits = "".join(ch for ch in text[match.start : match.end] if ch.isdigit())
        assert any(pan.card_network(digits[: len(digits) - cut]) for cut in (0, 3, 4)), (
            text,
            match,
        )


def test_redacted_text_holds_no_card_number() -> None:
    text = "\n".join(f"{c} / {' '.join(c)}" for cards in TEST_CARDS.values() for c in cards)
    assert pan.contains_pan(text)
    assert not pan.contains_pan(pan.redact(text))


def test_no_uuid_is_a_card_number() -> None:
    """Ids are written everywhere (audit records, events): none may be taken for a card."""
    import random
    import uuid

    rng = random.Random(20261207)
    for _ in range(20_000):
        value = str(uuid.UUID(int=rng.getrandbits(128)))
        assert not pan.find_pans(value), value
        assert not pan.find_pans(f"id {value.upper()}, next"), value


def test_a_card_number_next_to_a_uuid_is_still_found() -> None:
    text = "01a2518f-2529-7002-9335-3697ddde9526 4111-1111-1111-1111"
    assert [m.last4 for m in pan.find_pans(text)] == ["1111"]
    assert pan.redact(text) == "01a2518f-2529-7002-9335-3697ddde9526 ****1111"
