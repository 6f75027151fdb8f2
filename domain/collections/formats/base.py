"""What every statement reader produces: statements, their balances and lines, in exact
integer minor units, plus the problems found on the way (non-fatal) — or a
:class:`~domain.collections.errors.StatementRefused` for a file that cannot be read whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.models import StatementKind
from domain.shared.money import CURRENCY_EXPONENTS

__all__ = [
    "AccountRef",
    "Balance",
    "ParsedFile",
    "ParsedLine",
    "ParsedStatement",
    "Problem",
    "malformed",
    "to_minor",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something worth a look that does not stop the file (an XSD deviation, a pending
    entry left out, a national ID that does not validate…)."""

    code: str
    message: str
    where: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "where": self.where}


@dataclass(frozen=True, slots=True)
class AccountRef:
    """How the file names the account: IBAN, another id (a local number, a CBU/CLABE, the
    MT940 ``:25:`` text) and the servicer's BIC when given. Compact, upper case."""

    iban: str | None = None
    other: str | None = None
    bic: str | None = None
    currency: str | None = None

    def candidates(self) -> list[str]:
        """Identifiers to look the account up by, most specific first."""
        out: list[str] = []
        for value in (self.iban, self.other):
            if value and value not in out:
                out.append(value)
        if self.other and "/" in self.other:  # MT940 "BIC/number" or "bankcode/number"
            tail = self.other.rsplit("/", 1)[1]
            if tail and tail not in out:
                out.append(tail)
        return out

    def describe(self) -> str:
        return self.iban or self.other or "(no account identification)"


@dataclass(frozen=True, slots=True)
class Balance:
    amount: int  # signed minor units
    type: str  # OPBD, PRCD, CLBD, ITBD, CLAV… (MT940: OPBD/ITBD from :60F:/:60M:…)
    on: date | None


@dataclass(slots=True)
class ParsedLine:
    booking_date: date
    amount: int  # signed minor units of the statement's currency: credit > 0
    currency: str
    where: str
    value_date: date | None = None
    is_reversal: bool = False
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    transaction_id: str | None = None
    customer_reference: str | None = None
    creditor_reference: str | None = None
    remittance_info: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_bank: str | None = None
    counterparty_id_raw: str | None = None
    bank_transaction_code: str | None = None
    bank_transaction_text: str | None = None
    instructed_amount: int | None = None
    instructed_currency: str | None = None
    #: The entry this line was split from (camt batch ``NtryDtls`` with several ``TxDtls``).
    batch_key: str | None = None
    batch_amount: int | None = None
    batch_size: int | None = None
    #: Index of the transaction inside its batch (from 1), for the identity key.
    batch_index: int | None = None


@dataclass(slots=True)
class ParsedStatement:
    kind: StatementKind
    account: AccountRef
    currency: str | None
    where: str
    statement_ref: str | None = None
    message_version: str | None = None
    sequence: int | None = None
    legal_sequence: int | None = None
    page: int | None = None
    created_at: datetime | None = None
    from_date: date | None = None
    to_date: date | None = None
    opening: Balance | None = None
    closing: Balance | None = None
    lines: list[ParsedLine] = field(default_factory=list)
    #: What the file itself declares about its entries (camt ``TxsSummry``, MT ``:90C:``/
    #: ``:90D:``): counts and sums, checked against the lines.
    declared_credit_count: int | None = None
    declared_credit_sum: int | None = None
    declared_debit_count: int | None = None
    declared_debit_sum: int | None = None
    #: Sum of the booked entries as the bank booked them (a batch counts once), for the
    #: balance check; equals the sum of the lines unless a batch's details disagree.
    entries_sum: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class ParsedFile:
    kind: StatementKind
    statements: list[ParsedStatement]
    #: ``VALID`` / ``INVALID`` / ``NOT_APPLICABLE`` (domain.collections.models.SchemaStatus)
    schema_status: str
    problems: list[Problem] = field(default_factory=list)


def malformed(message: str, where: str | None = None) -> StatementRefused:
    return StatementRefused(RefusalCode.MALFORMED_STATEMENT, message, where=where)


_AMOUNT = re.compile(r"^([0-9]{1,18})(?:[.,]([0-9]{0,18}))?$", re.ASCII)


def to_minor(text: str, currency: str, where: str) -> int:
    """An unsigned amount as written in a statement (``1234.50``, MT940 ``1234,5``,
    ``1234,``) in exact minor units of ``currency``. Extra non-zero decimals are refused."""
    exp = CURRENCY_EXPONENTS.get(currency)
    if exp is None:
        raise StatementRefused(
            RefusalCode.UNKNOWN_CURRENCY,
            f"unknown or unsupported currency {currency!r}",
            where=where,
        )
    match = _AMOUNT.match(text.strip())
    if match is None:
        raise malformed(f"{text.strip()[:40]!r} is not an amount", where)
    whole, fraction = match.group(1), (match.group(2) or "")
    if len(fraction) > exp:
        extra = fraction[exp:]
        if extra.strip("0"):
            raise malformed(f"{currency} has {exp} decimals; {text.strip()!r} has more", where)
        fraction = fraction[:exp]
    return int(whole) * 10**exp + (int(fraction.ljust(exp, "0")) if exp else 0)


def known_currency(code: str | None, where: str) -> str:
    if not code or code.upper() not in CURRENCY_EXPONENTS:
        raise StatementRefused(
            RefusalCode.UNKNOWN_CURRENCY, f"unknown or unsupported currency {code!r}", where=where
        )
    return code.upper()
