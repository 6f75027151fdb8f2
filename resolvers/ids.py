"""Global IDs in, UUIDs out."""

from __future__ import annotations

import uuid

from strawberry import relay

from domain.shared.errors import ValidationFailed
from domain.shared.ids import parse_uuid


def decode_node_id(value: object, type_name: str) -> uuid.UUID | None:
    """The UUID behind a Relay global ID of ``type_name`` (a bare UUID is accepted too)."""
    text = str(value or "").strip()
    if not text or len(text) > 200:
        return None
    direct = parse_uuid(text)
    if direct is not None:
        return direct
    try:
        gid = relay.GlobalID.from_id(text)
    except (ValueError, TypeError, UnicodeError):
        return None
    if gid.type_name != type_name:
        return None
    return parse_uuid(gid.node_id)


def require_node_id(value: object, type_name: str, field: str) -> uuid.UUID:
    decoded = decode_node_id(value, type_name)
    if decoded is None:
        raise ValidationFailed.on(field, f"is not the id of a {type_name}")
    return decoded


def encode_node_id(type_name: str, key: uuid.UUID) -> str:
    return str(relay.GlobalID(type_name, str(key)))
