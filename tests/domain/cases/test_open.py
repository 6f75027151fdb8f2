"""Opening cases: references, typology rules, card data, and everything a refusal must not
write."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import service, typologies
from domain.cases.models import CasePartnerStatus, CaseTypology
from domain.partners.models import Partner
from domain.shared.errors import Forbidden, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.money import Money
from domain.shared.principal import ROLE_SCOPES, Principal, Role, Scope
from tests.domain.cases.conftest import (
    ADMIN,
    Network,
    audits,
    events,
    fingerprint,
    open_case,
    principal,
    timeline,
)

PAN = "4111 1111 1111 1111"


async def test_open_writes_case_timeline_audit_and_event(net: Network) -> None:
    case = await open_case(net, priority="HIGH", external_ref="BA-778812")
    assert re.fullmatch(r"CS-\d{4}-\d{6}", case.reference)
    assert case.status == "OPEN" and case.version == 1 and case.priority == "HIGH"
    assert case.originating_partner_id == case.handling_partner_id == net.ids["BANCO_ANDINO"]
    assert (case.amount_in_dispute_minor, case.amount_in_dispute_currency) == (150_000, "CLP")
    assert case.description_folded.startswith("cliente pago a tiempo")
    assert case.created_by == "test:agent@" + str(net.ids["BANCO_ANDINO"])
    [entry] = await timeline(case.id)
    assert (entry.seq, entry.kind, entry.visibility) == (1, "OPENED", "CUSTOMER")
    assert entry.after is not None and entry.after["reference"] == case.reference
    [audit] = await audits("cases.opened")
    assert audit.entity_id == str(case.id) and audit.partner_id == net.ids["BANCO_ANDINO"]
    [event] = await events("cases.opened")
    assert event.key == gid("Case", case.id)
    assert event.audience == f",{net.ids['BANCO_ANDINO']},"
    assert event.payload["reference"] == case.reference
    assert event.payload["caseId"] == gid("Case", case.id)
    assert "description" not in event.payload and "cardLast4" not in event.payload
    async with read_session() as session:
        row = await session.get(CasePartnerStatus, (case.id, net.ids["BANCO_ANDINO"]))
    assert row is not None and row.external_ref == "BA-778812"


async def test_default_priority_comes_from_the_typology(net: Network) -> None:
    case = await open_case(net, typology="CARGO_NO_RECONOCIDO")
    assert case.priority == "HIGH"
    claim = await open_case(net, typology="RECLAMO", amount=None, last4=None)
    assert claim.priority == "MEDIUM" and claim.amount_in_dispute_minor is None


async def test_references_count_up_without_gaps_even_concurrently(net: Network) -> None:
    first = await open_case(net)
    opened = await asyncio.gather(*(open_case(net) for _ in range(5)))
    numbers = sorted(int(c.reference.rsplit("-", 1)[1]) for c in [first, *opened])
    assert numbers == list(range(numbers[0], numbers[0] + 6))
    assert len({c.reference for c in opened}) == 5


async def test_a_partner_system_opens_through_the_api(net: Network) -> None:
    case = await open_case(net, net.system("RETAIL_SUR"), channel="PARTNER_API")
    assert case.channel == "PARTNER_API"
    assert case.handling_partner_id == net.ids["RETAIL_SUR"]


async def test_an_admin_opens_for_a_named_partner(net: Network) -> None:
    case = await open_case(net, ADMIN, originating_partner_id=net.ids["BANCO_PAMPA"])
    assert case.handling_partner_id == net.ids["BANCO_PAMPA"]


BAD_INPUTS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("pan in description", {"description": f"Mi tarjeta {PAN} tiene un cargo"}, ["description"]),
    ("pan with dashes", {"description": "nro 4111-1111-1111-1111"}, ["description"]),
    ("empty description", {"description": "   "}, ["description"]),
    ("too long description", {"description": "x" * 4001}, ["description"]),
    ("control characters", {"description": "hola\x00"}, ["description"]),
    ("pan as last4", {"last4": "4111111111111111"}, ["cardLast4"]),
    ("three digits", {"last4": "123"}, ["cardLast4"]),
    ("five digits", {"last4": "12345"}, ["cardLast4"]),
    ("letters", {"last4": "12a4"}, ["cardLast4"]),
    ("pan as token", {"card_token": "4111111111111111"}, ["cardToken"]),
    ("bad token", {"card_token": "tok en!"}, ["cardToken"]),
    ("pan as external ref", {"external_ref": "4111111111111111"}, ["externalRef"]),
    ("unknown typology", {"typology": "NO_EXISTE"}, ["typologyCode"]),
    ("refund without amount", {"amount": None}, ["amountInDispute"]),
    (
        "unrecognised charge without amount",
        {"typology": "CARGO_NO_RECONOCIDO", "amount": None},
        ["amountInDispute"],
    ),
    ("blocking without card", {"typology": "BLOQUEO_TARJETA", "last4": None}, ["cardLast4"]),
    ("zero amount", {"amount": Money(0, "CLP")}, ["amountInDispute"]),
    ("negative amount", {"amount": Money(-5, "CLP")}, ["amountInDispute"]),
    ("bad channel", {"channel": "FAX"}, ["channel"]),
    ("bad priority", {"priority": "URGENTE"}, ["priority"]),
    ("unknown customer", {"customer_id": uuid.uuid4()}, ["customerId"]),
    (
        "several at once",
        {"description": PAN, "last4": "1", "channel": "FAX"},
        ["description", "cardLast4", "channel"],
    ),
]


@pytest.mark.parametrize(("label", "changes", "fields"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_refused_and_nothing_is_written(
    net: Network, label: str, changes: dict[str, Any], fields: list[str]
) -> None:
    before = await fingerprint()
    with pytest.raises(ValidationFailed) as caught:
        await open_case(net, **changes)
    assert [p.field for p in caught.value.problems] == fields
    assert await fingerprint() == before


async def test_a_pan_message_says_what_to_do(net: Network) -> None:
    with pytest.raises(ValidationFailed, match="last four digits"):
        await open_case(net, description=f"tarjeta {PAN}")


async def test_duplicate_external_reference_is_refused(net: Network) -> None:
    await open_case(net, external_ref="EXT-1")
    before = await fingerprint()
    with pytest.raises(ValidationFailed) as caught:
        await open_case(net, external_ref="EXT-1")
    assert caught.value.problems[0].field == "externalRef"
    assert await fingerprint() == before
    # Another partner may use the same reference on its own platform.
    await open_case(net, net.agent("RETAIL_SUR"), external_ref="EXT-1")


async def test_inactive_typology_and_partner_are_refused(net: Network) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(CaseTypology).where(CaseTypology.code == "RECLAMO").values(active=False)  # type: ignore[arg-type]
        )
        await session.execute(
            sa.update(Partner).where(Partner.code == "CLUB_PUNTOS").values(active=False)  # type: ignore[arg-type]
        )
    before = await fingerprint()
    with pytest.raises(ValidationFailed) as caught:
        await open_case(net, typology="RECLAMO", amount=None)
    assert caught.value.problems[0].field == "typologyCode"
    with pytest.raises(ValidationFailed) as caught:
        await open_case(net, ADMIN, originating_partner_id=net.ids["CLUB_PUNTOS"])
    assert caught.value.problems[0].field == "originatingPartnerId"
    with pytest.raises(ValidationFailed) as caught:
        await open_case(net, ADMIN)
    assert caught.value.problems[0].field == "originatingPartnerId"
    assert await fingerprint() == before


@pytest.mark.parametrize(
    "who",
    [
        "viewer",
        "investor",
        "no_scope",
        "other_partner",
    ],
)
async def test_who_may_not_open(net: Network, who: str) -> None:
    by: Principal
    kwargs: dict[str, Any] = {}
    if who == "viewer":
        by = net.viewer("BANCO_ANDINO")
    elif who == "investor":
        by = principal(Role.INVESTOR)
    elif who == "no_scope":
        by = Principal(
            subject="test:narrow",
            roles=frozenset({Role.AGENT}),
            scopes=ROLE_SCOPES[Role.AGENT] - {Scope.CASES_WRITE},
            partner_id=net.ids["BANCO_ANDINO"],
        )
    else:
        by = net.agent("BANCO_ANDINO")
        kwargs["originating_partner_id"] = net.ids["RETAIL_SUR"]
    before = await fingerprint()
    with pytest.raises(Forbidden):
        await open_case(net, by, **kwargs)
    assert await fingerprint() == before


async def test_the_catalog_has_what_the_network_needs(net: Network) -> None:
    async with read_session() as session:
        found = {t.code: t for t in await typologies.list_typologies(session)}
        assert await typologies.ensure_catalog(session) == 0
    assert {"DEVOLUCION_INTERESES", "CARGO_NO_RECONOCIDO", "RECLAMO", "BLOQUEO_TARJETA"} <= set(
        found
    )
    assert found["DEVOLUCION_INTERESES"].requires_amount
    assert found["CARGO_NO_RECONOCIDO"].requires_amount
    assert not found["RECLAMO"].requires_amount


def test_the_catalog_is_well_formed() -> None:
    codes = [s.code for s in typologies.CATALOG]
    assert len(codes) == len(set(codes)) >= 10
    for spec in typologies.CATALOG:
        assert typologies.check_spec(spec) == [], spec.code
        assert re.fullmatch(r"[A-Z_]{3,40}", spec.code)


async def test_the_migration_wrote_the_catalog(net: Network) -> None:
    """Migration 0005 carries a frozen copy of the catalog: it must match the code."""
    async with read_session() as session:
        rows = (await session.execute(sa.select(CaseTypology))).scalars().all()
    written = sorted(
        (
            {
                "code": r.code,
                "name": r.name,
                "description": r.description,
                "default_priority": r.default_priority,
                "sla_business_days": r.sla_business_days,
                "sla_hours": r.sla_hours,
                "requires_amount": r.requires_amount,
                "requires_card": r.requires_card,
            }
            for r in rows
        ),
        key=lambda r: str(r["code"]),
    )
    assert written == sorted(typologies.catalog_rows(), key=lambda r: str(r["code"]))


async def test_open_without_cases_scope_is_forbidden_before_validation(net: Network) -> None:
    async with transaction() as session:
        with pytest.raises(Forbidden):
            await service.open_case(
                session,
                principal=principal(Role.NETWORK_VIEWER, net.ids["BANCO_ANDINO"]),
                customer_id=net.customers[0],
                typology_code="NOPE",
                channel="FAX",
                description=PAN,
            )
