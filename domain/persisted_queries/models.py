"""The registered GraphQL documents of the allow-list, by the SHA-256 clients send."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from domain.shared.models import SQLModel
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime


class PersistedQuery(SQLModel, table=True):
    """A GraphQL document the API accepts in allow-list mode, and serves by its hash in
    every mode (Apollo's persisted queries: the hex SHA-256 of the document's exact text)."""

    __tablename__ = "persisted_queries"

    sha256: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    #: The operations the document defines (names; an anonymous one is "").
    operation_names: list[str] = Field(default_factory=list, sa_type=JSONType)
    #: Where it came from: the file (and manifest entry) it was added from.
    source: str | None = Field(default=None, max_length=300)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    added_by: str = Field(max_length=200)
