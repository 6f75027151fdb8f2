"""The reconciliation report: what came into the lender's collection accounts and what
became of it, from dated facts.

Statement lines are C1's (``statement_lines``, ``bank_accounts``); what the matcher and
the clerks decided about each line is C2's append-only history of decisions
(``collections_line_decisions``) and the payments lines booked (``collections_line_
applications``). As everywhere in reports, the figures are those known at ``known_at``: a
line counts when it was received by then, its state is its latest decision made by then
(``NEW`` before any), and a booking counts unless reversed by then. So a rerun gives the
same figures however the lines were worked afterwards.

- **lines** — per account, the lines booked in the period: count, money in and out, and
  how many are in each state.
- **rules** — the lines matched, by the rule that matched them (or by hand, or through an
  "unidentified payment" case), with their amount.
- **exceptions** — the lines in exception, by reason.
- **unmatched** — the backlog still to work (new, suggested, exception, unmatched), of any
  booking date up to the period's end, by age: what a clerk looks at first.
- **accounts** — what the period's lines booked on credits, per account: applied as
  payments, written off within tolerance, credits paid.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.collections.matching_models import LineApplication, LineDecision
from domain.collections.models import BankAccount, LineState, StatementLine
from domain.collections.reports.periods import Period
from domain.collections.reports.tables import Chart, Column, Table, money, rate
from domain.credits.policy import CreditPolicy
from domain.shared.models import table_of

__all__ = ["reconciliation"]

STATES = [s.value for s in LineState]
_OPEN = ("NEW", "SUGGESTED", "EXCEPTION", "UNMATCHED")
_DONE = ("AUTO_MATCHED", "IGNORED")
AGES = (
    ("0-1", 0, 1),
    ("2-3", 2, 3),
    ("4-7", 4, 7),
    ("8-15", 8, 15),
    ("16-30", 16, 30),
    ("31+", 31, None),
)
AGE_LABELS = {
    "0-1": "0 a 1 día",
    "2-3": "2 a 3 días",
    "4-7": "4 a 7 días",
    "8-15": "8 a 15 días",
    "16-30": "16 a 30 días",
    "31+": "Más de 30 días",
}
STATE_LABELS = {
    "NEW": "Nuevas",
    "AUTO_MATCHED": "Conciliadas",
    "SUGGESTED": "Sugeridas",
    "EXCEPTION": "Excepciones",
    "UNMATCHED": "Sin conciliar",
    "IGNORED": "Ignoradas",
}


def _age_bucket(days: int) -> str:
    for name, low, high in AGES:
        if days >= low and (high is None or days <= high):
            return name
    return AGES[0][0]


async def _decisions(
    session: AsyncSession, line_ids: list[uuid.UUID], known_at: datetime
) -> dict[uuid.UUID, Any]:
    """Each line's latest decision made by ``known_at``."""
    table = table_of(LineDecision)
    out: dict[uuid.UUID, Any] = {}
    for start in range(0, len(line_ids), 1000):
        rows = await session.execute(
            sa.select(
                table.c.line_id,
                table.c.state,
                table.c.reason,
                table.c.rule_code,
                table.c.rule_set_version,
                table.c.kind,
                table.c.created_at,
                table.c.id,
            )
            .where(
                table.c.line_id.in_(line_ids[start : start + 1000]), table.c.created_at <= known_at
            )
            .order_by(table.c.line_id, table.c.created_at, table.c.id)
        )
        for row in rows:
            out[row.line_id] = row  # the last one per line wins
    return out


async def reconciliation(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    period: Period,
    known_at: datetime,
    policy: CreditPolicy | None = None,
) -> tuple[list[dict[str, Any]], list[Table]]:
    accounts = {
        a.id: a
        for a in (
            await session.execute(
                sa.select(BankAccount)
                .where(BankAccount.partner_id == partner_id, BankAccount.created_at <= known_at)  # type: ignore[arg-type]
                .order_by(BankAccount.label, BankAccount.id)  # type: ignore[arg-type]
            )
        ).scalars()
    }
    lines_table = table_of(StatementLine)
    columns = (
        lines_table.c.id,
        lines_table.c.account_id,
        lines_table.c.booking_date,
        lines_table.c.amount,
        lines_table.c.currency,
        lines_table.c.direction,
    )
    in_period = list(
        (
            await session.execute(
                sa.select(*columns)
                .where(
                    lines_table.c.partner_id == partner_id,
                    lines_table.c.booking_date >= period.start,
                    lines_table.c.booking_date <= period.end,
                    lines_table.c.created_at <= known_at,
                )
                .order_by(lines_table.c.booking_date, lines_table.c.id)
            )
        ).all()
    )
    # The backlog: lines up to the period's end not settled as known at known_at. A line
    # whose current decision settled it by known_at cannot be in it; the others are judged
    # by their decisions up to known_at.
    decisions = table_of(LineDecision)
    settled = (
        sa.select(decisions.c.line_id)
        .where(
            decisions.c.line_id == lines_table.c.id,
            decisions.c.current.is_(True),
            decisions.c.state.in_(_DONE),
            decisions.c.created_at <= known_at,
        )
        .exists()
    )
    backlog_candidates = list(
        (
            await session.execute(
                sa.select(*columns).where(
                    lines_table.c.partner_id == partner_id,
                    lines_table.c.booking_date <= period.end,
                    lines_table.c.created_at <= known_at,
                    lines_table.c.direction == "CREDIT",
                    ~settled,
                )
            )
        ).all()
    )
    known = await _decisions(
        session, list({r.id for r in [*in_period, *backlog_candidates]}), known_at
    )

    def state_of(line_id: uuid.UUID) -> str:
        decision = known.get(line_id)
        return str(decision.state) if decision is not None else "NEW"

    # lines per account
    table = Table(
        "lines",
        f"Líneas de cartola del {period.start.isoformat()} al {period.end.isoformat()} por cuenta",
        [
            Column("account", "Cuenta"),
            Column("currency", "Moneda"),
            Column("lines", "Líneas", "int"),
            Column("credited", "Abonos", "money"),
            Column("debited", "Cargos", "money"),
        ]
        + [Column(s, STATE_LABELS[s], "int") for s in STATES],
        chart=Chart("column", "Líneas por estado y cuenta", "account", tuple(STATES)),
    )
    by_account: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in in_period:
        by_account[row.account_id].append(row)
    summary: list[dict[str, Any]] = []
    per_currency: dict[str, list[Any]] = defaultdict(list)
    for account_id, account in accounts.items():
        rows = by_account.get(account_id, [])
        states = Counter(state_of(r.id) for r in rows)
        table.add(
            f"{account.label} ({account.bank_name})",
            account.currency,
            len(rows),
            money(sum(r.amount for r in rows if r.amount > 0), account.currency),
            money(-sum(r.amount for r in rows if r.amount < 0), account.currency),
            *[states.get(s, 0) for s in STATES],
        )
        per_currency[account.currency].extend(rows)

    # matched by rule
    rules = Table(
        "rules",
        "Conciliadas en el período por regla",
        [
            Column("currency", "Moneda"),
            Column("rule", "Regla"),
            Column("ruleSetVersion", "Versión de las reglas", "int"),
            Column("lines", "Líneas", "int"),
            Column("amount", "Monto", "money"),
        ],
        chart=Chart("bar", "Conciliado por regla", "rule", ("lines",)),
    )
    exceptions = Table(
        "exceptions",
        "Excepciones del período por motivo",
        [
            Column("currency", "Moneda"),
            Column("reason", "Motivo"),
            Column("lines", "Líneas", "int"),
            Column("amount", "Monto", "money"),
        ],
    )
    for currency, rows in sorted(per_currency.items()):
        matched: dict[tuple[str, int | None], list[Any]] = defaultdict(list)
        excepted: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            decision = known.get(r.id)
            if decision is None:
                continue
            if decision.state == "AUTO_MATCHED":
                name = decision.rule_code or ("CASO" if decision.kind == "CASE" else "MANUAL")
                matched[(name, decision.rule_set_version)].append(r)
            elif decision.state == "EXCEPTION":
                excepted[decision.reason or "SIN_MOTIVO"].append(r)
        for (name, version), group in sorted(
            matched.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)
        ):
            rules.add(
                currency, name, version, len(group), money(sum(r.amount for r in group), currency)
            )
        for reason, group in sorted(excepted.items()):
            exceptions.add(
                currency, reason, len(group), money(sum(r.amount for r in group), currency)
            )
        credits_in = [r for r in rows if r.amount > 0]
        auto = sum(
            1
            for r in credits_in
            if (d := known.get(r.id)) is not None and d.state == "AUTO_MATCHED" and d.kind == "AUTO"
        )
        summary += [
            {
                "key": "linesIn",
                "label": "Líneas recibidas",
                "type": "int",
                "value": len(rows),
                "currency": currency,
            },
            {
                "key": "credited",
                "label": "Abonos",
                "type": "money",
                "value": money(sum(r.amount for r in credits_in), currency),
                "currency": currency,
            },
            {
                "key": "autoMatchRate",
                "label": "Abonos conciliados automáticamente / abonos",
                "type": "rate",
                "value": rate(auto, len(credits_in)),
                "currency": currency,
            },
        ]

    # backlog by age
    unmatched = Table(
        "unmatched",
        f"Abonos por conciliar al {period.end.isoformat()} por antigüedad",
        [
            Column("currency", "Moneda"),
            Column("age", "Antigüedad"),
            Column("ageLabel", "Antigüedad (texto)"),
            Column("lines", "Líneas", "int"),
            Column("amount", "Monto", "money"),
        ]
        + [Column(s, STATE_LABELS[s], "int") for s in _OPEN]
        + [Column("oldest", "Fecha más antigua", "date")],
        chart=Chart("column", "Abonos por conciliar por antigüedad", "ageLabel", ("lines",), True),
    )
    backlog = [r for r in backlog_candidates if state_of(r.id) in _OPEN]
    by_currency: dict[str, list[Any]] = defaultdict(list)
    for r in backlog:
        by_currency[r.currency].append(r)
    for currency, rows in sorted(by_currency.items()):
        for name, _, _ in AGES:
            group = [r for r in rows if _age_bucket((period.end - r.booking_date).days) == name]
            states = Counter(state_of(r.id) for r in group)
            oldest: date | None = min((r.booking_date for r in group), default=None)
            unmatched.add(
                currency,
                name,
                AGE_LABELS[name],
                len(group),
                money(sum(r.amount for r in group), currency),
                *[states.get(s, 0) for s in _OPEN],
                oldest.isoformat() if oldest else None,
            )
        oldest_all = min(r.booking_date for r in rows)
        summary += [
            {
                "key": "backlog",
                "label": "Abonos por conciliar",
                "type": "int",
                "value": len(rows),
                "currency": currency,
            },
            {
                "key": "backlogAmount",
                "label": "Monto por conciliar",
                "type": "money",
                "value": money(sum(r.amount for r in rows), currency),
                "currency": currency,
            },
            {
                "key": "oldestOpenDays",
                "label": "Días del abono por conciliar más antiguo",
                "type": "int",
                "value": (period.end - oldest_all).days,
                "currency": currency,
            },
        ]

    # applied per account
    applied = Table(
        "accounts",
        "Aplicado a créditos por cuenta (líneas del período)",
        [
            Column("account", "Cuenta"),
            Column("currency", "Moneda"),
            Column("linesApplied", "Líneas aplicadas", "int"),
            Column("credits", "Créditos pagados", "int"),
            Column("applied", "Aplicado como pago", "money"),
            Column("writtenOff", "Diferencia castigada", "money"),
        ],
        chart=Chart("bar", "Aplicado por cuenta", "account", ("applied",)),
    )
    apps = table_of(LineApplication)
    line_ids = [r.id for r in in_period]
    bookings: list[Any] = []
    for start in range(0, len(line_ids), 1000):
        bookings += list(
            (
                await session.execute(
                    sa.select(apps.c.line_id, apps.c.credit_id, apps.c.kind, apps.c.amount).where(
                        apps.c.line_id.in_(line_ids[start : start + 1000]),
                        apps.c.created_at <= known_at,
                        sa.or_(apps.c.reversed_at.is_(None), apps.c.reversed_at > known_at),
                    )
                )
            ).all()
        )
    account_of = {r.id: r.account_id for r in in_period}
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for b in bookings:
        grouped[account_of[b.line_id]].append(b)
    for account_id, account in accounts.items():
        group = grouped.get(account_id, [])
        applied.add(
            f"{account.label} ({account.bank_name})",
            account.currency,
            len({b.line_id for b in group}),
            len({b.credit_id for b in group}),
            money(sum(b.amount for b in group if b.kind == "PAYMENT"), account.currency),
            money(sum(b.amount for b in group if b.kind == "WRITE_OFF"), account.currency),
        )
    totals: dict[str, int] = defaultdict(int)
    for account_id, group in grouped.items():
        totals[accounts[account_id].currency] += sum(b.amount for b in group if b.kind == "PAYMENT")
    for currency, amount in sorted(totals.items()):
        summary.append(
            {
                "key": "applied",
                "label": "Aplicado a créditos",
                "type": "money",
                "value": money(amount, currency),
                "currency": currency,
            }
        )
    return summary, [table, rules, exceptions, unmatched, applied]
