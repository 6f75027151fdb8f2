"""Who may read and manage scorecards and decisions (as SQL conditions and checks).

Scorecards and the details of decisions (every attribute's value, bin and points, PD) are
for the lender's staff holding ``scoring:read`` (``scoring:manage`` to create, activate and
retire versions), and for administrators across lenders. A customer sees only the reason
codes of their own applications' decisions (:func:`customer_reasons_visible`).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col

from domain.scoring.models import Scorecard, ScoringDecision
from domain.shared.errors import Forbidden
from domain.shared.principal import Principal, Role, Scope


def ensure_can_read(principal: Principal) -> None:
    if not principal.has_scope(Scope.SCORING_READ) or (
        principal.partner_id is None and not principal.is_admin
    ):
        raise Forbidden("you cannot read scoring")


def ensure_can_manage(principal: Principal, lender_id: uuid.UUID) -> None:
    if not principal.has_scope(Scope.SCORING_MANAGE):
        raise Forbidden("you cannot manage scorecards")
    if not principal.is_admin and principal.partner_id != lender_id:
        raise Forbidden("you manage the scorecards of your own lender only")


def scorecards_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_admin:
        return sa.true()
    if not principal.has_scope(Scope.SCORING_READ) or principal.partner_id is None:
        return sa.false()
    return col(Scorecard.lender_id) == principal.partner_id


def decisions_visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """Decisions in full (staff of the lender, administrators)."""
    if principal.is_admin:
        return sa.true()
    if not principal.has_scope(Scope.SCORING_READ) or principal.partner_id is None:
        return sa.false()
    return col(ScoringDecision.lender_id) == principal.partner_id


def customer_reasons_visible(principal: Principal, customer_id: uuid.UUID) -> bool:
    """A customer reads the reason codes (and their words) of their own decisions."""
    return principal.has_role(Role.CUSTOMER) and principal.customer_id == customer_id
