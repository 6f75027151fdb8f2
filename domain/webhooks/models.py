"""The webhook inbox's table: one row per delivery an outside system sent us, kept raw.

A delivery is stored exactly as it came (the body's bytes and the headers worth keeping)
before anything reads it, so a processor that fails or changes can be run again over the
very same input. ``dedup_key`` is what the sender makes unique (an event id, or for senders
that give none, e.g. Cal.com, a key built from the event and the body's hash); it is unique
per ``source``, so a replayed or re-sent delivery finds the stored row and is not stored or
processed twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.shared.ids import uuid7
from domain.shared.time import utcnow
from domain.shared.types import JSONType, UTCDateTime, UUIDType

MAX_SOURCE_LENGTH = 40
MAX_DEDUP_KEY_LENGTH = 300


class WebhookStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    #: Stored and acknowledged, nothing to do (an event type Trama does not act on, or one
    #: that a newer event of the same record already superseded).
    IGNORED = "ignored"


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("source", "dedup_key"),
        sa.Index("ix_webhook_deliveries_status_received_at", "status", "received_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, sa_type=UUIDType, primary_key=True)
    source: str = Field(max_length=MAX_SOURCE_LENGTH)
    dedup_key: str = Field(max_length=MAX_DEDUP_KEY_LENGTH)
    body: bytes = Field(sa_type=sa.LargeBinary)
    #: The headers worth keeping (signature, event name, content type), lower-case names.
    headers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=WebhookStatus.RECEIVED.value, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: What the processor made of it (e.g. "appointment created", "superseded").
    outcome: str | None = Field(default=None, max_length=200)
