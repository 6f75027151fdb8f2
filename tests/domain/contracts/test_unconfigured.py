"""A contract with no DocuSeal to send it to waits: PREPARED, the reason on it, no failed
job (a demo without DocuSeal), and the sweep does not resend it until DocuSeal is set."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.db import read_session, transaction
from app.settings import reset_settings
from app.storage import LocalFileStore
from domain.origination import contracts
from domain.origination.contracts_models import Contract, ContractStatus
from domain.shared.time import clock_at
from tests.domain.contracts.conftest import SETUP, Origination, Signing
from workers.actors import docuseal as actors


async def test_a_contract_waits_for_docuseal_to_be_configured(
    accepted: Signing,
    store: LocalFileStore,
    origination: Origination,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRAMA_DOCUSEAL_URL", raising=False)
    monkeypatch.delenv("TRAMA_DOCUSEAL_API_KEY", raising=False)
    reset_settings()
    async with transaction() as session:
        contract = await contracts.prepare_contract(
            session, application_id=accepted.application_id, store=store, setup=SETUP
        )
    assert contract is not None

    outcome = await actors.submit_contract(contract_id=str(contract.id))  # no exception

    assert outcome.startswith(f"contract {contract.reference} waits")
    async with read_session() as session:
        stored = await session.get(Contract, contract.id)
    assert stored is not None and stored.status == ContractStatus.PREPARED
    assert "TRAMA_DOCUSEAL_URL" in (stored.last_error or "")

    sent: list[Any] = []
    monkeypatch.setattr(actors, "_send_job", lambda name, key: sent.append((name, key)))
    with clock_at(stored.created_at + timedelta(hours=1)):
        assert await actors.contracts_sweep() == 0
    assert sent == []

    monkeypatch.setenv("TRAMA_DOCUSEAL_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TRAMA_DOCUSEAL_API_KEY", "key")
    reset_settings()
    try:
        with clock_at(stored.created_at + timedelta(hours=1)):
            assert await actors.contracts_sweep() == 1
        assert sent == [(actors.SUBMIT_JOB, contract.id)]
    finally:
        monkeypatch.delenv("TRAMA_DOCUSEAL_URL")
        monkeypatch.delenv("TRAMA_DOCUSEAL_API_KEY")
        reset_settings()
