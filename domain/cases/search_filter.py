"""The search filter of cases: its fields, their validation, and the SQL conditions they
become (also used by mass resolutions selected by a filter).

Free text matches, in one OR: the network reference (exact when it reads as one, else as a
prefix), the customer's name (every word, accent- and case-insensitively, on
``customers.sort_name``), the customer's national ID (a prefix of the normalised number,
when the text looks like one) and the description (``description_folded``). Names,
national IDs and descriptions match only where the caller sees the customer's personal
data in clear (:func:`domain.customers.scopes.pii_visible_to`,
:func:`domain.cases.scopes.pii_visible`): a search must not reveal what a masked case
hides, so a prefix probe learns nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from domain.cases import references, scopes
from domain.cases.models import Case, Priority, SlaState
from domain.cases.states import CaseStatus
from domain.customers import scopes as customer_scopes
from domain.customers.models import Customer
from domain.shared import national_ids, pan
from domain.shared.errors import Problems
from domain.shared.models import table_of
from domain.shared.principal import Principal
from domain.shared.text import fold, like_escape
from domain.shared.time import NaiveDatetimeError, ensure_utc, isoformat
from domain.shared.types import UUIDType

#: Most values one list filter may name.
MAX_FILTER_VALUES = 50
MAX_TEXT = 100
_MAX_WORDS = 6


@dataclass(frozen=True)
class CaseFilter:
    """What to search for; every field is optional and they combine with AND (the values
    of one list field combine with OR). Ranges include ``*_from`` and exclude ``*_to``."""

    statuses: Sequence[CaseStatus | str] | None = None
    typologies: Sequence[str] | None = None
    originating_partner_ids: Sequence[uuid.UUID] | None = None
    handling_partner_ids: Sequence[uuid.UUID] | None = None
    priorities: Sequence[Priority | str] | None = None
    sla_states: Sequence[SlaState | str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    customer_id: uuid.UUID | None = None
    #: True: only cases waiting for a partner to accept them; False: only the others.
    pending_derivation: bool | None = None
    text: str | None = None

    # --- (de)serialisation: a mass resolution stores its filter and hashes it -----------
    def to_json(self) -> dict[str, Any]:
        """Normalised JSON (sorted lists, ISO instants); equal filters give equal JSON."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, datetime):
                out[f.name] = isoformat(value)
            elif isinstance(value, uuid.UUID):
                out[f.name] = str(value)
            elif isinstance(value, bool | str):
                out[f.name] = value
            else:
                out[f.name] = sorted({str(v) for v in value})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseFilter:
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("created_from", "created_to", "updated_from", "updated_to"):
                values[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif name == "customer_id":
                values[name] = uuid.UUID(value)
            elif name in ("originating_partner_ids", "handling_partner_ids"):
                values[name] = [uuid.UUID(v) for v in value]
            else:
                values[name] = value
        return cls(**values)


# --- validation ---------------------------------------------------------------------------
def _enum_list(
    problems: Problems, name: str, values: Sequence[Any] | None, kind: type[StrEnum]
) -> list[str] | None:
    if values is None:
        return None
    if len(values) > MAX_FILTER_VALUES:
        problems.add(name, f"at most {MAX_FILTER_VALUES} values")
        return None
    out: list[str] = []
    for value in values:
        try:
            out.append(kind(value).value)
        except ValueError:
            problems.add(name, f"must be among {', '.join(m.value for m in kind)}")
            return None
    return sorted(set(out))


def _list(problems: Problems, name: str, values: Sequence[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    if len(values) > MAX_FILTER_VALUES:
        problems.add(name, f"at most {MAX_FILTER_VALUES} values")
        return None
    return sorted(set(values), key=str)


def _instant(problems: Problems, name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return ensure_utc(value)
    except NaiveDatetimeError:
        problems.add(name, "must carry a time zone")
        return None


def _range(
    problems: Problems, names: tuple[str, str], low: datetime | None, high: datetime | None
) -> tuple[datetime | None, datetime | None]:
    a, b = _instant(problems, names[0], low), _instant(problems, names[1], high)
    if a is not None and b is not None and a > b:
        problems.add(names[1], f"must not be before {names[0]}")
    return a, b


def _typologies(problems: Problems, values: Sequence[str] | None) -> list[str] | None:
    clean = _list(problems, "filter.typologies", values)
    if clean is None:
        return None
    out = sorted({str(v).strip().upper() for v in clean})
    if any(not v or len(v) > 40 for v in out):
        problems.add("filter.typologies", "a typology code has 1-40 characters")
        return None
    return out


def _text(problems: Problems, value: str | None) -> str | None:
    if value is None:
        return None
    clean = " ".join(value.split())
    if not clean:
        return None
    if len(clean) > MAX_TEXT:
        problems.add("filter.text", f"must be at most {MAX_TEXT} characters")
        return None
    if pan.contains_pan(clean):
        problems.add("filter.text", pan.MESSAGE)
        return None
    return clean


def validate_filter(value: CaseFilter | None) -> CaseFilter:
    """The filter with every value checked and normalised (or :class:`ValidationFailed`
    naming each wrong field as ``filter.<name>``)."""
    f = value or CaseFilter()
    problems = Problems()
    created = _range(
        problems, ("filter.createdFrom", "filter.createdTo"), f.created_from, f.created_to
    )
    updated = _range(
        problems, ("filter.updatedFrom", "filter.updatedTo"), f.updated_from, f.updated_to
    )
    clean = CaseFilter(
        statuses=_enum_list(problems, "filter.statuses", f.statuses, CaseStatus),
        typologies=_typologies(problems, f.typologies),
        originating_partner_ids=_list(
            problems, "filter.originatingPartnerIds", f.originating_partner_ids
        ),
        handling_partner_ids=_list(problems, "filter.handlingPartnerIds", f.handling_partner_ids),
        priorities=_enum_list(problems, "filter.priorities", f.priorities, Priority),
        sla_states=_enum_list(problems, "filter.slaStates", f.sla_states, SlaState),
        created_from=created[0],
        created_to=created[1],
        updated_from=updated[0],
        updated_to=updated[1],
        customer_id=f.customer_id,
        pending_derivation=f.pending_derivation,
        text=_text(problems, f.text),
    )
    problems.raise_if_any()
    return clean


# --- conditions -----------------------------------------------------------------------------
_REFERENCE_PREFIX = re.compile(r"^CS-\d{1,4}(-\d{0,9})?$")


def _customers_matching(condition: sa.ColumnElement[bool], dialect: str) -> sa.ColumnElement[bool]:
    """``cases.customer_id`` among the customers meeting ``condition``. On PostgreSQL as
    ``= ANY((SELECT array_agg(id) …))``: an init plan whose array the planner can probe
    ``ix_cases_customer_id`` with, also inside an OR (a plain ``IN (SELECT …)`` there
    becomes a filter over every row)."""
    cases = table_of(Case)
    customers = table_of(Customer)
    if dialect == "postgresql":
        ids = sa.select(sa.func.array_agg(customers.c.id)).where(condition).scalar_subquery()
        return cases.c.customer_id == sa.any_(sa.cast(ids, postgresql.ARRAY(UUIDType)))
    return cases.c.customer_id.in_(sa.select(customers.c.id).where(condition))


def _text_conditions(text: str, *, principal: Principal, dialect: str) -> sa.ColumnElement[bool]:
    """What free text matches (module docstring). A network reference matches only the
    reference; a national ID only customers' IDs; other text the customer's name and the
    description (and a reference prefix when it starts like one) — personal data only
    where the principal sees it."""
    cases = table_of(Case)
    customers = table_of(Customer)
    raw = text.strip().upper()
    reference = references.normalise(raw)
    prefix = raw if _REFERENCE_PREFIX.match(raw) else None
    if reference is not None or prefix is not None:
        options: list[sa.ColumnElement[bool]] = []
        if reference is not None:
            options.append(cases.c.reference == reference)
        if prefix is not None and (reference is None or len(raw) < len(reference)):
            # a whole pattern (not ``param || '%'``) so PostgreSQL can range-scan it
            options.append(cases.c.reference.like(f"{like_escape(prefix)}%", escape="\\"))
        return sa.or_(*options)
    visible = customer_scopes.pii_visible_to(principal)
    if customer_scopes.is_constant(visible) is False:
        return sa.false()  # personal data is masked: it is not searchable either
    if national_ids.looks_like_national_id(text):
        compact = "".join(ch for ch in text if ch.isalnum()).upper()
        number = customers.c.national_id.like(f"{like_escape(compact)}%", escape="\\")
        return _customers_matching(sa.and_(number, visible), dialect)
    words = [w for w in fold(text).split(" ") if w][:_MAX_WORDS]
    if not words:
        return sa.false()
    named = sa.and_(
        *(customers.c.sort_name.like(f"%{like_escape(w)}%", escape="\\") for w in words)
    )
    described = cases.c.description_folded.like(f"%{like_escape(fold(text))}%", escape="\\")
    return sa.or_(
        _customers_matching(sa.and_(named, visible), dialect),
        sa.and_(described, scopes.pii_visible(principal)),
    )


def filter_conditions(
    f: CaseFilter, *, principal: Principal, dialect: str
) -> list[sa.ColumnElement[bool]]:
    """The filter as conditions on ``cases`` (``f`` already validated; ``dialect`` of the
    session that will run them; free text as ``principal`` may search it)."""
    cases = table_of(Case)
    out: list[sa.ColumnElement[bool]] = []
    if f.statuses is not None:
        out.append(cases.c.status.in_(list(f.statuses)))
    if f.typologies is not None:
        out.append(cases.c.typology_code.in_(list(f.typologies)))
    if f.originating_partner_ids is not None:
        out.append(cases.c.originating_partner_id.in_(list(f.originating_partner_ids)))
    if f.handling_partner_ids is not None:
        out.append(cases.c.handling_partner_id.in_(list(f.handling_partner_ids)))
    if f.priorities is not None:
        out.append(cases.c.priority.in_(list(f.priorities)))
    if f.sla_states is not None:
        out.append(cases.c.sla_state.in_(list(f.sla_states)))
    for column, low, high in (
        (cases.c.created_at, f.created_from, f.created_to),
        (cases.c.updated_at, f.updated_from, f.updated_to),
    ):
        if low is not None:
            out.append(column >= low)
        if high is not None:
            out.append(column < high)
    if f.customer_id is not None:
        out.append(cases.c.customer_id == f.customer_id)
    if f.pending_derivation is True:
        out.append(cases.c.pending_derivation_to.is_not(None))
    elif f.pending_derivation is False:
        out.append(cases.c.pending_derivation_to.is_(None))
    if f.text:
        out.append(_text_conditions(f.text, principal=principal, dialect=dialect))
    return out
