"""Field rules for customer data: each returns the normalised value or reports a problem."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from domain.partners.models import COUNTRIES
from domain.shared import pan
from domain.shared.errors import Problems
from domain.shared.text import clean_name

_NAME = re.compile(r"^[^\W\d_]+(?:[ '\u2019.\-][^\W\d_]+)*\.?$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


def name(problems: Problems, field: str, value: str | None) -> str:
    text = clean_name(value or "")
    if not text:
        problems.add(field, "is required")
    elif len(text) > 100:
        problems.add(field, "at most 100 characters")
    elif not _NAME.match(text):
        problems.add(field, "only letters, spaces, apostrophes, dots and hyphens")
    return text


def email(problems: Problems, field: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        problems.add(field, "is not a valid e-mail address")
        return None
    if pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def phone(problems: Problems, field: str, value: str | None, default_country: str) -> str | None:
    """Any common way of writing a number in; E.164 out (+56912345678)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > 30:
        problems.add(field, "is too long for a phone number")
        return None
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        problems.add(field, "is not a phone number; write it as +<country code><number>")
        return None
    if not phonenumbers.is_valid_number(parsed):
        problems.add(field, "is not a valid phone number")
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _line(
    problems: Problems, field: str, value: str | None, *, required: bool, limit: int
) -> str | None:
    text = clean_name(value or "")
    if not text:
        if required:
            problems.add(field, "is required")
        return None
    if len(text) > limit:
        problems.add(field, f"at most {limit} characters")
    if pan.contains_pan(text):
        problems.add(field, pan.MESSAGE)
    return text


def address(problems: Problems, field: str, value: Address | None) -> Address | None:
    if value is None:
        return None
    country = (value.country or "").strip().upper()
    if country not in COUNTRIES:
        problems.add(f"{field}.country", f"must be one of {', '.join(sorted(COUNTRIES))}")
    return Address(
        line1=_line(problems, f"{field}.line1", value.line1, required=True, limit=200) or "",
        line2=_line(problems, f"{field}.line2", value.line2, required=False, limit=200),
        city=_line(problems, f"{field}.city", value.city, required=True, limit=100) or "",
        region=_line(problems, f"{field}.region", value.region, required=False, limit=100),
        postal_code=_line(
            problems, f"{field}.postalCode", value.postal_code, required=False, limit=20
        ),
        country=country,
    )
