"""The demo cases' stories (:mod:`app.seed_cases` inserts them): for case ``i``, the rows
the services would have written for that story — the case, its partners' status rows, its
numbered timeline and its comments — with SLA windows consistent with its state.
"""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.cases import homologation, sla
from domain.cases.models import (
    Channel,
    Priority,
    ResolutionCode,
    SlaState,
    TimelineKind,
    Visibility,
)
from domain.cases.states import CaseStatus
from domain.partners.models import Partner
from domain.shared import audit
from domain.shared.ids import uuid7
from domain.shared.principal import SYSTEM
from domain.shared.text import fold

#: External reference of a demo case on its originator's platform.
DEMO_PREFIX = "DEMO-"

#: The story of case ``i`` is ``PATTERN[i % len(PATTERN)]`` (60 % still being worked).
PATTERN = (
    "OPEN",
    "IN_PROGRESS",
    "RESOLVED",
    "CLOSED",
    "WAITING_CUSTOMER",
    "IN_PROGRESS",
    "RESOLVED",
    "DERIVED_PENDING",
    "OPEN",
    "CLOSED",
    "WAITING_PARTNER",
    "DERIVED_ACCEPTED",
    "RESOLVED",
    "AT_RISK",
    "REJECTED",
    "IN_PROGRESS",
    "CLOSED",
    "BREACHED",
    "OPEN",
    "RESOLVED",
)

_MERCHANTS = (
    "Supermercado Líder",
    "Falabella",
    "Farmacias Ahumada",
    "Copec",
    "Mercado Libre",
    "Despegar",
    "Ripley",
    "Jumbo",
    "Coto",
    "Garbarino",
)
_DESCRIPTIONS = {
    "DEVOLUCION_INTERESES": "Cliente pagó a tiempo su estado de cuenta y se le cobraron "
    "intereses de mora. Solicita la devolución de los intereses cobrados.",
    "CARGO_NO_RECONOCIDO": "Cliente no reconoce una compra en {merchant} cargada a su "
    "tarjeta; indica que no la realizó ni autorizó.",
    "CARGO_DUPLICADO": "La compra en {merchant} aparece dos veces en el estado de cuenta.",
    "RECLAMO": "Reclamo por mala atención en sucursal y demora en la respuesta a una "
    "solicitud anterior.",
    "BLOQUEO_TARJETA": "Cliente informa robo de su tarjeta en la vía pública y pide el "
    "bloqueo inmediato.",
    "REPOSICION_TARJETA": "Tarjeta deteriorada: el chip no funciona en {merchant}. Solicita "
    "reposición.",
    "PAGO_NO_APLICADO": "Pago realizado por transferencia no se refleja en la cuenta del cliente.",
    "ANULACION_SEGURO": "Cliente pide anular el seguro de desgravamen asociado a la tarjeta "
    "y la devolución de primas.",
    "REVERSO_COMISION": "Se cobró comisión de mantención en un mes sin uso de la tarjeta.",
    "DISPUTA_ESTADO_CUENTA": "Cliente objeta el saldo informado en su último estado de cuenta.",
    "CONTRACARGO_COMERCIO": "Compra en {merchant} pagada y no recibida; el comercio no responde.",
    "CERTIFICADO_DEUDA": "Solicita certificado de deuda para trámite hipotecario.",
    "PUNTOS_NO_ACREDITADOS": "Compras en {merchant} no acumularon puntos del programa.",
}
_COMMENTS = (
    ("Se solicitó al cliente copia de la boleta.", Visibility.CUSTOMER),
    (
        "Revisado con el área de operaciones: el cargo figura en el archivo del adquirente.",
        Visibility.INTERNAL,
    ),
    ("Cliente llamó para consultar el estado; se le informó el plazo.", Visibility.INTERNAL),
    ("Le informamos que su caso está en revisión.", Visibility.CUSTOMER),
)
CURRENCIES = {"CL": "CLP", "AR": "ARS"}
_OUTBOUND = {
    status: code
    for code, status, direction in homologation.DEFAULT_LINES
    if direction.value in ("BOTH", "OUTBOUND")
}


@dataclass
class StoryContext:
    now: datetime
    partners: list[Partner]  # the partners that open and handle cases
    by_id: dict[uuid.UUID, Partner]
    customers: list[tuple[uuid.UUID, uuid.UUID]]  # (customer id, home partner id)
    typologies: dict[str, Any]


@dataclass
class Story:
    """Rows of one demo case (its reference is assigned when the batch is inserted)."""

    case: dict[str, Any]
    statuses: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


def _slug(partner: Partner) -> str:
    return partner.code.lower().replace("_", "")


@functools.lru_cache(maxsize=256)
def _offsets(
    typology: str, country: str, days: int | None, hours: int | None, now: datetime
) -> dict[SlaState, list[timedelta]]:
    """For a window of this typology on this calendar, how long ago it may have started
    to be ON_TRACK / AT_RISK / BREACHED now (a grid of candidate offsets)."""
    step = timedelta(minutes=5) if hours else timedelta(hours=1)
    span = timedelta(hours=(hours or 0) * 3) if hours else timedelta(days=(days or 1) * 3 + 10)
    out: dict[SlaState, list[timedelta]] = {s: [] for s in SlaState}
    offset = step
    while offset <= span:
        start = now - offset
        due = sla.compute_due(start, country=country, business_days=days, hours=hours)
        out[sla.state_at(now, started_at=start, due_at=due)].append(offset)
        offset += step
    return out


def _window(
    ctx: StoryContext,
    rng: random.Random,
    typology: Any,
    country: str,
    state: SlaState,
    *,
    fresh: bool = False,
) -> tuple[datetime, datetime]:
    grid = _offsets(
        typology.code, country, typology.sla_business_days, typology.sla_hours, ctx.now
    )[state] or [timedelta(minutes=5)]
    if fresh:  # early in its window: opened recently
        grid = grid[: max(1, len(grid) // 3)]
    start = ctx.now - rng.choice(grid)
    due = sla.compute_due(
        start, country=country, business_days=typology.sla_business_days, hours=typology.sla_hours
    )
    return start, due


def story(i: int, ctx: StoryContext) -> Story:
    rng = random.Random(i * 104_729 + 17)  # noqa: S311 - demo data, not secrets
    kind = PATTERN[i % len(PATTERN)]
    customer_id, home_id = ctx.customers[rng.randrange(len(ctx.customers))]
    home = ctx.by_id.get(home_id)
    typology = ctx.typologies[rng.choice(sorted(ctx.typologies))]
    origin = rng.choice(ctx.partners) if rng.random() < 0.45 or home is None else home
    country = origin.country
    handler = origin
    target: Partner | None = None
    if kind in ("DERIVED_PENDING", "DERIVED_ACCEPTED"):
        others = [p for p in ctx.partners if p.id != origin.id]
        target = home if home is not None and home.id != origin.id else rng.choice(others)
    merchant = rng.choice(_MERCHANTS)
    description = _DESCRIPTIONS.get(typology.code, "Solicitud del cliente.").format(
        merchant=merchant
    )
    currency = CURRENCIES.get(country, "CLP")
    amount = None
    if typology.requires_amount or rng.random() < 0.2:
        amount = (
            rng.randrange(5_000, 400_000)
            if currency == "CLP"
            else rng.randrange(100_000, 30_000_000)
        )
    last4 = f"{rng.randrange(10_000):04d}" if typology.requires_card or rng.random() < 0.3 else None
    priority = typology.default_priority
    if rng.random() < 0.1:
        priority = Priority.HIGH.value if priority != Priority.CRITICAL.value else priority

    # --- when -------------------------------------------------------------------------
    finished = kind in ("RESOLVED", "CLOSED", "REJECTED")
    status_for = {
        "DERIVED_PENDING": CaseStatus.OPEN,
        "DERIVED_ACCEPTED": CaseStatus.IN_PROGRESS,
        "AT_RISK": CaseStatus.IN_PROGRESS,
        "BREACHED": CaseStatus.IN_PROGRESS,
    }
    status = status_for.get(kind) or CaseStatus(kind)
    sla_state = SlaState.ON_TRACK
    if finished:
        created = ctx.now - timedelta(days=rng.randrange(12, 150), minutes=rng.randrange(1440))
        start = created
        due = sla.compute_due(
            start,
            country=country,
            business_days=typology.sla_business_days,
            hours=typology.sla_hours,
        )
    else:
        wanted = {"AT_RISK": SlaState.AT_RISK, "BREACHED": SlaState.BREACHED}.get(
            kind, SlaState.ON_TRACK
        )
        start, due = _window(ctx, rng, typology, country, wanted, fresh=wanted is SlaState.ON_TRACK)
        created = start
        sla_state = wanted

    out = Story(case={})
    events = out.timeline
    case_id = uuid7()

    def actor(partner: Partner) -> tuple[str, uuid.UUID]:
        return f"agent@{_slug(partner)}", partner.id

    def add(
        kind_: TimelineKind,
        at: datetime,
        by: tuple[str, uuid.UUID | None],
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
        visibility: Visibility = Visibility.INTERNAL,
    ) -> None:
        events.append(
            {
                "id": uuid7(),
                "case_id": case_id,
                "seq": len(events) + 1,
                "at": at,
                "actor_subject": by[0],
                "actor_partner_id": by[1],
                "kind": kind_.value,
                "visibility": visibility.value,
                "before": audit.jsonable(before) if before is not None else None,
                "after": audit.jsonable(after) if after is not None else None,
                "note": note,
            }
        )

    def comment(at: datetime, by: Partner) -> None:
        body, visibility = _COMMENTS[rng.randrange(len(_COMMENTS))]
        comment_id = uuid7()
        out.comments.append(
            {
                "id": comment_id,
                "case_id": case_id,
                "author_subject": actor(by)[0],
                "author_name": f"Agente {by.name}",
                "author_partner_id": by.id,
                "visibility": visibility.value,
                "body": body,
                "created_at": at,
            }
        )
        add(
            TimelineKind.COMMENTED,
            at,
            actor(by),
            after={"comment_id": comment_id, "visibility": visibility.value},
            visibility=visibility,
        )

    add(
        TimelineKind.OPENED,
        created,
        actor(origin),
        after={
            "status": CaseStatus.OPEN.value,
            "typology_code": typology.code,
            "priority": priority,
            "originating_partner_id": origin.id,
            "handling_partner_id": origin.id,
            "sla_due_at": due,
        },
        visibility=Visibility.CUSTOMER,
    )
    at = created
    changed_at = created
    pending: dict[str, Any] = {}
    paused_at = None
    resolution: dict[str, Any] = {}
    resolved_at = closed_at = None
    at_risk_at = breached_at = escalated_at = None
    escalated_to = None

    # Most finished cases were resolved within their window; some late.
    limit = due if not finished or rng.random() < 0.85 else due + timedelta(days=10)

    def step(fraction: float) -> datetime:
        nonlocal at
        room = (min(limit, ctx.now) - at).total_seconds()
        at = at + timedelta(seconds=max(1.0, room * fraction))
        return at

    if status is not CaseStatus.OPEN:
        first = (
            status if kind in ("WAITING_CUSTOMER", "WAITING_PARTNER") else CaseStatus.IN_PROGRESS
        )
        changed_at = step(0.1)
        add(
            TimelineKind.STATUS_CHANGED,
            changed_at,
            actor(origin),
            before={"status": CaseStatus.OPEN.value},
            after={"status": first.value},
            visibility=Visibility.CUSTOMER,
        )
        if first is CaseStatus.WAITING_CUSTOMER:
            paused_at = changed_at
    if rng.random() < 0.5:
        comment(step(0.15), origin)
    if kind in ("DERIVED_PENDING", "DERIVED_ACCEPTED"):
        assert target is not None
        reason = "El caso corresponde al emisor de la tarjeta."
        derived_at = step(0.2)
        add(
            TimelineKind.DERIVED,
            derived_at,
            actor(origin),
            before={"pending_derivation_to": None},
            after={"pending_derivation_to": target.id, "pending_derivation_reason": reason},
            note=reason,
        )
        if kind == "DERIVED_PENDING":
            pending = {
                "pending_derivation_to": target.id,
                "pending_derivation_reason": reason,
                "pending_derivation_at": derived_at,
                "pending_derivation_by": actor(origin)[0],
            }
        else:
            accepted_at = step(0.2)
            handler = target
            start = accepted_at
            due = sla.compute_due(
                start,
                country=target.country,
                business_days=typology.sla_business_days,
                hours=typology.sla_hours,
            )
            add(
                TimelineKind.DERIVATION_ACCEPTED,
                accepted_at,
                actor(target),
                before={"handling_partner_id": origin.id, "pending_derivation_to": target.id},
                after={
                    "handling_partner_id": target.id,
                    "pending_derivation_to": None,
                    "sla_due_at": due,
                },
                visibility=Visibility.CUSTOMER,
            )
            if sla.state_at(ctx.now, started_at=start, due_at=due) is not SlaState.ON_TRACK:
                sla_state = sla.state_at(ctx.now, started_at=start, due_at=due)
                # the sweep would have flagged it: keep the story consistent
                at_risk_at = ctx.now
                if sla_state is SlaState.BREACHED:
                    breached_at = escalated_at = ctx.now
                    escalated_to = handler.id
    if kind == "AT_RISK":
        window = due - start
        at_risk_at = max(at, due - window / 4)
        at_risk_at = min(at_risk_at, ctx.now)
        add(
            TimelineKind.SLA_AT_RISK,
            at_risk_at,
            (SYSTEM.subject, None),
            before={"sla_state": SlaState.ON_TRACK.value},
            after={"sla_state": SlaState.AT_RISK.value, "sla_due_at": due},
        )
    if kind == "BREACHED":
        window = due - start
        at_risk_at = max(at, due - window / 4)
        breached_at = escalated_at = min(due + timedelta(minutes=5), ctx.now)
        escalated_to = handler.id
        add(
            TimelineKind.SLA_AT_RISK,
            at_risk_at,
            (SYSTEM.subject, None),
            before={"sla_state": SlaState.ON_TRACK.value},
            after={"sla_state": SlaState.AT_RISK.value, "sla_due_at": due},
        )
        add(
            TimelineKind.SLA_BREACHED,
            breached_at,
            (SYSTEM.subject, None),
            before={"sla_state": SlaState.AT_RISK.value},
            after={
                "sla_state": SlaState.BREACHED.value,
                "sla_due_at": due,
                "escalated_at": escalated_at,
                "escalated_to": handler.id,
            },
        )
    if finished:
        resolved_at = step(0.3)
        if kind == "REJECTED":
            note = "El cargo corresponde a una compra validada con clave dinámica."
            resolution = {"resolution_code": ResolutionCode.REJECTED.value, "resolution_note": note}
            add(
                TimelineKind.STATUS_CHANGED,
                resolved_at,
                actor(handler),
                before={"status": CaseStatus.IN_PROGRESS.value},
                after={"status": CaseStatus.REJECTED.value},
                note=note,
                visibility=Visibility.CUSTOMER,
            )
        else:
            code = rng.choice(
                [
                    ResolutionCode.FAVORABLE,
                    ResolutionCode.PARTIALLY_FAVORABLE,
                    ResolutionCode.UNFAVORABLE,
                    ResolutionCode.INFORMATION_PROVIDED,
                    ResolutionCode.SERVICE_PERFORMED,
                ]
            )
            refund = None
            if amount is not None and code is ResolutionCode.FAVORABLE:
                refund = amount
            elif amount is not None and code is ResolutionCode.PARTIALLY_FAVORABLE:
                refund = amount // 2
            note = "Se revisó el caso con el cliente y se aplicó la resolución indicada."
            resolution = {
                "resolution_code": code.value,
                "resolution_note": note,
                "resolution_refund_minor": refund,
                "resolution_refund_currency": currency if refund is not None else None,
            }
            add(
                TimelineKind.RESOLVED,
                resolved_at,
                actor(handler),
                before={"status": CaseStatus.IN_PROGRESS.value},
                after={"status": CaseStatus.RESOLVED.value, "resolution_code": code.value},
                note=note,
                visibility=Visibility.CUSTOMER,
            )
        changed_at = resolved_at
        if resolved_at > due:
            sla_state = SlaState.BREACHED
            at_risk_at = breached_at = escalated_at = due
            escalated_to = handler.id
        if kind == "CLOSED":
            closed_at = step(0.5)
            add(
                TimelineKind.STATUS_CHANGED,
                closed_at,
                actor(handler),
                before={"status": CaseStatus.RESOLVED.value},
                after={"status": CaseStatus.CLOSED.value},
                visibility=Visibility.CUSTOMER,
            )
            changed_at = closed_at
    updated = max(e["at"] for e in events)
    out.case = {
        "id": case_id,
        "reference": None,
        "customer_id": customer_id,
        "card_last4": last4,
        "card_token": f"tok_{rng.getrandbits(64):016x}" if last4 else None,
        "typology_code": typology.code,
        "originating_partner_id": origin.id,
        "handling_partner_id": handler.id,
        "channel": rng.choice(list(Channel)).value,
        "priority": priority,
        "status": status.value,
        "status_changed_at": changed_at,
        "description": description,
        "description_folded": fold(description),
        "amount_in_dispute_minor": amount,
        "amount_in_dispute_currency": currency if amount is not None else None,
        "pending_derivation_to": pending.get("pending_derivation_to"),
        "pending_derivation_reason": pending.get("pending_derivation_reason"),
        "pending_derivation_at": pending.get("pending_derivation_at"),
        "pending_derivation_by": pending.get("pending_derivation_by"),
        "sla_started_at": start,
        "sla_due_at": due,
        "sla_state": sla_state.value,
        "sla_paused_at": paused_at,
        "sla_at_risk_at": at_risk_at,
        "sla_breached_at": breached_at,
        "escalated_at": escalated_at,
        "escalated_to": escalated_to,
        "resolution_code": resolution.get("resolution_code"),
        "resolution_note": resolution.get("resolution_note"),
        "resolution_refund_minor": resolution.get("resolution_refund_minor"),
        "resolution_refund_currency": resolution.get("resolution_refund_currency"),
        "created_by": actor(origin)[0],
        "timeline_seq": len(events),
        "version": len(events),  # 1 at opening, +1 for every change after it
        "created_at": created,
        "updated_at": updated,
        "resolved_at": resolved_at,
        "closed_at": closed_at,
    }
    partner_code = _OUTBOUND.get(status)
    out.statuses.append(
        _status_row(
            case_id,
            origin.id,
            f"{DEMO_PREFIX}{i + 1:07d}",
            partner_code if handler is origin else None,
            created,
            updated,
        )
    )
    if handler is not origin:
        out.statuses.append(_status_row(case_id, handler.id, None, partner_code, updated, updated))
    return out


def _status_row(
    case_id: uuid.UUID,
    partner_id: uuid.UUID,
    external_ref: str | None,
    code: str | None,
    since: datetime,
    updated: datetime,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "partner_id": partner_id,
        "partner_status_code": code,
        "external_ref": external_ref,
        "last_external_version": None,
        "last_reported_at": None,
        "reported_occurred_at": None,
        "last_synced_version": None,
        "last_synced_at": None,
        "last_sync_attempt_at": None,
        "last_sync_error": None,
        "involved_since": since,
        "updated_at": updated,
    }
