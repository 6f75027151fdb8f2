"""Card numbers (PANs) never enter Trama: find one in any text and refuse it (DESIGN §4).

What a card number is
---------------------
13 to 19 digits (ISO/IEC 7812) that start with the number range of a card network, have
one of that network's lengths and pass its check digit (:data:`NETWORKS`: Visa, Mastercard,
American Express, Discover, Diners Club, JCB, UnionPay, Maestro, Mir, Elo, Hipercard,
Naranja, Cabal, Carnet, RuPay, Verve, Troy, Dankort). The check is Luhn (mod 10); Naranja
cards also carry a mod-11 check digit, and either is accepted for them.

How people write one
--------------------
Digits are any Unicode decimal digits (full-width, Arabic-Indic, Devanagari …), read as 0-9.
Digit groups joined by a short run (at most :data:`MAX_SEPARATORS` characters) of
separators — spaces of any kind, tabs, line breaks, hyphens and dashes, dots, commas,
semicolons, slashes, underscores, pipes, quotes, zero-width characters — form a *chain*:
``4111 - 1111 - 1111 - 1111``, ``4111/1111/1111/1111``, CSV cells ``"4111";"1111";…``, a
number broken over lines or table cells. A span of whole groups of a chain is a card number
when its digits are one and its groups are laid out the way card numbers are written, all
joined by the same separator:

- one group (``4111111111111111``);
- groups of four digits, the last of 1 to 4 (``4111 1111 1111 1111``,
  ``6205 5000 0000 0000 004``), or 4-6-5 and 4-6-4 (``3782 822463 10005``);
- one digit per group, from the first of a run of them (``4 1 1 1 …``: boxes of a form).

The span may be preceded or followed by other groups of its chain (``cuota 3 4111 1111 1111
1111 123``: a CVV, an expiry). Other layouts are not card numbers, so amounts
(``1.234.567,89``), dates (``21/11/2026``), RUTs (``12.345.678-5``), phone numbers
(``+56 9 1234 5678``), rows of numeric columns in a CSV, and lists of them are not read as
one. A number is bounded by non-digits: an unbroken run of more than 20 digits (a 22-digit
CBU) is not searched inside, and a card number with its CVV or expiry written right after
it (``4111111111111111123``) is found. A run of digits in a long hexadecimal string (a
SHA-256) is part of that string, and digits in a UUID (``8-4-4-4-12``) are part of it.
An 18-digit number that is a valid Mexican CLABE is a CLABE, and a number right after ``+``
is a phone number in international form.

Cost: one pass per layout of a compiled pattern without nested quantifiers (linear in the
text), then a bounded amount of work per candidate; runs of four-digit groups are first
filtered by their Luhn sums, a table lookup per group.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from domain.shared.errors import Problems

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19
#: Longest run of separator characters between two digit groups of one number.
MAX_SEPARATORS = 4
#: A card number followed by its CVV or expiry in one unbroken run: at most this long.
_WITH_SUFFIX_MAX = 20

MESSAGE = "must not contain a card number: give only its last four digits"

# --- check digits -----------------------------------------------------------------------
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    raw = digits.encode("ascii")
    return (sum(raw[-1::-2].translate(_PLAIN)) + sum(raw[-2::-2].translate(_DOUBLED))) % 10 == 0


_NARANJA_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _naranja_valid(digits: str) -> bool:
    """Tarjeta Naranja (Argentina): a mod-11 check digit over the first 15 digits; some of
    its numbers pass Luhn instead, so either counts."""
    if luhn_valid(digits):
        return True
    if len(digits) != 16:
        return False
    total = sum(int(d) * w for d, w in zip(digits, _NARANJA_WEIGHTS, strict=False))
    check = 11 - total % 11
    return (0 if check > 9 else check) == int(digits[15])


_CLABE_WEIGHTS = (3, 7, 1) * 6


def clabe_valid(digits: str) -> bool:
    """An 18-digit Mexican CLABE with a right check digit (weights 3, 7, 1, mod 10)."""
    if len(digits) != 18 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * w % 10 for d, w in zip(digits[:17], _CLABE_WEIGHTS, strict=False))
    return (10 - total % 10) % 10 == int(digits[17])


# --- networks ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Network:
    name: str
    #: Inclusive ranges of leading digits, each bound as long as the other ("2221", "2720").
    ranges: tuple[tuple[str, str], ...]
    lengths: frozenset[int]
    check: Callable[[str], bool] = luhn_valid

    def issued(self, digits: str) -> bool:
        """``digits`` starts in one of the network's ranges and has one of its lengths."""
        return len(digits) in self.lengths and any(
            lo <= digits[: len(lo)] <= hi for lo, hi in self.ranges
        )


def _one(*prefixes: str) -> tuple[tuple[str, str], ...]:
    return tuple((p, p) for p in prefixes)


def _span(lo: int, hi: int) -> frozenset[int]:
    return frozenset(range(lo, hi + 1))


#: Number ranges and lengths as the networks publish them (issuer identification numbers).
#: Sources: ISO/IEC 7812 and Wikipedia's "Payment card number", Mastercard Rules (Maestro
#: ranges), Elo's BIN table, and for Argentina (Naranja, Cabal) and Mexico (Carnet) the
#: ranges ActiveMerchant ships. A number outside every range is not judged a card number:
#: a new range is added here.
NETWORKS: tuple[Network, ...] = (
    Network("Visa", _one("4"), frozenset({13, 16, 19})),
    Network("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    Network("American Express", _one("34", "37"), frozenset({15})),
    Network(
        "Discover",
        (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")),
        _span(16, 19),
    ),
    Network(
        "Diners Club", (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), _span(14, 19)
    ),
    Network("JCB", (("3528", "3589"),), _span(16, 19)),
    Network(
        "JCB",
        (("3088", "3094"), ("3096", "3102"), ("3112", "3120"), ("3158", "3159"), ("3337", "3349")),
        frozenset({16}),
    ),
    Network("UnionPay", (("62", "62"), ("8100", "8171")), _span(16, 19)),
    Network(
        "Maestro",
        (*_one("5018", "5020", "5038", "5893", "6304", "6759"), ("6761", "6763"), ("67", "67")),
        _span(13, 19),
    ),
    Network("Mir", (("2200", "2204"),), _span(16, 19)),
    Network(
        "Elo",
        (
            *_one("401178", "401179", "431274", "438935", "451416", "457393", "504175"),
            ("457631", "457632"),
            ("506699", "506778"),
            ("509000", "509999"),
            *_one("627780", "636297", "636368", "636369"),
            ("650031", "650033"),
            ("650035", "650051"),
            ("650057", "650081"),
            ("650405", "650439"),
            ("650485", "650538"),
            ("650541", "650598"),
            ("650700", "650718"),
            ("650720", "650727"),
            ("650901", "650978"),
            ("651652", "651704"),
            ("655000", "655019"),
            ("655021", "655058"),
        ),
        frozenset({16}),
    ),
    Network(
        "Hipercard",
        _one("384100", "384140", "384160", "606282", "637095", "637568", "637599", "637609")
        + _one("637612"),
        frozenset({13, 16, 19}),
    ),
    Network("Naranja", _one("589562"), frozenset({16}), _naranja_valid),
    Network(
        "Cabal",
        (
            ("60420100", "60440099"),
            ("58965700", "58965799"),
            ("60352200", "60352299"),
            ("65027200", "65027299"),
            ("65008700", "65008700"),
        ),
        frozenset({16}),
    ),
    Network(
        "Carnet",
        (
            ("506199", "506499"),
            *_one("286900", "502275", "588772", "606333", "627535", "636318", "636379"),
            *_one("639388", "639484", "639559"),
        ),
        frozenset({16}),
    ),
    Network(
        "RuPay",
        (("60", "60"), ("65", "65"), ("81", "82"), ("508", "508"), ("353", "353"), ("356", "356")),
        frozenset({16}),
    ),
    Network(
        "Verve",
        (("506099", "506198"), ("507865", "507964"), ("650002", "650027")),
        frozenset({16, 18, 19}),
    ),
    Network("Troy", _one("9792"), frozenset({16})),
    Network("Dankort", _one("5019"), frozenset({16})),
)


def _buckets() -> dict[str, tuple[tuple[int, int, Network], ...]]:
    """The networks by the first two digits, each range as eight-digit bounds."""
    found: dict[str, list[tuple[int, int, Network]]] = {}
    for network in NETWORKS:
        for lo, hi in network.ranges:
            low, high = int(lo.ljust(8, "0")), int(hi.ljust(8, "9"))
            for first_two in range(low // 1_000_000, high // 1_000_000 + 1):
                found.setdefault(f"{first_two:02d}", []).append((low, high, network))
    return {key: tuple(value) for key, value in found.items()}


_BUCKETS = _buckets()
#: The first digits any card number can have.
_FIRST_DIGITS = frozenset(key[0] for key in _BUCKETS)


def card_network(digits: str) -> str | None:
    """The network whose card number ``digits`` (ASCII) is, or None."""
    bucket = _BUCKETS.get(digits[:2])
    size = len(digits)
    if (
        bucket is None
        or not PAN_MIN_DIGITS <= size <= PAN_MAX_DIGITS
        or not (digits.isascii() and digits.isdigit())
        or (size == 18 and clabe_valid(digits))
    ):
        return None
    prefix = int(digits[:8])
    luhn: bool | None = None
    for low, high, network in bucket:
        if low <= prefix <= high and size in network.lengths:
            if network.check is luhn_valid:
                if luhn is None:
                    luhn = luhn_valid(digits)
                valid = luhn
            else:
                valid = network.check(digits)
            if valid:
                return network.name
    return None


# --- the scanner ------------------------------------------------------------------------
_SEPARATOR_CLASS = (
    # spaces and breaks of every kind, zero-width characters, the soft hyphen
    r"\s\u00ad\u180e\u200b-\u200d\u2060\ufeff"
    # hyphens, dashes and minus signs
    r"\-\u2010-\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
    # dots, commas, semicolons, slashes, underscores, pipes, quotes (CSV cells)
    r"./_,;|'\"`\u00b7\u2018-\u201f\u2024\u2027\u2044\u2215\u3001\u3002"
    r"\uff0c\uff0e\uff0f\uff1b\uff3f\uff5c\uff07\uff02"
)
_S = f"[{_SEPARATOR_CLASS}]{{1,{MAX_SEPARATORS}}}"
# Each pattern starts at a digit no digit precedes, and has no nested quantifiers that can
# match the same text two ways: one pass of each is linear in the text.
#: One group of 13 to 20 digits (a card number, or one and its CVV or expiry).
_UNBROKEN = re.compile(r"\d(?<!\d\d)\d{12,19}(?!\d)")
#: Three or more groups of four digits joined by one separator, maybe a last of 1 to 3.
_FOURS = re.compile(
    rf"\d(?<!\d\d)\d{{3}}(?P<s>{_S})\d{{4}}(?!\d)(?:(?P=s)\d{{4}}(?!\d))+"
    r"(?:(?P=s)\d{1,3}(?!\d))?"
)
#: 4-6-5 and 4-6-4 (American Express, Diners).
_FOUR_SIX = re.compile(rf"\d(?<!\d\d)\d{{3}}(?P<s>{_S})\d{{6}}(?P=s)\d{{4,5}}(?!\d)")
#: Thirteen or more digits one per group, joined by one separator (boxes of a form).
_BOXES = re.compile(rf"\d(?<!\d\d)(?P<s>{_S})\d(?!\d)(?:(?P=s)\d(?!\d)){{11,}}")
_PLUS = frozenset("+\uff0b\u207a\u208a")


@dataclass(frozen=True, slots=True)
class PanMatch:
    start: int  # offsets in the text searched
    end: int
    last4: str
    network: str = ""


class _DigitsToAscii(dict[int, int | None]):
    """For ``str.translate``: each decimal digit to its ASCII digit, other characters kept
    (learnt as they are met)."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        value = 48 + unicodedata.decimal(char) if char.isdecimal() else code
        self[code] = value
        return value


_TO_ASCII = _DigitsToAscii()


def _ascii_digits(text: str) -> str:
    """``text`` with every decimal digit as its ASCII digit."""
    return text if text.isascii() else text.translate(_TO_ASCII)


def _card(digits: str, text: str, start: int) -> str | None:
    """The network of ``digits`` found at ``start`` of ``text``; a number right after a plus
    sign is a phone number in international form."""
    if digits[0] not in _FIRST_DIGITS or (start and text[start - 1] in _PLUS):
        return None
    return card_network(digits)


_HEX_LETTERS = frozenset("abcdefABCDEF")
_HEX = re.compile(r"[0-9A-Fa-f]{0,64}")
_HEX_BEFORE = re.compile(r"[0-9A-Fa-f]{0,64}$")
#: A run of digits in a hexadecimal string at least this long (a SHA-256, a UUID without
#: its dashes, a key) is part of that string, not a card number.
HEX_TOKEN_MIN = 32


def _in_hex_token(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies in a long hexadecimal string (looking at most 64
    characters each side: constant work per number)."""
    if not (
        (start and text[start - 1] in _HEX_LETTERS)
        or (end < len(text) and text[end] in _HEX_LETTERS)
    ):
        return False
    before = _HEX_BEFORE.search(text, max(0, start - 64), start)
    after = _HEX.match(text, end)
    size = (
        (end - start)
        + (len(before.group()) if before else 0)
        + (len(after.group()) if after else 0)
    )
    return size >= HEX_TOKEN_MIN


#: A UUID in its usual form (8-4-4-4-12 hexadecimal digits). Its three middle groups and a
#: fourth of digits only can read as a Visa or Mastercard in four-digit groups (about one
#: uuid7 in 2,800: ``01a2518f-2529-7002-9335-3697ddde9526``); inside a UUID they are its.
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_UUID_SIZE = 36


def _in_uuid(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies in a UUID (constant work: a UUID holding the span
    starts at most 36 characters before it)."""
    if "-" not in text[max(0, start - 1) : end + 1]:
        return False
    lo = max(0, start - _UUID_SIZE)
    for match in _UUID.finditer(text, lo, min(len(text), end + _UUID_SIZE)):
        if match.start() <= start and end <= match.end():
            return True
    return False


def _unbroken(text: str) -> Iterator[PanMatch]:
    for match in _UNBROKEN.finditer(text):
        digits = _ascii_digits(match.group())
        start, end = match.span()
        if _in_hex_token(text, start, end):
            continue
        # the number, or the number and its CVV (3 digits) or expiry (4) right after it
        for cut in (0, 3, 4) if len(digits) > PAN_MIN_DIGITS + 2 else (0,):
            network = _card(digits[: len(digits) - cut], text, start)
            if network:
                yield PanMatch(
                    start, end, digits[len(digits) - cut - 4 : len(digits) - cut], network
                )
                break


#: What four digits add to the Luhn sum of a 16-digit number they are a group of.
_FOUR_DIGIT_LUHN = {
    f"{n:04d}": sum(
        (2 * int(d) - 9 * (int(d) > 4)) if i % 2 == 0 else int(d) for i, d in enumerate(f"{n:04d}")
    )
    for n in range(10_000)
}


#: Where numbers of networks with a check digit of their own start (Naranja's mod 11).
_OWN_CHECK_PREFIXES = tuple(
    lo for network in NETWORKS if network.check is not luhn_valid for lo, _ in network.ranges
)


def _fours(text: str) -> Iterator[PanMatch]:
    for match in _FOURS.finditer(text):
        separator = match.group("s")
        digits = _ascii_digits(match.group()).replace(separator, "")
        full, partial = divmod(len(digits), 4)
        step = 4 + len(separator)
        start = match.start()
        # four groups: only the windows whose Luhn sum is right are looked at further
        values = [_FOUR_DIGIT_LUHN[digits[i : i + 4]] for i in range(0, 4 * full, 4)]
        sums = zip(values, values[1:], values[2:], values[3:], strict=False)
        windows = [
            (4 * i, 16)
            for i, (a, b, c, d) in enumerate(sums)
            if (a + b + c + d) % 10 == 0 or digits.startswith(_OWN_CHECK_PREFIXES, 4 * i)
        ]
        if partial:  # three or four groups and the last, shorter one
            windows += [(4 * (full - k), 4 * k + partial) for k in (3, 4) if full >= k]
        for offset, length in windows:
            network = _card(digits[offset : offset + length], text, start + offset // 4 * step)
            if network:
                at = start + offset // 4 * step
                width = length + (-(-length // 4) - 1) * len(separator)
                yield PanMatch(
                    at, at + width, digits[offset + length - 4 : offset + length], network
                )


def _four_six(text: str) -> Iterator[PanMatch]:
    for match in _FOUR_SIX.finditer(text):
        digits = _ascii_digits(match.group()).replace(match.group("s"), "")
        network = _card(digits, text, match.start())
        if network:
            yield PanMatch(match.start(), match.end(), digits[-4:], network)


#: Card numbers' lengths, the most common first.
_COMMON_LENGTHS_FIRST = (16, 15, 14, 19, 13, 17, 18)


def _boxes(text: str) -> Iterator[PanMatch]:
    for match in _BOXES.finditer(text):
        separator = match.group("s")
        first = match.group()[: PAN_MAX_DIGITS * (1 + len(separator))]  # only the run's start
        digits = _ascii_digits(first).replace(separator, "")
        start = match.start()
        for length in _COMMON_LENGTHS_FIRST:
            if length > len(digits):
                continue
            network = _card(digits[:length], text, start)
            if network:
                end = start + length + (length - 1) * len(separator)
                yield PanMatch(start, end, digits[length - 4 : length], network)
                break


_LAYOUTS = (_unbroken, _fours, _four_six, _boxes)


def scan(text: str | None) -> Iterator[PanMatch]:
    """Every span of ``text`` that reads as a card number, layout by layout (a number may
    be reported more than once, as spans that overlap)."""
    if not text:
        return
    for layout in _LAYOUTS:
        for match in layout(text):
            if not _in_uuid(text, match.start, match.end):
                yield match


def find_pans(text: str | None) -> list[PanMatch]:
    """Every span of ``text`` that reads as a card number, in the order of the text."""
    return sorted(scan(text), key=lambda m: (m.start, m.end))


def first_pan(text: str | None) -> PanMatch | None:
    """The first card number in ``text`` (the whole text is searched)."""
    return min(scan(text), key=lambda m: (m.start, m.end), default=None)


def contains_pan(text: str | None) -> bool:
    return next(scan(text), None) is not None


def redact(text: str) -> str:
    """``text`` with every card number replaced by ``****`` and its last four digits."""
    spans: list[list[int]] = []
    last4: list[str] = []
    for match in sorted(scan(text), key=lambda m: (m.start, -m.end)):
        if spans and match.start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], match.end)
            continue
        spans.append([match.start, match.end])
        last4.append(match.last4)
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for (start, end), four in zip(spans, last4, strict=True):
        out.append(text[position:start])
        out.append(f"****{four}")
        position = end
    out.append(text[position:])
    return "".join(out)


def check(problems: Problems, field: str, text: str | None) -> None:
    """Add a problem on ``field`` when ``text`` holds a card number."""
    if contains_pan(text):
        problems.add(field, MESSAGE)
