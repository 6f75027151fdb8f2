from __future__ import annotations

import strawberry

from resolvers import loyalty_migration as r
from schema.loyalty_migration import LoyaltyMigration, LoyaltyMigrationConnection


@strawberry.type
class LoyaltyMigrationQuery:
    loyalty_migration: LoyaltyMigration | None = strawberry.field(
        resolver=r.loyalty_migration,
        description="A legacy CRM migration run by id (`loyalty:manage`, the program's partner "
        "or an administrator); null if it does not exist or is another partner's.",
    )
    loyalty_migrations: LoyaltyMigrationConnection = strawberry.field(
        resolver=r.loyalty_migrations,
        description="Migration runs the caller may see, newest first; `programId` narrows them.",
    )
