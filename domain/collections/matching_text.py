"""Reading a statement line's texts, and writing the explanation a clerk reads.

**References.** A credit's reference is ``CR-<year>-<number>`` (``CR-2026-000123``). A
*payment-order reference* names one installment of it: the reference and the
installment's number, as the payment coupons print it: ``CR-2026-000123-07``,
``CR-2026-000123/7``, ``CR-2026-000123 CUOTA 7``, ``CR2026000123 C07``. Banks rewrite what
the payer typed: upper case, hyphens dropped or turned into spaces, dots, a ``/ROC/`` or
``REF:`` in front, and the MT940 ``:86:`` field cut into 27- or 35-character lines, which
may split a reference in two. So the texts are read twice: with separators
(``CR 2026 000123 07`` gives the installment), and compacted, every separator and line
break removed (``CR-2026-0001\\n23`` is still ``CR2026000123``). A compacted reading may
be ambiguous (``CR202600012307``: the 6-digit reference and installment 7, or a 7-digit
reference); every reading is offered and the matcher keeps those that name a credit.

**National IDs.** The payer's ID comes from the file (``counterparty_national_id``, already
checked by ingestion) or is read in the texts: a Chilean RUT (``12.345.678-5``, ``12345678-5``),
an Argentine CUIT/CUIL (``20-12345678-6``), each checked with python-stdnum before use. A
CUIT/CUIL also names its holder's DNI (its middle eight digits), which is how Argentine
customers are often registered.

**Explanations.** A decision stores its evidence as message codes with parameters; the
words are rendered from :data:`MESSAGES` in the reader's language (Spanish by default,
English too), so the stored explanation never depends on a wording that may change and a
new language is a new column of the catalog.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.shared.money import CURRENCY_EXPONENTS
from domain.shared.national_ids import InvalidNationalId, NationalIdType, display, parse

__all__ = [
    "MESSAGES",
    "FoundReference",
    "compacted_references_in",
    "explain",
    "national_ids_in",
    "references_in",
    "render",
]

_SEP = r"[\s\-_./:#|]*"
_REFERENCE = re.compile(
    r"(?<![A-Z0-9])CR" + _SEP + r"(20\d\d)" + _SEP + r"(\d{6,7})(?!\d)"
    r"(?:"
    r"[\s\-_./:#]*(?:CUOTA|CUO|CTA|C|N[O°º]?|NRO|INST)[\s.:#°º]*(\d{1,3})(?!\d)"
    r"|[\-/](\d{1,3})(?!\d)"
    r"|\s+(\d{1,3})(?![\d.,])"
    r")?"
)
_COMPACT_STRIP = re.compile(r"[\s\-_./:#|]+")
_COMPACT_REFERENCE = re.compile(r"CR(20\d\d)(\d{6,8})")
_RUT = re.compile(r"(?<![\d.])(\d{1,2}\.?\d{3}\.?\d{3}\s?-?\s?[\dK])(?![\dA-Z])")
_CUIT = re.compile(r"(?<!\d)(\d{2}-?\d{8}-?\d)(?!\d)")


@dataclass(frozen=True, slots=True)
class FoundReference:
    """A reading of a credit reference in a line: the reference as Trama writes it, the
    installment the payment order names (or None), and where it was read."""

    reference: str
    installment: int | None
    field: str


def _credit_reference(year: str, number: str) -> str:
    return f"CR-{year}-{number}"


def references_in(
    texts: Iterable[tuple[str, str | None]], *, compacted: bool | None = True
) -> list[FoundReference]:
    """Every reading of a credit or payment-order reference in ``texts`` (``(field,
    text)`` pairs, the structured creditor reference first), without repeats.

    ``compacted``: True reads the compacted texts too; False only the texts as written;
    None compacts only the texts where nothing was read as written (the matcher's fast path:
    it reads compacted texts again itself when no reading names a credit)."""
    found: list[FoundReference] = []
    seen: set[tuple[str, int | None]] = set()
    for name, text in texts:
        if not text:
            continue
        upper = text.upper()
        if "CR" not in upper:
            continue
        before = len(found)
        for match in _REFERENCE.finditer(upper):
            year, number = match.group(1), match.group(2)
            extra = match.group(3) or match.group(4) or match.group(5)
            installment = int(extra) if extra and int(extra) > 0 else None
            readings = [(number, installment)]
            if len(number) == 7 and installment is None:
                # "CR-2026-000123 7" compacted by the bank: a 6-digit reference and a digit
                readings.append((number[:6], int(number[6]) or None))
            for digits, inst in readings:
                key = (_credit_reference(year, digits), inst)
                if key not in seen:
                    seen.add(key)
                    found.append(FoundReference(key[0], inst, name))
        if compacted is False or (compacted is None and len(found) > before):
            continue
        _compacted(name, upper, found, seen)
    return found


def compacted_references_in(texts: Iterable[tuple[str, str | None]]) -> list[FoundReference]:
    """The readings of the texts with every separator and line break removed only."""
    found: list[FoundReference] = []
    seen: set[tuple[str, int | None]] = set()
    for name, text in texts:
        if text and "CR" in text.upper():
            _compacted(name, text.upper(), found, seen)
    return found


def _compacted(
    name: str, upper: str, found: list[FoundReference], seen: set[tuple[str, int | None]]
) -> None:
    compact = _COMPACT_STRIP.sub("", upper)
    for match in _COMPACT_REFERENCE.finditer(compact):
        year, digits = match.group(1), match.group(2)
        readings = [(digits[:6], int(digits[6:]) if len(digits) > 6 else None)]
        if len(digits) >= 7:
            readings.append((digits[:7], int(digits[7:]) if len(digits) > 7 else None))
        for number, inst in readings:
            key = (_credit_reference(year, number), inst or None)
            plain = (key[0], None)
            if key not in seen:
                seen.add(key)
                found.append(FoundReference(key[0], key[1], name))
            if plain not in seen:
                seen.add(plain)
                found.append(FoundReference(plain[0], None, name))


def national_ids_in(text: str | None, country: str) -> list[tuple[NationalIdType, str]]:
    """National IDs of ``country`` written in ``text`` that pass their check digit, as
    ``(type, compact number)``."""
    if not text:
        return []
    upper = text.upper()
    out: list[tuple[NationalIdType, str]] = []
    if country == "CL":
        for match in _RUT.finditer(upper):
            try:
                found = parse(NationalIdType.CL_RUT, match.group(1).replace(" ", ""))
            except InvalidNationalId:
                continue
            out.append((found.type, found.number))
    elif country == "AR":
        for match in _CUIT.finditer(upper):
            try:
                found = parse(NationalIdType.AR_CUIT, match.group(1))
            except InvalidNationalId:
                continue
            out.append((found.type, found.number))
    return out


def id_keys(id_type: str, number: str) -> list[tuple[str, str]]:
    """The ``(type, number)`` keys a payer's ID may be registered under: itself, and for an
    Argentine CUIT/CUIL the other of the two and the DNI in it."""
    keys = [(id_type, number)]
    if id_type in {NationalIdType.AR_CUIT.value, NationalIdType.AR_CUIL.value}:
        other = (
            NationalIdType.AR_CUIL.value
            if id_type == NationalIdType.AR_CUIT.value
            else NationalIdType.AR_CUIT.value
        )
        keys.append((other, number))
        if len(number) == 11:
            keys.append((NationalIdType.AR_DNI.value, number[2:10].lstrip("0")))
    return keys


# --- explanations --------------------------------------------------------------------------
def money_text(amount: int, currency: str) -> str:
    """``$ 1.234.567`` for pesos, ``UF 12,3456``, ``US$ 1.234,56``: the way clerks of the
    region write amounts (thousands with dots, decimals with a comma)."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    value = Decimal(amount).scaleb(-exponent)
    sign = "-" if value < 0 else ""
    whole, _, fraction = f"{abs(value):.{exponent}f}".partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    text = f"{groups},{fraction}" if fraction else groups
    symbol = {"CLP": "$", "ARS": "$", "MXN": "$", "COP": "$", "CLF": "UF", "USD": "US$"}.get(
        currency, currency
    )
    return f"{sign}{symbol} {text}"


#: Message code -> {locale: template}. Parameters in braces; amounts come rendered.
MESSAGES: dict[str, dict[str, str]] = {
    "REFERENCE_FOUND": {
        "es": "La glosa trae la referencia del crédito {reference} (en {field}).",
        "en": "The remittance text carries credit reference {reference} (in {field}).",
    },
    "ORDER_FOUND": {
        "es": "La glosa trae la orden de pago de la cuota {installment} del crédito "
        "{reference} (en {field}).",
        "en": "The remittance text carries the payment order of installment {installment} "
        "of credit {reference} (in {field}).",
    },
    "REFERENCE_UNKNOWN": {
        "es": "La glosa trae {reference}, que no es un crédito de este acreedor.",
        "en": "The remittance text carries {reference}, which is not a credit of this lender.",
    },
    "NATIONAL_ID_MATCH": {
        "es": "El documento del pagador ({national_id}, {source}) es el del deudor del "
        "crédito {reference}.",
        "en": "The payer's ID ({national_id}, {source}) is the debtor's of credit {reference}.",
    },
    "NATIONAL_ID_UNKNOWN": {
        "es": "El documento del pagador ({national_id}) no es el de ningún deudor con "
        "créditos vigentes de este acreedor.",
        "en": "The payer's ID ({national_id}) is no debtor's with open credits of this lender.",
    },
    "PAYER_ACCOUNT_MATCH": {
        "es": "La cuenta de origen {account} ya pagó el crédito {reference} "
        "({times} pagos anteriores).",
        "en": "Source account {account} paid credit {reference} before ({times} payments).",
    },
    "AMOUNT_EQUALS": {
        "es": "El monto {amount} es exactamente {target}: {target_amount}.",
        "en": "The amount {amount} is exactly {target}: {target_amount}.",
    },
    "AMOUNT_WITHIN": {
        "es": "El monto {amount} difiere en {difference} de {target} ({target_amount}), "
        "dentro de la tolerancia de {tolerance}.",
        "en": "The amount {amount} differs by {difference} from {target} ({target_amount}), "
        "within the tolerance of {tolerance}.",
    },
    "AMOUNT_PARTIAL": {
        "es": "El monto {amount} no supera el pago total del crédito ({payoff}): se abona "
        "como pago{extra}.",
        "en": "The amount {amount} does not exceed the credit's payoff ({payoff}): booked as "
        "a payment{extra}.",
    },
    "AMOUNT_ABOVE_PAYOFF": {
        "es": "El monto {amount} supera en {difference} el pago total del crédito {reference} "
        "({payoff}).",
        "en": "The amount {amount} exceeds the payoff of credit {reference} ({payoff}) by "
        "{difference}.",
    },
    "AMOUNT_NO_TARGET": {
        "es": "El monto {amount} no calza con la cuota ({installment}), lo vencido "
        "({overdue}) ni el pago total ({payoff}) del crédito {reference}.",
        "en": "The amount {amount} fits neither the installment ({installment}), the overdue "
        "total ({overdue}) nor the payoff ({payoff}) of credit {reference}.",
    },
    "AMOUNT_SPLIT_CREDITS": {
        "es": "El monto {amount} es la suma de lo adeudado en {count} créditos del mismo "
        "cliente: {parts}.",
        "en": "The amount {amount} is the sum of what {count} credits of the same customer "
        "owe: {parts}.",
    },
    "AMOUNT_SPLIT_LINES": {
        "es": "Junto con {others} otra(s) transferencia(s) del mismo pagador suma {total}, "
        "que es {target} del crédito {reference} ({target_amount}){shortfall}.",
        "en": "With {others} other transfer(s) of the same payer it adds up to {total}, which "
        "is {target} of credit {reference} ({target_amount}){shortfall}.",
    },
    "SHORTFALL_PARTIAL": {
        "es": "; la diferencia de {difference} queda adeudada (pago parcial)",
        "en": "; the difference of {difference} stays owed (partial payment)",
    },
    "SHORTFALL_WRITE_OFF": {
        "es": "; la diferencia de {difference} se castiga según la política",
        "en": "; the difference of {difference} is written off as the policy says",
    },
    "DATE_IN_WINDOW": {
        "es": "La fecha valor {value_date} está a {days} día(s) del vencimiento de la cuota "
        "{installment} ({due_date}), dentro de la ventana de -{before}/+{after} días.",
        "en": "The value date {value_date} is {days} day(s) from the due date of installment "
        "{installment} ({due_date}), within the -{before}/+{after} day window.",
    },
    "DATE_OUT_OF_WINDOW": {
        "es": "La fecha valor {value_date} está fuera de la ventana de la cuota {installment} "
        "(vence el {due_date}).",
        "en": "The value date {value_date} is outside the window of installment "
        "{installment} (due {due_date}).",
    },
    "SINGLE_CANDIDATE": {
        "es": "Es el único crédito que cumple todo lo anterior.",
        "en": "It is the only credit that meets all of the above.",
    },
    "SEVERAL_CANDIDATES": {
        "es": "{count} créditos cumplen lo anterior: {references}.",
        "en": "{count} credits meet the above: {references}.",
    },
    "IGNORED_BY_RULE": {
        "es": "Movimiento que no paga créditos: {rule}.",
        "en": "A movement that pays no credit: {rule}.",
    },
    "OWN_ACCOUNT": {
        "es": "La contraparte {account} es otra cuenta de recaudación del mismo acreedor.",
        "en": "The counterparty {account} is another collection account of the same lender.",
    },
    "TEXT_MATCHES": {
        "es": "La glosa dice «{text}».",
        "en": "The remittance text says «{text}».",
    },
    "CODE_MATCHES": {
        "es": "El código de transacción del banco es {code}.",
        "en": "The bank's transaction code is {code}.",
    },
    "DIRECTION_IS": {
        "es": "Es un {direction}.",
        "en": "It is a {direction}.",
    },
    "REVERSAL_OF": {
        "es": "El banco reversó la línea del {booking_date} por {amount}; se reversa lo que "
        "esa línea abonó{payments}.",
        "en": "The bank reversed the line of {booking_date} for {amount}; what that line "
        "booked is reversed{payments}.",
    },
    "REVERSED_BY": {
        "es": "El banco reversó esta línea el {booking_date}.",
        "en": "The bank reversed this line on {booking_date}.",
    },
    "REVERSAL_WITHOUT_ORIGINAL": {
        "es": "Es un reverso del banco y no se encontró la línea original en esta cuenta.",
        "en": "It is a bank reversal and its original line was not found in this account.",
    },
    "DUPLICATE_OF": {
        "es": "Tiene la misma referencia de extremo a extremo ({end_to_end}), fecha y monto que "
        "otra línea de la cuenta: posible duplicado.",
        "en": "It has the same end-to-end reference ({end_to_end}), date and amount as another "
        "line of the account: a possible duplicate.",
    },
    "CURRENCY_MISMATCH": {
        "es": "La línea está en {currency} y el crédito {reference} en {credit_currency}.",
        "en": "The line is in {currency} and credit {reference} in {credit_currency}.",
    },
    "CREDIT_NOT_PAYABLE": {
        "es": "El crédito {reference} no recibe pagos: {status}.",
        "en": "Credit {reference} takes no payments: {status}.",
    },
    "BOOKING_REFUSED": {
        "es": "El abono al crédito {reference} fue rechazado: {message}",
        "en": "Booking to credit {reference} was refused: {message}",
    },
    "NOTHING_FOUND": {
        "es": "La línea no trae referencia de crédito ni documento de un deudor, y ningún "
        "crédito calza con su monto y fecha.",
        "en": "The line carries no credit reference nor a debtor's ID, and no credit fits its "
        "amount and date.",
    },
    "DEBIT_WITHOUT_RULE": {
        "es": "Es un cargo y ninguna regla lo reconoce.",
        "en": "It is a debit no rule recognises.",
    },
    "MANUAL_MATCH": {
        "es": "{user} lo asignó a mano: {parts}.",
        "en": "{user} matched it by hand: {parts}.",
    },
    "CONFIRMED": {
        "es": "{user} confirmó la sugerencia: {parts}.",
        "en": "{user} confirmed the suggestion: {parts}.",
    },
    "UNMATCHED_BY": {
        "es": "{user} deshizo la asignación; se reversaron los abonos. Motivo: {reason}",
        "en": "{user} undid the match; the payments were reversed. Reason: {reason}",
    },
    "IGNORED_BY": {
        "es": "{user} la marcó como que no paga créditos. Motivo: {reason}",
        "en": "{user} marked it as paying no credit. Reason: {reason}",
    },
    "CASE_APPLIED": {
        "es": "El caso {case} de pago no identificado se resolvió con el crédito {reference}.",
        "en": "Unidentified-payment case {case} was resolved with credit {reference}.",
    },
}

_LABELS: dict[str, dict[str, str]] = {
    "INSTALLMENT": {"es": "la cuota {installment}", "en": "installment {installment}"},
    "INSTALLMENTS": {
        "es": "las cuotas {first} a {last}",
        "en": "installments {first} to {last}",
    },
    "OVERDUE": {"es": "el total vencido", "en": "the overdue total"},
    "PAYOFF": {"es": "el pago total del crédito", "en": "the payoff of the credit"},
    "CREDIT": {"es": "abono", "en": "credit"},
    "DEBIT": {"es": "cargo", "en": "debit"},
    "creditor_reference": {"es": "la referencia del acreedor", "en": "the creditor reference"},
    "remittance_info": {"es": "la glosa", "en": "the remittance text"},
    "end_to_end_id": {"es": "la referencia de extremo a extremo", "en": "the end-to-end id"},
    "customer_reference": {"es": "la referencia del cliente", "en": "the customer reference"},
    "counterparty_name": {"es": "el nombre del ordenante", "en": "the payer's name"},
    "file": {"es": "informado por el banco", "en": "given by the bank"},
    "text": {"es": "leído en la glosa", "en": "read in the text"},
}


def label(code: str, locale: str, **params: Any) -> str:
    templates = _LABELS.get(code)
    if templates is None:
        return code
    return templates.get(locale, templates["es"]).format(**params)


def _value(value: Any, locale: str) -> Any:
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return money_text(int(value["amount"]), str(value["currency"]))
    if isinstance(value, dict) and "label" in value:
        return label(str(value["label"]), locale, **value.get("params", {}))
    if isinstance(value, dict) and "message" in value:
        return render(str(value["message"]), value.get("params", {}), locale)
    if isinstance(value, list):
        return ", ".join(str(_value(v, locale)) for v in value)
    return value


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(message: str, params: Mapping[str, Any], locale: str = "es") -> str:
    """The words of one piece of evidence in ``locale`` (``es`` or ``en``)."""
    templates = MESSAGES.get(message)
    if templates is None:
        return message
    template = templates.get(locale) or templates["es"]
    values = _Missing({k: _value(v, locale) for k, v in params.items()})
    if "national_id" in params and isinstance(params.get("national_id_type"), str):
        with contextlib.suppress(ValueError):
            values["national_id"] = display(
                NationalIdType(params["national_id_type"]), str(params["national_id"])
            )
    return template.format_map(values)


def explain(evidence: Iterable[Mapping[str, Any]], locale: str = "es") -> list[str]:
    """Each piece of evidence of a decision, in words."""
    return [render(str(e.get("message")), e.get("params") or {}, locale) for e in evidence]
