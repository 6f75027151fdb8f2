"""Derivation between partners: pending, accepted (ownership and visibility follow the
handler, the originator keeps seeing), rejected (the handler keeps it), and refusals."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.cases import scopes, service
from domain.cases.errors import CaseNotFound
from domain.cases.models import Case, CasePartnerStatus
from domain.partners.models import Partner
from domain.shared.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from tests.domain.cases.conftest import (
    Network,
    audience,
    events,
    open_case,
    refused,
    run,
    timeline,
)


async def ids_in(view: scopes.CaseView, who: object) -> set[uuid.UUID]:
    async with read_session() as session:
        rows = await session.execute(
            sa.select(Case.id).where(scopes.visible_to(who, view))  # type: ignore[arg-type, call-overload]
        )
        return set(rows.scalars().all())


async def test_derive_then_accept(net: Network) -> None:
    case = await open_case(net)
    andino, sur = net.ids["BANCO_ANDINO"], net.ids["RETAIL_SUR"]
    case = await run(
        service.derive_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_partner_id=sur,
        reason="La tarjeta fue emitida por Retail Sur",
    )
    assert (case.pending_derivation_to, case.handling_partner_id, case.version) == (sur, andino, 2)
    [event] = await events("cases.derived")
    assert audience(event) == {andino, sur}
    assert event.payload["toPartnerId"] == gid("Partner", sur)
    # The target sees it in its own view before answering, but cannot work it yet.
    assert case.id in await ids_in(scopes.CaseView.OWN, net.agent("RETAIL_SUR"))
    await refused(
        Forbidden,
        service.transition_case,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=2,
        to_status="IN_PROGRESS",
    )

    case = await run(
        service.accept_derivation,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=2,
        note="Lo tomamos",
    )
    assert (case.handling_partner_id, case.pending_derivation_to, case.version) == (sur, None, 3)
    assert case.pending_derivation_reason is None
    [event] = await events("cases.derivation_accepted")
    assert audience(event) == {andino, sur}
    assert (event.payload["fromPartnerId"], event.payload["toPartnerId"]) == (
        gid("Partner", andino),
        gid("Partner", sur),
    )
    entry = (await timeline(case.id))[-1]
    assert (entry.kind, entry.note, entry.visibility) == (
        "DERIVATION_ACCEPTED",
        "Lo tomamos",
        "CUSTOMER",
    )
    assert entry.after is not None and entry.after["handling_partner_id"] == str(sur)
    async with read_session() as session:
        rows = (
            (
                await session.execute(
                    sa.select(CasePartnerStatus.partner_id).where(
                        CasePartnerStatus.case_id == case.id
                    )  # type: ignore[arg-type, call-overload]
                )
            )
            .scalars()
            .all()
        )
    assert set(rows) == {andino, sur}
    # Ownership follows the handler; the originator keeps seeing the case.
    assert case.id in await ids_in(scopes.CaseView.OWN, net.agent("RETAIL_SUR"))
    assert case.id not in await ids_in(scopes.CaseView.OWN, net.agent("BANCO_ANDINO"))
    assert case.id in await ids_in(scopes.CaseView.ECOSYSTEM, net.agent("BANCO_ANDINO"))
    # The new handler works it; the originator no longer can.
    await run(
        service.transition_case,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=3,
        to_status="IN_PROGRESS",
    )
    await refused(
        Forbidden,
        service.transition_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=4,
        to_status="WAITING_PARTNER",
    )


async def test_a_past_handler_keeps_seeing_the_case(net: Network) -> None:
    case = await open_case(net, net.agent("RETAIL_SUR"))
    for code, version in [("BANCO_ANDINO", 1), ("BANCO_PAMPA", 3)]:
        handler = "RETAIL_SUR" if version == 1 else "BANCO_ANDINO"
        await run(
            service.derive_case,
            net.agent(handler),
            case_id=case.id,
            expected_version=version,
            to_partner_id=net.ids[code],
            reason="derivación",
        )
        await run(
            service.accept_derivation,
            net.agent(code),
            case_id=case.id,
            expected_version=version + 1,
        )
    for code in ["RETAIL_SUR", "BANCO_ANDINO", "BANCO_PAMPA"]:
        assert case.id in await ids_in(scopes.CaseView.ECOSYSTEM, net.agent(code))
    assert case.id not in await ids_in(scopes.CaseView.ECOSYSTEM, net.agent("TARJETA_PLATA"))
    [*_, last] = await events("cases.derivation_accepted")
    assert audience(last) == {net.ids[c] for c in ["RETAIL_SUR", "BANCO_ANDINO", "BANCO_PAMPA"]}


async def test_reject_keeps_the_handler_and_the_reason(net: Network) -> None:
    case = await open_case(net)
    await run(
        service.derive_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_partner_id=net.ids["BANCO_PAMPA"],
        reason="emisor",
    )
    case = await run(
        service.reject_derivation,
        net.agent("BANCO_PAMPA"),
        case_id=case.id,
        expected_version=2,
        reason="La tarjeta no es nuestra",
    )
    assert case.handling_partner_id == net.ids["BANCO_ANDINO"]
    assert case.pending_derivation_to is None and case.version == 3
    entry = (await timeline(case.id))[-1]
    assert (entry.kind, entry.note) == ("DERIVATION_REJECTED", "La tarjeta no es nuestra")
    [event] = await events("cases.derivation_rejected")
    assert audience(event) == {net.ids["BANCO_ANDINO"], net.ids["BANCO_PAMPA"]}
    assert "reason" not in event.payload
    # The partner that declined is not involved any more.
    assert case.id not in await ids_in(scopes.CaseView.ECOSYSTEM, net.agent("BANCO_PAMPA"))
    # The case can be derived again.
    await run(
        service.derive_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=3,
        to_partner_id=net.ids["RETAIL_SUR"],
        reason="ahora sí",
    )


async def test_bad_derivations_are_refused(net: Network) -> None:
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == "CLUB_PUNTOS").values(active=False)  # type: ignore[arg-type]
        )
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    for to, reason, error in [
        (net.ids["CLUB_PUNTOS"], "x", ValidationFailed),  # inactive
        (uuid.uuid4(), "x", ValidationFailed),  # no such partner
        (net.ids["BANCO_ANDINO"], "x", ValidationFailed),  # itself
        (net.ids["RETAIL_SUR"], "", ValidationFailed),  # no reason
        (net.ids["RETAIL_SUR"], "pan 4111111111111111", ValidationFailed),
    ]:
        await refused(
            error,
            service.derive_case,
            agent,
            case_id=case.id,
            expected_version=1,
            to_partner_id=to,
            reason=reason,
        )
    await run(
        service.derive_case,
        agent,
        case_id=case.id,
        expected_version=1,
        to_partner_id=net.ids["RETAIL_SUR"],
        reason="emisor",
    )
    await refused(  # one derivation at a time
        Conflict,
        service.derive_case,
        agent,
        case_id=case.id,
        expected_version=2,
        to_partner_id=net.ids["BANCO_PAMPA"],
        reason="otro",
    )
    await refused(  # nor can a case waiting for another partner be finished
        Conflict,
        service.resolve_case,
        agent,
        case_id=case.id,
        expected_version=2,
        code="FAVORABLE",
        note="listo",
    )


async def test_a_finished_case_is_not_derived(net: Network) -> None:
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
        service.derive_case,
        agent,
        case_id=case.id,
        expected_version=2,
        to_partner_id=net.ids["RETAIL_SUR"],
        reason="x",
    )


async def test_only_the_target_answers(net: Network) -> None:
    case = await open_case(net)
    await run(
        service.derive_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_partner_id=net.ids["RETAIL_SUR"],
        reason="emisor",
    )
    for fn, kwargs in [
        (service.accept_derivation, {}),
        (service.reject_derivation, {"reason": "no"}),
    ]:
        # The handler cannot answer for the target.
        await refused(
            Forbidden, fn, net.agent("BANCO_ANDINO"), case_id=case.id, expected_version=2, **kwargs
        )
        # A partner not involved does not see the case at all.
        await refused(
            CaseNotFound,
            fn,
            net.agent("BANCO_PAMPA"),
            case_id=case.id,
            expected_version=2,
            **kwargs,
        )
        # A network supervisor of another partner sees it but is not the target.
        await refused(
            Forbidden,
            fn,
            net.supervisor("BANCO_PAMPA"),
            case_id=case.id,
            expected_version=2,
            **kwargs,
        )
        # A stale version is a conflict.
        await refused(
            Conflict, fn, net.agent("RETAIL_SUR"), case_id=case.id, expected_version=1, **kwargs
        )
    await refused(
        ValidationFailed,
        service.reject_derivation,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=2,
        reason="  ",
    )


async def test_answering_when_nothing_is_pending(net: Network) -> None:
    case = await open_case(net)
    await refused(
        Conflict,
        service.accept_derivation,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
    )
    await refused(
        CaseNotFound,
        service.accept_derivation,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=1,
    )


@pytest.mark.parametrize("code", ["BANCO_PAMPA"])
async def test_accepting_for_an_inactive_target_is_refused(net: Network, code: str) -> None:
    case = await open_case(net)
    await run(
        service.derive_case,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=1,
        to_partner_id=net.ids[code],
        reason="emisor",
    )
    async with transaction() as session:
        await session.execute(
            sa.update(Partner).where(Partner.code == code).values(active=False)  # type: ignore[arg-type]
        )
    await refused(
        ValidationFailed,
        service.accept_derivation,
        net.agent(code),
        case_id=case.id,
        expected_version=2,
    )
