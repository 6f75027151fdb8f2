"""Checks the file-check pool's worker processes run in tests (importable there: the pool
sends a reference to the function, not the function)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from app.file_checks import inspect_file
from domain.cases import attachment_rules as rules


def where(content: bytes, file_name: str | None, *rest: Any) -> tuple[Any, ...]:
    """The process the check ran in."""
    return (os.getpid(),)


def held(
    content: bytes,
    file_name: str | None,
    declared_type: str | None,
    max_bytes: int,
    limits: rules.ScanLimits,
) -> tuple[Any, ...]:
    """Wait until the file named ``<file_name>.release`` exists (the test holds the check
    as long as it needs: a hostile file that takes long), then check for real. Gives up
    after a minute."""
    assert file_name is not None
    release = Path(f"{file_name}.release")
    Path(f"{file_name}.started").touch()
    for _ in range(6000):
        if release.exists():
            break
        time.sleep(0.01)
    return inspect_file(content, Path(file_name).name, declared_type, max_bytes, limits)


def forever(content: bytes, *rest: Any) -> tuple[Any, ...]:
    """Never ends (the time limit stops it)."""
    while True:
        time.sleep(1)


def crash(content: bytes, *rest: Any) -> tuple[Any, ...]:
    """Ends its process, as running out of memory would."""
    os._exit(3)
