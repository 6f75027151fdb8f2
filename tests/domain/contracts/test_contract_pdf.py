"""The contract PDF: the offer's figures, in Spanish, the full schedule, same bytes."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader

from domain.origination.contracts_pdf import (
    ContractTerms,
    Party,
    amount_text,
    percent_text,
    render_contract,
    schedule_rows,
    sha256_hex,
)
from tests.domain.contracts.conftest import schedule

ROWS = schedule(10_000_000, 48, 331_234)

TERMS = ContractTerms(
    reference="CT-2026-000001",
    application_reference="AP-2026-000001",
    issued_at=datetime(2026, 12, 2, 18, 0, tzinfo=UTC),
    place="Santiago, Chile",
    lender=Party("Autofin S.A.", "código AUTOFIN"),
    customer=Party("José Núñez Peña", "RUT 12345678-5", "Av. Providencia 1234", "j@example.cl"),
    vehicle="Toyota Yaris 1.5 GLi 2022",
    vehicle_price=12_000_000,
    down_payment=2_000_000,
    currency="CLP",
    principal=10_000_000,
    annual_rate=Decimal("0.249"),
    term_months=48,
    installment=331_234,
    cae=Decimal("0.30125"),
    total_interest=5_899_232,
    total_paid=15_899_232,
    disbursement_date="2026-12-05",
    scheme="FRENCH",
    schedule=schedule_rows(ROWS),
)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_same_terms_render_the_same_bytes() -> None:
    first, second = render_contract(TERMS), render_contract(TERMS)
    assert first == second
    assert sha256_hex(first) == sha256_hex(second)
    # another issue instant is another document
    later = render_contract(replace(TERMS, issued_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC)))
    assert later != first
    assert PdfReader(io.BytesIO(first)).metadata.creation_date == datetime(
        2026, 12, 2, 18, 0, tzinfo=UTC
    )


def test_the_contract_states_the_offer_in_spanish() -> None:
    text = _text(render_contract(TERMS))
    for expected in (
        "CONTRATO DE CRÉDITO AUTOMOTRIZ",
        "CT-2026-000001",
        "2 de diciembre de 2026",
        "José Núñez Peña",
        "RUT 12345678-5",
        "Autofin S.A.",
        "Toyota Yaris 1.5 GLi 2022",
        "CLP 12.000.000",
        "CLP 10.000.000",
        "24,90 %",  # nominal rate
        "48 meses",
        "CLP 331.234",
        "30,12 %",  # CAE 30.125 %, rounded half-even to two decimals
        "CLP 15.899.232",
        "5 de diciembre de 2026",
        "{{Firma Deudor;role=Cliente;type=signature}}",
        "{{Firma Acreedor;role=Acreedor;type=signature}}",
    ):
        assert expected in text, expected
    # the full schedule: every installment's line with its balance
    for row in ROWS:
        line = (
            f"{row['number']} {row['due_date']} {amount_text(row['installment'], 'CLP')} "
            f"{amount_text(row['interest'], 'CLP')}"
        )
        assert line in text, line


def test_amounts_follow_the_currency() -> None:
    assert amount_text(123456789, "USD") == "USD 1.234.567,89"
    assert amount_text(251234, "CLF") == "CLF 25,1234"
    assert amount_text(0, "CLP") == "CLP 0"
    assert percent_text(Decimal("0.3")) == "30,00 %"
