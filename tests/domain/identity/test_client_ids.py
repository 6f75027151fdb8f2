"""Client ids Trama mints never read as card numbers (the audit trail and every text check
would take such an id for a card and keep only its last four digits)."""

from __future__ import annotations

import secrets as stdlib_secrets

import pytest

from domain.identity import secrets
from domain.shared import pan


def test_a_drawn_client_id_that_reads_as_a_card_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4111111111111111 is a Visa test number; 16 hexadecimal digits can be just that
    draws = iter(["4111111111111111", "4111111111111111", "0a1b2c3d4e5f6a7b"])
    monkeypatch.setattr(stdlib_secrets, "token_hex", lambda n: next(draws))
    assert secrets.new_client_id("BANCO_ANDINO") == "banco_andino-0a1b2c3d4e5f6a7b"


def test_client_ids_are_never_card_numbers() -> None:
    for _ in range(2_000):
        client_id = secrets.new_client_id("AUTOCREDITO")
        assert client_id.startswith("autocredito-") and len(client_id) == len("autocredito-") + 16
        assert not pan.contains_pan(client_id)
