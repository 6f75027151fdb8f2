"""Domain errors. Services raise them; resolvers map them to payloads or coded errors."""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    """An expected failure a client can act on. ``code`` is its ``extensions.code``."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "NOT_FOUND"

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} was not found")
        self.entity = entity
        self.key = key


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class ValidationFailed(DomainError):
    """One or more input fields are wrong. ``problems`` names each field."""

    code = "VALIDATION"

    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        items = problems if isinstance(problems, list) else [problems]
        if not items:
            raise ValueError("ValidationFailed needs at least one problem")
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in items))
        self.problems = items

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls(FieldProblem(field, message))


class Forbidden(DomainError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "you are not allowed to do this") -> None:
        super().__init__(message)


class Conflict(DomainError):
    """The entity changed since the caller read it (stale ``version``) or a rule collides."""

    code = "CONFLICT"

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"

    def __init__(self, entity: str, from_state: str, to_state: str) -> None:
        super().__init__(f"{entity} cannot go from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


@dataclass
class Problems:
    """Collects field problems so a service can report all of them at once."""

    items: list[FieldProblem] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.items.append(FieldProblem(field_name, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))
