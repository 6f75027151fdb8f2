"""Demo collections work for ``trama seed``: the lenders' agents and supervisors enrolled
as collectors (so the daily run, which the embedded scheduler starts within the hour, has
someone to give the overdue accounts to). The network's default strategy applies until a
supervisor sets one. Idempotent: enrolling a collector again changes nothing."""

from __future__ import annotations

from app.db import transaction
from domain.collections import collectors
from domain.partners.models import Partner
from domain.shared.principal import SYSTEM

#: The demo lenders whose staff work their accounts.
LENDERS = ("AUTOCREDITO", "BANCO_PAMPA")


async def seed_collections(partners_by_code: dict[str, Partner]) -> int:
    """Enroll the demo lenders' agents and supervisors; how many collectors there are."""
    enrolled = 0
    for code in LENDERS:
        partner = partners_by_code.get(code)
        if partner is None:
            continue
        slug = code.lower().replace("_", "")
        async with transaction() as session:
            for role in ("agent", "supervisor"):
                await collectors.enroll_collector(
                    session, principal=SYSTEM, lender_id=partner.id, subject=f"{role}@{slug}"
                )
                enrolled += 1
    return enrolled
