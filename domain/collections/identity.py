"""A statement line's identity: what makes ingestion idempotent.

``statement_lines`` has one row per (account, identity key); a line whose key is already
there is not stored again, whichever file, format or channel brings it. The key is:

``ref:<reference>[#<detail>][:R]``
    when the bank gives the movement a reference of its own: the camt ``AcctSvcrRef`` (of
    the transaction, else of the entry), the MT940 reference of the account servicing
    institution (after ``//``), a CSV bank-reference column. A transaction split from a
    batch entry without its own reference is ``ref:<entry ref>#<EndToEndId, TxId or its
    index>``. A reversal adds ``:R``: some banks reuse the original's reference for its
    reversal, which must not make it a repeat. A reference that stands for two different
    movements inside one statement is not trusted: those lines use the hash.

``h:<32 hex>``
    otherwise: SHA-256 of the account, booking date, signed amount, currency, the
    normalised reference (end-to-end id, customer reference or remittance text, spaces
    collapsed, upper case) and the occurrence number of that same tuple in the statement.
    Two identical payments on the same day in one statement are two lines; the same payment
    notified by a camt.054 (or an MT942) and then booked by the camt.053 (or the MT940) is
    one. Two identical movements in two interim reports of the same day, without any bank
    reference, are taken for one (no file tells them apart); the end-of-day statement that
    has both brings the second.

A reference already known for the account on another movement (another booking date or
amount: a bank that numbers its movements afresh every day or every export) is not an
identity either: ingestion asks again with it ``distrusted`` and the line gets the hash.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Sequence, Set

from domain.collections.formats.base import ParsedLine

__all__ = ["identity_keys"]

_SPACES = re.compile(r"\s+")


def _norm(text: str | None) -> str:
    return _SPACES.sub(" ", text or "").strip().upper()


def _ref_key(line: ParsedLine) -> str | None:
    if line.batch_key is not None and line.batch_size and line.batch_size > 1:
        if line.bank_reference:
            base = line.bank_reference
            detail = None
        else:
            base = line.batch_key
            detail = line.end_to_end_id or line.transaction_id or str(line.batch_index or 0)
        if not base:
            return None
        key = f"ref:{base}" + (f"#{detail}" if detail else "")
    elif line.bank_reference:
        key = f"ref:{line.bank_reference}"
    else:
        return None
    if line.is_reversal:
        key += ":R"
    return key[:120]


def _fingerprint(line: ParsedLine) -> tuple[str, int, str, str]:
    reference = _norm(line.end_to_end_id or line.customer_reference or line.remittance_info)
    return (line.booking_date.isoformat(), line.amount, line.currency, reference)


def identity_keys(
    account_id: uuid.UUID, lines: Sequence[ParsedLine], *, distrusted: Set[str] = frozenset()
) -> list[str]:
    """One key per line, in order (see the module's rules). ``distrusted``: reference keys
    known for other movements, which take the hash instead."""
    refs = [_ref_key(line) for line in lines]
    # A reference that names two different movements in one statement is not an identity.
    seen: dict[str, tuple[str, int, str, str]] = {}
    untrusted: set[str] = set(distrusted)
    for ref, line in zip(refs, lines, strict=True):
        if ref is None:
            continue
        print_ = _fingerprint(line)
        if ref in seen and seen[ref] != print_:
            untrusted.add(ref)
        elif ref in seen:
            untrusted.add(ref)  # the same reference twice: two movements or a repeat, unknown
        seen.setdefault(ref, print_)
    occurrences: Counter[tuple[str, int, str, str]] = Counter()
    keys: list[str] = []
    for ref, line in zip(refs, lines, strict=True):
        if ref is not None and ref not in untrusted:
            keys.append(ref)
            continue
        fingerprint = _fingerprint(line)
        occurrences[fingerprint] += 1
        material = "|".join(
            (
                str(account_id),
                *map(str, fingerprint),
                str(occurrences[fingerprint]),
                "R" if line.is_reversal else "",
            )
        )
        keys.append("h:" + hashlib.sha256(material.encode()).hexdigest()[:32])
    return keys
