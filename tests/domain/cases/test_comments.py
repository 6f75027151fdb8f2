"""Comments: every involved partner may comment; internal or customer-visible; paging."""

from __future__ import annotations

import uuid

import pytest

from app.db import read_session
from domain.cases import service
from domain.cases.errors import CaseNotFound
from domain.shared.errors import Conflict, Forbidden, ValidationFailed
from tests.domain.cases.conftest import (
    Network,
    audience,
    audits,
    derived_to,
    events,
    open_case,
    refused,
    run,
    timeline,
)


async def test_involved_partners_comment(net: Network) -> None:
    case = await derived_to(net, await open_case(net), "RETAIL_SUR")  # version 3
    internal = await run(
        service.add_comment,
        net.agent("RETAIL_SUR"),
        case_id=case.id,
        expected_version=3,
        body="Se pidió la cartola al área de cobranza",
    )
    # The originator keeps collaborating after handing the case over.
    public = await run(
        service.add_comment,
        net.agent("BANCO_ANDINO"),
        case_id=case.id,
        expected_version=4,
        body="El cliente volvió a llamar",
        visibility="CUSTOMER",
    )
    assert internal.visibility == "INTERNAL" and public.visibility == "CUSTOMER"
    assert public.author_partner_id == net.ids["BANCO_ANDINO"]
    entries = (await timeline(case.id))[-2:]
    assert [(e.kind, e.visibility) for e in entries] == [
        ("COMMENTED", "INTERNAL"),
        ("COMMENTED", "CUSTOMER"),
    ]
    assert entries[0].after == {"comment_id": str(internal.id), "visibility": "INTERNAL"}
    [first, second] = await events("cases.commented")
    assert first.payload["commentId"] == str(internal.id)
    assert "body" not in first.payload
    assert audience(second) == {net.ids["BANCO_ANDINO"], net.ids["RETAIL_SUR"]}
    [record, _] = await audits("cases.commented")
    assert record.after is not None and record.after["body"].startswith("Se pidió")

    async with read_session() as session:
        page = await service.list_comments(
            session, principal=net.agent("BANCO_ANDINO"), case_id=case.id, limit=1
        )
        assert [c.id for c in page.items] == [internal.id] and page.has_next
        rest = await service.list_comments(
            session,
            principal=net.agent("BANCO_ANDINO"),
            case_id=case.id,
            limit=5,
            after=page.cursors[-1],
        )
        assert [c.id for c in rest.items] == [public.id] and not rest.has_next
        shown = await service.list_comments(
            session,
            principal=net.agent("BANCO_ANDINO"),
            case_id=case.id,
            limit=5,
            customer_visible_only=True,
        )
        assert [c.id for c in shown.items] == [public.id]
        with pytest.raises(CaseNotFound):
            await service.list_comments(
                session, principal=net.agent("BANCO_PAMPA"), case_id=case.id, limit=5
            )
        with pytest.raises(ValidationFailed):
            await service.list_comments(
                session,
                principal=net.agent("BANCO_ANDINO"),
                case_id=case.id,
                limit=5,
                after="not-a-cursor",
            )


async def test_comment_refusals(net: Network) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    for body, visibility, field in [
        ("", "INTERNAL", "body"),
        ("tarjeta 4111 1111 1111 1111", "INTERNAL", "body"),
        ("x" * 4001, "INTERNAL", "body"),
        ("hola", "PUBLIC", "visibility"),
    ]:
        error = await refused(
            ValidationFailed,
            service.add_comment,
            agent,
            case_id=case.id,
            expected_version=1,
            body=body,
            visibility=visibility,
        )
        assert isinstance(error, ValidationFailed) and error.problems[0].field == field
    for error_type, who in [
        (CaseNotFound, net.agent("BANCO_PAMPA")),  # not involved
        (Forbidden, net.supervisor("BANCO_PAMPA")),  # sees the network, not involved
        (Forbidden, net.viewer()),  # reads only
    ]:
        await refused(
            error_type,
            service.add_comment,
            who,
            case_id=case.id,
            expected_version=1,
            body="hola",
        )
    await refused(
        Conflict, service.add_comment, agent, case_id=case.id, expected_version=7, body="hola"
    )
    await refused(
        CaseNotFound,
        service.add_comment,
        agent,
        case_id=uuid.uuid4(),
        expected_version=1,
        body="hola",
    )
