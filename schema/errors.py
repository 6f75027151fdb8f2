"""Typed errors that mutation payloads return as data (expected failures)."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An expected failure the client can act on.")
class UserError:
    message: str
    code: str


@strawberry.type(description="A field of the input and what is wrong with it.")
class FieldError:
    field: str
    message: str


@strawberry.type(description="The input is not valid; `field` names the first wrong field.")
class ValidationError(UserError):
    field: str
    problems: list[FieldError]


@strawberry.type(description="The entity does not exist (or you cannot see it).")
class NotFoundError(UserError):
    entity: str
    id: str


@strawberry.type(description="You are not allowed to do this.")
class ForbiddenError(UserError):
    pass


@strawberry.type(description="The entity changed since you read it, or a rule collides.")
class ConflictError(UserError):
    current_version: int | None


@strawberry.type(description="The entity's state does not allow this change.")
class InvalidTransitionError(UserError):
    from_state: str
    to_state: str


ERROR_TYPES: tuple[type, ...] = (
    ValidationError,
    NotFoundError,
    ForbiddenError,
    ConflictError,
    InvalidTransitionError,
)
