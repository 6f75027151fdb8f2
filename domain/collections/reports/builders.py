"""The figures of each report kind, from dated facts (``facts.py``), as tables.

- **AGING** — the open portfolio as of the period's last day by aging bucket (count,
  outstanding principal, overdue, share), and how accounts moved between buckets from the
  day before the period to its last day (the roll matrix, roll-forward and cure rates).
- **PORTFOLIO** — opening and closing outstanding principal, disbursed, collected (split
  by what the payments paid: principal, interest, charges, late interest, balance held),
  written off and paid off in the period, with the movement that reconciles them.
- **COLLECTIONS** — promises made and decided (kept, partially kept, broken) with the kept
  rate by count and amount, by collector; contacts by outcome and collector; recovery by
  the bucket accounts were in when the period began and by the collector who held them
  when each payment came; strategy steps fired and their messages.
- **RECONCILIATION** — ``reconciliation.py``.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from domain.collections.reports.facts import (
    CreditFact,
    by_currency,
    credits_as_of,
    payments_between,
)
from domain.collections.reports.periods import Period
from domain.collections.reports.tables import Chart, Column, Table, money, rate
from domain.collections.work_models import (
    Assignment,
    Collector,
    Contact,
    ContactOutcome,
    Notification,
    Promise,
    PromiseHistory,
    StrategyAction,
)
from domain.credits.policy import CreditPolicy, business_date
from domain.credits.states import AgingBucket
from domain.identity.models import User

__all__ = ["BUCKETS", "aging", "collections", "portfolio"]

BUCKETS = [b.value for b in AgingBucket]
BUCKET_LABELS = {
    "CURRENT": "Al día",
    "1-30": "1 a 30 días",
    "31-60": "31 a 60 días",
    "61-90": "61 a 90 días",
    "91-180": "91 a 180 días",
    "180+": "Más de 180 días",
    "PAID_OFF": "Pagado",
    "WRITTEN_OFF": "Castigado",
    "NEW": "Nuevo en el período",
    "TOTAL": "Total",
}
_STATES = [*BUCKETS, "PAID_OFF", "WRITTEN_OFF"]


def _worse(source: str, target: str) -> bool:
    if target == "WRITTEN_OFF":
        return True
    if target == "PAID_OFF" or source not in BUCKETS:
        return False
    return BUCKETS.index(target) > BUCKETS.index(source)


def _open(facts: Iterable[CreditFact]) -> list[CreditFact]:
    return [f for f in facts if f.is_open]


# --- aging ---------------------------------------------------------------------------------
async def aging(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    period: Period,
    known_at: datetime,
    policy: CreditPolicy,
) -> tuple[list[dict[str, Any]], list[Table]]:
    end = await credits_as_of(
        session, partner_id=partner_id, as_of=period.end, known_at=known_at, policy=policy
    )
    start = await credits_as_of(
        session, partner_id=partner_id, as_of=period.before, known_at=known_at, policy=policy
    )
    table = Table(
        "aging",
        f"Cartera vigente por tramo de mora al {period.end.isoformat()}",
        [
            Column("currency", "Moneda"),
            Column("bucket", "Tramo"),
            Column("bucketLabel", "Tramo (texto)"),
            Column("credits", "Créditos", "int"),
            Column("outstandingPrincipal", "Capital vigente", "money"),
            Column("overdue", "Monto vencido", "money"),
            Column("share", "Participación del capital", "rate"),
        ],
        chart=Chart(
            "column", "Capital vigente por tramo", "bucketLabel", ("outstandingPrincipal",), True
        ),
    )
    summary: list[dict[str, Any]] = []
    for currency, facts in by_currency(_open(end.values())).items():
        total = sum(f.outstanding_principal for f in facts)
        for bucket in BUCKETS:
            rows = [f for f in facts if f.bucket == bucket]
            principal = sum(f.outstanding_principal for f in rows)
            table.add(
                currency,
                bucket,
                BUCKET_LABELS[bucket],
                len(rows),
                money(principal, currency),
                money(sum(f.overdue for f in rows), currency),
                rate(principal, total),
            )
        table.add(
            currency,
            "TOTAL",
            BUCKET_LABELS["TOTAL"],
            len(facts),
            money(total, currency),
            money(sum(f.overdue for f in facts), currency),
            rate(total, total),
        )
        late = [f for f in facts if f.days_past_due > 0]
        par30 = sum(f.outstanding_principal for f in facts if f.days_past_due > 30)
        summary += [
            _figure("openCredits", "Créditos vigentes", "int", len(facts), currency),
            _figure(
                "outstandingPrincipal", "Capital vigente", "money", money(total, currency), currency
            ),
            _figure(
                "delinquencyRate",
                "Créditos con mora / vigentes",
                "rate",
                rate(len(late), len(facts)),
                currency,
            ),
            _figure(
                "par30",
                "Capital con más de 30 días de mora / capital vigente (PAR30)",
                "rate",
                rate(par30, total),
                currency,
            ),
        ]
    matrix = Table(
        "rolls",
        f"Movimiento entre tramos del {period.before.isoformat()} al "
        f"{period.end.isoformat()} (créditos)",
        [Column("from", "Desde"), Column("fromLabel", "Desde (texto)")]
        + [Column(s, BUCKET_LABELS[s], "int") for s in _STATES],
    )
    rates = Table(
        "rollRates",
        "Tasas de deterioro (roll rate) y de normalización (cure rate)",
        [
            Column("from", "Desde"),
            Column("fromLabel", "Desde (texto)"),
            Column("credits", "Créditos al inicio", "int"),
            Column("rolledForward", "Empeoraron", "int"),
            Column("rollRate", "Roll rate", "rate"),
            Column("cured", "Se normalizaron", "int"),
            Column("cureRate", "Cure rate", "rate"),
            Column("stayed", "Se mantuvieron", "int"),
        ],
        chart=Chart("bar", "Roll rate por tramo de origen", "fromLabel", ("rollRate", "cureRate")),
    )
    origins: dict[str, list[str]] = defaultdict(list)
    for credit_id, fact in end.items():
        before = start.get(credit_id)
        if before is None:
            origin = "NEW"
        elif not before.is_open:
            continue  # closed before the period began
        else:
            origin = before.bucket
        origins[origin].append(fact.state)
    for origin in [*BUCKETS, "NEW"]:
        targets = Counter(origins.get(origin, []))
        matrix.add(origin, BUCKET_LABELS[origin], *[targets.get(s, 0) for s in _STATES])
        if origin == "NEW":
            continue
        count = sum(targets.values())
        forward = sum(n for s, n in targets.items() if _worse(origin, s))
        cured = (
            sum(n for s, n in targets.items() if s in {"CURRENT", "PAID_OFF"})
            if origin != "CURRENT"
            else 0
        )
        rates.add(
            origin,
            BUCKET_LABELS[origin],
            count,
            forward,
            rate(forward, count),
            cured,
            rate(cured, count) if origin != "CURRENT" else None,
            targets.get(origin, 0),
        )
    return summary, [table, matrix, rates]


def _figure(
    key: str, label: str, kind: str, value: Any, currency: str | None = None
) -> dict[str, Any]:
    return {"key": key, "label": label, "type": kind, "value": value, "currency": currency}


# --- portfolio -----------------------------------------------------------------------------
_COMPONENTS = ("PRINCIPAL", "INTEREST", "CHARGES", "LATE_INTEREST")


async def portfolio(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    period: Period,
    known_at: datetime,
    policy: CreditPolicy,
) -> tuple[list[dict[str, Any]], list[Table]]:
    end = await credits_as_of(
        session,
        partner_id=partner_id,
        as_of=period.end,
        known_at=known_at,
        policy=policy,
        with_lines=True,
    )
    start = await credits_as_of(
        session, partner_id=partner_id, as_of=period.before, known_at=known_at, policy=policy
    )
    paid = await payments_between(
        session, partner_id=partner_id, start=period.start, end=period.end, known_at=known_at
    )
    movements = Table(
        "movements",
        f"Movimiento de la cartera del {period.start.isoformat()} al {period.end.isoformat()}",
        [
            Column("currency", "Moneda"),
            Column("item", "Concepto"),
            Column("itemLabel", "Concepto (texto)"),
            Column("credits", "Créditos", "int"),
            Column("amount", "Monto", "money"),
        ],
        chart=Chart("column", "Movimiento de la cartera", "itemLabel", ("amount",), True),
        note="El capital de cierre es el de apertura más lo desembolsado (financiado), menos "
        "el capital cobrado y el castigado; 'otros movimientos' es lo que capitalizan las "
        "reprogramaciones.",
    )
    collected = Table(
        "collected",
        "Cobranza del período por componente",
        [
            Column("currency", "Moneda"),
            Column("component", "Componente"),
            Column("componentLabel", "Componente (texto)"),
            Column("amount", "Monto", "money"),
        ],
        chart=Chart("pie", "Composición de lo cobrado", "componentLabel", ("amount",), True),
    )
    labels = {
        "OPENING": "Capital vigente al inicio",
        "DISBURSED": "Desembolsado (monto prestado)",
        "FINANCED": "Financiado (capital a amortizar)",
        "PRINCIPAL_COLLECTED": "Capital cobrado",
        "WRITTEN_OFF": "Capital castigado",
        "OTHER": "Otros movimientos (reprogramaciones)",
        "CLOSING": "Capital vigente al cierre",
        "PAID_OFF": "Créditos pagados en el período",
        "PAYMENTS": "Pagos recibidos",
    }
    component_labels = {
        "PRINCIPAL": "Capital",
        "INTEREST": "Intereses",
        "CHARGES": "Cargos y seguros",
        "LATE_INTEREST": "Intereses moratorios",
        "HELD": "Saldo a favor retenido",
    }
    summary: list[dict[str, Any]] = []
    currencies = sorted(
        {f.currency for f in [*end.values(), *start.values()]} | {p.currency for p in paid}
    )
    for currency in currencies:
        opening = [f for f in start.values() if f.currency == currency and f.is_open]
        closing = [f for f in end.values() if f.currency == currency and f.is_open]
        new = [
            f
            for f in end.values()
            if f.currency == currency and period.start <= f.disbursed_on <= period.end
        ]
        written = [
            f
            for f in end.values()
            if f.currency == currency
            and f.written_off_on is not None
            and period.start <= f.written_off_on <= period.end
        ]
        paid_off = [
            f
            for f in end.values()
            if f.currency == currency
            and f.paid_off_on is not None
            and period.start <= f.paid_off_on <= period.end
        ]
        payments = [p for p in paid if p.currency == currency]
        parts = dict.fromkeys([*_COMPONENTS, "HELD"], 0)
        for payment in payments:
            fact = end.get(payment.credit_id)
            lines = fact.lines.get(payment.payment_id, {}) if fact is not None else {}
            for component in _COMPONENTS:
                parts[component] += lines.get(component, 0)
            parts["HELD"] += payment.amount - sum(lines.values())
        open_amount = sum(f.outstanding_principal for f in opening)
        close_amount = sum(f.outstanding_principal for f in closing)
        financed = sum(f.financed for f in new)
        written_amount = sum(f.outstanding_principal for f in written)
        other = close_amount - (open_amount + financed - parts["PRINCIPAL"] - written_amount)
        for item, count, amount in [
            ("OPENING", len(opening), open_amount),
            ("DISBURSED", len(new), sum(f.principal for f in new)),
            ("FINANCED", len(new), financed),
            ("PRINCIPAL_COLLECTED", len(payments), parts["PRINCIPAL"]),
            ("WRITTEN_OFF", len(written), written_amount),
            ("OTHER", None, other),
            ("CLOSING", len(closing), close_amount),
            ("PAID_OFF", len(paid_off), None),
            ("PAYMENTS", len(payments), sum(p.amount for p in payments)),
        ]:
            movements.add(
                currency,
                item,
                labels[item],
                count,
                money(amount, currency) if amount is not None else None,
            )
        for component, amount in parts.items():
            collected.add(currency, component, component_labels[component], money(amount, currency))
        summary += [
            _figure(
                "outstandingPrincipal",
                "Capital vigente al cierre",
                "money",
                money(close_amount, currency),
                currency,
            ),
            _figure(
                "disbursed",
                "Desembolsado",
                "money",
                money(sum(f.principal for f in new), currency),
                currency,
            ),
            _figure(
                "collected",
                "Cobrado",
                "money",
                money(sum(p.amount for p in payments), currency),
                currency,
            ),
            _figure("writtenOff", "Castigado", "money", money(written_amount, currency), currency),
            _figure(
                "overdue",
                "Monto vencido al cierre",
                "money",
                money(sum(f.overdue for f in closing), currency),
                currency,
            ),
        ]
    return summary, [movements, collected]


# --- collections performance ---------------------------------------------------------------
async def _collector_names(session: AsyncSession, partner_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        sa.select(col(Collector.id), col(User.display_name))
        .join(User, col(User.id) == col(Collector.user_id))
        .where(col(Collector.partner_id) == partner_id)
    )
    return {r[0]: r[1] for r in rows}


async def _promises_known(
    session: AsyncSession, partner_id: uuid.UUID, known_at: datetime
) -> list[dict[str, Any]]:
    """Each promise of the lender as it stood at ``known_at`` (its dated history)."""
    promises = {
        p.id: p
        for p in (
            await session.execute(
                sa.select(Promise).where(
                    col(Promise.partner_id) == partner_id, col(Promise.created_at) <= known_at
                )
            )
        ).scalars()
    }
    if not promises:
        return []
    latest: dict[uuid.UUID, PromiseHistory] = {}
    for row in (
        await session.execute(
            sa.select(PromiseHistory)
            .where(
                col(PromiseHistory.partner_id) == partner_id,
                col(PromiseHistory.recorded_at) <= known_at,
            )
            .order_by(col(PromiseHistory.recorded_at), col(PromiseHistory.id))
        )
    ).scalars():
        latest[row.promise_id] = row  # the last one per promise wins
    out = []
    for key, promise in promises.items():
        state = latest.get(key)
        if state is None:
            continue
        out.append(
            {
                "id": key,
                "collector": promise.collector_id,
                "currency": promise.currency,
                "amount": promise.amount,
                "paid": state.paid_amount,
                "status": state.status,
                "madeOn": promise.made_on.isoformat(),
                "decidedOn": state.decided_on.isoformat() if state.decided_on else None,
            }
        )
    return out


async def collections(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    period: Period,
    known_at: datetime,
    policy: CreditPolicy,
    timezone: str,
) -> tuple[list[dict[str, Any]], list[Table]]:
    names = await _collector_names(session, partner_id)
    names_of = lambda key: names.get(key, "Sin ejecutivo") if key else "Sin ejecutivo"  # noqa: E731
    start_iso, end_iso = period.start.isoformat(), period.end.isoformat()
    promises = await _promises_known(session, partner_id, known_at)
    made = [p for p in promises if start_iso <= p["madeOn"] <= end_iso]
    decided = [
        p
        for p in promises
        if p["decidedOn"]
        and start_iso <= p["decidedOn"] <= end_iso
        and p["status"] in {"KEPT", "PARTIALLY_KEPT", "BROKEN"}
    ]
    promise_table = Table(
        "promises",
        "Promesas de pago decididas en el período",
        [
            Column("currency", "Moneda"),
            Column("status", "Resultado"),
            Column("statusLabel", "Resultado (texto)"),
            Column("promises", "Promesas", "int"),
            Column("promised", "Monto prometido", "money"),
            Column("paid", "Monto pagado", "money"),
        ],
        chart=Chart("column", "Promesas de pago por resultado", "statusLabel", ("promises",), True),
    )
    status_labels = {
        "KEPT": "Cumplida",
        "PARTIALLY_KEPT": "Cumplida en parte",
        "BROKEN": "Incumplida",
    }
    summary: list[dict[str, Any]] = []
    currencies = sorted({p["currency"] for p in [*made, *decided]})
    for currency in currencies:
        mine = [p for p in decided if p["currency"] == currency]
        for status in ("KEPT", "PARTIALLY_KEPT", "BROKEN"):
            rows = [p for p in mine if p["status"] == status]
            promise_table.add(
                currency,
                status,
                status_labels[status],
                len(rows),
                money(sum(p["amount"] for p in rows), currency),
                money(sum(p["paid"] for p in rows), currency),
            )
        kept = [p for p in mine if p["status"] == "KEPT"]
        summary += [
            _figure(
                "promisesMade",
                "Promesas hechas",
                "int",
                len([p for p in made if p["currency"] == currency]),
                currency,
            ),
            _figure(
                "promisesKeptRate",
                "Promesas cumplidas / decididas",
                "rate",
                rate(len(kept), len(mine)),
                currency,
            ),
            _figure(
                "promisedAmountKeptRate",
                "Monto pagado / prometido (decididas)",
                "rate",
                rate(
                    sum(min(p["paid"], p["amount"]) for p in mine), sum(p["amount"] for p in mine)
                ),
                currency,
            ),
        ]
    by_collector = Table(
        "promisesByCollector",
        "Promesas decididas por ejecutivo",
        [
            Column("collector", "Ejecutivo"),
            Column("currency", "Moneda"),
            Column("decided", "Decididas", "int"),
            Column("kept", "Cumplidas", "int"),
            Column("keptRate", "Tasa de cumplimiento", "rate"),
            Column("paid", "Monto pagado", "money"),
        ],
        chart=Chart("bar", "Cumplimiento de promesas por ejecutivo", "collector", ("keptRate",)),
    )
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in decided:
        grouped[(names_of(p["collector"]), p["currency"])].append(p)
    for (who, currency), rows in sorted(grouped.items()):
        kept_count = sum(1 for p in rows if p["status"] == "KEPT")
        by_collector.add(
            who,
            currency,
            len(rows),
            kept_count,
            rate(kept_count, len(rows)),
            money(sum(p["paid"] for p in rows), currency),
        )

    # contacts
    contacts = [
        c
        for c in (
            await session.execute(
                sa.select(Contact).where(
                    col(Contact.partner_id) == partner_id, col(Contact.created_at) <= known_at
                )
            )
        ).scalars()
        if period.start <= business_date(c.contacted_at, timezone) <= period.end
    ]
    contact_table = Table(
        "contacts",
        "Gestiones por ejecutivo y resultado",
        [
            Column("collector", "Ejecutivo"),
            Column("contacts", "Gestiones", "int"),
            Column("reached", "Contacto efectivo", "int"),
            Column("reachRate", "Tasa de contacto", "rate"),
        ]
        + [Column(o.value, o.value, "int") for o in ContactOutcome],
        chart=Chart("bar", "Gestiones por ejecutivo", "collector", ("contacts", "reached")),
    )
    per_person: dict[str, list[Contact]] = defaultdict(list)
    for contact in contacts:
        per_person[names_of(contact.collector_id)].append(contact)
    for who, theirs in sorted(per_person.items()):
        outcomes = Counter(c.outcome for c in theirs)
        reached = sum(1 for c in theirs if ContactOutcome(c.outcome).reached)
        contact_table.add(
            who,
            len(theirs),
            reached,
            rate(reached, len(theirs)),
            *[outcomes.get(o.value, 0) for o in ContactOutcome],
        )
    summary.append(_figure("contacts", "Gestiones", "int", len(contacts)))

    # recovery
    start_facts = await credits_as_of(
        session, partner_id=partner_id, as_of=period.before, known_at=known_at, policy=policy
    )
    paid = await payments_between(
        session, partner_id=partner_id, start=period.start, end=period.end, known_at=known_at
    )
    recovery = Table(
        "recoveryByBucket",
        "Recuperación por tramo de mora al inicio del período",
        [
            Column("currency", "Moneda"),
            Column("bucket", "Tramo al inicio"),
            Column("bucketLabel", "Tramo (texto)"),
            Column("credits", "Créditos al inicio", "int"),
            Column("overdueAtStart", "Vencido al inicio", "money"),
            Column("paying", "Créditos con pagos", "int"),
            Column("recovered", "Recuperado", "money"),
            Column("recoveryRate", "Recuperado / vencido al inicio", "rate"),
        ],
        chart=Chart("column", "Recuperación por tramo", "bucketLabel", ("recovered",), True),
    )
    paid_by_credit: dict[uuid.UUID, int] = defaultdict(int)
    for payment in paid:
        paid_by_credit[payment.credit_id] += payment.amount
    for currency, facts in by_currency(_open(start_facts.values())).items():
        for bucket in BUCKETS:
            in_bucket = [f for f in facts if f.bucket == bucket]
            recovered = sum(paid_by_credit.get(f.credit_id, 0) for f in in_bucket)
            overdue = sum(f.overdue for f in in_bucket)
            recovery.add(
                currency,
                bucket,
                BUCKET_LABELS[bucket],
                len(in_bucket),
                money(overdue, currency),
                sum(1 for f in in_bucket if f.credit_id in paid_by_credit),
                money(recovered, currency),
                rate(recovered, overdue),
            )
    assignments = list(
        (
            await session.execute(
                sa.select(Assignment).where(
                    col(Assignment.partner_id) == partner_id,
                    col(Assignment.assigned_at) <= known_at,
                )
            )
        ).scalars()
    )
    held: dict[uuid.UUID, list[Assignment]] = defaultdict(list)
    for held_by in assignments:
        held[held_by.credit_id].append(held_by)
    recovered_by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    credits_by: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
    for payment in paid:
        holder = next(
            (
                a
                for a in held.get(payment.credit_id, [])
                if a.assigned_at <= payment.paid_at
                and (a.ended_at is None or a.ended_at > known_at or a.ended_at > payment.paid_at)
            ),
            None,
        )
        key = (names_of(holder.collector_id) if holder else "Sin ejecutivo", payment.currency)
        recovered_by[key][0] += payment.amount
        recovered_by[key][1] += 1
        credits_by[key].add(payment.credit_id)
    by_holder = Table(
        "recoveryByCollector",
        "Recuperación por ejecutivo a cargo al momento de cada pago",
        [
            Column("collector", "Ejecutivo"),
            Column("currency", "Moneda"),
            Column("credits", "Créditos con pagos", "int"),
            Column("payments", "Pagos", "int"),
            Column("recovered", "Recuperado", "money"),
        ],
        chart=Chart("bar", "Recuperación por ejecutivo", "collector", ("recovered",), True),
    )
    for (who, currency), (amount, count) in sorted(recovered_by.items()):
        by_holder.add(
            who, currency, len(credits_by[(who, currency)]), count, money(amount, currency)
        )

    # strategy steps
    actions = list(
        (
            await session.execute(
                sa.select(StrategyAction).where(
                    col(StrategyAction.partner_id) == partner_id,
                    col(StrategyAction.run_date) >= period.start,
                    col(StrategyAction.run_date) <= period.end,
                    col(StrategyAction.created_at) <= known_at,
                )
            )
        ).scalars()
    )
    notes = list(
        (
            await session.execute(
                sa.select(Notification).where(
                    col(Notification.action_id).in_([a.id for a in actions] or [uuid.UUID(int=0)])
                )
            )
        ).scalars()
    )
    outcome_of: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    for n in notes:
        if n.sent_at is not None and n.sent_at <= known_at:
            state = "SENT"
        elif n.status in {"FAILED", "SKIPPED"} and n.updated_at <= known_at:
            state = n.status
        else:
            state = "PENDING"
        outcome_of[n.action_id][state] += 1
    steps = Table(
        "steps",
        "Pasos de la estrategia ejecutados",
        [
            Column("stepCode", "Paso"),
            Column("action", "Acción"),
            Column("fired", "Ejecutados", "int"),
            Column("skipped", "Omitidos (superados)", "int"),
            Column("sent", "Mensajes entregados", "int"),
            Column("failed", "Mensajes fallidos u omitidos", "int"),
            Column("pending", "Mensajes pendientes", "int"),
        ],
    )
    per_step: dict[tuple[str, str], list[StrategyAction]] = defaultdict(list)
    for fired in actions:
        per_step[(fired.step_code, fired.action)].append(fired)
    for (code, action), of_step in sorted(per_step.items()):
        totals: Counter[str] = Counter()
        for one in of_step:
            totals.update(outcome_of.get(one.id, Counter()))
        steps.add(
            code,
            action,
            sum(1 for one in of_step if one.status == "FIRED"),
            sum(1 for one in of_step if one.status == "SKIPPED"),
            totals["SENT"],
            totals["FAILED"] + totals["SKIPPED"],
            totals["PENDING"],
        )
    return summary, [promise_table, by_collector, contact_table, recovery, by_holder, steps]
