"""A statement's integrity: do its figures hold together, and does it follow the last one?

Breaks (integrity ``BROKEN``; with ``refuse_broken`` the whole file is refused):

- ``BALANCE_MISMATCH``: opening balance + booked entries ≠ closing balance;
- ``DECLARED_TOTALS``: the counts or sums the file declares (camt ``TxsSummry``, MT942
  ``:90C:``/``:90D:``) are not those of its entries;
- ``SEQUENCE_GAP`` / ``SEQUENCE_OUT_OF_ORDER``: an end-of-day statement's number
  (``ElctrncSeqNb``, MT940 ``:28C:``) does not follow the account's last one (the next
  number, or the same number for the next page; MT940 numbers wrap after 99999);
- ``BALANCE_CONTINUITY``: its opening balance is not the last statement's closing balance;
- ``RUNNING_BALANCE``: a CSV/XLSX row's balance is not the previous one plus its amount.

Anything else reported (schema deviations, entries left out, a batch kept whole) makes it
``WARNINGS``; a statement without balances to check (camt.054, a CSV without balance
column) is ``UNCHECKED`` unless something else was found.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.collections.formats.base import ParsedStatement, Problem
from domain.collections.models import IntegrityStatus, StatementKind
from domain.shared.money import Money

__all__ = ["BREAKS", "AccountState", "check"]

BREAKS = frozenset(
    {
        "BALANCE_MISMATCH",
        "DECLARED_TOTALS",
        "SEQUENCE_GAP",
        "SEQUENCE_OUT_OF_ORDER",
        "BALANCE_CONTINUITY",
        "RUNNING_BALANCE",
    }
)

_END_OF_DAY = frozenset({StatementKind.CAMT053, StatementKind.MT940})
_MT_WRAP = 99_999


@dataclass(slots=True)
class AccountState:
    """What the account's last end-of-day statement left: updated as statements pass."""

    last_sequence: int | None
    last_page: int | None
    last_closing: int | None


def _money(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def _entries(statement: ParsedStatement) -> tuple[int, int, int, int]:
    """(credit count, credit sum, debit count, debit sum) of the entries as booked: a batch
    split into lines counts once, at its whole amount."""
    credit_n = credit_s = debit_n = debit_s = 0
    for line in statement.lines:
        if line.batch_index not in (None, 1):
            continue
        amount = line.batch_amount if line.batch_index == 1 and line.batch_amount else line.amount
        if amount > 0:
            credit_n += 1
            credit_s += amount
        else:
            debit_n += 1
            debit_s += -amount
    return credit_n, credit_s, debit_n, debit_s


def check(statement: ParsedStatement, state: AccountState) -> tuple[str, list[Problem]]:
    """The statement's integrity status and every problem (the parser's and these)."""
    currency = statement.currency or "CLP"
    found: list[Problem] = []
    where = statement.where
    opening, closing = statement.opening, statement.closing
    checkable = opening is not None and closing is not None
    if checkable:
        assert opening is not None and closing is not None
        expected = opening.amount + statement.entries_sum
        if expected != closing.amount:
            found.append(
                Problem(
                    "BALANCE_MISMATCH",
                    f"opening {_money(opening.amount, currency)} plus the entries "
                    f"{_money(statement.entries_sum, currency)} is {_money(expected, currency)}, "
                    f"not the closing balance {_money(closing.amount, currency)}",
                    where,
                )
            )
    credit_n, credit_s, debit_n, debit_s = _entries(statement)
    left_out = any(p.code == "NOT_BOOKED" for p in statement.problems)
    declared = (
        (
            "credit",
            statement.declared_credit_count,
            credit_n,
            statement.declared_credit_sum,
            credit_s,
        ),
        ("debit", statement.declared_debit_count, debit_n, statement.declared_debit_sum, debit_s),
    )
    for side, count, actual_count, total, actual_total in declared:
        if left_out:
            break
        if count is not None and count != actual_count:
            found.append(
                Problem(
                    "DECLARED_TOTALS",
                    f"the file declares {count} {side} entries and has {actual_count}",
                    where,
                )
            )
        if total is not None and total != actual_total:
            found.append(
                Problem(
                    "DECLARED_TOTALS",
                    f"the file declares {side} entries of {_money(total, currency)} and they "
                    f"add up to {_money(actual_total, currency)}",
                    where,
                )
            )
    if statement.kind in _END_OF_DAY and statement.sequence is not None:
        last = state.last_sequence
        number = statement.sequence
        page = statement.page or 1
        if last is not None:
            follows = number == last + 1 or (
                statement.kind is StatementKind.MT940 and last >= _MT_WRAP and number in (0, 1)
            )
            next_page = number == last and page == (state.last_page or 1) + 1
            if not (follows or next_page):
                code = "SEQUENCE_GAP" if number > last + 1 else "SEQUENCE_OUT_OF_ORDER"
                found.append(
                    Problem(
                        code,
                        f"statement number {number} does not follow the account's last, {last}",
                        where,
                    )
                )
        state.last_sequence = number
        state.last_page = page
    last_closing = state.last_closing
    broken_continuity = (
        statement.kind in _END_OF_DAY
        and opening is not None
        and last_closing is not None
        and opening.amount != last_closing
    )
    if broken_continuity:
        assert opening is not None and last_closing is not None
        found.append(
            Problem(
                "BALANCE_CONTINUITY",
                f"the opening balance {_money(opening.amount, currency)} is not the last "
                f"statement's closing balance {_money(last_closing, currency)}",
                where,
            )
        )
    if statement.kind in _END_OF_DAY and closing is not None:
        state.last_closing = closing.amount
    problems = list(statement.problems) + found
    if any(p.code in BREAKS for p in problems):
        return IntegrityStatus.BROKEN.value, problems
    if problems:
        return IntegrityStatus.WARNINGS.value, problems
    if not checkable:
        return IntegrityStatus.UNCHECKED.value, problems
    return IntegrityStatus.OK.value, problems
