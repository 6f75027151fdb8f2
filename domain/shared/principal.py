"""Who is acting: built from a validated token by the app, read by every service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    NETWORK_VIEWER = "network_viewer"
    PARTNER_SYSTEM = "partner_system"
    INVESTOR = "investor"
    ADMIN = "admin"
    #: A person acting for themselves (``customer_id`` names them): their own credits and
    #: cases only.
    CUSTOMER = "customer"
    #: A lender's sales advisor (CRM, issue 12): leads, opportunities, tasks of their lender.
    ADVISOR = "advisor"
    #: Inspects vehicles for credit applications (origination, issue 11).
    INSPECTOR = "inspector"
    #: A dealer's staff (marketplace, issue 11): their partner's vehicles and the applications
    #: for them, without the applicants' financial data.
    DEALER = "dealer"


class Scope(StrEnum):
    #: Every customer's personal data in clear, network-wide: administrators only. Partners
    #: see their own customers' in clear by the customers' rule
    #: (``domain.customers.scopes``), not by a scope.
    PII_READ = "pii:read"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    PARTNERS_READ = "partners:read"
    AUDIT_READ = "audit:read"
    CLIENTS_MANAGE = "clients:manage"
    INVESTORS_READ = "investors:read"
    INVESTORS_WRITE = "investors:write"
    CREDITS_READ = "credits:read"
    CREDITS_WRITE = "credits:write"
    PAYMENTS_WRITE = "payments:write"
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    CASES_RESOLVE_BULK = "cases:resolve_bulk"
    CASES_ADMIN = "cases:admin"
    #: Collections (issue 10): bank accounts, statements, lines, queues, collection work.
    COLLECTIONS_READ = "collections:read"
    COLLECTIONS_WRITE = "collections:write"
    #: Loyalty (issue 13): read programs and accounts; move points (purchases, redeem,
    #: transfer); manage programs, rule sets, rewards, manual adjustments, migrations.
    LOYALTY_READ = "loyalty:read"
    LOYALTY_WRITE = "loyalty:write"
    LOYALTY_MANAGE = "loyalty:manage"
    #: Marketplace (issue 11): dealers' inventory feeds, reservations. Reading the catalogue
    #: needs no scope (it is public).
    VEHICLES_WRITE = "vehicles:write"
    #: Origination (issue 11): credit applications; the scorecard's details (lender staff);
    #: fitting and activating scorecards; recording inspections.
    APPLICATIONS_READ = "applications:read"
    APPLICATIONS_WRITE = "applications:write"
    SCORING_READ = "scoring:read"
    SCORING_MANAGE = "scoring:manage"
    INSPECTIONS_WRITE = "inspections:write"
    #: CRM (issue 12): leads, opportunities, tasks, appointments, conversations.
    CRM_READ = "crm:read"
    CRM_WRITE = "crm:write"
    #: The assistant (Ana, issue 12): logs conversations, asks a verified caller's status.
    ASSISTANT = "assistant"


#: The scopes each role may hold. A token's ``scp`` is narrowed to these; a token without
#: ``scp`` (an application token) gets all of them.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.AGENT: frozenset(
        {
            Scope.CUSTOMERS_READ,
            Scope.CUSTOMERS_WRITE,
            Scope.PARTNERS_READ,
            Scope.CREDITS_READ,
            Scope.CREDITS_WRITE,
            Scope.PAYMENTS_WRITE,
            Scope.CASES_READ,
            Scope.CASES_WRITE,
            Scope.COLLECTIONS_READ,
            Scope.COLLECTIONS_WRITE,
            Scope.LOYALTY_READ,
            Scope.LOYALTY_WRITE,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
            Scope.SCORING_READ,
            Scope.CRM_READ,
            Scope.CRM_WRITE,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Scope.CUSTOMERS_READ,
            Scope.CUSTOMERS_WRITE,
            Scope.PARTNERS_READ,
            Scope.INVESTORS_READ,
            Scope.INVESTORS_WRITE,
            Scope.CREDITS_READ,
            Scope.CREDITS_WRITE,
            Scope.PAYMENTS_WRITE,
            Scope.CASES_READ,
            Scope.CASES_WRITE,
            Scope.CASES_RESOLVE_BULK,
            Scope.COLLECTIONS_READ,
            Scope.COLLECTIONS_WRITE,
            Scope.LOYALTY_READ,
            Scope.LOYALTY_WRITE,
            Scope.LOYALTY_MANAGE,
            Scope.VEHICLES_WRITE,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
            Scope.SCORING_READ,
            Scope.SCORING_MANAGE,
            Scope.INSPECTIONS_WRITE,
            Scope.CRM_READ,
            Scope.CRM_WRITE,
        }
    ),
    Role.NETWORK_VIEWER: frozenset({Scope.CUSTOMERS_READ, Scope.PARTNERS_READ, Scope.CASES_READ}),
    Role.PARTNER_SYSTEM: frozenset(
        {
            Scope.CUSTOMERS_READ,
            Scope.CUSTOMERS_WRITE,
            Scope.PARTNERS_READ,
            Scope.CREDITS_READ,
            Scope.PAYMENTS_WRITE,
            Scope.CASES_READ,
            Scope.CASES_WRITE,
            Scope.COLLECTIONS_READ,
            Scope.COLLECTIONS_WRITE,
            Scope.LOYALTY_READ,
            Scope.LOYALTY_WRITE,
            Scope.VEHICLES_WRITE,
            Scope.APPLICATIONS_READ,
            Scope.CRM_WRITE,
            Scope.ASSISTANT,
        }
    ),
    Role.INVESTOR: frozenset({Scope.PARTNERS_READ}),
    Role.ADMIN: frozenset(set(Scope)),
    # What a customer may read is narrowed further by each domain's scope (their own rows).
    Role.CUSTOMER: frozenset(
        {
            Scope.CREDITS_READ,
            Scope.CASES_READ,
            Scope.LOYALTY_READ,
            Scope.LOYALTY_WRITE,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
        }
    ),
    Role.ADVISOR: frozenset(
        {
            Scope.CUSTOMERS_READ,
            Scope.CUSTOMERS_WRITE,
            Scope.PARTNERS_READ,
            Scope.CREDITS_READ,
            Scope.CASES_READ,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
            Scope.CRM_READ,
            Scope.CRM_WRITE,
        }
    ),
    Role.INSPECTOR: frozenset(
        {Scope.PARTNERS_READ, Scope.APPLICATIONS_READ, Scope.INSPECTIONS_WRITE}
    ),
    Role.DEALER: frozenset({Scope.PARTNERS_READ, Scope.VEHICLES_WRITE, Scope.APPLICATIONS_READ}),
}

#: Roles that only make sense on behalf of one partner.
PARTNER_ROLES = frozenset(
    {
        Role.AGENT,
        Role.SUPERVISOR,
        Role.PARTNER_SYSTEM,
        Role.ADVISOR,
        Role.INSPECTOR,
        Role.DEALER,
    }
)


def parse_roles(values: object) -> frozenset[Role]:
    """Known roles among ``values``; unknown role names are ignored, never trusted."""
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, list | tuple | set | frozenset):
        return frozenset()
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in values if isinstance(v, str) and v in known)


def allowed_scopes(roles: frozenset[Role]) -> frozenset[Scope]:
    out: set[Scope] = set()
    for role in roles:
        out |= ROLE_SCOPES[role]
    return frozenset(out)


def effective_scopes(roles: frozenset[Role], requested: object) -> frozenset[Scope]:
    """Scopes a principal holds: what it asked for (``scp``), within what its roles allow."""
    allowed = allowed_scopes(roles)
    if requested is None:
        return allowed
    names = requested.split() if isinstance(requested, str) else requested
    if not isinstance(names, list | tuple | set | frozenset):
        return frozenset()
    known = {s.value for s in Scope}
    asked = {Scope(n) for n in names if isinstance(n, str) and n in known}
    return frozenset(asked & allowed)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role] = frozenset()
    scopes: frozenset[Scope] = frozenset()
    partner_id: uuid.UUID | None = None
    partner_code: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    kind: str = "user"  # "user" | "client" | "system"
    display_name: str | None = None
    #: The customer a CUSTOMER principal is (from the token's ``customer_id`` claim).
    customer_id: uuid.UUID | None = None
    claims: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def has_role(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    def has_scope(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def can_read_pii(self) -> bool:
        return Scope.PII_READ in self.scopes


#: The actor for work Trama does on its own (seeding, scheduled jobs, CLI maintenance).
SYSTEM = Principal(
    subject="system:trama",
    roles=frozenset({Role.ADMIN}),
    scopes=frozenset(set(Scope)),
    kind="system",
    display_name="Trama",
)
