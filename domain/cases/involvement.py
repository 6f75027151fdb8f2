"""When a partner is *involved* in a case, and through its cases with a customer.

A partner is involved in a case it opened (``originating_partner_id``), handles
(``handling_partner_id``), is asked to take (``pending_derivation_to``), or has a status
row for (:class:`CasePartnerStatus`: every partner that handled it before, and any partner
the case was pushed to). This is the ECOSYSTEM view of :mod:`domain.cases.scopes` and the
cases' part of the customers' rule (:mod:`domain.customers.scopes`): a partner involved in
any case of a customer is involved with that customer.

Both functions build correlated SQL over fresh aliases, so they can be nested inside any
statement (one that reads ``cases`` itself included) without being correlated to the
wrong row. This module imports only the cases' tables, so the customers' rule can use it.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.cases.models import Case, CasePartnerStatus
from domain.shared.models import table_of
from domain.shared.reads import fresh_alias


def involves(cases: sa.FromClause, partner_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` is involved in the case row of ``cases`` (the table or an
    alias of it)."""
    statuses = fresh_alias(table_of(CasePartnerStatus), "case_id", "partner_id")
    return sa.or_(
        cases.c.originating_partner_id == partner_id,
        cases.c.handling_partner_id == partner_id,
        cases.c.pending_derivation_to == partner_id,
        sa.exists(
            sa.select(sa.literal(1))
            .select_from(statuses)
            .where(statuses.c.case_id == cases.c.id, statuses.c.partner_id == partner_id)
        ),
    )


def customer_involvement(
    partner_id: uuid.UUID, customer_id: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Whether ``partner_id`` is involved in any case of the customer ``customer_id`` (a
    column of the enclosing statement): :func:`involves` for some case of theirs, written
    as two plain correlated EXISTS (the case's own columns; a status row) so that
    PostgreSQL can hash each one once for a whole list instead of probing row by row."""
    cases = fresh_alias(
        table_of(Case),
        "customer_id",
        "originating_partner_id",
        "handling_partner_id",
        "pending_derivation_to",
    )
    by_columns = sa.exists(
        sa.select(sa.literal(1))
        .select_from(cases)
        .where(
            cases.c.customer_id == customer_id,
            sa.or_(
                cases.c.originating_partner_id == partner_id,
                cases.c.handling_partner_id == partner_id,
                cases.c.pending_derivation_to == partner_id,
            ),
        )
    )
    statuses = fresh_alias(table_of(CasePartnerStatus), "case_id", "partner_id")
    of_status = fresh_alias(table_of(Case), "id", "customer_id")
    by_status = sa.exists(
        sa.select(sa.literal(1))
        .select_from(statuses.join(of_status, of_status.c.id == statuses.c.case_id))
        .where(of_status.c.customer_id == customer_id, statuses.c.partner_id == partner_id)
    )
    return sa.or_(by_columns, by_status)
