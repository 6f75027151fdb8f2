"""Root fields of case attachments."""

from __future__ import annotations

import strawberry

from resolvers import case_attachments as r
from schema.case_attachments import AttachCaseFilePayload, CaseAttachment


@strawberry.type
class CaseAttachmentQuery:
    case_attachments: list[CaseAttachment] = strawberry.field(
        resolver=r.case_attachments,
        description="The files attached to a case you can see, oldest first (internal ones "
        "only for the involved partners' staff).",
    )


@strawberry.type
class CaseAttachmentMutation:
    attach_case_file: AttachCaseFilePayload = strawberry.mutation(
        resolver=r.attach_case_file,
        description="Attach a file to a case: send a GraphQL multipart request (with an "
        "`Apollo-Require-Preflight: true` header). PDF, PNG, JPEG, TIFF, plain text, CSV, "
        "Word (.docx) or Excel (.xlsx), its type read from its bytes; `version` must be the "
        "case's version you read. The same bytes attached again return the existing file.",
    )
