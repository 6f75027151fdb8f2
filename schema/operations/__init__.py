"""Root operation types, merged from each domain's fields."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.tools import merge_types

from resolvers import node as node_resolvers
from schema.operations.case_attachments import CaseAttachmentMutation, CaseAttachmentQuery
from schema.operations.case_sync import CaseSyncMutation, CaseSyncQuery
from schema.operations.cases import CaseMutation, CaseQuery, CaseSubscription
from schema.operations.collections import CollectionStatementMutation, CollectionStatementQuery
from schema.operations.collections_matching import ReconciliationMutation, ReconciliationQuery
from schema.operations.collections_work import CollectionsWorkMutation, CollectionsWorkQuery
from schema.operations.contracts import ContractQuery
from schema.operations.credits import (
    PUBLIC_CREDIT_FIELDS,
    CreditMutation,
    CreditQuery,
    CreditRegistryQuery,
)
from schema.operations.crm import PUBLIC_CRM_FIELDS, CrmMutation, CrmQuery
from schema.operations.crm_assistant import AssistantMutation
from schema.operations.customers import CustomerMutation, CustomerQuery
from schema.operations.events import EventMutation, EventQuery
from schema.operations.events import Subscription as EventSubscription
from schema.operations.financial_reports import FinancialReportMutation, FinancialReportQuery
from schema.operations.identity import IdentityMutation, IdentityQuery
from schema.operations.investors import InvestorMutation, InvestorQuery
from schema.operations.loyalty import LoyaltyMutation, LoyaltyQuery
from schema.operations.loyalty_migration import LoyaltyMigrationQuery
from schema.operations.marketplace import (
    PUBLIC_MARKETPLACE_FIELDS,
    MarketplaceMutation,
    MarketplaceQuery,
)
from schema.operations.origination import (
    PUBLIC_ORIGINATION_FIELDS,
    OriginationMutation,
    OriginationQuery,
)
from schema.operations.partners import PartnerQuery
from schema.operations.scoring import ScoringMutation, ScoringQuery


@strawberry.type
class NodeQuery:
    node: relay.Node | None = strawberry.field(
        resolver=node_resolvers.node, description="Any object by its global id."
    )
    nodes: list[relay.Node | None] = strawberry.field(
        resolver=node_resolvers.nodes, description="Objects by their global ids."
    )


Query = merge_types(
    "Query",
    (
        NodeQuery,
        IdentityQuery,
        PartnerQuery,
        CustomerQuery,
        EventQuery,
        CreditQuery,
        CreditRegistryQuery,
        InvestorQuery,
        CaseQuery,
        CaseAttachmentQuery,
        CaseSyncQuery,
        CollectionStatementQuery,
        ReconciliationQuery,
        CollectionsWorkQuery,
        FinancialReportQuery,
        LoyaltyQuery,
        LoyaltyMigrationQuery,
        MarketplaceQuery,
        CrmQuery,
        OriginationQuery,
        ScoringQuery,
        ContractQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        IdentityMutation,
        CustomerMutation,
        EventMutation,
        CreditMutation,
        InvestorMutation,
        CaseMutation,
        CaseAttachmentMutation,
        CaseSyncMutation,
        CollectionStatementMutation,
        ReconciliationMutation,
        CollectionsWorkMutation,
        FinancialReportMutation,
        LoyaltyMutation,
        MarketplaceMutation,
        CrmMutation,
        OriginationMutation,
        ScoringMutation,
        AssistantMutation,
    ),
)
Subscription = merge_types("Subscription", (EventSubscription, CaseSubscription))

#: Root fields an anonymous caller may select.
PUBLIC_ROOT_FIELDS = (
    frozenset({"__typename", "__schema", "__type"})
    | PUBLIC_CREDIT_FIELDS
    | PUBLIC_MARKETPLACE_FIELDS
    | PUBLIC_CRM_FIELDS
    | PUBLIC_ORIGINATION_FIELDS
)

__all__ = ["PUBLIC_ROOT_FIELDS", "Mutation", "Query", "Subscription"]
