"""Domain errors become payload error types (mutations) or coded GraphQL errors (queries)."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from domain.shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from schema.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)

T = TypeVar("T")


def to_error_type(exc: DomainError) -> Any:
    if isinstance(exc, ValidationFailed):
        first = exc.problems[0]
        return ValidationError(
            message=exc.message,
            code=exc.code,
            field=first.field,
            problems=[FieldError(field=p.field, message=p.message) for p in exc.problems],
        )
    if isinstance(exc, NotFound):
        return NotFoundError(message=exc.message, code=exc.code, entity=exc.entity, id=str(exc.key))
    if isinstance(exc, Forbidden):
        return ForbiddenError(message=exc.message, code=exc.code)
    if isinstance(exc, Conflict):
        return ConflictError(
            message=exc.message, code=exc.code, current_version=exc.current_version
        )
    if isinstance(exc, InvalidTransition):
        return InvalidTransitionError(
            message=exc.message, code=exc.code, from_state=exc.from_state, to_state=exc.to_state
        )
    return None


def _members(payload: Any) -> tuple[type, ...]:
    union = (
        typing.get_args(payload)[0] if typing.get_origin(payload) is typing.Annotated else payload
    )
    return typing.get_args(union) or (union,)


async def mutate(payload: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T | Any:
    """Run ``work`` in one transaction; an expected failure rolls back and becomes data.

    A domain error whose type the payload union does not declare is raised instead, so it
    reaches the client as a coded GraphQL error rather than breaking the union.
    """
    try:
        async with transaction() as session:
            return await work(session)
    except DomainError as exc:
        error = to_error_type(exc)
        if error is None or type(error) not in _members(payload):
            raise
        return error
