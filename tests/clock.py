"""The suite's business clock.

Every test process starts the domain clock at :data:`TEST_EPOCH` (a Wednesday, 15:00 in
Santiago and Buenos Aires, no holiday in either) and lets it move on with real time, so
no test depends on the machine's date, hour or timezone: the suite gives the same answers
at 02:00 UTC, on New Year's Eve and on 29 February. ``TRAMA_TEST_NOW`` (ISO 8601 with a
zone) starts it elsewhere, to try the suite at another moment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from domain.shared import time as clock

DEFAULT_EPOCH = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def _epoch() -> datetime:
    raw = os.environ.get("TRAMA_TEST_NOW", "").strip()
    if not raw:
        return DEFAULT_EPOCH
    return clock.ensure_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))


TEST_EPOCH = _epoch()


def install() -> None:
    """Start this process's clock at the epoch (once; later calls keep it running)."""
    current = clock.get_clock()
    if isinstance(current, clock.OffsetClock) and current.start == TEST_EPOCH:
        return
    clock.set_clock(clock.OffsetClock(TEST_EPOCH))
