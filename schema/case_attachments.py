"""Files attached to cases: the type, its visibility, the upload payload."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from domain.cases.attachments import AttachmentView
from domain.cases.models import Visibility
from schema.cases import CaseVisibility
from schema.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from schema.partners import Partner


@strawberry.type(
    name="CaseAttachment",
    description=(
        "A file attached to a case. Its type was read from its bytes, not taken from the "
        "client. `downloadUrl` is a link valid for a few minutes, for you only: fetch it "
        "with your Bearer token."
    ),
)
class CaseAttachment(relay.Node):
    id: relay.NodeID[str]
    case_id: strawberry.ID = strawberry.field(description="The case's global id.")
    file_name: str = strawberry.field(
        description="The name as cleaned on upload; masked where the case's personal data "
        "is masked for you."
    )
    content_type: str = strawberry.field(description="Detected from the bytes.")
    size_bytes: int
    sha256: str = strawberry.field(description="SHA-256 of the bytes, hexadecimal.")
    visibility: CaseVisibility
    uploaded_by: str = strawberry.field(
        description="Who uploaded it; masked where the case's personal data is masked for you."
    )
    uploaded_at: datetime
    pii_masked: bool = strawberry.field(
        description="True when the name is masked and downloading is not allowed: the case's "
        "personal data is masked for you."
    )
    download_url: str | None = strawberry.field(
        description="A signed link valid for a few minutes, bound to you; null when masked."
    )
    uploaded_by_partner_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The partner the uploader acted for.")
    async def uploaded_by_partner(self, info: Info) -> Partner | None:
        if self.uploaded_by_partner_id is None:
            return None
        model = await info.context.loaders.partner.load(self.uploaded_by_partner_id)
        return Partner.from_model(model) if model else None

    @classmethod
    def from_view(
        cls, view: AttachmentView, *, case_id: str, download_url: str | None
    ) -> CaseAttachment:
        return cls(
            id=str(view.id),
            case_id=strawberry.ID(case_id),
            file_name=view.file_name,
            content_type=view.content_type,
            size_bytes=view.size_bytes,
            sha256=view.sha256,
            visibility=Visibility(view.visibility),
            uploaded_by=view.uploaded_by,
            uploaded_at=view.uploaded_at,
            pii_masked=not view.downloadable,
            download_url=download_url,
            uploaded_by_partner_id=view.uploaded_by_partner_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CaseAttachment | None]:
        from resolvers.case_attachments import attachment_nodes

        return await attachment_nodes(info, list(node_ids))


@strawberry.type
class AttachCaseFileSuccess:
    attachment: CaseAttachment
    case_id: strawberry.ID
    case_version: int = strawberry.field(
        description="The case's version now (unchanged when `created` is false)."
    )
    created: bool = strawberry.field(
        description="False when these very bytes were already attached to the case: the "
        "existing attachment is returned and nothing changed."
    )


AttachCaseFilePayload = Annotated[
    AttachCaseFileSuccess | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union("AttachCaseFilePayload"),
]
