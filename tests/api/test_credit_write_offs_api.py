"""A partial write-off as a client sees it: the installment shows what was written off (per
component and in total, never in ``paid``), and the credit's position owes that much less."""

from __future__ import annotations

from typing import Any

from app.db import read_session, transaction
from domain.credits import payments, write_offs
from domain.shared.money import Money
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from domain.shared.time import utcnow
from tests.api.credit_support import data, demo_credits, gid

QUERY = """
query G($id: ID!) {
  credit(id: $id) {
    installments {
      number status
      paid { minorUnits } writtenOff { minorUnits } principalWrittenOff { minorUnits }
      interestWrittenOff { minorUnits } outstanding { minorUnits }
    }
    position {
      outstandingPrincipal { minorUnits } overdue { minorUnits }
      installments { number writtenOff { minorUnits } outstanding { minorUnits } }
    }
  }
}
"""


def _by_number(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["number"]: r for r in rows}


async def test_an_installment_shows_what_was_written_off(gql: Any, token: Any) -> None:
    credit = (await demo_credits())["FJRW83"]  # delinquent: installments overdue
    staff = Principal(
        subject="test:supervisor",
        roles=frozenset({Role.SUPERVISOR}),
        scopes=ROLE_SCOPES[Role.SUPERVISOR],
        partner_id=credit.partner_id,
    )
    agent = str(token("agent", partner="AUTOCREDITO"))
    before = data(await gql(QUERY, {"id": gid("Credit", credit.id)}, token=agent), "credit")
    async with read_session() as session:
        position = await payments.credit_position(session, principal=staff, credit_id=credit.id)
    row = next(i for i in position.installments if i.paid_on is None)
    assert row.principal - row.principal_paid > 100
    async with transaction() as session:
        await write_offs.write_off_shortfall(
            session,
            principal=staff,
            credit_id=credit.id,
            amount=Money(100, credit.currency),
            written_at=utcnow(),
            installment_number=row.number,
            reason="Comisión bancaria",
            reference="api test",
            idempotency_key="api-wo-1",
        )
    after = data(await gql(QUERY, {"id": gid("Credit", credit.id)}, token=agent), "credit")
    stored, was = (
        _by_number(after["installments"])[row.number],
        _by_number(before["installments"])[row.number],
    )
    assert stored["writtenOff"]["minorUnits"] == "100"
    assert stored["principalWrittenOff"]["minorUnits"] == "100"  # what cash would pay last
    assert stored["interestWrittenOff"]["minorUnits"] == "0"
    assert stored["paid"] == was["paid"]  # not cash
    live = _by_number(after["position"]["installments"])[row.number]
    assert live["writtenOff"]["minorUnits"] == "100"
    old_live = _by_number(before["position"]["installments"])[row.number]
    assert (
        int(old_live["outstanding"]["minorUnits"]) - int(live["outstanding"]["minorUnits"]) == 100
    )
    assert (
        int(before["position"]["outstandingPrincipal"]["minorUnits"])
        - int(after["position"]["outstandingPrincipal"]["minorUnits"])
        == 100
    )
