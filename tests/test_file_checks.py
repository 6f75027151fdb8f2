"""The pool that checks uploaded files: in other processes, bounded (workers and a queue;
one more is refused at once), with a time limit that kills the check, and surviving a
check that kills its process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.file_checks import CheckPool, ChecksBusy
from domain.cases import attachment_rules as rules
from domain.shared.errors import ValidationFailed
from tests import file_check_jobs as jobs
from tests.domain.cases import office_files as office


def make_pool(check: Any = None, **kw: Any) -> CheckPool:
    options: dict[str, Any] = {
        "workers": 1,
        "queue": 0,
        "timeout": 60.0,
        "max_bytes": 10 * 1024 * 1024,
        "limits": rules.ScanLimits(),
    }
    options.update(kw)
    if check is not None:
        options["check"] = check
    return CheckPool(**options)


@pytest.fixture
async def pool() -> AsyncIterator[CheckPool]:
    checks = make_pool(workers=2)
    yield checks
    await checks.close()


async def until(condition: Any) -> None:
    """Wait for ``condition()`` (a test never asserts how long anything took)."""
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def refused(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    [first, *_] = exc.value.problems
    assert first.field == "file"
    return first.message


async def test_files_are_checked_by_the_rules_in_a_worker(pool: CheckPool) -> None:
    checked = await pool.inspect(b"%PDF-1.4\n%%EOF\n", file_name="a.pdf", declared_type=None)
    assert checked.file_type is rules.PDF and checked.file_name == "a.pdf"
    with pytest.raises(ValidationFailed) as caught:
        await pool.inspect(
            office.docx("tarjeta 4111 - 1111 - 1111 - 1111"), file_name="a", declared_type=None
        )
    assert "card number ending in 1111" in refused(caught)


async def test_a_zip_bomb_is_refused_by_its_ratio(pool: CheckPool) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await pool.inspect(office.bomb_docx(8 << 20), file_name="b.docx", declared_type=None)
    assert "zip bomb" in refused(caught)


async def test_the_pools_limits_reach_the_workers() -> None:
    tight = make_pool(limits=rules.ScanLimits(max_unzipped_bytes=2048))
    try:
        with pytest.raises(ValidationFailed) as caught:
            await tight.inspect(
                office.docx("x", table=[["y" * 4000]]), file_name="c.docx", declared_type=None
            )
        assert "more than the 2 KB accepted" in refused(caught)
    finally:
        await tight.close()


async def test_checks_run_in_another_process() -> None:
    checks = make_pool(jobs.where)
    try:
        (pid,) = await checks.run(b"x", "a", None)
        assert pid != os.getpid()
        (again,) = await checks.run(b"x", "a", None)
        assert again == pid  # the worker is kept for the next check
    finally:
        await checks.close()


async def test_a_full_pool_refuses_one_more_at_once(tmp_path: Path) -> None:
    checks = make_pool(jobs.held, workers=1, queue=1)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    try:
        running = asyncio.ensure_future(
            checks.inspect(b"uno", file_name=str(first), declared_type=None)
        )
        await until(lambda: Path(f"{first}.started").exists())
        waiting = asyncio.ensure_future(
            checks.inspect(b"dos", file_name=str(second), declared_type=None)
        )
        await until(lambda: checks.admitted == 2)
        with pytest.raises(ChecksBusy) as busy:
            await checks.inspect(b"tres", file_name="third.txt", declared_type=None)
        assert busy.value.retry_after >= 1
        assert checks.admitted == 2  # the refused one holds nothing
        Path(f"{first}.release").touch()
        Path(f"{second}.release").touch()
        assert (await running).file_name == "first.txt"
        assert (await waiting).file_name == "second.txt"
        assert checks.admitted == 0
    finally:
        await checks.close()


async def test_a_check_over_the_time_limit_is_stopped_and_the_file_refused() -> None:
    checks = make_pool(jobs.forever, timeout=0.5)
    try:
        with pytest.raises(ValidationFailed) as caught:
            await checks.run(b"x", "a", None)
        assert "within 0.5 s" in refused(caught)
        assert not checks._live  # its process was killed
        checks._check = jobs.where
        (pid,) = await checks.run(b"x", "a", None)  # a new worker takes its place
        assert pid != os.getpid()
    finally:
        await checks.close()


async def test_a_check_that_kills_its_worker_refuses_the_file() -> None:
    checks = make_pool(jobs.crash)
    try:
        with pytest.raises(ValidationFailed) as caught:
            await checks.run(b"x", "a", None)
        assert "could not be checked" in refused(caught)
        assert checks.admitted == 0 and not checks._live
    finally:
        await checks.close()


async def test_closing_the_pool_kills_its_workers() -> None:
    checks = make_pool(jobs.where, workers=2)
    await asyncio.gather(checks.run(b"x", "a", None), checks.run(b"y", "b", None))
    processes = [w.process for w in checks._live]
    assert processes and all(p.is_alive() for p in processes)
    await checks.close()
    assert not any(p.is_alive() for p in processes)
