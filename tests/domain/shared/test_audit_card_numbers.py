"""The audit trail is kept forever: the writer never keeps a card number, whatever a caller
hands it. Each is kept as its last four digits, the chain still verifies, and a warning
says where one came from (an input path to fix)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import read_session, transaction
from domain.shared import audit, pan
from domain.shared.audit import AuditRecord
from domain.shared.context import request_id_var
from domain.shared.principal import ROLE_SCOPES, Principal, Role

AGENT = Principal(
    subject="agent@test", roles=frozenset({Role.AGENT}), scopes=ROLE_SCOPES[Role.AGENT]
)
FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "5555555555554444")


async def records() -> list[AuditRecord]:
    async with read_session() as session:
        rows = await session.execute(sa.select(AuditRecord).order_by(AuditRecord.seq))  # type: ignore[arg-type]
        return list(rows.scalars().all())


async def test_card_numbers_handed_to_the_writer_are_kept_as_their_last_four_digits(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(await records())
    token = request_id_var.set("4111111111111111")
    try:
        with caplog.at_level(logging.WARNING, logger="trama.audit"):
            async with transaction() as session:
                audit.record(
                    session,
                    principal=AGENT,
                    action="test.card_numbers",
                    entity_type="Case",
                    entity_id="4111-1111-1111-1111",
                    before={"description": "pagó con 4111 1111 1111 1111 el 21/11/2026"},
                    after={
                        "description": f"tarjeta {FULL_WIDTH}",
                        "lines": ["ok", "4111/1111/1111/1111", {"note": "3782 822463 10005"}],
                        "4111111111111111": "a key",
                        "amount": 150_000,
                        "rut": "12.345.678-5",
                    },
                )
    finally:
        request_id_var.reset(token)
    [record] = (await records())[before:]
    assert record.entity_id == "****1111"
    assert record.request_id == "****1111"
    assert record.before == {"description": "pagó con ****1111 el 21/11/2026"}
    assert record.after == {
        "description": "tarjeta ****4444",
        "lines": ["ok", "****1111", {"note": "****0005"}],
        "****1111": "a key",
        "amount": 150_000,
        "rut": "12.345.678-5",
    }
    stored = repr((record.entity_id, record.request_id, record.before, record.after))
    assert not pan.contains_pan(stored)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "after.description" in warning and "entity_id" in warning
    assert not pan.contains_pan(warning)
    async with read_session() as session:
        assert (await audit.verify(session)).ok


async def test_records_without_card_numbers_are_kept_as_they_are(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(await records())
    after = {
        "sha256": "e3b0c4424111111111111111" + "9afbf4c8996fb92427ae41e4649b934ca495991b",
        "phone": "+56912345678",
        "note": "cuota 3 de 36, $1.234.567, folio 0001-00012345",
        "card_last4": "1111",
    }
    with caplog.at_level(logging.WARNING, logger="trama.audit"):
        async with transaction() as session:
            audit.record(
                session,
                principal=AGENT,
                action="test.plain",
                entity_type="Case",
                entity_id="0191f6a4-7c1e-7b8a-9d3e-5f2a1b4c6d8e",
                after=after,
            )
    [record] = (await records())[before:]
    assert record.after == after
    assert not caplog.records


async def test_records_written_before_redaction_are_found(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trama audit card-numbers` lists what an older writer kept (the chain is never
    rewritten: what to do with them is compliance's decision), and nothing else."""
    async with read_session() as session:
        assert await audit.find_card_numbers(session) == []  # the seed's records are clean

    def old_writer(value: Any, where: str, found: list[str]) -> Any:
        return value  # as before this issue: kept as given

    async with transaction() as session:
        audit.record(
            session,
            principal=AGENT,
            action="test.clean",
            entity_type="Case",
            entity_id="CS-1",
            after={"description": "cuota 12.345.678-5 por $150.000"},
        )
    with monkeypatch.context() as patched:
        patched.setattr(audit, "_no_card_numbers", old_writer)
        async with transaction() as session:
            audit.record(
                session,
                principal=AGENT,
                action="test.leaked",
                entity_type="Case",
                entity_id="CS-2",
                before={"lines": ["ok", {"note": "tarjeta 4111 1111 1111 1111"}]},
                after={"description": "pagó con 5555-5555-5555-4444"},
            )
    async with read_session() as session:
        findings = await audit.find_card_numbers(session, batch=3)
        assert (await audit.verify(session)).ok
    [finding] = findings
    assert finding.action == "test.leaked"
    assert finding.places == ("before.lines[1].note", "after.description")


def test_the_command_is_there() -> None:
    from app.cli import build_parser, cmd_audit_card_numbers

    args = build_parser().parse_args(["audit", "card-numbers"])
    assert args.func is cmd_audit_card_numbers
