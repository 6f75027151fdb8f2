"""The matcher on stored lines: each rule of the default set, the states and their
explanations (in Spanish, and English on request), what is booked and what is not."""

from __future__ import annotations

from datetime import timedelta

from domain.collections.matching_text import explain
from domain.collections.models import LineState
from domain.credits.states import PaymentStatus
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


async def test_the_default_rules_decide_every_kind_of_line(lender, make_account):
    account = await make_account()
    (c1, _), (c2, rut2), (c3, rut3), (c4, _) = await customers_with_rut(4)
    by_ref = await make_credit(lender, c1)
    by_rut = await make_credit(lender, c2)
    first_of_two = await make_credit(lender, c3, amount="600000")
    second_of_two = await make_credit(lender, c3, amount="900000")
    closed = await make_credit(lender, c4, amount="150000", term=6)
    due_rut = await owed(by_rut.id)
    due_a = await owed(first_of_two.id)
    due_b = await owed(second_of_two.id)
    statement_id, ids = await statement(
        account.id,
        lender,
        [
            # the credit reference cut by the bank's line break, a partial payment
            line(50_000, remittance_info=f"PAGO {by_ref.reference[:9]}\n{by_ref.reference[9:]}"),
            # the payer's RUT from the file and exactly the installment due
            line(due_rut, counterparty_national_id_type="CL_RUT", counterparty_national_id=rut2),
            # one transfer for both credits of one customer
            line(
                due_a + due_b,
                counterparty_national_id_type="CL_RUT",
                counterparty_national_id=rut3,
            ),
            # a bank fee and a reversal without its original
            line(-1_190, remittance_info="COMISION MANTENCION CUENTA"),
            line(-20_000, is_reversal=True, remittance_info="REVERSO TRANSF"),
            # nothing to go by
            line(777_777, remittance_info="TRANSFERENCIA"),
            # a reference to a credit that does not exist
            line(10_000, remittance_info="CR-2019-999999"),
            # far more than the credit owes
            line(9_000_000, remittance_info=f"ABONO {closed.reference}"),
        ],
    )
    result = await reconcile(lender, statement_id)
    assert result.lines == 8
    states = [(await line_row(i)).state for i in ids]
    assert states == [
        LineState.AUTO_MATCHED,
        LineState.AUTO_MATCHED,
        LineState.AUTO_MATCHED,
        LineState.IGNORED,
        LineState.EXCEPTION,
        LineState.UNMATCHED,
        LineState.UNMATCHED,
        LineState.EXCEPTION,
    ]
    ref_decision = await current(ids[0])
    assert ref_decision.rule_code == "REFERENCIA" and ref_decision.confidence >= 90
    words = explain(ref_decision.evidence)
    assert any(by_ref.reference in w and "glosa" in w for w in words), words
    rut_decision = await current(ids[1])
    assert rut_decision.rule_code == "RUT_Y_MONTO"
    assert any("es exactamente la cuota 1" in w for w in explain(rut_decision.evidence))
    assert any("exactly installment 1" in w for w in explain(rut_decision.evidence, "en"))
    split = await current(ids[2])
    assert split.rule_code == "VARIOS_CREDITOS"
    assert sorted(c["reference"] for c in split.candidates) == sorted(
        [first_of_two.reference, second_of_two.reference]
    )
    assert (await current(ids[4])).reason == "REVERSAL_WITHOUT_ORIGINAL"
    assert (await current(ids[7])).reason == "AMOUNT_MISMATCH"
    assert any("supera" in w for w in explain((await current(ids[7])).evidence))
    # what was booked: one payment per matched credit, keyed by the line
    for credit, amount in (
        (by_ref, 50_000),
        (by_rut, due_rut),
        (first_of_two, due_a),
        (second_of_two, due_b),
    ):
        (payment,) = await payments_of(credit.id)
        assert payment.amount == amount and payment.status == PaymentStatus.BOOKED
        assert payment.idempotency_key.startswith("bl-")
    assert not await payments_of(closed.id)
    assert len(await applications(ids[2])) == 2
    paid = [i for i in await installments(by_rut.id) if i.status == "PAID"]
    assert [i.number for i in paid] == [1]
    # a second run finds nothing new
    again = await reconcile(lender, statement_id)
    assert again.lines == 0


async def test_a_reversal_reverses_what_its_original_booked(lender, make_account):
    account = await make_account()
    ((customer, _),) = await customers_with_rut(1)
    credit = await make_credit(lender, customer)
    statement_id, (original,) = await statement(
        account.id, lender, [line(80_000, remittance_info=f"PAGO {credit.reference}")]
    )
    await reconcile(lender, statement_id)
    assert (await line_row(original)).state == LineState.AUTO_MATCHED
    later, (reversal,) = await statement(
        account.id,
        lender,
        [line(-80_000, is_reversal=True, reverses_line_id=original)],
        day=today() + timedelta(days=0),
    )
    result = await reconcile(lender, later)
    assert result.reversed_payments == 1
    assert (await line_row(reversal)).state == LineState.AUTO_MATCHED
    assert (await line_row(original)).state == LineState.IGNORED
    assert (await current(original)).reason == "REVERSED"
    (payment,) = await payments_of(credit.id)
    assert payment.status == PaymentStatus.REVERSED
    (application,) = await applications(original)
    assert application.status == "REVERSED"
