"""Ambient facts about the current unit of work that the domain records but does not own."""

from __future__ import annotations

from contextvars import ContextVar

#: Set by the edge (HTTP request, actor, CLI command) so audit records can name it.
request_id_var: ContextVar[str | None] = ContextVar("trama_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
