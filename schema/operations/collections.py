"""Root fields of collection accounts and bank statements."""

from __future__ import annotations

import strawberry

from resolvers import collections as r
from schema.collection_inputs import (
    IngestBankStatementPayload,
    RegisterBankAccountPayload,
    UpdateBankAccountPayload,
)
from schema.collections import (
    BankStatement,
    BankStatementConnection,
    CollectionAccount,
    CollectionAccountConnection,
    StatementLineConnection,
)


@strawberry.type
class CollectionStatementQuery:
    bank_accounts: CollectionAccountConnection = strawberry.field(
        resolver=r.bank_accounts,
        description="Collection accounts you may see (your partner's; all for admins).",
    )
    bank_account: CollectionAccount | None = strawberry.field(
        resolver=r.bank_account, description="A collection account by id; null if not yours."
    )
    bank_statements: BankStatementConnection = strawberry.field(
        resolver=r.bank_statements, description="Statements received, newest first."
    )
    bank_statement: BankStatement | None = strawberry.field(
        resolver=r.bank_statement, description="A statement by id; null if not yours."
    )
    statement_lines: StatementLineConnection = strawberry.field(
        resolver=r.statement_lines,
        description="Statement lines, newest first (in statement order for one statement).",
    )


@strawberry.type
class CollectionStatementMutation:
    register_bank_account: RegisterBankAccountPayload = strawberry.mutation(
        resolver=r.register_bank_account,
        description="Register a lender's collection account (supervisors, partner systems, "
        "admins).",
    )
    update_bank_account: UpdateBankAccountPayload = strawberry.mutation(
        resolver=r.update_bank_account,
        description="Change an account's label, identifiers, CSV mapping or policy.",
    )
    ingest_bank_statement: IngestBankStatementPayload = strawberry.mutation(
        resolver=r.ingest_bank_statement,
        description="Load a statement file (camt.052/053/054, MT940/MT942, CSV or XLSX, or a "
        "zip of them) as a GraphQL multipart upload. CSV/XLSX need `accountId`. The same file "
        "twice, or overlapping statements, book no line twice; a refused file writes nothing.",
    )
