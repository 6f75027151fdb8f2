"""Loading what a reconciliation run needs, in bulk, into a :class:`MatchIndex`.

A fixed number of statements per run, whatever the number of lines: the references read
in the lines (one ``IN`` list), the customers of the national IDs read (one), their and the
referenced credits with their unpaid installments (two), the installments whose amount and
due date could fit a line with nothing else to go by (one, bounded by the amounts and the
dates of the lines), the payer accounts seen before (one), the lender's own accounts (one),
the end-to-end references of the lines (one), the lines reversals point at (one). Lookups
then run in memory.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.collections.matching_engine import (
    MAX_INSTALLMENTS_TOGETHER,
    PAYABLE,
    CreditFacts,
    InstallmentDue,
    LineView,
    MatchIndex,
    _compact_account,
    _context,
)
from domain.collections.matching_models import ApplicationStatus, LineApplication
from domain.collections.matching_rules import (
    AmountMode,
    CriterionType,
    Rule,
    RuleKind,
    Source,
    Split,
    Target,
)
from domain.collections.matching_text import id_keys, references_in
from domain.collections.models import BankAccount, StatementLine
from domain.credits.models import Credit, Installment
from domain.credits.policy import CreditPolicy
from domain.customers.models import Customer
from domain.shared.models import table_of
from domain.shared.sql import dialect_of

__all__ = ["LINE_COLUMNS", "build_index", "line_views"]

_CHUNK = 1000

#: The columns of ``statement_lines`` a ``LineView`` holds, in its order.
LINE_COLUMNS = tuple(LineView.__dataclass_fields__)


def line_views(rows: Iterable[Sequence[Any]]) -> list[LineView]:
    return [LineView(*row) for row in rows]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def _credit_facts(
    session: AsyncSession,
    condition: sa.ColumnElement[bool],
    policy: CreditPolicy,
    index: MatchIndex,
    few: _Few | None = None,
) -> list[uuid.UUID]:
    """Add to ``index`` the credits ``condition`` selects, with their unpaid installments
    (or, with ``few``, those the AMOUNT-source rules read)."""
    credits = table_of(Credit)
    customers = table_of(Customer)
    found = (
        await session.execute(
            sa.select(
                credits.c.id,
                credits.c.reference,
                credits.c.partner_id,
                credits.c.customer_id,
                credits.c.currency,
                credits.c.status,
                credits.c.ledger_as_of,
                credits.c.late_annual_rate,
                credits.c.credit_balance,
                credits.c.schedule_no,
                customers.c.national_id_type,
                customers.c.national_id,
            )
            .join(customers, customers.c.id == credits.c.customer_id)
            .where(condition)
        )
    ).all()
    new = [r for r in found if r.id not in index.credits]
    if not new:
        return []
    late = policy.late_policy
    for r in new:
        rate = Fraction(late(r.late_annual_rate).effective_rate)
        index.credits[r.id] = CreditFacts(
            id=r.id,
            reference=r.reference,
            partner_id=r.partner_id,
            customer_id=r.customer_id,
            currency=r.currency,
            status=r.status,
            ledger_as_of=r.ledger_as_of,
            late_rate=(rate.numerator, rate.denominator * policy.late_interest_basis),
            late_grace_days=policy.late_grace_days,
            unpaid=[],
            credit_balance=r.credit_balance,
        )
        index.by_reference[r.reference] = r.id
        index.customers_by_id[(r.national_id_type, r.national_id)] = r.customer_id
        index.credits_by_customer.setdefault(r.customer_id, [])
        if r.id not in index.credits_by_customer[r.customer_id]:
            index.credits_by_customer[r.customer_id].append(r.id)
    open_ids = [r.id for r in new if r.status in PAYABLE]
    totals: dict[uuid.UUID, int] = {}
    for row in await _unpaid_rows(session, open_ids, few):
        credit_id, number, due_date, outstanding, principal_unpaid, interest_due = row[:6]
        if few is not None:
            totals[credit_id] = row[6]
        index.credits[credit_id].unpaid.append(
            InstallmentDue(
                number=number,
                due_date=due_date,
                outstanding=outstanding,
                principal_unpaid=principal_unpaid,
                interest_due=max(0, interest_due),
            )
        )
    for credit_id, total in totals.items():
        facts = index.credits[credit_id]
        facts.principal_beyond = total - sum(i.principal_unpaid for i in facts.unpaid)
    return [r.id for r in new]


@dataclass(frozen=True, slots=True)
class _Few:
    first: int
    through: date


def _few_rows(rules: Sequence[Rule], through: date) -> _Few | None:
    """What the AMOUNT-source rules read of a credit only they found, when that is a few
    installments: with every such rule splitting nothing and comparing the amount (mode
    EQUALS) with targets among INSTALLMENT (the oldest unpaid, the next falling due on or
    after the line's day), INSTALLMENTS (the first ``MAX_INSTALLMENTS_TOGETHER`` unpaid) and
    OVERDUE (every unpaid one due by the line's day), those are the first unpaid rows
    (three at least: the amount index keeps three per credit), every row due by the last
    line's day and the first one after it. None when some rule needs more (a payoff)."""
    wanted: set[Target] = set()
    for rule in rules:
        if not (rule.enabled and rule.kind == RuleKind.MATCH and rule.source == Source.AMOUNT):
            continue
        amount = rule.criterion(CriterionType.AMOUNT)
        if rule.split != Split.NONE or amount is None or amount.mode != AmountMode.EQUALS:
            return None
        wanted.update(amount.targets)
    if not wanted <= {Target.INSTALLMENT, Target.INSTALLMENTS, Target.OVERDUE}:
        return None
    first = MAX_INSTALLMENTS_TOGETHER if Target.INSTALLMENTS in wanted else 3
    return _Few(first, through)


async def _few_unpaid_rows(
    session: AsyncSession, credit_ids: list[uuid.UUID], few: _Few
) -> Sequence[Sequence[Any]]:
    rows = table_of(Installment)
    credits = table_of(Credit)
    later = rows.c.due_date > few.through
    inner = (
        sa.select(
            rows.c.credit_id,
            rows.c.number,
            rows.c.due_date,
            (
                rows.c.amount
                + rows.c.late_interest_accrued
                - rows.c.principal_paid
                - rows.c.interest_paid
                - rows.c.charges_paid
                - rows.c.late_interest_paid
                - rows.c.principal_written_off
                - rows.c.interest_written_off
                - rows.c.charges_written_off
                - rows.c.late_interest_written_off
            ).label("outstanding"),
            (rows.c.principal - rows.c.principal_paid - rows.c.principal_written_off).label(
                "principal_unpaid"
            ),
            (
                rows.c.interest
                - rows.c.capitalised
                - rows.c.interest_paid
                - rows.c.interest_written_off
            ).label("interest_due"),
            sa.func.sum(rows.c.principal - rows.c.principal_paid - rows.c.principal_written_off)
            .over(partition_by=rows.c.credit_id)
            .label("principal_total"),
            sa.func.row_number()
            .over(partition_by=rows.c.credit_id, order_by=rows.c.number)
            .label("k"),
            sa.func.row_number()
            .over(partition_by=(rows.c.credit_id, later), order_by=rows.c.number)
            .label("k_later"),
        )
        .select_from(
            rows.join(
                credits,
                sa.and_(
                    credits.c.id == rows.c.credit_id, credits.c.schedule_no == rows.c.schedule_no
                ),
            )
        )
        .where(rows.c.status != "PAID")
    )
    out: list[Sequence[Any]] = []
    for chunk in _chunks(credit_ids):
        sub = inner.where(rows.c.credit_id.in_(chunk)).subquery()
        result = await session.execute(
            sa.select(
                sub.c.credit_id,
                sub.c.number,
                sub.c.due_date,
                sub.c.outstanding,
                sub.c.principal_unpaid,
                sub.c.interest_due,
                sub.c.principal_total,
            )
            .where(
                sa.or_(
                    sub.c.k <= few.first,
                    sub.c.due_date <= few.through,
                    sub.c.k_later == 1,
                )
            )
            .order_by(sub.c.credit_id, sub.c.number)
        )
        out.extend(tuple(r) for r in result)
    return out


async def _unpaid_rows(
    session: AsyncSession, credit_ids: list[uuid.UUID], few: _Few | None = None
) -> Sequence[Sequence[Any]]:
    """(credit id, number, due date, outstanding, principal unpaid, scheduled interest
    unpaid) of the unpaid installments of the schedules in force of ``credit_ids``, in
    order. Tens of rows per credit: on PostgreSQL read through the driver itself (asyncpg's
    records cost a fraction of SQLAlchemy's rows; the same values).

    ``few``: only the first ``few.first`` unpaid rows, those falling due by ``few.through``
    and the first one after it (see :func:`_few_rows`), each with a seventh column: the
    principal unpaid of all the credit's unpaid rows (for the payoff bounds)."""
    if not credit_ids:
        return []
    if few is not None:
        return await _few_unpaid_rows(session, credit_ids, few)
    rows = table_of(Installment)
    credits = table_of(Credit)
    columns = (
        rows.c.credit_id,
        rows.c.number,
        rows.c.due_date,
        (
            rows.c.amount
            + rows.c.late_interest_accrued
            - rows.c.principal_paid
            - rows.c.interest_paid
            - rows.c.charges_paid
            - rows.c.late_interest_paid
            - rows.c.principal_written_off
            - rows.c.interest_written_off
            - rows.c.charges_written_off
            - rows.c.late_interest_written_off
        ),
        rows.c.principal - rows.c.principal_paid - rows.c.principal_written_off,
        rows.c.interest - rows.c.capitalised - rows.c.interest_paid - rows.c.interest_written_off,
    )
    joined = rows.join(
        credits,
        sa.and_(credits.c.id == rows.c.credit_id, credits.c.schedule_no == rows.c.schedule_no),
    )
    if dialect_of(session) == "postgresql":
        sql = (
            "SELECT i.credit_id, i.number, i.due_date, "  # noqa: S608 - names are ours
            "i.amount + i.late_interest_accrued - i.principal_paid - i.interest_paid"
            " - i.charges_paid - i.late_interest_paid - i.principal_written_off"
            " - i.interest_written_off - i.charges_written_off - i.late_interest_written_off, "
            "i.principal - i.principal_paid - i.principal_written_off, "
            "i.interest - i.capitalised - i.interest_paid - i.interest_written_off "
            f"FROM {rows.name} i JOIN {credits.name} c "
            "ON c.id = i.credit_id AND c.schedule_no = i.schedule_no "
            "WHERE i.credit_id = ANY($1::uuid[]) AND i.status <> 'PAID' "
            "ORDER BY i.credit_id, i.number"
        )
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        # asyncpg's records unpack like tuples
        return await raw.driver_connection.fetch(sql, credit_ids)  # type: ignore[union-attr]
    out: list[Sequence[Any]] = []
    for chunk in _chunks(credit_ids):
        result = await session.execute(
            sa.select(*columns)
            .select_from(joined)
            .where(rows.c.credit_id.in_(chunk), rows.c.status != "PAID")
            .order_by(rows.c.credit_id, rows.c.number)
        )
        out.extend(tuple(r) for r in result)
    return out


async def build_index(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    country: str,
    lines: Sequence[LineView],
    rules: Sequence[Rule],
    policy: CreditPolicy,
    amounts: bool = True,
) -> MatchIndex:
    """Everything the rules need to decide ``lines`` of lender ``partner_id``.

    ``amounts=False`` leaves out the candidates of the AMOUNT-source rules (the lender's
    credits with an installment of about a line's amount: with many credits of one product
    they are many per line, and most lines are decided by a rule before): the index says so
    (``amounts_loaded``), :func:`~domain.collections.matching_engine.decide` then leaves
    undecided every line that reaches such a rule, and :func:`add_amount_candidates` loads
    them for those lines only."""
    index = MatchIndex(country=country)
    credits = table_of(Credit)
    customers = table_of(Customer)
    statement_lines = table_of(StatementLine)
    sources = {r.source for r in rules if r.kind == RuleKind.MATCH and r.enabled}

    references: set[str] = set()
    id_pairs: set[tuple[str, str]] = set()
    for line in lines:
        if line.direction != "CREDIT" or line.is_reversal:
            continue
        ctx = _context(line, index)
        references.update(ref.reference for ref in references_in(line.texts()))
        for id_type, number, _ in ctx.payer_ids:
            id_pairs.update(id_keys(id_type, number))

    mine = credits.c.partner_id == partner_id
    ref_list = sorted(references)
    for chunk in _chunks(ref_list):
        await _credit_facts(session, sa.and_(mine, credits.c.reference.in_(chunk)), policy, index)
    if Source.NATIONAL_ID in sources or Source.REFERENCE in sources:
        numbers = sorted({number for _, number in id_pairs})
        customer_ids: set[uuid.UUID] = set()
        for chunk in _chunks(numbers):
            rows = await session.execute(
                sa.select(
                    customers.c.id, customers.c.national_id_type, customers.c.national_id
                ).where(customers.c.national_id.in_(chunk))
            )
            for customer_id, id_type, number in rows:
                if (id_type, number) in id_pairs:
                    index.customers_by_id[(id_type, number)] = customer_id
                    customer_ids.add(customer_id)
        # every credit of the lender of those customers (one customer may have several)
        wanted = sorted(customer_ids, key=str)
        for chunk in _chunks(wanted):
            await _credit_facts(
                session, sa.and_(mine, credits.c.customer_id.in_(chunk)), policy, index
            )
        for customer_id in wanted:
            index.credits_by_customer.setdefault(customer_id, [])

    if Source.PAYER_ACCOUNT in sources:
        accounts = sorted(
            {line.counterparty_account.strip() for line in lines if line.counterparty_account}
        )
        applications = table_of(LineApplication)
        seen: dict[str, dict[uuid.UUID, int]] = defaultdict(dict)
        for chunk in _chunks(accounts):
            rows = await session.execute(
                sa.select(
                    statement_lines.c.counterparty_account,
                    applications.c.credit_id,
                    sa.func.count(),
                )
                .join(applications, applications.c.line_id == statement_lines.c.id)
                .where(
                    statement_lines.c.partner_id == partner_id,
                    statement_lines.c.counterparty_account.in_(chunk),
                    applications.c.status == ApplicationStatus.BOOKED.value,
                )
                .group_by(statement_lines.c.counterparty_account, applications.c.credit_id)
            )
            for account, credit_id, count in rows:
                seen[account.strip()][credit_id] = int(count)
        index.payer_accounts = dict(seen)
        known = sorted({c for found in seen.values() for c in found}, key=str)
        for chunk in _chunks(known):
            await _credit_facts(session, sa.and_(mine, credits.c.id.in_(chunk)), policy, index)

    if Source.AMOUNT in sources:
        if amounts:
            await _amount_candidates(session, index, partner_id, lines, rules, policy)
        else:
            index.amounts_loaded = False
    index.add_installment_amounts()

    if any(r.kind == RuleKind.IGNORE and r.criterion(CriterionType.OWN_ACCOUNT) for r in rules):
        accounts_t = table_of(BankAccount)
        own_rows = await session.execute(
            sa.select(accounts_t.c.account_number, accounts_t.c.statement_identifier).where(
                accounts_t.c.partner_id == partner_id
            )
        )
        own: set[str] = set()
        for number, identifier in own_rows:
            own.add(_compact_account(number))
            if identifier:
                own.add(_compact_account(identifier))
                own.add(_compact_account(identifier.split("/")[-1]))
        index.own_accounts = frozenset(a for a in own if a)

    await _duplicates_and_originals(session, index, lines)
    clf = [line.day for line in lines if line.currency == "CLP"]
    if clf and any(c.currency == "CLF" for c in index.credits.values()):
        from domain.credits import uf

        index.uf_values = await uf.get_uf_values(session, set(clf))
    return index


async def add_amount_candidates(
    session: AsyncSession,
    index: MatchIndex,
    *,
    partner_id: uuid.UUID,
    lines: Sequence[LineView],
    rules: Sequence[Rule],
    policy: CreditPolicy,
    through: date | None = None,
) -> None:
    """Complete an index built with ``amounts=False`` with the AMOUNT-source candidates of
    ``lines`` (the lines its first pass left undecided). ``through``: the last day of any
    line the index will decide (the lines' own by default); a credit only these rules find
    is loaded with the installments they read (``_few_rows``), not all of them."""
    days = [line.day for line in lines]
    if not days:
        index.amounts_loaded = True
        return
    few = _few_rows(rules, max(through or max(days), max(days)))
    await _amount_candidates(session, index, partner_id, lines, rules, policy, few)
    index.add_installment_amounts()
    index.amounts_loaded = True


async def _amount_candidates(
    session: AsyncSession,
    index: MatchIndex,
    partner_id: uuid.UUID,
    lines: Sequence[LineView],
    rules: Sequence[Rule],
    policy: CreditPolicy,
    few: _Few | None = None,
) -> None:
    """The lender's credits with an unpaid installment of about a line's amount falling due
    about its day (the windows and tolerances of the AMOUNT rules)."""
    amount_rules = [r for r in rules if r.kind == RuleKind.MATCH and r.source == Source.AMOUNT]
    credit_lines = [ln for ln in lines if ln.direction == "CREDIT" and not ln.is_reversal]
    if not amount_rules or not credit_lines:
        return
    before = max(
        (r.criterion(CriterionType.DATE_WINDOW) or _NO_WINDOW).days_before for r in amount_rules
    )
    after = max(
        (r.criterion(CriterionType.DATE_WINDOW) or _NO_WINDOW).days_after for r in amount_rules
    )
    amount = [r.criterion(CriterionType.AMOUNT) for r in amount_rules]
    days = [ln.day for ln in credit_lines]
    low_day = min(days) - timedelta(days=max(after, 0) + 1)
    high_day = max(days) + timedelta(days=max(before, 0) + 1)
    values = sorted({ln.amount for ln in credit_lines})
    tolerance = max((c.tolerance(values[-1]) for c in amount if c is not None), default=0)
    credits = table_of(Credit)
    rows = table_of(Installment)
    exact = tolerance == 0
    for chunk in _chunks(values):
        amount_condition = (
            rows.c.amount.in_(chunk)
            if exact
            else rows.c.amount.between(min(chunk) - tolerance, max(chunk) + tolerance)
        )
        candidates = (
            (
                await session.execute(
                    sa.select(rows.c.credit_id)
                    .join(
                        credits,
                        sa.and_(
                            credits.c.id == rows.c.credit_id,
                            credits.c.schedule_no == rows.c.schedule_no,
                        ),
                    )
                    .where(
                        credits.c.partner_id == partner_id,
                        credits.c.status.in_(sorted(PAYABLE)),
                        rows.c.status != "PAID",
                        rows.c.due_date.between(low_day, high_day),
                        amount_condition,
                    )
                    .distinct()
                )
            )
            .scalars()
            .all()
        )
        ids = [c for c in candidates if c not in index.credits]
        for part in _chunks(ids):
            await _credit_facts(session, credits.c.id.in_(part), policy, index, few)


class _NoWindow:
    days_before = 0
    days_after = 0


_NO_WINDOW: Any = _NoWindow()


async def _duplicates_and_originals(
    session: AsyncSession, index: MatchIndex, lines: Sequence[LineView]
) -> None:
    table = table_of(StatementLine)
    applications = table_of(LineApplication)
    with_e2e = [ln for ln in lines if ln.end_to_end_id]
    ids = {ln.id for ln in lines}
    by_account: dict[uuid.UUID, set[str]] = defaultdict(set)
    for ln in with_e2e:
        by_account[ln.account_id].add(ln.end_to_end_id or "")
    for account_id, e2e in by_account.items():
        for chunk in _chunks(sorted(e2e)):
            rows = await session.execute(
                sa.select(
                    table.c.id,
                    table.c.account_id,
                    table.c.booking_date,
                    table.c.amount,
                    table.c.end_to_end_id,
                )
                .where(table.c.account_id == account_id, table.c.end_to_end_id.in_(chunk))
                .order_by(table.c.id)
            )
            for line_id, account, day, amount, end_to_end in rows:
                if line_id in ids:
                    continue
                key = (account, day, amount, end_to_end.strip().upper())
                index.end_to_end.setdefault(key, line_id)
    originals = sorted(
        {ln.reverses_line_id for ln in lines if ln.is_reversal and ln.reverses_line_id}, key=str
    )
    for chunk in _chunks(originals):
        found = await session.execute(
            sa.select(
                table.c.id,
                table.c.state,
                table.c.booking_date,
                table.c.amount,
                table.c.currency,
                sa.select(sa.func.count())
                .where(
                    applications.c.line_id == table.c.id,
                    applications.c.status == ApplicationStatus.BOOKED.value,
                )
                .scalar_subquery(),
            ).where(table.c.id.in_(chunk))
        )
        for line_id, state, day, amount, currency, booked in found:
            index.originals[line_id] = (state, day, amount, currency, int(booked or 0))
