"""What a principal may see of an investor: personal data (national ID, e-mail, bank
account) in clear for ``pii:read`` (administrators), the staff who register and pay
investors (``investors:write``), and the investor themselves; masked for anyone else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.investors.access import sees_personal_data
from domain.investors.models import Investor
from domain.investors.rules import mask_account
from domain.shared import national_ids
from domain.shared.principal import Principal

MASK = "•••"


@dataclass(frozen=True, slots=True)
class BankAccountView:
    bank_code: str
    account_type: str
    number: str  # masked to the last four digits unless sees_personal_data


@dataclass(frozen=True, slots=True)
class InvestorView:
    id: uuid.UUID
    kind: str
    legal_name: str
    national_id_type: str
    national_id: str
    country: str
    email: str | None
    bank_account: BankAccountView
    kyc_status: str
    kyc_note: str | None
    kyc_updated_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    pii_masked: bool


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[:1]}{MASK}@{MASK}.{tld}" if tld else f"{local[:1]}{MASK}@{MASK}"


# --- one rule per field: every read path shows a field through these ---------------------
def shown_national_id(id_type: str, number: str, clear: bool) -> str:
    kind = national_ids.NationalIdType(id_type)
    return national_ids.display(kind, number) if clear else national_ids.mask(kind, number)


def shown_email(value: str | None, clear: bool) -> str | None:
    return (value if clear else _mask_email(value)) if value else None


def shown_account(number: str, clear: bool) -> str:
    return number if clear else mask_account(number)


def present(investor: Investor, principal: Principal) -> InvestorView:
    clear = sees_personal_data(principal, investor.id)
    return InvestorView(
        id=investor.id,
        kind=investor.kind,
        legal_name=investor.legal_name,
        national_id_type=investor.national_id_type,
        national_id=shown_national_id(investor.national_id_type, investor.national_id, clear),
        country=investor.country,
        email=shown_email(investor.email, clear),
        bank_account=BankAccountView(
            bank_code=investor.bank_code,
            account_type=investor.bank_account_type,
            number=shown_account(investor.bank_account_number, clear),
        ),
        kyc_status=investor.kyc_status,
        kyc_note=investor.kyc_note,
        kyc_updated_at=investor.kyc_updated_at,
        created_at=investor.created_at,
        updated_at=investor.updated_at,
        version=investor.version,
        pii_masked=not clear,
    )
