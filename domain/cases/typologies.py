"""The typology catalog: the kinds of card post-sale cases the network handles.

The catalog is a table (a parameter of the network that administrators may extend); the
first version of it is below and is written by migration 0005. :func:`ensure_catalog`
inserts whatever of :data:`CATALOG` a database lacks (``trama seed`` calls it), never
changing a typology an administrator edited.

Service levels follow the usual practice of Chilean and Argentine card issuers:
a claim is answered within 10 business days (the CMF / SERNAC practice for financial
claims; Argentine BCRA "Protección de los usuarios de servicios financieros" gives 10
business days too), an unrecognised charge within 5 (Chile's Ley 20.009 asks the issuer to
act within 5 business days of the customer's notice), and blocking a lost or stolen card is
a round-the-clock matter measured in hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.cases.models import CaseTypology, Priority
from domain.shared.errors import Problems, ValidationFailed
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.money import Money
from domain.shared.sql import insert_ignoring_conflicts
from domain.shared.time import utcnow


@dataclass(frozen=True, slots=True)
class TypologySpec:
    code: str
    name: str
    description: str
    default_priority: Priority
    sla_business_days: int | None = None
    sla_hours: int | None = None
    requires_amount: bool = False
    requires_card: bool = False


CATALOG: tuple[TypologySpec, ...] = (
    TypologySpec(
        "DEVOLUCION_INTERESES",
        "Devolución de intereses",
        "Intereses o cargos financieros cobrados en exceso o por error (p. ej. pago "
        "realizado a tiempo y cobrado como mora, compra en cuotas sin interés cobrada con "
        "interés).",
        Priority.MEDIUM,
        sla_business_days=10,
        requires_amount=True,
        requires_card=True,
    ),
    TypologySpec(
        "CARGO_NO_RECONOCIDO",
        "Cargo no reconocido",
        "El cliente desconoce una o más transacciones cargadas a su tarjeta (Ley 20.009).",
        Priority.HIGH,
        sla_business_days=5,
        requires_amount=True,
        requires_card=True,
    ),
    TypologySpec(
        "CARGO_DUPLICADO",
        "Cargo duplicado",
        "Una misma compra o cargo aparece más de una vez en el estado de cuenta.",
        Priority.HIGH,
        sla_business_days=5,
        requires_amount=True,
        requires_card=True,
    ),
    TypologySpec(
        "RECLAMO",
        "Reclamo general",
        "Reclamo sobre la atención, un producto o un servicio de la tarjeta.",
        Priority.MEDIUM,
        sla_business_days=10,
    ),
    TypologySpec(
        "BLOQUEO_TARJETA",
        "Bloqueo de tarjeta",
        "Bloqueo por robo, hurto, extravío o sospecha de fraude.",
        Priority.CRITICAL,
        sla_hours=4,
        requires_card=True,
    ),
    TypologySpec(
        "REPOSICION_TARJETA",
        "Reposición de tarjeta",
        "Emisión de una nueva tarjeta tras bloqueo, deterioro o vencimiento.",
        Priority.MEDIUM,
        sla_business_days=5,
        requires_card=True,
    ),
    TypologySpec(
        "PAGO_NO_APLICADO",
        "Pago no aplicado",
        "Un pago del cliente no se refleja en su cuenta o se aplicó a otra.",
        Priority.HIGH,
        sla_business_days=3,
        requires_amount=True,
    ),
    TypologySpec(
        "ANULACION_SEGURO",
        "Anulación de seguro asociado",
        "Término de un seguro contratado con la tarjeta y devolución de primas no devengadas.",
        Priority.MEDIUM,
        sla_business_days=10,
    ),
    TypologySpec(
        "REVERSO_COMISION",
        "Reverso de comisión",
        "Comisión de mantención, administración o avance cobrada indebidamente.",
        Priority.MEDIUM,
        sla_business_days=5,
        requires_amount=True,
    ),
    TypologySpec(
        "DISPUTA_ESTADO_CUENTA",
        "Disputa de estado de cuenta",
        "El cliente objeta partidas o saldos de su estado de cuenta.",
        Priority.MEDIUM,
        sla_business_days=10,
    ),
    TypologySpec(
        "CONTRACARGO_COMERCIO",
        "Contracargo a comercio",
        "Compra pagada y no recibida, servicio no prestado o devolución no abonada por el "
        "comercio.",
        Priority.MEDIUM,
        sla_business_days=15,
        requires_amount=True,
        requires_card=True,
    ),
    TypologySpec(
        "CERTIFICADO_DEUDA",
        "Certificado de deuda o liquidación",
        "Emisión de certificado de deuda, de pago total o de liquidación de la tarjeta.",
        Priority.LOW,
        sla_business_days=3,
    ),
    TypologySpec(
        "PUNTOS_NO_ACREDITADOS",
        "Puntos no acreditados",
        "Compras que no acumularon los puntos del programa de fidelización.",
        Priority.LOW,
        sla_business_days=10,
    ),
    # Added by migration 0009 (collections): a payment nobody could match to a credit.
    TypologySpec(
        "PAGO_NO_IDENTIFICADO",
        "Pago no identificado",
        "Un pago recibido en una cuenta de recaudación que no se pudo asignar a ningún "
        "crédito: hay que identificar al deudor y el crédito que paga.",
        Priority.HIGH,
        sla_business_days=5,
        requires_amount=True,
    ),
)

BY_CODE = {spec.code: spec for spec in CATALOG}


def catalog_rows() -> list[dict[str, object]]:
    """The catalog as rows of ``case_typologies`` (without ids and timestamps)."""
    return [
        {
            "code": s.code,
            "name": s.name,
            "description": s.description,
            "default_priority": s.default_priority.value,
            "sla_business_days": s.sla_business_days,
            "sla_hours": s.sla_hours,
            "requires_amount": s.requires_amount,
            "requires_card": s.requires_card,
        }
        for s in CATALOG
    ]


async def ensure_catalog(session: AsyncSession) -> int:
    """Insert the typologies of :data:`CATALOG` a database lacks. Returns how many."""
    table = table_of(CaseTypology)
    present = set((await session.execute(sa.select(table.c.code))).scalars().all())
    now = utcnow()
    rows = [
        {**row, "id": uuid7(), "active": True, "created_at": now, "updated_at": now, "version": 1}
        for row in catalog_rows()
        if row["code"] not in present
    ]
    await insert_ignoring_conflicts(session, table, rows, index_elements=["code"])
    return len(rows)


async def list_typologies(session: AsyncSession, *, active_only: bool = True) -> list[CaseTypology]:
    """The catalog, by code (any authenticated user may read it: it holds no personal data)."""
    stmt = sa.select(CaseTypology).order_by(col(CaseTypology.code))
    if active_only:
        stmt = stmt.where(col(CaseTypology.active).is_(True))
    return list((await session.execute(stmt)).scalars().all())


async def get_typology(
    session: AsyncSession, code: str, *, field: str = "typology"
) -> CaseTypology:
    """An active typology by code, or a validation error naming ``field``."""
    text = (code or "").strip().upper()
    found = None
    if text and len(text) <= 40:
        found = (
            (await session.execute(sa.select(CaseTypology).where(col(CaseTypology.code) == text)))
            .scalars()
            .first()
        )
    if found is None or not found.active:
        raise ValidationFailed.on(field, f"{text[:40]!r} is not an active typology")
    return found


def check_requirements(
    problems: Problems,
    typology: CaseTypology,
    *,
    amount: Money | None,
    card_last4: str | None,
    amount_field: str = "amountInDispute",
    card_field: str = "cardLast4",
) -> None:
    """The fields a typology requires (an amount for an interest refund, a card for a
    blocking)."""
    wrong = {p.field for p in problems.items}  # a field already refused is not "missing"
    if typology.requires_amount and amount is None and amount_field not in wrong:
        problems.add(amount_field, f"is required for {typology.code} cases")
    if typology.requires_card and not card_last4 and card_field not in wrong:
        problems.add(card_field, f"is required for {typology.code} cases")


def check_spec(spec: TypologySpec | CaseTypology) -> list[str]:
    """What is wrong with a typology's definition (used by tests and admin changes)."""
    wrong: list[str] = []
    days, hours = spec.sla_business_days, spec.sla_hours
    if (days is None) == (hours is None):
        wrong.append("exactly one of slaBusinessDays or slaHours must be set")
    if days is not None and not 1 <= days <= 60:
        wrong.append("slaBusinessDays must be 1-60")
    if hours is not None and not 1 <= hours <= 720:
        wrong.append("slaHours must be 1-720")
    return wrong
