"""Imports every table so the shared metadata is complete (Alembic, tests)."""

from __future__ import annotations

from domain.cases import models as cases_models
from domain.collections import matching_models as collections_matching_models
from domain.collections import models as collections_models
from domain.collections import work_models as collections_work_models
from domain.credits import models as credits_models
from domain.crm import appointments_models as crm_appointments_models
from domain.crm import assistant_models as crm_assistant_models
from domain.crm import models as crm_models
from domain.customers import models as customers_models
from domain.identity import models as identity_models
from domain.investors import models as investors_models
from domain.loyalty import models as loyalty_models
from domain.loyalty_migration import models as loyalty_migration_models
from domain.marketplace import models as marketplace_models
from domain.origination import contracts_models as origination_contracts_models
from domain.origination import models as origination_models
from domain.partners import models as partners_models
from domain.persisted_queries import models as persisted_queries_models
from domain.scoring import models as scoring_models
from domain.shared import audit, jobs, outbox
from domain.shared.models import metadata
from domain.webhooks import models as webhooks_models

__all__ = [
    "audit",
    "cases_models",
    "collections_matching_models",
    "collections_models",
    "collections_work_models",
    "credits_models",
    "crm_appointments_models",
    "crm_assistant_models",
    "crm_models",
    "customers_models",
    "identity_models",
    "investors_models",
    "jobs",
    "loyalty_migration_models",
    "loyalty_models",
    "marketplace_models",
    "metadata",
    "origination_contracts_models",
    "origination_models",
    "outbox",
    "partners_models",
    "persisted_queries_models",
    "scoring_models",
    "webhooks_models",
]
