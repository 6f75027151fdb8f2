"""Uploads can never starve the server: hostile files are refused by their declared sizes
before anything is inflated, checks run in a bounded pool of processes with a time limit,
and while a check runs the app keeps answering (/healthz, /readyz, GraphQL); one upload
more than the pool holds is refused at once with RATE_LIMITED. Nothing is written for a
refused file. No test here measures time."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.file_checks import CheckPool
from app.runtime import Runtime
from app.settings import Settings
from domain.cases import attachment_rules as rules
from tests import file_check_jobs as jobs
from tests.api.attachment_support import files_under, gid, open_case, payload, upload, written
from tests.conftest import make_settings
from tests.domain.cases import office_files as office

DOCX = rules.DOCX.media_type
PAN_TABLE = [["Tarjeta", "4111", "1111", "1111", "1111"]]


@pytest.fixture
def settings(tmp_path: Path, session_tmp: Path, keys: Any, database_url: str) -> Settings:
    shutil.copytree(session_tmp / "keys", tmp_path / "keys")
    return make_settings(
        tmp_path, database_url, attachment_check_workers=1, attachment_check_queue=0
    )


@pytest.fixture
async def held_checks(runtime: Runtime) -> AsyncIterator[CheckPool]:
    """The app's pool, its checks held until the test lets them go (as a hostile file
    would hold them): one worker, no queue."""
    assert runtime.attachments is not None
    live = runtime.attachments.checks
    pool = CheckPool(
        workers=live.workers,
        queue=live.queue,
        timeout=live.timeout,
        max_bytes=live.max_bytes,
        limits=live.limits,
        check=jobs.held,
    )
    runtime.attachments = dataclasses.replace(runtime.attachments, checks=pool)
    yield pool
    await pool.close()


async def until(condition: Any) -> None:
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_zip_bomb_is_refused_before_it_is_inflated_and_nothing_is_written(
    client: httpx.AsyncClient, token: Any, settings: Settings
) -> None:
    case = await open_case()
    before = await written()
    bomb = office.bomb_docx(63 * 1024 * 1024)  # the audit's: 63 MB of XML in a small file
    assert len(bomb) < settings.attachment_max_bytes
    result = payload(
        await upload(
            client,
            token=token("agent", partner="BANCO_ANDINO"),
            case_id=gid("Case", case.id),
            version=1,
            content=bomb,
            file_name="informe.docx",
            content_type=DOCX,
        )
    )
    assert result["__typename"] == "ValidationError" and result["field"] == "file", result
    assert result["code"] == "VALIDATION"
    assert "zip bomb" in result["message"] or "unpacks to" in result["message"]
    assert await written() == before
    assert files_under(settings.var_dir / "attachments") == []


@pytest.mark.parametrize(
    ("content", "name", "where"),
    [
        (office.docx("Reclamo", table=PAN_TABLE), "carta.docx", "word/document.xml"),
        (office.docx("Reclamo", title="4111 1111 1111 1111"), "carta.docx", "docProps/core.xml"),
        (office.xlsx(PAN_TABLE), "tabla.xlsx", "xl/worksheets/sheet1.xml"),
        (b"4111/1111/1111/1111\n", "nota.txt", "line 1"),
        (b'"4111";"1111";"1111";"1111"\n', "mov.csv", "line 1"),
    ],
)
async def test_card_numbers_split_across_cells_or_in_metadata_are_refused(
    client: httpx.AsyncClient,
    token: Any,
    settings: Settings,
    content: bytes,
    name: str,
    where: str,
) -> None:
    case = await open_case()
    before = await written()
    result = payload(
        await upload(
            client,
            token=token("agent", partner="BANCO_ANDINO"),
            case_id=gid("Case", case.id),
            version=1,
            content=content,
            file_name=name,
            content_type="application/octet-stream",
        )
    )
    assert result["__typename"] == "ValidationError" and result["field"] == "file", result
    assert "card number ending in 1111" in result["message"] and where in result["message"]
    assert "4111" not in result["message"]
    assert await written() == before
    assert files_under(settings.var_dir / "attachments") == []


async def test_the_server_keeps_answering_while_a_file_is_checked_and_one_more_is_refused(
    client: httpx.AsyncClient, token: Any, settings: Settings, held_checks: CheckPool
) -> None:
    agent = token("agent", partner="BANCO_ANDINO")
    case = await open_case()
    before = await written()
    name = str(settings.var_dir / "hostil.txt")

    first = asyncio.ensure_future(
        upload(
            client,
            token=agent,
            case_id=gid("Case", case.id),
            version=1,
            content=b"reclamo por cobro indebido\n",
            file_name=name,
            content_type="text/plain",
        )
    )
    await until(lambda: Path(f"{name}.started").exists())  # the check is running, held

    # The event loop is free: probes and other requests answer while the check runs.
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code in (200, 503) and ready.json()
    viewer = await client.post(
        "/graphql",
        json={"query": "{ viewer { subject } }"},
        headers={"authorization": f"Bearer {agent}"},
    )
    assert viewer.status_code == 200 and viewer.json()["data"]["viewer"]["subject"]

    # The pool is full (one worker, no queue): one more upload is refused at once.
    busy = await upload(
        client,
        token=agent,
        case_id=gid("Case", case.id),
        version=1,
        content=b"otra nota\n",
        file_name=str(settings.var_dir / "otra.txt"),
        content_type="text/plain",
    )
    [error] = busy.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", error
    assert error["extensions"]["retryAfter"] >= 1
    assert busy.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert await written() == before
    assert not first.done()

    Path(f"{name}.release").touch()
    result = payload(await first)
    assert result["__typename"] == "AttachCaseFileSuccess", result
    assert result["attachment"]["fileName"] == "hostil.txt"
    assert held_checks.admitted == 0


async def test_a_check_over_the_time_limit_refuses_the_file_and_writes_nothing(
    client: httpx.AsyncClient, token: Any, settings: Settings, runtime: Runtime
) -> None:
    assert runtime.attachments is not None
    live = runtime.attachments.checks
    pool = CheckPool(
        workers=1,
        queue=0,
        timeout=0.5,
        max_bytes=live.max_bytes,
        limits=live.limits,
        check=jobs.forever,
    )
    runtime.attachments = dataclasses.replace(runtime.attachments, checks=pool)
    try:
        case = await open_case()
        before = await written()
        result = payload(
            await upload(
                client,
                token=token("agent", partner="BANCO_ANDINO"),
                case_id=gid("Case", case.id),
                version=1,
                content=b"nota\n",
                file_name="nota.txt",
                content_type="text/plain",
            )
        )
        assert result["__typename"] == "ValidationError" and result["field"] == "file"
        assert "could not be checked" in result["message"]
        assert await written() == before
    finally:
        await pool.close()
