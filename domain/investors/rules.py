"""Field rules for investors: each returns the normalised value or reports a problem.

Bank accounts are checked as far as each country's format allows:

- AR: the number is a CBU/CVU (22 digits, two check digits, python-stdnum ``ar.cbu``); the
  bank code is its first three digits.
- MX: the number is a CLABE (18 digits; check digit with weights 3, 7, 1 modulo 10, as
  published by Banco de México); the bank code is its first three digits.
- PE: the number is a CCI (20 digits); the bank code is its first three digits.
- CL: a three-digit bank code (CMF codes such as 001, 012, 037) and an account number of
  4 to 20 digits.
- CO: a bank code of 2 to 4 digits and an account number of 6 to 20 digits.

Spaces, dots and hyphens in the number are dropped. Where the number carries the bank
code, a bank code given separately must agree with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import exceptions as stdnum_errors
from stdnum.ar import cbu as ar_cbu

from domain.investors.models import BankAccountType
from domain.shared import pan
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.text import clean_name

_LEGAL_NAME = re.compile(r"^[\w][\w .,'&()\-/\u2019]*$")
_SEPARATORS = re.compile(r"[\s.\-]")
_DIGITS = re.compile(r"^[0-9]+$", re.ASCII)
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

#: Account types each country's banks offer.
ACCOUNT_TYPES: dict[str, frozenset[BankAccountType]] = {
    "CL": frozenset(BankAccountType),
    "AR": frozenset({BankAccountType.CHECKING, BankAccountType.SAVINGS}),
    "MX": frozenset({BankAccountType.CHECKING, BankAccountType.SAVINGS}),
    "CO": frozenset({BankAccountType.CHECKING, BankAccountType.SAVINGS}),
    "PE": frozenset({BankAccountType.CHECKING, BankAccountType.SAVINGS}),
}


@dataclass(frozen=True)
class BankAccount:
    bank_code: str | None
    account_type: str
    number: str


def legal_name(problems: Problems, field: str, value: str | None) -> str:
    text = clean_name(value or "")
    if len(text) < 2:
        problems.add(field, "is required (at least 2 characters)")
    elif len(text) > 200:
        problems.add(field, "at most 200 characters")
    elif not _LEGAL_NAME.match(text):
        problems.add(field, "only letters, digits, spaces and . , ' & ( ) - /")
    elif pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
    return text


def email(problems: Problems, field: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        problems.add(field, "is not a valid e-mail address")
        return None
    if pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def no_card_number(field: str, value: str | None) -> None:
    """Refuse a text that holds a card number (:class:`ValidationFailed` on ``field``)."""
    if pan.contains_pan(value):
        raise ValidationFailed.on(field, pan.MESSAGE)


def clabe_check_digit(first17: str) -> str:
    weights = (3, 7, 1)
    total = sum((int(d) * weights[i % 3]) % 10 for i, d in enumerate(first17))
    return str((10 - total % 10) % 10)


def _digits(problems: Problems, field: str, raw: str) -> str | None:
    number = _SEPARATORS.sub("", raw)
    if not number:
        problems.add(field, "is required")
        return None
    if not _DIGITS.match(number):
        problems.add(field, "only digits (spaces, dots and hyphens are ignored)")
        return None
    return number


def bank_account(
    problems: Problems, field: str, value: BankAccount | None, country: str
) -> BankAccount | None:
    """The normalised account (bank code and number as digits), or ``None`` with problems."""
    if value is None:
        problems.add(field, "is required")
        return None
    before = len(problems.items)
    try:
        kind = BankAccountType(value.account_type)
    except ValueError:
        problems.add(f"{field}.accountType", f"must be one of {', '.join(BankAccountType)}")
        kind = None
    if kind is not None and kind not in ACCOUNT_TYPES.get(country, frozenset()):
        problems.add(f"{field}.accountType", f"{kind.value} accounts do not exist in {country}")
    if pan.contains_pan(value.number):
        problems.add(
            f"{field}.number", "is a card number, not a bank account: card numbers are never kept"
        )
        return None
    number = _digits(problems, f"{field}.number", value.number or "")
    code = None
    if value.bank_code is not None and value.bank_code.strip():
        code = _digits(problems, f"{field}.bankCode", value.bank_code.strip())
    if number is None:
        return None
    embedded = {"AR": 22, "MX": 18, "PE": 20}
    if country in embedded:
        if len(number) != embedded[country]:
            name = {"AR": "a CBU", "MX": "a CLABE", "PE": "a CCI"}[country]
            problems.add(f"{field}.number", f"must be {name} of {embedded[country]} digits")
            return None
        if country == "AR":
            try:
                ar_cbu.validate(number)
            except stdnum_errors.ValidationError:
                problems.add(f"{field}.number", "the CBU check digits do not match")
                return None
        if country == "MX" and clabe_check_digit(number[:17]) != number[17]:
            problems.add(f"{field}.number", "the CLABE check digit does not match")
            return None
        if code is not None and code != number[:3]:
            problems.add(f"{field}.bankCode", "does not match the bank code inside the number")
        code = number[:3]
    elif country == "CL":
        if code is None or len(code) != 3:
            problems.add(f"{field}.bankCode", "must be the bank's three-digit code")
        if not 4 <= len(number) <= 20:
            problems.add(f"{field}.number", "must have 4 to 20 digits")
    elif country == "CO":
        if code is None or not 2 <= len(code) <= 4:
            problems.add(f"{field}.bankCode", "must be the bank's code (2 to 4 digits)")
        if not 6 <= len(number) <= 20:
            problems.add(f"{field}.number", "must have 6 to 20 digits")
    else:
        problems.add(field, f"accounts in {country} are not supported")
    if len(problems.items) > before or kind is None or code is None:
        return None
    if not number.strip("0"):
        problems.add(f"{field}.number", "cannot be all zeros")
        return None
    return BankAccount(bank_code=code, account_type=kind.value, number=number)


def mask_account(number: str) -> str:
    """Keep the last four digits: ``••••••5678``."""
    shown = number[-4:]
    return "•" * max(len(number) - 4, 2) + shown
