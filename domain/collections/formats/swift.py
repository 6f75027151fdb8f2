"""SWIFT MT940 customer statements and MT942 interim transaction reports.

The ``mt-940`` library reads the ``:61:`` statement lines (value and entry dates with its
year-boundary fix, the debit/credit mark, funds code, transaction type, references). Its
defaults are not trusted (mt-940 5.x keeps its 5.0.0 behaviour unless told):

- every fix is switched on (``mt940.Options.all()``): reversal marks signed, lower-case
  marks, ``:86:`` kept whole, the byte-order mark dropped;
- the file is cut into messages and tags here first, with line numbers: SWIFT envelopes
  (``{1:…}{2:…}{4:``) and trailers (``-}``, ``{5:…}``) are dropped, CRLF and CR become LF,
  each ``:20:`` starts a message (several statements per file), and a message without its
  mandatory tags is refused with its line before the library sees it;
- the sign of each line comes from its mark here (``C``/``RD`` in, ``D``/``RC`` out), and
  the library's own sign must agree or the file is refused;
- balances (``:60F:``/``:60M:``, ``:62F:``/``:62M:``) and sums (``:90C:``/``:90D:``) are read
  here, exactly, in minor units;
- the ``:86:`` text is taken from the file as written, every continuation line kept and
  joined with newlines — never from the library — and then read for structure
  (``/EREF/…/NAME/…/REMI/…`` of Rabobank/ING, ``?20…?32`` of German banks) where present;
- the number of ``:61:`` lines the library returns must be the number the file has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import mt940
from mt940.models import Transactions

from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.formats.base import (
    AccountRef,
    Balance,
    ParsedLine,
    ParsedStatement,
    Problem,
    known_currency,
    malformed,
    to_minor,
)
from domain.collections.models import StatementKind

__all__ = ["looks_like_swift", "parse_swift"]

_OPTIONS = mt940.Options.all()

_TAG = re.compile(r"^:(\d{2}[A-Z]?|NS):(.*)$")
_ENVELOPE = re.compile(r"\{[1-3]:[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_BLOCK4 = re.compile(r"\{4:\s*$|\{4:")
_BALANCE = re.compile(r"^([CD])(\d{2})(\d{2})(\d{2})([A-Z]{3})([0-9][0-9,.]*)\s*$")
_SUM = re.compile(r"^(\d{1,5})([A-Z]{3})([0-9][0-9,.]*)\s*$")
_FLOOR = re.compile(r"^([A-Z]{3})([CD]?)([0-9][0-9,.]*)\s*$")
_MARK = re.compile(r"^\d{6}(?:\d{4}|\s{4})?(R?[CD])", re.IGNORECASE)
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_GVC = re.compile(r"^\d{3}\?")
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED", "NONE", "N/A"}


@dataclass(slots=True)
class _Tag:
    name: str
    value: str
    line: int


@dataclass(slots=True)
class _Message:
    tags: list[_Tag] = field(default_factory=list)
    envelope_type: str | None = None  # "940" / "942" from a {2:O940…} header

    @property
    def line(self) -> int:
        return self.tags[0].line if self.tags else 0

    def first(self, *names: str) -> _Tag | None:
        return next((t for t in self.tags if t.name in names), None)

    def all(self, *names: str) -> list[_Tag]:
        return [t for t in self.tags if t.name in names]


def looks_like_swift(text: str) -> bool:
    head = text[:4000]
    return bool(re.search(r"^:20:", head, re.MULTILINE)) and bool(
        re.search(r"^:(25|28C?|61|60F|62F|34F):", head, re.MULTILINE)
    )


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")  # LatAm banks still send ISO-8859-1


def _tokenize(text: str) -> list[_Message]:
    """Messages and their tags, with the line each tag starts on."""
    messages: list[_Message] = []
    current: _Message | None = None
    envelope_type: str | None = None
    tag: _Tag | None = None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("{1:") or line.lstrip().startswith("{2:"):
            found = re.search(r"\{2:[IO](\d{3})", line)
            envelope_type = found.group(1) if found else envelope_type
            rest = line[_BLOCK4.search(line).end() :] if _BLOCK4.search(line) else ""  # type: ignore[union-attr]
            tag = None
            if not rest.strip():
                continue
            line = rest
        if line.startswith("-}") or line.strip() == "-" or line.startswith("{5:"):
            tag = None  # end of a message's text block: what follows is a trailer
            continue
        if line.endswith("-}"):
            line = line[:-2].rstrip()
            if not line:
                continue
        match = _TAG.match(line)
        if match:
            name, value = match.group(1), match.group(2)
            if name == "20" or current is None:
                current = _Message(envelope_type=envelope_type)
                messages.append(current)
            tag = _Tag(name, value, number)
            current.tags.append(tag)
            continue
        if tag is None:
            if current is None:
                raise malformed(
                    "the file does not start with an MT940/MT942 tag (:20:)", f"line {number}"
                )
            raise malformed(f"text outside any tag: {line[:40]!r}", f"line {number}")
        tag.value += "\n" + line
    return messages


def _kind(message: _Message) -> StatementKind:
    if message.envelope_type == "942":
        return StatementKind.MT942
    if message.envelope_type == "940":
        return StatementKind.MT940
    has_balances = message.first("60F", "60M") is not None or message.first("62F", "62M")
    if not has_balances and (message.first("34F") or message.first("13D", "13")):
        return StatementKind.MT942
    return StatementKind.MT940


def _balance(tag: _Tag, kind_code: str) -> tuple[Balance, str]:
    match = _BALANCE.match(tag.value.strip())
    where = f"line {tag.line}, :{tag.name}:"
    if match is None:
        raise malformed(
            f"a balance is written D/C, YYMMDD, currency, amount: {tag.value[:40]!r}", where
        )
    mark, yy, mm, dd, currency, amount = match.groups()
    currency = known_currency(currency, where)
    minor = to_minor(amount, currency, where)
    try:
        on = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        raise malformed(f"{yy}{mm}{dd} is not a date", where) from None
    return Balance(minor if mark == "C" else -minor, kind_code, on), currency


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-]", "", text).upper()


def _account(tag: _Tag) -> AccountRef:
    value = _compact(tag.value.split("\n")[0])
    iban = None
    tail = value.rsplit("/", 1)[-1]
    if _IBAN_SHAPE.match(tail):
        iban = tail
    bic = (
        value.split("/", 1)[0]
        if "/" in value and re.match(r"^[A-Z]{6}[A-Z0-9]{2,5}$", value.split("/", 1)[0])
        else None
    )
    return AccountRef(iban=iban, other=value or None, bic=bic)


def _library_parse(message: _Message) -> list[dict[str, object]]:
    """Hand the message's tags to mt-940 and get its transactions' data."""
    text = "\n".join(f":{t.name}:{t.value}" for t in message.tags) + "\n"
    transactions = Transactions(options=_OPTIONS)
    try:
        transactions.parse(text)
    except RuntimeError as error:
        value = error.args[2] if len(error.args) > 2 else None
        culprit = next((t for t in message.tags if t.value.strip() == str(value).strip()), None)
        where = f"line {culprit.line}, :{culprit.name}:" if culprit else f"line {message.line}"
        shown = str(value).split("\n")[0][:60] if value is not None else ""
        raise malformed(f"the bank's line cannot be read: {shown!r}", where) from None
    except (ValueError, ArithmeticError, KeyError, TypeError, AttributeError) as error:
        raise malformed(
            f"the message cannot be read ({type(error).__name__})", f"line {message.line}"
        ) from None
    return [dict(t.data) for t in transactions]


def parse_swift(content: bytes) -> list[ParsedStatement]:
    text = _decode(content)
    messages = _tokenize(text)
    if not messages:
        raise malformed("no MT940/MT942 message in the file")
    return [_statement(message) for message in messages]


def _statement(message: _Message) -> ParsedStatement:
    kind = _kind(message)
    start = f"line {message.line}"
    tag20 = message.first("20")
    if tag20 is None:
        raise malformed("a message without its reference :20:", start)
    tag25 = message.first("25", "25P")
    if tag25 is None:
        raise malformed("the message does not name its account (:25:)", start)
    tag28 = message.first("28C", "28")
    if tag28 is None and kind is StatementKind.MT940:
        raise malformed("the statement has no statement number (:28C:)", start)
    problems: list[Problem] = []
    opening = closing = None
    currency: str | None = None
    if kind is StatementKind.MT940:
        open_tag = message.first("60F", "60M")
        close_tag = message.first("62F", "62M")
        if open_tag is None:
            raise malformed("the statement has no opening balance (:60F:)", start)
        if close_tag is None:
            raise malformed("the statement has no closing balance (:62F:)", start)
        opening, currency = _balance(open_tag, "OPBD" if open_tag.name == "60F" else "ITBD")
        closing, closing_currency = _balance(
            close_tag, "CLBD" if close_tag.name == "62F" else "ITBD"
        )
        if closing_currency != currency:
            raise StatementRefused(
                RefusalCode.CURRENCY_MISMATCH,
                f"opening balance in {currency}, closing in {closing_currency}",
                where=f"line {close_tag.line}, :{close_tag.name}:",
            )
    else:
        floor = message.first("34F")
        if floor is not None:
            match = _FLOOR.match(floor.value.strip())
            if match is None:
                raise malformed(
                    f"a floor limit reads like EUR0, not {floor.value[:30]!r}",
                    f"line {floor.line}, :34F:",
                )
            currency = known_currency(match.group(1), f"line {floor.line}, :34F:")
        for tag in message.all("60F", "60M", "62F", "62M"):
            balance, currency = _balance(tag, "ITBD")
            if tag.name.startswith("60"):
                opening = balance
            else:
                closing = balance
    statement_lines = message.all("61")
    if statement_lines and currency is None:
        raise StatementRefused(
            RefusalCode.UNKNOWN_CURRENCY,
            "the report states no currency (:34F: or a balance)",
            where=start,
        )
    number = sequence = None
    if tag28 is not None:
        match = re.match(r"^\s*(\d{1,5})(?:/(\d{1,5}))?\s*$", tag28.value)
        if match is None:
            raise malformed(
                f"the statement number is 5 digits[/5 digits], not {tag28.value[:20]!r}",
                f"line {tag28.line}, :{tag28.name}:",
            )
        number = int(match.group(1))
        sequence = int(match.group(2)) if match.group(2) else None
    reference = tag20.value.split("\n")[0].strip()
    statement_ref = reference + (f"/{tag28.value.strip()}" if tag28 is not None else "")
    parsed = ParsedStatement(
        kind=kind,
        account=_account(tag25),
        currency=currency,
        where=start,
        statement_ref=statement_ref[:100] or None,
        sequence=number,
        page=sequence,
        opening=opening,
        closing=closing,
        problems=problems,
    )
    for sum_tag, attr in (("90C", "credit"), ("90D", "debit")):
        found = message.first(sum_tag)
        if found is None:
            continue
        match = _SUM.match(found.value.strip())
        where = f"line {found.line}, :{sum_tag}:"
        if match is None:
            raise malformed(
                f"a sum of entries reads like 3EUR120,50, not {found.value[:30]!r}", where
            )
        if currency is None:
            currency = known_currency(match.group(2), where)
            parsed.currency = currency
        setattr(parsed, f"declared_{attr}_count", int(match.group(1)))
        setattr(parsed, f"declared_{attr}_sum", to_minor(match.group(3), currency, where))
    if not statement_lines:
        return _dates(parsed)
    assert currency is not None
    library = _library_parse(message)
    if len(library) != len(statement_lines):
        raise malformed(
            f"the statement has {len(statement_lines)} :61: lines but only "
            f"{len(library)} could be read",
            start,
        )
    details = _details_of(message)
    for index, (tag, data) in enumerate(zip(statement_lines, library, strict=True)):
        parsed.lines.append(_line(tag, data, details.get(index), currency))
        parsed.entries_sum += parsed.lines[-1].amount
    return _dates(parsed)


def _dates(parsed: ParsedStatement) -> ParsedStatement:
    days = [line.booking_date for line in parsed.lines]
    for balance in (parsed.opening, parsed.closing):
        if balance is not None and balance.on is not None:
            days.append(balance.on)
    if days:
        parsed.from_date = min(days)
        parsed.to_date = max(days)
    return parsed


def _details_of(message: _Message) -> dict[int, str]:
    """The ``:86:`` that follows each ``:61:`` (by the line's index), whole."""
    out: dict[int, str] = {}
    index = -1
    previous = None
    for tag in message.tags:
        if tag.name == "61":
            index += 1
        elif tag.name == "86" and previous == "61":
            out[index] = tag.value.strip("\n")
        if tag.name != "NS":
            previous = tag.name
    return out


def _line(tag: _Tag, data: dict[str, object], details: str | None, currency: str) -> ParsedLine:
    where = f"line {tag.line}, :61:"
    mark_match = _MARK.match(tag.value)
    if mark_match is None:
        raise malformed("a statement line needs a date and a D/C/RD/RC mark", where)
    mark = mark_match.group(1).upper()
    amount_obj = data.get("amount")
    raw_amount = getattr(amount_obj, "amount", None)
    if not isinstance(raw_amount, Decimal):
        raise malformed("a statement line without an amount", where)
    funds = data.get("currency")
    if isinstance(funds, str) and funds and funds != currency:
        raise StatementRefused(
            RefusalCode.CURRENCY_MISMATCH,
            f"a line in {funds} in a statement in {currency}",
            where=where,
        )
    magnitude = to_minor(format(abs(raw_amount), "f"), currency, where)
    if magnitude == 0:
        raise malformed("a statement line of zero", where)
    incoming = mark in ("C", "RD")
    sign = 1 if incoming else -1
    # The library's sign, with reversal_sign on, must agree with the mark.
    if (raw_amount > 0) != incoming:
        raise malformed(f"the sign of a {mark} line is ambiguous", where)
    value_date = data.get("date")
    entry_date = data.get("entry_date")
    if not isinstance(value_date, date):
        raise malformed("a statement line without a value date", where)
    booking = entry_date if isinstance(entry_date, date) else value_date
    bank_reference = _reference(data.get("bank_reference"))
    customer_reference = _reference(data.get("customer_reference"))
    type_code = data.get("id")
    line = ParsedLine(
        booking_date=date(booking.year, booking.month, booking.day),
        value_date=date(value_date.year, value_date.month, value_date.day),
        amount=sign * magnitude,
        currency=currency,
        where=where,
        is_reversal=mark.startswith("R"),
        bank_reference=bank_reference,
        customer_reference=customer_reference,
        bank_transaction_code=str(type_code).strip()[:60] if type_code else None,
        remittance_info=details or None,
    )
    extra = data.get("extra_details")
    if isinstance(extra, str) and extra.strip():
        line.bank_transaction_text = extra.strip()[:140]
    if details:
        _structured(line, details)
    return line


def _reference(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if text.upper() in _NO_REFERENCE else text[:100]


_SEPA_KEYS = (
    "EREF",
    "PREF",
    "MARF",
    "CSID",
    "CNTP",
    "REMI",
    "ORDP",
    "BENM",
    "NAME",
    "IBAN",
    "BIC",
    "ADDR",
    "ISDT",
    "RTRN",
    "ULTC",
    "ULTD",
    "ULTB",
    "PURP",
    "TRCD",
    "BUSP",
    "IREF",
    "SVCL",
)
_SEPA_SPLIT = re.compile(r"/(" + "|".join(_SEPA_KEYS) + r")/")


def _structured(line: ParsedLine, text: str) -> None:
    """Read the structure some banks give ``:86:``; the text itself stays whole."""
    flat = text.replace("\n", "")
    if _GVC.match(flat):
        _gvc(line, flat)
    elif _SEPA_SPLIT.search(flat):
        _sepa(line, flat)


def _sepa(line: ParsedLine, flat: str) -> None:
    parts = _SEPA_SPLIT.split(flat)
    fields: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=False):
        fields.setdefault(key, value.strip("/ "))
    if fields.get("EREF") and fields["EREF"].upper() not in _NO_REFERENCE:
        line.end_to_end_id = fields["EREF"][:100]
    party = fields.get("CNTP") or fields.get("ORDP") or fields.get("BENM")
    if fields.get("CNTP"):
        # CNTP/<account>/<BIC>/<name>/<city>
        pieces = fields["CNTP"].split("/")
        line.counterparty_account = pieces[0][:64] or None
        line.counterparty_bank = (pieces[1][:35] or None) if len(pieces) > 1 else None
        line.counterparty_name = (pieces[2][:140] or None) if len(pieces) > 2 else None
    elif party:
        found = re.search(r"NAME/([^/]+)", party)
        if found:
            line.counterparty_name = found.group(1).strip()[:140]
        found = re.search(r"ID/([^/]+)", party)
        if found:
            line.counterparty_id_raw = found.group(1).strip()[:64]
    if fields.get("NAME"):
        line.counterparty_name = fields["NAME"][:140]
    if fields.get("IBAN"):
        line.counterparty_account = _compact(fields["IBAN"])[:64]
    if fields.get("BIC"):
        line.counterparty_bank = fields["BIC"][:35]
    remi = fields.get("REMI")
    if remi:
        found = re.search(r"CDTRREF/([^/]+)", remi) or re.search(r"STRD/[^/]*/([^/]+)", remi)
        if found:
            line.creditor_reference = found.group(1).strip()[:100]


def _gvc(line: ParsedLine, flat: str) -> None:
    """German structured ``:86:``: ``166?00GUTSCHRIFT?20EREF+…?21SVWZ+…?32Name``."""
    fields: dict[str, list[str]] = {}
    for code, value in re.findall(r"\?(\d{2})([^?]*)", flat):
        fields.setdefault(code, []).append(value)
    purpose = "".join(
        v
        for c in [f"{n:02d}" for n in range(20, 30)] + ["60", "61", "62", "63"]
        for v in fields.get(c, [])
    )
    found = re.search(r"EREF\+(.*?)(?=[A-Z]{4}\+|$)", purpose)
    if found and found.group(1).strip().upper() not in _NO_REFERENCE:
        line.end_to_end_id = found.group(1).strip()[:100]
    name = "".join(fields.get("32", []) + fields.get("33", []))
    if name.strip():
        line.counterparty_name = name.strip()[:140]
    if fields.get("31"):
        line.counterparty_account = _compact(fields["31"][0])[:64] or None
    if fields.get("30"):
        line.counterparty_bank = fields["30"][0].strip()[:35] or None
    if fields.get("00") and not line.bank_transaction_text:
        line.bank_transaction_text = fields["00"][0].strip()[:140] or None
