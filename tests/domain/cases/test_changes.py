"""Updating, moving and resolving cases: what each change writes, and every way it is
refused with nothing written (other partner's case, stale version, bad input)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from app.db import transaction
from domain.cases import rules, service
from domain.cases.errors import CaseFinished, CaseNotFound
from domain.cases.models import Case
from domain.shared.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    Problems,
    ValidationFailed,
)
from domain.shared.money import Money
from domain.shared.principal import Principal
from tests.domain.cases.conftest import (
    ADMIN,
    Network,
    audits,
    derived_to,
    events,
    fingerprint,
    load,
    open_case,
    refused,
    run,
    timeline,
)


# --- update -----------------------------------------------------------------------------
async def test_update_records_only_what_changed(net: Network) -> None:
    case = await open_case(net)
    changes = service.CaseChanges(
        {"description": "Cobro de intereses de mora en cuota 3", "priority": "HIGH"}
    )
    updated = await run(
        service.update_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        changes=changes,
    )
    assert (updated.version, updated.priority) == (2, "HIGH")
    assert updated.description_folded == "cobro de intereses de mora en cuota 3"
    entry = (await timeline(case.id))[-1]
    assert entry.kind == "UPDATED" and entry.visibility == "INTERNAL"
    assert set(entry.after or {}) == {"description", "priority"}
    assert entry.before == {"description": case.description, "priority": "MEDIUM"}
    [event] = await events("cases.updated")
    assert event.payload["changed"] == ["description", "priority"]
    assert event.payload["version"] == 2
    [record] = await audits("cases.updated")
    assert record.before is not None and record.before["version"] == 1


async def test_an_update_that_changes_nothing_is_not_a_change(net: Network) -> None:
    case = await open_case(net)
    before = await fingerprint()
    same = await run(
        service.update_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        changes=service.CaseChanges({"priority": "MEDIUM", "card_last4": "4321"}),
    )
    assert same.version == 1
    assert await fingerprint() == before


async def test_changing_the_typology_moves_the_due_time(net: Network) -> None:
    case = await open_case(net)
    updated = await run(
        service.update_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        changes=service.CaseChanges({"typology_code": "PAGO_NO_APLICADO"}),
    )
    assert updated.typology_code == "PAGO_NO_APLICADO"
    assert updated.sla_due_at < case.sla_due_at  # 3 business days instead of 10


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "pan 4111111111111111"}, "description"),
        ({"description": ""}, "description"),
        ({"priority": "YA"}, "priority"),
        ({"card_last4": "9"}, "cardLast4"),
        ({"card_last4": None}, "cardLast4"),  # the typology needs the card
        ({"amount_in_dispute": None}, "amountInDispute"),  # the typology needs an amount
        ({"amount_in_dispute": Money(-1, "CLP")}, "amountInDispute"),
        ({"typology_code": "NOPE"}, "typologyCode"),
        ({"customer_id": uuid.uuid4()}, "customer_id"),
        ({"status": "CLOSED"}, "status"),
    ],
)
async def test_bad_updates_are_refused(net: Network, changes: dict[str, Any], field: str) -> None:
    case = await open_case(net)
    error = await refused(
        ValidationFailed,
        service.update_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        changes=service.CaseChanges(changes),
    )
    assert isinstance(error, ValidationFailed) and error.problems[0].field == field


async def test_a_stale_version_is_a_conflict(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    await run(
        service.update_case,
        agent,
        case_id=case.id,
        expected_version=1,
        changes=service.CaseChanges({"priority": "LOW"}),
    )
    for fn, kwargs in [
        (service.update_case, {"changes": service.CaseChanges({"priority": "HIGH"})}),
        (service.transition_case, {"to_status": "IN_PROGRESS"}),
        (service.resolve_case, {"code": "FAVORABLE", "note": "ok"}),
        (
            service.derive_case,
            {"to_partner_id": net.ids["RETAIL_SUR"], "reason": "emisor"},
        ),
        (service.add_comment, {"body": "hola"}),
    ]:
        error = await refused(Conflict, fn, agent, case_id=case.id, expected_version=1, **kwargs)
        assert isinstance(error, Conflict) and error.current_version == 2


async def forbidden_paths(net: Network) -> tuple[Case, list[tuple[type[Exception], Principal]]]:
    """A case now handled by RETAIL_SUR, and who may not change it and how they are told."""
    case = await derived_to(net, await open_case(net), "RETAIL_SUR")
    return case, [
        (CaseNotFound, net.agent("BANCO_PAMPA")),  # not involved: the case does not exist
        (CaseNotFound, net.system("TARJETA_PLATA")),
        (Forbidden, net.agent("BANCO_ANDINO")),  # originator: sees it, cannot act
        (Forbidden, net.supervisor("BANCO_PAMPA")),  # sees the network, not its case
        (Forbidden, net.viewer()),  # reads only
    ]


async def test_only_the_handler_changes_a_case(net: Network) -> None:
    case, paths = await forbidden_paths(net)
    for error, who in paths:
        for fn, kwargs in [
            (service.update_case, {"changes": service.CaseChanges({"priority": "LOW"})}),
            (service.transition_case, {"to_status": "IN_PROGRESS"}),
            (service.resolve_case, {"code": "FAVORABLE", "note": "ok"}),
            (service.derive_case, {"to_partner_id": net.ids["CLUB_PUNTOS"], "reason": "x"}),
        ]:
            await refused(error, fn, who, case_id=case.id, expected_version=case.version, **kwargs)
    # An unknown id is not found either.
    await refused(
        CaseNotFound,
        service.transition_case,
        net.agent("RETAIL_SUR"),
        case_id=uuid.uuid4(),
        expected_version=1,
        to_status="IN_PROGRESS",
    )


async def test_a_finished_case_cannot_be_updated(net: Network) -> None:
    case = await open_case(net)
    await run(
        service.resolve_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        code="INFORMATION_PROVIDED",
        note="Se explicó el cobro",
    )
    await refused(
        CaseFinished,
        service.update_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=2,
        changes=service.CaseChanges({"priority": "LOW"}),
    )


# --- transitions ------------------------------------------------------------------------
async def test_transitions_write_customer_visible_entries(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    for version, status in enumerate(["IN_PROGRESS", "WAITING_PARTNER", "IN_PROGRESS"], 1):
        case = await run(
            service.transition_case,
            agent,
            case_id=case.id,
            expected_version=version,
            to_status=status,
        )
    assert (case.status, case.version) == ("IN_PROGRESS", 4)
    entries = await timeline(case.id)
    assert [e.kind for e in entries] == ["OPENED"] + ["STATUS_CHANGED"] * 3
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[2].before == {"status": "IN_PROGRESS"}
    assert entries[2].after == {"status": "WAITING_PARTNER"}
    assert {e.visibility for e in entries} == {"CUSTOMER"}
    moves = [
        (e.payload["fromStatus"], e.payload["toStatus"])
        for e in await events("cases.status_changed")
    ]
    assert moves == [
        ("OPEN", "IN_PROGRESS"),
        ("IN_PROGRESS", "WAITING_PARTNER"),
        ("WAITING_PARTNER", "IN_PROGRESS"),
    ]


@pytest.mark.parametrize(
    ("to_status", "note", "error", "field"),
    [
        ("CLOSED", None, InvalidTransition, None),  # OPEN cannot be closed
        ("OPEN", None, InvalidTransition, None),  # nor stay where it is
        ("RESOLVED", None, ValidationFailed, "toStatus"),  # resolveCase records a resolution
        ("REJECTED", None, ValidationFailed, "note"),  # a rejection says why
        ("REJECTED", "tarjeta 4111111111111111", ValidationFailed, "note"),
        ("ARCHIVED", None, ValidationFailed, "toStatus"),
    ],
)
async def test_bad_transitions_are_refused(
    net: Network, to_status: str, note: str | None, error: type[Exception], field: str | None
) -> None:
    case = await open_case(net)
    found = await refused(
        error,
        service.transition_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_status=to_status,
        note=note,
    )
    if field:
        assert isinstance(found, ValidationFailed) and found.problems[0].field == field


async def test_reject_records_the_reason_as_the_resolution(net: Network) -> None:
    case = await open_case(net)
    case = await run(
        service.transition_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_status="REJECTED",
        note="Fuera de plazo legal",
    )
    assert (case.resolution_code, case.resolution_note) == ("REJECTED", "Fuera de plazo legal")
    assert case.resolved_at is not None
    assert (await timeline(case.id))[-1].note == "Fuera de plazo legal"


async def test_resolve_close_and_reopen(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    case = await run(
        service.resolve_case,
        agent,
        case_id=case.id,
        expected_version=1,
        code="PARTIALLY_FAVORABLE",
        note="Se devuelven intereses de una cuota",
        amount_refunded=Money(50_000, "CLP"),
    )
    assert (case.status, case.resolution_code) == ("RESOLVED", "PARTIALLY_FAVORABLE")
    assert (case.resolution_refund_minor, case.resolution_refund_currency) == (50_000, "CLP")
    [event] = await events("cases.resolved")
    assert event.payload["refund"] == {"amount": "50000", "currency": "CLP"}
    assert event.payload["resolutionCode"] == "PARTIALLY_FAVORABLE"
    case = await run(
        service.transition_case, agent, case_id=case.id, expected_version=2, to_status="CLOSED"
    )
    assert case.closed_at is not None
    case = await run(
        service.transition_case,
        agent,
        case_id=case.id,
        expected_version=3,
        to_status="IN_PROGRESS",
        note="El cliente insiste",
    )
    assert case.status == "IN_PROGRESS"
    assert (case.resolution_code, case.resolved_at, case.closed_at) == (None, None, None)
    assert case.sla_started_at is not None and case.sla_started_at > case.created_at
    [event] = await events("cases.reopened")
    assert (event.payload["fromStatus"], event.payload["toStatus"]) == ("CLOSED", "IN_PROGRESS")
    assert (await timeline(case.id))[-1].kind == "REOPENED"


async def test_reopening_after_the_window_is_refused(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    case = await run(
        service.resolve_case,
        agent,
        case_id=case.id,
        expected_version=1,
        code="FAVORABLE",
        note="Devuelto",
    )
    async with transaction() as session:
        await session.execute(
            sa.update(Case)
            .where(Case.id == case.id)  # type: ignore[arg-type]
            .values(resolved_at=case.resolved_at - timedelta(days=31))
        )
    error = await refused(
        InvalidTransition,
        service.transition_case,
        agent,
        case_id=case.id,
        expected_version=2,
        to_status="IN_PROGRESS",
    )
    assert "within 30 days" in str(error)
    # A longer window (a setting) lets it through.
    reopened = await run(
        service.transition_case,
        agent,
        case_id=case.id,
        expected_version=2,
        to_status="IN_PROGRESS",
        reopen_window=timedelta(days=60),
    )
    assert reopened.status == "IN_PROGRESS"


@pytest.mark.parametrize(
    ("code", "note", "refund", "field"),
    [
        ("FAVORABLE", None, None, "note"),
        ("FAVORABLE", "4111 1111 1111 1111", None, "note"),
        ("NO_EXISTE", "x", None, "code"),
        ("PARTNER_REPORTED", "x", None, "code"),  # set by Trama only
        ("REJECTED", "x", None, "code"),
        ("FAVORABLE", "x", Money(150_001, "CLP"), "amountRefunded"),  # more than disputed
        ("FAVORABLE", "x", Money(100, "USD"), "amountRefunded"),  # another currency
        ("FAVORABLE", "x", Money(-1, "CLP"), "amountRefunded"),
        ("UNFAVORABLE", "x", Money(1, "CLP"), "amountRefunded"),  # refund on a refusal
    ],
)
async def test_bad_resolutions_are_refused(
    net: Network, code: str, note: str | None, refund: Money | None, field: str
) -> None:
    case = await open_case(net)
    error = await refused(
        ValidationFailed,
        service.resolve_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        code=code,
        note=note,
        amount_refunded=refund,
    )
    assert isinstance(error, ValidationFailed) and error.problems[0].field == field


async def test_resolving_twice_is_an_invalid_transition(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    await run(
        service.resolve_case,
        agent,
        case_id=case.id,
        expected_version=1,
        code="FAVORABLE",
        note="ok",
    )
    await refused(
        InvalidTransition,
        service.resolve_case,
        agent,
        case_id=case.id,
        expected_version=2,
        code="FAVORABLE",
        note="ok",
    )


async def test_an_admin_may_act_on_any_case(net: Network) -> None:
    case = await open_case(net)
    case = await run(
        service.transition_case, ADMIN, case_id=case.id, expected_version=1, to_status="IN_PROGRESS"
    )
    assert case.status == "IN_PROGRESS"
    assert (await timeline(case.id))[-1].actor_subject == ADMIN.subject


@given(
    disputed=st.integers(min_value=1, max_value=10**12),
    refunded=st.integers(min_value=-(10**12), max_value=10**12),
    code=st.sampled_from(["FAVORABLE", "PARTIALLY_FAVORABLE", "UNFAVORABLE", "WITHDRAWN"]),
)
def test_a_refund_is_accepted_exactly_when_it_fits_the_dispute(
    disputed: int, refunded: int, code: str
) -> None:
    problems = Problems()
    _, _, refund = rules.resolution(
        problems,
        code=code,
        note="nota",
        refund=Money(refunded, "CLP"),
        dispute=Money(disputed, "CLP"),
    )
    no_refund = code in {"UNFAVORABLE", "WITHDRAWN"}
    fits = 0 <= refunded <= disputed and not (no_refund and refunded > 0)
    assert (refund is not None) is fits
    assert (not problems.items) is fits
    if refund is not None:
        assert refund.amount == refunded


async def test_the_case_version_only_moves_forward(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    versions = [case.version]
    for status in ["IN_PROGRESS", "WAITING_CUSTOMER", "IN_PROGRESS"]:
        case = await run(
            service.transition_case,
            agent,
            case_id=case.id,
            expected_version=case.version,
            to_status=status,
        )
        versions.append(case.version)
    assert versions == [1, 2, 3, 4]
    assert (await load(case.id)).timeline_seq == 4
