"""The legacy rule parameters as Trama rule-set versions (``domain/loyalty/rules.py``).

The legacy CRM computed a purchase's points as ``floor(amount * rate(MCC) * multiplier(card
product))``, nothing below a minimum purchase, at most a cap per member and month; each
parameter has its own validity dates. Trama's rules are versions of a whole rule set, so
the legacy timeline is cut at every date a parameter starts or ends, and each stretch
becomes one version holding the parameters in force then:

- ``RATE`` with code ``*`` → ``earn.base`` (points per 1 unit of currency), the other codes
  → ``earn.rules`` matching that MCC (``5411``) or range (``5811-5814``);
- ``MULTIPLIER`` → ``multipliers`` matching the card product (Trama's code through the
  mapping's ``card_product`` table), stacked by multiplying;
- ``MONTHLY_CAP`` → ``caps.month``; ``MINIMUM_PURCHASE`` → ``earn.minimumPurchase``;
- rounding ``ROUND_FLOOR`` (the legacy truncated).

``EXPIRY_MONTHS`` is not a rule but the program's expiry policy (END_OF_MONTH, N): the
migration checks it against the program's and the movements' expiry dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.loyalty_migration.mapping import Mapping, ParameterKind, fold_code

_MCC = re.compile(r"^[0-9]{4}(-[0-9]{4})?$")


@dataclass(frozen=True)
class Version:
    effective_from: date
    effective_until: date | None  # exclusive
    document: dict[str, Any]
    problems: tuple[str, ...] = ()


def _days(item: dict[str, Any]) -> tuple[date, date | None]:
    start = date.fromisoformat(item["validFrom"])
    end = date.fromisoformat(item["validTo"]) + timedelta(days=1) if item["validTo"] else None
    return start, end


def _in_force(item: dict[str, Any], day: date) -> bool:
    start, end = _days(item)
    return start <= day and (end is None or day < end)


def _number(text: str) -> str:
    value = Decimal(text).normalize()
    out = format(value, "f")
    return out if "." not in out else out.rstrip("0").rstrip(".") or "0"


def versions(parameters: list[dict[str, Any]], mapping: Mapping) -> list[Version]:
    """The rule-set versions that say what the legacy parameters said, oldest first."""
    if not parameters:
        return []
    cuts: set[date] = set()
    for item in parameters:
        start, end = _days(item)
        cuts.add(start)
        if end is not None:
            cuts.add(end)
    ordered = sorted(cuts)
    out: list[Version] = []
    for index, start in enumerate(ordered):
        end = ordered[index + 1] if index + 1 < len(ordered) else None
        in_force = [p for p in parameters if _in_force(p, start)]
        if not in_force:
            continue
        document, problems = _document(in_force, mapping)
        if out and out[-1].document == document and out[-1].effective_until == start:
            previous = out.pop()
            out.append(Version(previous.effective_from, end, document, previous.problems))
            continue
        out.append(Version(start, end, document, tuple(problems)))
    return out


def _document(items: list[dict[str, Any]], mapping: Mapping) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    base = "0"
    rules: list[dict[str, Any]] = []
    multipliers: list[dict[str, Any]] = []
    caps: dict[str, int] = {}
    minimum: str | None = None
    for item in sorted(items, key=lambda i: (i["kind"], i["code"])):
        kind, code, value = item["kind"], item["code"].strip(), item["value"]
        if kind == ParameterKind.RATE:
            if code == "*":
                base = _number(value)
            elif _MCC.match(code):
                rules.append(
                    {
                        "id": f"mcc-{code}",
                        "match": {"mcc": [code]},
                        "points": _number(value),
                        "per": "1",
                    }
                )
            else:
                problems.append(f"RATE {code!r} is not an MCC or a range of them")
        elif kind == ParameterKind.MULTIPLIER:
            product = mapping.code("card_product", code) or fold_code(code)
            ident = re.sub(r"[^A-Za-z0-9_.-]", "-", product.lower())[:40]
            multipliers.append(
                {
                    "id": f"product-{ident}"[:40],
                    "match": {"cardProducts": [product]},
                    "factor": _number(value),
                }
            )
        elif kind == ParameterKind.MONTHLY_CAP:
            caps["month"] = int(Decimal(value))
        elif kind == ParameterKind.MINIMUM_PURCHASE:
            minimum = _money(value, mapping.currency_digits)
    earn: dict[str, Any] = {"base": {"points": base, "per": "1"}, "rules": rules}
    if minimum is not None:
        earn["minimumPurchase"] = minimum
    document: dict[str, Any] = {
        "format": "trama.loyalty.rules/1",
        "currency": mapping.currency,
        "rounding": "ROUND_FLOOR",
        "stacking": "MULTIPLY",
        "earn": earn,
        "multipliers": [m for m in multipliers if m["factor"] != "1"],
    }
    if caps:
        document["caps"] = caps
    return document, problems


def _money(text: str, digits: int) -> str:
    value = Decimal(text).quantize(Decimal(1).scaleb(-digits))
    return format(value, "f")


def expiry_months(parameters: list[dict[str, Any]], day: date) -> int | None:
    for item in parameters:
        if item["kind"] == ParameterKind.EXPIRY_MONTHS and _in_force(item, day):
            return int(Decimal(item["value"]))
    return None
