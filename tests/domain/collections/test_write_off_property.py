"""Several bank lines paying one installment short by a fee (hypothesis): whatever the split
and the rule's shortfall policy, the cash booked on the credit is exactly what the bank lines
received, and paid + written off never exceeds what was due; a WRITE_OFF policy forgives
exactly the shortfall (a write-off, not a payment), PARTIAL_PAYMENT leaves it owed."""

from __future__ import annotations

import copy
import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import transaction
from domain.collections import matching_reads
from domain.collections.matching_rules import DEFAULT_RULES
from domain.collections.models import LineState
from domain.shared.principal import SYSTEM
from tests.domain.collections.matching_support import (
    applications,
    customers_with_rut,
    installments,
    line,
    line_row,
    make_credit,
    owed,
    payments_of,
    reconcile,
    statement,
)

EXAMPLES = 6
_counter = itertools.count()


async def _policy(lender: uuid.UUID, policy: str) -> None:
    rules = copy.deepcopy(DEFAULT_RULES)
    for rule in rules:
        if rule["code"] == "VARIAS_TRANSFERENCIAS":
            rule["shortfallPolicy"] = policy
    async with transaction() as session:
        await matching_reads.create_rule_set(
            session, principal=SYSTEM, partner_id=lender, rules=rules, description=policy
        )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shortfall=st.integers(1, 90),  # within the rule's tolerance and its confidence
    cuts=st.lists(st.floats(0.2, 0.8), min_size=1, max_size=2, unique=True),
    policy=st.sampled_from(["WRITE_OFF", "PARTIAL_PAYMENT"]),
)
async def test_cash_booked_is_what_the_lines_received(
    lender, make_account, shortfall, cuts, policy
) -> None:
    n = next(_counter)
    people = await customers_with_rut(EXAMPLES + 2)
    customer, rut = people[n % len(people)]
    account = await make_account(number=f"{900_000_000 + n:012d}")
    credit = await make_credit(lender, customer, days_ago=35)
    due = await owed(credit.id)
    paid = due - shortfall
    marks = sorted({int(paid * c) for c in cuts} - {0, paid})
    amounts = [b - a for a, b in itertools.pairwise([0, *marks, paid])]
    await _policy(lender, policy)
    statement_id, ids = await statement(
        account.id,
        lender,
        [
            line(a, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut)
            for a in amounts
        ],
    )
    await reconcile(lender, statement_id)
    assert {(await line_row(i)).state for i in ids} == {LineState.AUTO_MATCHED}

    cash = [p for p in await payments_of(credit.id) if p.status == "BOOKED"]
    assert sorted(p.amount for p in cash) == sorted(amounts)  # exactly what the bank paid
    assert sum(p.amount for p in cash) == sum(amounts)
    first = (await installments(credit.id))[0]
    paid_on_it = (
        first.principal_paid + first.interest_paid + first.charges_paid + first.late_interest_paid
    )
    written = (
        first.principal_written_off
        + first.interest_written_off
        + first.charges_written_off
        + first.late_interest_written_off
    )
    assert paid_on_it + written <= first.amount + first.late_interest_accrued
    kinds = [(a.kind, a.amount) for i in ids for a in await applications(i)]
    if policy == "WRITE_OFF":
        assert written == shortfall and first.status == "PAID"
        assert ("WRITE_OFF", shortfall) in kinds
    else:
        assert written == 0 and await owed(credit.id) == shortfall
        assert all(kind == "PAYMENT" for kind, _ in kinds)
    assert sum(a for kind, a in kinds if kind == "PAYMENT") == sum(amounts)
