"""More of the matcher on stored lines: several transfers paying one installment (partial
payment or write-off of the shortfall, as the rule says), one line paying two installments,
the amount-and-date rule with one candidate and with several, and an unidentified payment
that becomes a case whose resolution books it."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import service as cases
from domain.cases.models import Case
from domain.collections import matching, matching_actions, matching_cases, matching_reads
from domain.collections.matching_models import LineCase
from domain.collections.matching_rules import DEFAULT_RULES
from domain.collections.matching_text import explain
from domain.collections.models import LineState
from domain.credits.models import WriteOff
from domain.credits.states import PaymentStatus
from domain.shared.principal import ROLE_SCOPES, SYSTEM, Principal, Role
from tests.domain.collections.matching_support import (
    applications,
    current,
    customers_with_rut,
    installments,
    line,
    line_row,
    make_credit,
    owed,
    payments_of,
    reconcile,
    statement,
    today,
)


def SUPERVISOR_OF(lender: uuid.UUID) -> Principal:
    return Principal(
        subject="test:supervisor",
        roles=frozenset({Role.SUPERVISOR}),
        scopes=ROLE_SCOPES[Role.SUPERVISOR],
        partner_id=lender,
    )


async def write_offs_of(credit_id: uuid.UUID) -> list[WriteOff]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(WriteOff).where(WriteOff.credit_id == credit_id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


def _rut_line(amount: int, rut: str, **values: object) -> dict[str, object]:
    return line(
        amount, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut, **values
    )


async def _rules_with(lender: uuid.UUID, code: str, **changes: object) -> None:
    """A version of the lender's rules: the default ones, rule ``code`` changed."""
    rules = copy.deepcopy(DEFAULT_RULES)
    for rule in rules:
        if rule["code"] == code:
            rule.update(changes)
    async with transaction() as session:
        await matching_reads.create_rule_set(
            session,
            principal=SYSTEM,
            partner_id=lender,
            rules=rules,
            description=f"{code}: {changes}",
        )


async def test_several_transfers_pay_one_installment_short_by_a_fee(lender, make_account):
    account = await make_account()
    (c1, rut1), (c2, rut2) = await customers_with_rut(2)
    partial = await make_credit(lender, c1, days_ago=35)
    written_off = await make_credit(lender, c2, days_ago=35)
    due = await owed(partial.id)
    assert due == await owed(written_off.id)
    # two transfers of the same payer, 100 pesos short of the installment (bank fees)
    first, (a, b) = await statement(
        account.id,
        lender,
        [_rut_line(due // 2, rut1), _rut_line(due - due // 2 - 100, rut1)],
    )
    await reconcile(lender, first)
    for line_id in (a, b):
        decision = await current(line_id)
        assert (await line_row(line_id)).state == LineState.AUTO_MATCHED, (
            decision.rule_code,
            decision.reason,
            decision.candidates,
            explain(decision.evidence),
        )
        assert decision.rule_code == "VARIAS_TRANSFERENCIAS", explain(decision.evidence)
    booked = await payments_of(partial.id)
    assert sorted(p.amount for p in booked) == sorted([due // 2, due - due // 2 - 100])
    # PARTIAL_PAYMENT: the 100 stay owed
    assert (await installments(partial.id))[0].status != "PAID"
    assert await owed(partial.id) == 100

    # the same with a rule that writes the shortfall off
    await _rules_with(lender, "VARIAS_TRANSFERENCIAS", shortfallPolicy="WRITE_OFF")
    second, (c, d) = await statement(
        account.id,
        lender,
        [_rut_line(due // 2, rut2), _rut_line(due - due // 2 - 100, rut2)],
    )
    await reconcile(lender, second)
    assert {(await line_row(i)).state for i in (c, d)} == {LineState.AUTO_MATCHED}
    kinds = []
    for line_id in (c, d):
        kinds.extend((a.kind, a.amount) for a in await applications(line_id))
    assert ("WRITE_OFF", 100) in kinds, kinds
    assert sum(amount for kind, amount in kinds if kind == "PAYMENT") == due - 100
    first = (await installments(written_off.id))[0]
    assert first.status == "PAID"
    # the 100 are forgiven, not paid: the credit's payments are what the bank paid
    cash = await payments_of(written_off.id)
    assert sum(p.amount for p in cash) == due - 100 and len(cash) == 2
    assert first.principal_written_off + first.interest_written_off == 100
    (write_off,) = await write_offs_of(written_off.id)
    assert (write_off.amount, write_off.applied_amount, write_off.status) == (100, 100, "BOOKED")
    assert write_off.source == f"StatementLine:{d}" or write_off.source == f"StatementLine:{c}"
    (application,) = [a for i in (c, d) for a in await applications(i) if a.kind == "WRITE_OFF"]
    assert application.write_off_id == write_off.id and application.payment_id is None

    # unmatching the line that carried it owes the 100 again (its payment is reversed too)
    carrier = c if any(a.kind == "WRITE_OFF" for a in await applications(c)) else d
    row = await line_row(carrier)
    async with transaction() as session:
        await matching_actions.unmatch(
            session,
            principal=SUPERVISOR_OF(lender),
            line_id=carrier,
            version=row.version,
            reason="pago mal asignado",
        )
    (write_off,) = await write_offs_of(written_off.id)
    assert write_off.status == "REVERSED" and write_off.applied_amount == 0
    first = (await installments(written_off.id))[0]
    assert first.status != "PAID" and first.principal_written_off == 0
    assert {a.status for a in await applications(carrier)} == {"REVERSED"}


async def test_one_line_pays_two_installments(lender, make_account):
    account = await make_account()
    ((customer, rut),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer, days_ago=25)  # nothing due yet
    rows = await installments(credit.id)
    both = rows[0].amount + rows[1].amount
    statement_id, (line_id,) = await statement(account.id, lender, [_rut_line(both, rut)])
    await reconcile(lender, statement_id)
    decision = await current(line_id)
    assert decision.rule_code == "RUT_Y_MONTO", explain(decision.evidence)
    assert (await line_row(line_id)).state == LineState.AUTO_MATCHED
    assert any("cuotas 1 a 2" in w for w in explain(decision.evidence)), explain(decision.evidence)
    (payment,) = await payments_of(credit.id)
    assert payment.amount == both and payment.status == PaymentStatus.BOOKED
    # (paid before they fall due, it waits as the credit's balance: the credits' rule)


async def test_amount_and_date_match_only_a_single_candidate(lender, make_account):
    account = await make_account()
    (c1, _), (c2, _), (c3, _) = await customers_with_rut(3)
    # an installment amount no other credit has, falling due today
    alone = await make_credit(lender, c1, amount="1234000", days_ago=30)
    due_day = (await installments(alone.id))[0].due_date
    twin_a = await make_credit(lender, c2, amount="987000", days_ago=30)
    await make_credit(lender, c3, amount="987000", days_ago=30)
    only = (await installments(alone.id))[0].amount
    shared = (await installments(twin_a.id))[0].amount
    statement_id, (one, two) = await statement(
        account.id,
        lender,
        [line(only, remittance_info="TRANSFERENCIA"), line(shared, remittance_info="TEF")],
        day=due_day,
    )
    await reconcile(lender, statement_id)
    decided = await current(one)
    assert (await line_row(one)).state == LineState.AUTO_MATCHED
    assert decided.rule_code == "MONTO_Y_FECHA", explain(decided.evidence)
    (payment,) = await payments_of(alone.id)
    assert payment.amount == only
    # two credits with that installment: ambiguous, for a person, nothing booked
    assert (await line_row(two)).state == LineState.EXCEPTION
    offered = await current(two)
    assert offered.reason == "AMBIGUOUS" and len(offered.candidates) == 2, offered.candidates
    assert not await payments_of(twin_a.id)


async def test_an_unidentified_payment_becomes_a_case_and_its_resolution_books_it(
    lender, make_account
):
    account = await make_account()
    (c1, _), (_, rut2) = await customers_with_rut(2)
    credit = await make_credit(lender, c1)
    # a customer with no credit at the lender pays: nothing to match it with
    statement_id, (line_id,) = await statement(
        account.id,
        lender,
        [_rut_line(45_678, rut2, remittance_info="ABONO")],
        day=today() - timedelta(days=12),
    )
    await reconcile(lender, statement_id)
    assert (await line_row(line_id)).state == LineState.UNMATCHED
    async with transaction() as session:
        run = await matching_cases.open_unidentified_cases(
            session, business_days=3, partner_id=lender
        )
    assert run.opened == 1
    async with transaction() as session:
        again = await matching_cases.open_unidentified_cases(
            session, business_days=3, partner_id=lender
        )
    assert again.opened == 0  # once per line
    async with read_session() as session:
        link = (
            await session.execute(
                sa.select(LineCase).where(LineCase.line_id == line_id)  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert link.case_id is not None and link.status == "OPEN"
    principal = matching.worker_principal(lender)
    async with read_session() as session:
        case = await session.get(Case, link.case_id)
        assert case is not None
    async with transaction() as session:
        await cases.resolve_case(
            session,
            principal=principal,
            case_id=case.id,
            expected_version=case.version,
            code="INFORMATION_PROVIDED",
            note=f"El cliente pagó el crédito {credit.reference} de su hermano",
        )
    async with transaction() as session:
        outcome = await matching_cases.apply_resolved_case(session, case_id=case.id)
    assert outcome is not None
    row = await line_row(line_id)
    assert row.state == LineState.AUTO_MATCHED
    (payment,) = await payments_of(credit.id)
    assert payment.amount == 45_678 and payment.idempotency_key.startswith("bl-")
    assert (await current(line_id)).kind == "CASE"
    # the resolution delivered twice books nothing more
    async with transaction() as session:
        assert await matching_cases.apply_resolved_case(session, case_id=case.id) is None
    assert len(await payments_of(credit.id)) == 1


async def test_amount_candidates_loaded_later_decide_as_one_pass(lender, make_account):
    """The run loads the AMOUNT-source candidates only for the lines the other rules leave;
    every line is decided as with everything loaded at once."""
    from domain.collections.matching_engine import Decision, decide
    from domain.collections.matching_index import LINE_COLUMNS, build_index, line_views
    from domain.collections.models import StatementLine
    from domain.credits.policy import get_policy
    from domain.shared.models import table_of
    from domain.shared.time import utcnow

    account = await make_account()
    (c1, rut1), (c2, _), (c3, _), (c4, rut4) = await customers_with_rut(4)
    by_ref = await make_credit(lender, c1, days_ago=30)
    alone = await make_credit(lender, c2, amount="1234000", days_ago=30)
    twin = await make_credit(lender, c3, amount="987000", days_ago=30)
    await make_credit(lender, c4, amount="987000", days_ago=30)
    day = (await installments(alone.id))[0].due_date
    only = (await installments(alone.id))[0].amount
    shared = (await installments(twin.id))[0].amount
    ref_due = await owed(by_ref.id)
    _, ids = await statement(
        account.id,
        lender,
        [
            line(shared, remittance_info=f"PAGO {by_ref.reference}"),  # a reference first
            line(ref_due, remittance_info=f"PAGO {by_ref.reference}"),
            line(only, remittance_info="TRANSFERENCIA"),
            line(shared, remittance_info="TEF"),
            _rut_line(shared, rut1),  # the payer's credit asks another amount
            _rut_line(only, rut4),
            line(-1_190, remittance_info="COMISION MANTENCION CUENTA"),
            line(777_777, remittance_info="NADA"),
        ],
        day=day,
    )
    table = table_of(StatementLine)
    policy = get_policy()
    async with read_session() as session:
        lines = line_views(
            (
                await session.execute(
                    sa.select(*(table.c[n] for n in LINE_COLUMNS))
                    .where(table.c.id.in_(ids))
                    .order_by(table.c.id)
                )
            ).all()
        )
        rule_set = await matching.rule_set_in_force(session, lender, utcnow())
        country, _ = await matching._lender(session, lender)
        full = await build_index(
            session,
            partner_id=lender,
            country=country,
            lines=lines,
            rules=rule_set.rules,
            policy=policy,
        )
        once, _ = decide(lines, rule_set.rules, full)
        later, index = await matching._decide(
            session,
            partner_id=lender,
            country=country,
            lines=lines,
            rule_set=rule_set,
            policy=policy,
        )

    def seen(d: Decision) -> tuple[object, ...]:
        return (
            d.line.id,
            d.state,
            d.rule_code,
            d.reason,
            d.confidence,
            [(p.credit_id, p.amount) for p in d.parts],
            [e.as_data() for e in d.evidence],
        )

    assert [seen(d) for d in later] == [seen(d) for d in once]
    assert {d.state for d in once} >= {
        LineState.AUTO_MATCHED,
        LineState.EXCEPTION,
        LineState.IGNORED,
        LineState.UNMATCHED,
    }
    # the amount rule was needed, and its candidates came in the second pass
    assert any(d.rule_code == "MONTO_Y_FECHA" for d in later)
    assert twin.id in index.credits
