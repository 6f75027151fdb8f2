"""Homologation tables: versioned, audited, never rewritten; read and changed by the right
people only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.db import read_session
from domain.cases import homologation
from domain.cases.homologation import MappingLine
from domain.cases.models import MappingDirection
from domain.cases.states import CaseStatus
from domain.shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.shared.time import utcnow
from tests.domain.cases.conftest import ADMIN, Network, audits, events, refused, run

LINES = [
    MappingLine("Nuevo", CaseStatus.OPEN),
    MappingLine("Gestion", CaseStatus.IN_PROGRESS),
    MappingLine("Cerrado", CaseStatus.CLOSED),
]


async def test_versions_are_added_never_rewritten(net: Network) -> None:
    partner = net.ids["TARJETA_PLATA"]
    first = await run(
        homologation.update_mapping, ADMIN, partner_id=partner, lines=LINES, expected_version=0
    )
    assert first.version == 1 and first.to_canonical(" nuevo ") is CaseStatus.OPEN
    assert first.to_partner_code(CaseStatus.CLOSED) == "Cerrado"
    second = await run(
        homologation.update_mapping,
        ADMIN,
        partner_id=partner,
        lines=[
            MappingLine("Nuevo", CaseStatus.OPEN),
            MappingLine("En gestión", CaseStatus.IN_PROGRESS),
            MappingLine("Gestion", CaseStatus.IN_PROGRESS, MappingDirection.INBOUND),
            MappingLine("Finalizado", CaseStatus.CLOSED),
        ],
        expected_version=1,
    )
    assert second.version == 2
    assert second.to_partner_code(CaseStatus.IN_PROGRESS) == "En gestión"
    assert second.to_canonical("gestion") is CaseStatus.IN_PROGRESS
    async with read_session() as session:
        old = await homologation.get_mapping(
            session, principal=ADMIN, partner_id=partner, version=1
        )
        assert old.lines == first.lines  # history is intact
        assert old.to_partner_code(CaseStatus.CLOSED) == "Cerrado"
        at_first = await homologation.mapping_at(
            session, partner, at=second.active_from - timedelta(microseconds=1)
        )
        assert at_first.version == 1
        current = await homologation.mapping_at(session, partner)
        assert current.version == 2
        assert await homologation.to_canonical(session, partner, "FINALIZADO") is CaseStatus.CLOSED
        assert await homologation.to_partner_code(session, partner, "OPEN") == "Nuevo"
        with pytest.raises(ValidationFailed, match="no mapping"):
            await homologation.to_canonical(session, partner, "Cerrado")  # gone in version 2
        with pytest.raises(ValidationFailed):
            await homologation.to_partner_code(session, partner, "WAITING_PARTNER")
        versions = await homologation.list_versions(session, principal=ADMIN, partner_id=partner)
    assert [(v.version, v.lines) for v in versions] == [(2, 4), (1, 3)]
    [first_audit, second_audit] = await audits("cases.homologation_changed")
    assert first_audit.before is None
    assert second_audit.before is not None and second_audit.before["version"] == 1
    assert second_audit.after is not None and second_audit.after["version"] == 2
    events_ = await events("cases.homologation_changed")
    assert [e.payload["version"] for e in events_] == [1, 2]
    assert events_[0].audience == f",{partner},"


async def test_a_scheduled_version_waits_for_its_date(net: Network) -> None:
    partner = net.ids["TARJETA_PLATA"]
    await run(
        homologation.update_mapping, ADMIN, partner_id=partner, lines=LINES, expected_version=0
    )
    tomorrow = utcnow() + timedelta(days=1)
    scheduled = await run(
        homologation.update_mapping,
        ADMIN,
        partner_id=partner,
        lines=[MappingLine("Abierta", CaseStatus.OPEN)],
        expected_version=1,
        active_from=tomorrow,
    )
    assert scheduled.active_from == tomorrow
    async with read_session() as session:
        assert (await homologation.mapping_at(session, partner)).version == 1
        later = await homologation.mapping_at(session, partner, at=tomorrow + timedelta(seconds=1))
        assert later.version == 2


BAD = [
    ([], "lines"),
    ([MappingLine("", CaseStatus.OPEN)], "lines[0].partnerCode"),
    ([MappingLine("4111111111111111", CaseStatus.OPEN)], "lines[0].partnerCode"),
    ([("Nuevo", "ABIERTO", "BOTH")], "lines[0].canonicalStatus"),
    ([("Nuevo", "OPEN", "SIDEWAYS")], "lines[0].direction"),
    (
        [MappingLine("Nuevo", CaseStatus.OPEN), MappingLine(" NUEVO", CaseStatus.CLOSED)],
        "lines[1].partnerCode",
    ),
    (
        [MappingLine("Nuevo", CaseStatus.OPEN), MappingLine("Abierto", CaseStatus.OPEN)],
        "lines[1].direction",  # two outbound codes for OPEN
    ),
    ([MappingLine("x", CaseStatus.OPEN)] * 101, "lines"),
]


@pytest.mark.parametrize(("lines", "field"), BAD)
async def test_bad_tables_are_refused(net: Network, lines: list, field: str) -> None:
    error = await refused(
        ValidationFailed,
        homologation.update_mapping,
        ADMIN,
        partner_id=net.ids["TARJETA_PLATA"],
        lines=lines,
        expected_version=0,
    )
    assert isinstance(error, ValidationFailed) and error.problems[0].field == field


async def test_history_is_not_rewritten_backwards(net: Network) -> None:
    error = await refused(
        ValidationFailed,
        homologation.update_mapping,
        ADMIN,
        partner_id=net.ids["TARJETA_PLATA"],
        lines=LINES,
        expected_version=0,
        active_from=utcnow() - timedelta(days=1),
    )
    assert isinstance(error, ValidationFailed) and error.problems[0].field == "activeFrom"


async def test_concurrent_changes_conflict(net: Network) -> None:
    partner = net.ids["TARJETA_PLATA"]
    await run(
        homologation.update_mapping, ADMIN, partner_id=partner, lines=LINES, expected_version=0
    )
    error = await refused(
        Conflict,
        homologation.update_mapping,
        ADMIN,
        partner_id=partner,
        lines=LINES,
        expected_version=0,
    )
    assert isinstance(error, Conflict) and error.current_version == 1


async def test_who_may_read_and_change(net: Network) -> None:
    partner = net.ids["TARJETA_PLATA"]
    await run(
        homologation.update_mapping, ADMIN, partner_id=partner, lines=LINES, expected_version=0
    )
    for who in [
        net.agent("TARJETA_PLATA"),
        net.supervisor("TARJETA_PLATA"),
        net.system("TARJETA_PLATA"),
    ]:
        await refused(
            Forbidden,
            homologation.update_mapping,
            who,
            partner_id=partner,
            lines=LINES,
            expected_version=1,
        )
    async with read_session() as session:
        # A partner's own staff read its table; others do not.
        own = await homologation.get_mapping(
            session, principal=net.agent("TARJETA_PLATA"), partner_id=partner
        )
        assert own.version == 1
        with pytest.raises(Forbidden):
            await homologation.get_mapping(
                session, principal=net.agent("BANCO_ANDINO"), partner_id=partner
            )
        with pytest.raises(Forbidden):
            await homologation.list_versions(
                session, principal=net.supervisor("BANCO_ANDINO"), partner_id=partner
            )
        with pytest.raises(NotFound):
            await homologation.get_mapping(session, principal=ADMIN, partner_id=uuid.uuid4())
    await refused(
        NotFound,
        homologation.update_mapping,
        ADMIN,
        partner_id=uuid.uuid4(),
        lines=LINES,
        expected_version=0,
    )


async def test_the_default_table_covers_every_state(net: Network) -> None:
    partner = net.ids["CLUB_PUNTOS"]
    table = await run(homologation.ensure_default_mapping, ADMIN, partner_id=partner)
    assert table is not None
    for status in CaseStatus:
        assert table.to_partner_code(status) is not None
        assert table.to_canonical(table.to_partner_code(status) or "") is status
    assert await run(homologation.ensure_default_mapping, ADMIN, partner_id=partner) is None
