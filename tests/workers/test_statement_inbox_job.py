"""The statement inbox as the scheduler runs it: ``collections.sweep_statement_inbox`` is a
periodic job, and each run takes what the inbox folder holds (TRAMA_STATEMENT_INBOX)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.settings import reset_settings
from tests.domain.collections.conftest import lender as lender
from tests.domain.collections.conftest import lines_of, read
from tests.domain.collections.conftest import make_account as make_account
from workers.actors import collections_statements
from workers.registry import REGISTRY, load_modules


def test_the_sweep_is_a_periodic_job() -> None:
    load_modules()
    spec = REGISTRY.jobs[collections_statements.SWEEP_JOB]
    assert spec.every == timedelta(seconds=60)  # TRAMA_STATEMENT_INBOX_EVERY's default


async def test_a_run_of_the_job_sweeps_the_inbox(
    make_account: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await make_account(identifier="BCHICLRM/000123456789")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cartola.sta").write_bytes(read("mt940_cl_bancochile.sta"))
    monkeypatch.setenv("TRAMA_STATEMENT_INBOX", str(inbox))
    monkeypatch.setenv("TRAMA_STATEMENT_INBOX_SETTLE_SECONDS", "0")
    reset_settings()
    try:
        result = await collections_statements.sweep_statement_inbox()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert result == {"done": ["cartola.sta"], "rejected": [], "waiting": []}
    summary = json.loads((inbox / "done" / "cartola.sta.result.json").read_text())
    assert summary["new_line_count"] == 5
    assert len(await lines_of(account.id)) == 5


async def test_without_an_inbox_the_job_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAMA_STATEMENT_INBOX", raising=False)
    reset_settings()
    assert await collections_statements.sweep_statement_inbox() == {
        "done": [],
        "rejected": [],
        "waiting": [],
    }
