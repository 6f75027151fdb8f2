from __future__ import annotations

import strawberry

from resolvers import audit as audit_r
from resolvers import identity as r
from schema.audit import AuditRecordConnection
from schema.identity import CreateOAuthClientPayload, SetOAuthClientActivePayload, Viewer


@strawberry.type
class IdentityQuery:
    viewer: Viewer = strawberry.field(resolver=r.viewer, description="Who am I?")
    audit_trail: AuditRecordConnection = strawberry.field(
        resolver=audit_r.audit_trail,
        description="The audit records about one entity, oldest first (administrators).",
    )


@strawberry.type
class IdentityMutation:
    create_oauth_client: CreateOAuthClientPayload = strawberry.mutation(
        name="createOAuthClient",
        resolver=r.create_oauth_client,
        description="Register a partner system; the secret is returned once.",
    )
    set_oauth_client_active: SetOAuthClientActivePayload = strawberry.mutation(
        name="setOAuthClientActive", resolver=r.set_oauth_client_active
    )
