"""What the validation finds: issues with their file, line and column, counted by code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    #: the export cannot be imported as it is: nothing is written until it is fixed
    ERROR = "ERROR"
    #: imported, and shown in the reports (a legacy balance that disagrees with its
    #: movements becomes a discrepancy the after-proof explains)
    WARNING = "WARNING"
    #: for the record (members who are already Trama customers)
    INFO = "INFO"


#: The code of every issue and its severity.
CODES: dict[str, Severity] = {
    # the files and their layout
    "MISSING_FILE": Severity.ERROR,
    "UNREADABLE_FILE": Severity.ERROR,
    "MISSING_COLUMN": Severity.ERROR,
    "MALFORMED_CSV": Severity.ERROR,
    "WRONG_FIELD_COUNT": Severity.ERROR,
    # one field
    "ENCODING": Severity.ERROR,
    "MISSING_VALUE": Severity.ERROR,
    "TOO_LONG": Severity.ERROR,
    "INVALID_DATE": Severity.ERROR,
    "INVALID_TIME": Severity.ERROR,
    "INVALID_NUMBER": Severity.ERROR,
    "UNKNOWN_CODE": Severity.ERROR,
    "INVALID_NATIONAL_ID": Severity.ERROR,
    "INVALID_NAME": Severity.ERROR,
    "CARD_NUMBER": Severity.ERROR,
    "OTHER_CURRENCY": Severity.ERROR,
    "IMPOSSIBLE_MOVEMENT": Severity.ERROR,
    "INVALID_EMAIL": Severity.WARNING,
    "EXPIRY_DIFFERS": Severity.WARNING,
    # across rows and files
    "DUPLICATE_MEMBER": Severity.ERROR,
    "DUPLICATE_ACCOUNT": Severity.ERROR,
    "DUPLICATE_MOVEMENT": Severity.ERROR,
    "DUPLICATE_BALANCE": Severity.ERROR,
    "DUPLICATE_NATIONAL_ID": Severity.ERROR,
    "ORPHAN_ACCOUNT": Severity.ERROR,
    "ORPHAN_MOVEMENT": Severity.ERROR,
    "ORPHAN_BALANCE": Severity.ERROR,
    "UNKNOWN_ACCOUNT": Severity.ERROR,
    "UNKNOWN_ORIGIN": Severity.ERROR,
    "INVALID_REVERSAL": Severity.ERROR,
    "MOVEMENT_AFTER_CUTOFF": Severity.ERROR,
    "MIXED_CUTOFF": Severity.ERROR,
    "MISSING_BALANCE": Severity.ERROR,
    "NEGATIVE_BALANCE": Severity.ERROR,
    "IMPOSSIBLE_BALANCE": Severity.ERROR,
    "BALANCE_MISMATCH": Severity.WARNING,
    "OVERLAPPING_PARAMETER": Severity.ERROR,
    "MISSING_PARAMETER": Severity.WARNING,
    "NO_MEMBERS": Severity.ERROR,
    # against Trama
    "CUSTOMER_MATCH": Severity.INFO,
    "AMBIGUOUS_CUSTOMER": Severity.ERROR,
    "ALREADY_MIGRATED": Severity.ERROR,
    "ALREADY_ENROLLED": Severity.ERROR,
}


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str
    code: str
    kind: str  # members | accounts | movements | balances | parameters | export
    file: str
    line: int | None
    column: str | None
    key: str | None  # the record's key: member number, movement id …
    message: str

    def where(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(self.column)
        return ", ".join(parts)


@dataclass
class IssueLog:
    """Every issue counted; the first ``keep`` of each code kept with their details (a
    broken file can have millions of the same)."""

    keep: int = 1000
    items: list[Issue] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        code: str,
        *,
        kind: str,
        file: str,
        line: int | None,
        column: str | None,
        key: str | None,
        message: str,
    ) -> None:
        self.counts[code] += 1
        if self.counts[code] <= self.keep:
            severity = CODES[code].value
            self.items.append(Issue(severity, code, kind, file, line, column, key, message[:500]))

    def severity_count(self, severity: Severity) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code] is severity)

    @property
    def errors(self) -> int:
        return self.severity_count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.severity_count(Severity.WARNING)

    def sorted_items(self) -> list[Issue]:
        order = {Severity.ERROR.value: 0, Severity.WARNING.value: 1, Severity.INFO.value: 2}
        return sorted(
            self.items,
            key=lambda i: (order[i.severity], i.kind, i.line or 0, i.code, i.column or ""),
        )
