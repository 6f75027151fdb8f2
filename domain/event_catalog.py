"""Every outbox topic Trama writes, with its payload's schema (one place to look them up).

Each domain describes its own topics in its ``events.py``; a topic written anywhere must be
described here (the suite checks every event it produces against this catalog), and the
AsyncAPI document partners read (``GET /asyncapi.json``) is built from it.
"""

from __future__ import annotations

from domain.cases import events as cases
from domain.collections import events as collections
from domain.collections import matching_events as collections_matching
from domain.collections import work_events as collections_work
from domain.credits import events as credits
from domain.crm import appointments_events as crm_appointments
from domain.crm import assistant_events as crm_assistant
from domain.crm import events as crm
from domain.customers import events as customers
from domain.investors import events as investors
from domain.loyalty import events as loyalty
from domain.loyalty_migration import events as loyalty_migration
from domain.marketplace import events as marketplace
from domain.origination import contracts_events as origination_contracts
from domain.origination import events as origination
from domain.scoring import events as scoring
from domain.shared.event_schemas import COMPONENTS, EventSpec, Schema, catalog
from domain.webhooks import events as webhooks

__all__ = ["COMPONENTS", "TOPICS", "spec_for"]

#: Topic → its spec, sorted by topic.
TOPICS: dict[str, EventSpec] = catalog(
    customers.EVENTS,
    cases.EVENTS,
    credits.EVENTS,
    investors.EVENTS,
    loyalty.EVENTS,
    loyalty_migration.EVENTS,
    collections.EVENTS,
    collections_matching.EVENTS,
    collections_work.EVENTS,
    marketplace.EVENTS,
    origination.EVENTS,
    origination_contracts.EVENTS,
    scoring.EVENTS,
    webhooks.EVENTS,
    crm.EVENTS,
    crm_appointments.EVENTS,
    crm_assistant.EVENTS,
)


def spec_for(topic: str) -> EventSpec | None:
    return TOPICS.get(topic)


def payload_schema(topic: str) -> Schema:
    return TOPICS[topic].payload
