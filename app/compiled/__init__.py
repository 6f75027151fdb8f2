"""Compiled reads (DESIGN §10, README "Compiled reads"): ``engine`` answers query
operations from plans, ``plan`` makes them from the declarations in ``catalog``."""

from __future__ import annotations

from contextvars import ContextVar

#: Set while a plan runs, or shadow mode compares (statements the tests count belong to
#: the normal path of the request under test).
compiled_read: ContextVar[bool] = ContextVar("trama_compiled_read", default=False)
