"""Before the migration: read the whole export and report everything wrong with it, writing
nothing.

Each file is streamed record by record (constant memory) and every field is checked as it is
converted (types, formats, codes, encodings, national IDs' check digits, card numbers in free
text, what each kind of movement may be); the typed rows go into temporary tables
(:mod:`domain.loyalty_migration.staging`) where the checks across rows and files run as SQL:
duplicates, orphans, accounts of another member, reversals of nothing, balances that are
negative, impossible or disagree with their movements, members who are already Trama
customers (by every number of the same person) or already migrated. Every issue names the
file, the line the record starts on and the legacy column.

The temporary tables stay on the connection for the import that follows (it reads its
batches from them); ``staging.drop`` removes them.
"""

# SQL texts here are built from this module's own table and column names only; every value
# goes through a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.customers import rules as customer_rules
from domain.customers.models import Customer
from domain.loyalty.models import LoyaltyAccount
from domain.loyalty_migration import staging
from domain.loyalty_migration.identity import identities, person_key
from domain.loyalty_migration.issues import IssueLog
from domain.loyalty_migration.mapping import (
    FIELDS,
    FieldType,
    FileFormat,
    Kind,
    Mapping,
    MovementKind,
    ParameterKind,
)
from domain.loyalty_migration.models import LegacyMember
from domain.loyalty_migration.reader import (
    FieldError,
    RawRecord,
    file_digest,
    may_hold_card_number,
    read_records,
    resolve_columns,
    text_problem,
)
from domain.shared import national_ids, pan
from domain.shared.errors import Problems
from domain.shared.models import table_of
from domain.shared.types import UUIDType

#: Free-text fields searched for card numbers.
_FREE_TEXT = frozenset(
    {"family_names", "given_names", "email", "address", "merchant", "reason", "operator",
     "description"}
)  # fmt: skip


@dataclass
class ExportFile:
    kind: Kind
    name: str
    path: Path
    sha256: str
    bytes: int
    records: int = 0

    def manifest(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "records": self.records,
        }


@dataclass
class Validation:
    """What the validation found and the export's figures."""

    folder: Path
    mapping: Mapping
    files: dict[Kind, ExportFile] = field(default_factory=dict)
    log: IssueLog = field(default_factory=IssueLog)
    cutoff: date | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: Sum of every movement's points, and of every balance (the legacy's own totals).
    movement_points: int = 0
    balance_points: int = 0
    parameters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.log.errors == 0

    @property
    def export_hash(self) -> str:
        """The export's identity: its files' digests and the mapping's."""
        body = {
            "files": {kind.value: f.sha256 for kind, f in sorted(self.files.items())},
            "mapping": self.mapping.digest,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def manifest(self) -> dict[str, Any]:
        return {kind.value: f.manifest() for kind, f in self.files.items()}

    def file_name(self, kind: Kind) -> str:
        found = self.files.get(kind)
        return found.name if found else self.mapping.files[kind].pattern

    def column(self, kind: Kind, field_name: str) -> str | None:
        return self.mapping.files[kind].columns.get(field_name)


def find_files(folder: Path, mapping: Mapping, log: IssueLog) -> dict[Kind, Path]:
    out: dict[Kind, Path] = {}
    if not folder.is_dir():
        log.add(
            "MISSING_FILE",
            kind="export",
            file=str(folder),
            line=None,
            column=None,
            key=None,
            message="the export folder does not exist",
        )
        return out
    for kind, spec in mapping.files.items():
        found = sorted(p for p in folder.glob(spec.pattern) if p.is_file())
        if len(found) != 1:
            log.add(
                "MISSING_FILE",
                kind=kind.value,
                file=spec.pattern,
                line=None,
                column=None,
                key=None,
                message=(
                    f"no file matches {spec.pattern!r}"
                    if not found
                    else f"{len(found)} files match {spec.pattern!r}: "
                    + ", ".join(p.name for p in found[:5])
                ),
            )
            continue
        out[kind] = found[0]
    return out


# --- reading one file ---------------------------------------------------------------------
_CACHED = frozenset({FieldType.DATE, FieldType.TIME, FieldType.CODE})
_CACHE_LIMIT = 200_000


def _cached(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` remembering its answers (dates, times and codes repeat a lot in an
    export); failures are not remembered, they raise every time."""
    cache: dict[str, Any] = {}

    def cached(raw: str) -> Any:
        try:
            return cache[raw]
        except KeyError:
            value = convert(raw)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[raw] = value
            return value

    return cached


class _FileCheck:
    """Converts the records of one file, logging each problem with its line and column."""

    def __init__(self, validation: Validation, kind: Kind, spec: FileFormat, name: str) -> None:
        self.validation = validation
        self.log = validation.log
        self.kind = kind
        self.spec = spec
        self.name = name
        self.positions = {f.name: i for i, f in enumerate(FIELDS[kind])}
        self.width = 0
        self.line = 0
        self.fields: list[str] = []
        self.key_index: int | None = None
        #: (position, index, name, convert, required, length limit, scan for card numbers,
        #: legacy column) of each mapped column: the record loop reads nothing else
        self.plan: list[tuple[int, int, str, Any, bool, int, bool, str]] = []
        #: fields of the current record that could not be read (already reported)
        self.failed: set[str] = set()
        self._compiled: Callable[[list[str], bool, bool], list[Any]] = lambda f, c, s: []

    @property
    def key(self) -> str | None:
        if self.key_index is None or self.key_index >= len(self.fields):
            return self.fields[0].strip()[:40] if self.fields else None
        return self.fields[self.key_index].strip()[:40]

    def issue(self, code: str, column: str | None, message: str, key: str | None = None) -> None:
        self.log.add(
            code,
            kind=self.kind.value,
            file=self.name,
            line=self.line,
            column=column,
            key=key if key is not None else self.key,
            message=message,
        )

    def header(self, record: RawRecord | None) -> bool:
        header = record.fields if record is not None else None
        columns, problems = resolve_columns(self.validation.mapping, self.spec, header)
        for problem in problems:
            self.line = 1
            self.issue("MISSING_COLUMN", None, problem)
        self.plan = []
        for c in columns:
            spec = c.spec
            convert = c.convert
            if convert is not None and spec.type in _CACHED:
                convert = _cached(convert)
            limit = spec.max_length if spec.type in (FieldType.TEXT, FieldType.CODE) else 0
            self.plan.append(
                (
                    self.positions[spec.name],
                    c.index,
                    spec.name,
                    convert,
                    spec.required,
                    limit,
                    spec.name in _FREE_TEXT,
                    c.legacy,
                )
            )
        self.key_index = columns[0].index if columns else None
        self.width = len(header) if header is not None else max(c.index for c in columns) + 1
        self._compiled = self._compile()
        return not problems

    def convert(self, record: RawRecord) -> list[Any] | None:
        """The record's values in FIELDS order (None where missing or wrong), or None when
        the record cannot be read at all."""
        self.line = record.line
        self.failed.clear()
        fields = self.fields = record.fields
        if len(fields) != self.width:
            self.key_index, key_index = None, self.key_index
            self.issue(
                "WRONG_FIELD_COUNT",
                None,
                f"{len(fields)} fields where the header has {self.width}",
            )
            self.key_index = key_index
            return None
        return self._compiled(fields, record.undecodable or record.suspicious, record.suspicious)

    # The record loop, compiled once per file from the plan: each mapped column's index,
    # converter and checks are constants of the generated code (a generic loop over the
    # plan spends most of its time reading the plan).
    def _compile(self) -> Callable[[list[str], bool, bool], list[Any]]:
        lines = [
            "def convert(fields, check_text, suspicious):",
            f"    values = [None] * {len(self.positions)}",
        ]
        scope: dict[str, Any] = {
            "FieldError": FieldError,
            "may_card": may_hold_card_number,
            "bad_text": self._bad_text,
            "too_long": self._too_long,
            "card": self._card,
            "wrong": self._wrong,
            "missing": self._missing,
        }
        for i, (position, index, _name, convert, required, limit, card_scan, _legacy) in enumerate(
            self.plan
        ):
            scope[f"conv_{i}"] = convert
            lines.append(f"    raw = fields[{index}].strip()")
            lines.append("    if raw:")
            lines.append(f"        if check_text and bad_text({i}, raw, suspicious):")
            lines.append("            pass")
            if limit:
                lines.append(f"        elif len(raw) > {limit}:")
                lines.append(f"            too_long({i})")
            if convert is None:
                if card_scan:
                    lines.append(f"        elif may_card(raw) and card({i}, raw):")
                    lines.append("            pass")
                lines.append("        else:")
                lines.append(f"            values[{position}] = raw")
            else:
                lines.append("        else:")
                lines.append("            try:")
                lines.append(f"                values[{position}] = conv_{i}(raw)")
                lines.append("            except FieldError as exc:")
                lines.append(f"                wrong({i}, exc, raw)")
            if required:
                lines.append("    else:")
                lines.append(f"        missing({i})")
        lines.append("    return values")
        exec("\n".join(lines), scope)  # noqa: S102 - our own code, built from the plan
        compiled: Callable[[list[str], bool, bool], list[Any]] = scope["convert"]
        return compiled

    def _bad_text(self, i: int, raw: str, suspicious: bool) -> bool:
        problem = text_problem(raw, latin=suspicious)
        if problem is None:
            return False
        self.issue("ENCODING", self.plan[i][7], problem)
        self.failed.add(self.plan[i][2])
        return True

    def _too_long(self, i: int) -> None:
        self.issue("TOO_LONG", self.plan[i][7], f"more than {self.plan[i][5]} characters")
        self.failed.add(self.plan[i][2])

    def _card(self, i: int, raw: str) -> bool:
        if not pan.contains_pan(raw):
            return False
        self.issue("CARD_NUMBER", self.plan[i][7], pan.MESSAGE)
        self.failed.add(self.plan[i][2])
        return True

    def _wrong(self, i: int, exc: FieldError, raw: str) -> None:
        self.issue(exc.code, self.plan[i][7], f"{exc.message}: {_shown(raw)}")
        self.failed.add(self.plan[i][2])

    def _missing(self, i: int) -> None:
        self.issue("MISSING_VALUE", self.plan[i][7], f"{self.plan[i][2]} is required")

    def legacy(self, field_name: str) -> str | None:
        return self.spec.columns.get(field_name)


def _shown(raw: str) -> str:
    """A value as a report may show it: short, and never a card number."""
    text = pan.redact(raw) if may_hold_card_number(raw) else raw
    text = text if len(text) <= 40 else text[:37] + "..."
    return repr(text)


def _masked(text: str, keep: int = 3) -> str:  # a national ID in a report
    """Personal data in a report: all but the last ``keep`` letters or digits hidden."""
    shown = 0
    out: list[str] = []
    for ch in reversed(text):
        if ch.isalnum() and shown < keep:
            shown += 1
            out.append(ch)
        else:
            out.append("•" if ch.isalnum() else ch)
    return "".join(reversed(out))


async def _read_file(
    session: AsyncSession,
    validation: Validation,
    kind: Kind,
    path: Path,
    row: Callable[[_FileCheck, list[Any]], tuple[Any, ...] | None],
    extra: Callable[[_FileCheck, list[Any]], None] | None = None,
) -> None:
    """Stream one file into its temporary table; ``row`` checks a converted record and
    gives the table's tuple (None: not loaded)."""
    spec = validation.mapping.files[kind]
    check = _FileCheck(validation, kind, spec, path.name)
    loader = staging.Loader(session, staging.TABLES[kind])
    records = 0
    try:
        iterator = read_records(path, spec)
        if spec.header:
            first = next((r for r in iterator if isinstance(r, RawRecord)), None)
            if first is None:
                check.line = 1
                check.issue("MISSING_COLUMN", None, "the file is empty: no header")
                return
            if not check.header(first):
                return
        elif not check.header(None):
            return
        for record in iterator:
            if isinstance(record, csv.Error):
                check.line = record.args[1] if len(record.args) > 1 else 0
                check.fields = []
                check.issue("MALFORMED_CSV", None, f"the CSV cannot be read here: {record.args[0]}")
                continue
            records += 1
            values = check.convert(record)
            if values is None:
                continue
            out = row(check, values)
            if out is not None:
                await loader.add(out)
            if extra is not None:
                extra(check, values)
        await loader.flush()
    except OSError as exc:
        check.line = 0
        check.issue("UNREADABLE_FILE", None, f"cannot read the file: {exc}")
    validation.files[kind].records = records


# --- the kinds ------------------------------------------------------------------------------
def _member_row(
    check: _FileCheck, values: list[Any], person_ids: list[tuple[str, str, str]]
) -> tuple[Any, ...] | None:
    member_no, doc_type, doc_number, family, given = values[0:5]
    key = None
    if doc_type is not None and doc_number is not None:
        try:
            parsed = national_ids.parse(doc_type, doc_number)
        except national_ids.InvalidNationalId as exc:
            check.issue(
                "INVALID_NATIONAL_ID",
                check.legacy("document_number"),
                f"{_masked(doc_number)!r} is not a valid {doc_type}: {exc.reason}",
            )
            values[2] = None
        else:
            values[2] = parsed.number
            key = person_key(parsed.type.value, parsed.number)
            if member_no is not None:
                for id_type, number in identities(parsed.type.value, parsed.number):
                    person_ids.append((member_no, id_type, number))
    problems = Problems()
    for position, name, value in ((3, "family_names", family), (4, "given_names", given)):
        if value is None:
            continue
        clean = customer_rules.name(problems, name, value)
        if problems.items:
            check.issue(
                "INVALID_NAME",
                check.legacy(name),
                f"'{value[:1]}•••': {problems.items[0].message}",
            )
            problems.items.clear()
        else:
            values[position] = clean
    email = values[9]
    if email is not None:
        clean_email = customer_rules.email(problems, "email", email)
        if problems.items:
            check.issue(
                "INVALID_EMAIL",
                check.legacy("email"),
                "not an e-mail address: it is left out",
            )
            problems.items.clear()
        values[9] = clean_email
    return (check.line, *values, key)


def _movement_row(check: _FileCheck, values: list[Any]) -> tuple[Any, ...]:
    (_mid, _member, account, occurred, _time, kind, _mcc, _merchant, amount, currency, points,
     origin, expires, _reason, _operator) = values  # fmt: skip
    currency_wanted = check.validation.mapping.currency
    if currency is not None and currency.upper() != currency_wanted:
        check.issue(
            "OTHER_CURRENCY",
            check.legacy("currency"),
            f"{currency!r}: the program's currency is {currency_wanted}",
        )
    if kind is None or points is None:
        return (check.line, *values)

    def wrong(field_name: str, message: str) -> None:
        check.issue("IMPOSSIBLE_MOVEMENT", check.legacy(field_name), message)

    if kind == MovementKind.ACCRUAL:
        if points < 0:
            wrong("points", f"an accrual of {points} points (accruals are not negative)")
        if amount is None:
            if "amount" not in check.failed:
                check.issue(
                    "MISSING_VALUE", check.legacy("amount"), "an accrual needs its purchase amount"
                )
        elif amount <= 0:
            wrong("amount", "an accrual's purchase amount must be positive")
        if account is None and "account_no" not in check.failed:
            check.issue(
                "MISSING_VALUE",
                check.legacy("account_no"),
                "an accrual needs the account it was earned with",
            )
    elif kind == MovementKind.BONUS and points <= 0:
        wrong("points", f"a bonus of {points} points (bonuses are positive)")
    elif (
        kind in (MovementKind.REDEMPTION, MovementKind.EXPIRY, MovementKind.REVERSAL)
        and points >= 0
    ):
        wrong("points", f"a {kind.lower()} of {points} points (it takes points: negative)")
    elif kind == MovementKind.ADJUSTMENT and points == 0:
        wrong("points", "an adjustment of 0 points")
    if kind == MovementKind.REVERSAL and origin is None and "origin_id" not in check.failed:
        check.issue(
            "MISSING_VALUE", check.legacy("origin_id"), "a reversal names the movement it reverses"
        )
    if (
        points > 0
        and kind in (MovementKind.ACCRUAL, MovementKind.BONUS)
        and expires is None
        and "expires_on" not in check.failed
    ):
        check.issue(
            "MISSING_VALUE", check.legacy("expires_on"), "points earned need their expiry date"
        )
    if expires is not None and occurred is not None and points > 0 and expires < occurred:
        wrong("expires_on", f"the points expire ({expires}) before they were earned ({occurred})")
    return (check.line, *values)


def _parameter_row(check: _FileCheck, values: list[Any]) -> tuple[Any, ...]:
    kind, code, _description, value, valid_from, valid_to = values
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        check.issue("INVALID_DATE", check.legacy("valid_to"), "the parameter ends before it starts")
    if isinstance(value, Decimal):
        if value < 0:
            check.issue("INVALID_NUMBER", check.legacy("value"), "a parameter is not negative")
        values[3] = format(value, "f")
    whole_only = kind in (ParameterKind.MONTHLY_CAP, ParameterKind.EXPIRY_MONTHS)
    if whole_only and isinstance(values[3], str):
        number = Decimal(values[3])
        if number != number.to_integral_value():
            check.issue("INVALID_NUMBER", check.legacy("value"), f"{kind} is a whole number")
    _ = code
    return (check.line, *values)


# --- the whole export -----------------------------------------------------------------------
def identify(
    folder: Path, mapping: Mapping, log: IssueLog | None = None
) -> tuple[dict[Kind, ExportFile], str]:
    """The export's files with their digests, and the export's hash (see
    :attr:`Validation.export_hash`)."""
    files: dict[Kind, ExportFile] = {}
    for kind, path in find_files(folder, mapping, log or IssueLog()).items():
        digest, size = file_digest(path)
        files[kind] = ExportFile(kind, path.name, path, digest, size)
    return files, Validation(folder=folder, mapping=mapping, files=files).export_hash


async def validate(
    session: AsyncSession,
    *,
    folder: Path,
    mapping: Mapping,
    program_id: uuid.UUID | None = None,
    resuming_run_id: uuid.UUID | None = None,
    keep: int = 1000,
    files: dict[Kind, ExportFile] | None = None,
) -> Validation:
    """Check the export in ``folder``; the typed rows are left in the temporary tables.
    ``program_id``: also check against the program's members (already migrated or
    enrolled). ``resuming_run_id``: members that run already migrated are not "already
    migrated"."""
    validation = Validation(folder=folder, mapping=mapping, log=IssueLog(keep=keep))
    if files is None or len(files) != len(mapping.files):
        files, _ = identify(folder, mapping, validation.log)
    validation.files = {
        kind: ExportFile(f.kind, f.name, f.path, f.sha256, f.bytes) for kind, f in files.items()
    }
    paths = {kind: f.path for kind, f in validation.files.items()}
    await staging.create(session)
    person_ids: list[tuple[str, str, str]] = []
    person_loader = staging.Loader(session, staging.PERSON_IDS)

    async def flush_people() -> None:
        for item in person_ids:
            await person_loader.add(item)
        person_ids.clear()

    if Kind.PARAMETERS in paths:
        await _read_file(
            session, validation, Kind.PARAMETERS, paths[Kind.PARAMETERS], _parameter_row
        )
    if Kind.MEMBERS in paths:

        def member_row(check: _FileCheck, values: list[Any]) -> tuple[Any, ...] | None:
            return _member_row(check, values, person_ids)

        await _read_file(session, validation, Kind.MEMBERS, paths[Kind.MEMBERS], member_row)
        await flush_people()
        await person_loader.flush()
    if Kind.ACCOUNTS in paths:
        await _read_file(
            session, validation, Kind.ACCOUNTS, paths[Kind.ACCOUNTS], lambda c, v: (c.line, *v)
        )
    if Kind.BALANCES in paths:
        await _read_file(
            session, validation, Kind.BALANCES, paths[Kind.BALANCES], lambda c, v: (c.line, *v)
        )
    if Kind.MOVEMENTS in paths:
        await _read_file(session, validation, Kind.MOVEMENTS, paths[Kind.MOVEMENTS], _movement_row)
    await staging.index(session)
    if len(paths) == len(mapping.files):
        await _cross_checks(session, validation, program_id, resuming_run_id)
    return validation


async def check_export(
    session: AsyncSession,
    *,
    folder: Path,
    mapping: Mapping,
    program_id: uuid.UUID | None = None,
    keep: int = 1000,
) -> Validation:
    """The validation report alone: nothing is written (the temporary tables are dropped
    before returning)."""
    try:
        return await validate(
            session, folder=folder, mapping=mapping, program_id=program_id, keep=keep
        )
    finally:
        await staging.drop(session)


_UUID_PARAMS = frozenset({"program", "run"})


def _statement(sql: str, params: dict[str, Any]) -> sa.TextClause:
    """``sql`` with typed parameters (UUIDs and dates bind the same on both databases)."""
    binds: list[Any] = []
    for name, value in params.items():
        if name in _UUID_PARAMS or isinstance(value, uuid.UUID):
            binds.append(sa.bindparam(name, value, type_=UUIDType))
        elif isinstance(value, date):
            binds.append(sa.bindparam(name, value, type_=sa.Date))
        else:
            binds.append(sa.bindparam(name, value))
    return sa.text(sql).bindparams(*binds)


async def _scalar(session: AsyncSession, sql: str, **params: Any) -> Any:
    return (await session.execute(_statement(sql, params))).scalar()


async def _found(
    session: AsyncSession,
    validation: Validation,
    code: str,
    kind: Kind,
    field_name: str | None,
    sql: str,
    message: Callable[[Any], str],
    **params: Any,
) -> None:
    """Run a check: ``sql`` selects ``line, key, …`` of every offending row. All are
    counted; the first ones (by line) are kept with their message."""
    log = validation.log
    total = int(await _scalar(session, f"SELECT count(*) FROM ({sql}) q", **params) or 0)
    if not total:
        return
    rows = (
        await session.execute(
            _statement(
                f"SELECT * FROM ({sql}) q ORDER BY line LIMIT :keep", {**params, "keep": log.keep}
            )
        )
    ).all()
    column = validation.column(kind, field_name) if field_name else None
    for row in rows:
        log.add(
            code,
            kind=kind.value,
            file=validation.file_name(kind),
            line=row.line,
            column=column,
            key=row.key,
            message=message(row),
        )
    log.counts[code] += total - len(rows)


async def _cross_checks(
    session: AsyncSession,
    validation: Validation,
    program_id: uuid.UUID | None,
    resuming_run_id: uuid.UUID | None,
) -> None:
    v = validation
    q = session

    # figures
    for kind in Kind:
        v.counts[kind.value] = int(await _scalar(q, f"SELECT count(*) FROM lm_{kind.value}") or 0)
    v.movement_points = int(
        await _scalar(q, "SELECT coalesce(sum(points), 0) FROM lm_movements") or 0
    )
    v.balance_points = int(
        await _scalar(q, "SELECT coalesce(sum(points), 0) FROM lm_balances") or 0
    )
    if not v.counts[Kind.MEMBERS.value]:
        v.log.add(
            "NO_MEMBERS",
            kind="members",
            file=v.file_name(Kind.MEMBERS),
            line=None,
            column=None,
            key=None,
            message="the export has no members",
        )
    cutoffs = (
        await q.execute(
            sa.text(
                "SELECT cutoff, count(*) AS n FROM lm_balances WHERE cutoff IS NOT NULL"
                " GROUP BY cutoff ORDER BY count(*) DESC, cutoff DESC"
            )
        )
    ).all()
    if cutoffs:
        v.cutoff = _as_date(cutoffs[0].cutoff)
    cutoff = v.cutoff

    # duplicates
    for code, kind, key in (
        ("DUPLICATE_MEMBER", Kind.MEMBERS, "member_no"),
        ("DUPLICATE_ACCOUNT", Kind.ACCOUNTS, "account_no"),
        ("DUPLICATE_MOVEMENT", Kind.MOVEMENTS, "movement_id"),
        ("DUPLICATE_BALANCE", Kind.BALANCES, "member_no"),
    ):
        await _found(
            q, v, code, kind, key,
            f"SELECT line, {key} AS key, first_line FROM (SELECT line, {key},"
            f" min(line) OVER (PARTITION BY {key}) AS first_line FROM lm_{kind.value}"
            f" WHERE {key} IS NOT NULL) d WHERE line > first_line",
            lambda r: f"{r.key} is also on line {r.first_line}",
        )  # fmt: skip
    await _found(
        q, v, "DUPLICATE_NATIONAL_ID", Kind.MEMBERS, "document_number",
        "SELECT line, member_no AS key, first_member, first_line FROM (SELECT line, member_no,"
        " first_value(member_no) OVER (PARTITION BY person_key ORDER BY line) AS first_member,"
        " first_value(line) OVER (PARTITION BY person_key ORDER BY line) AS first_line"
        " FROM lm_members WHERE person_key IS NOT NULL) d WHERE member_no <> first_member",
        lambda r: f"the same person as member {r.first_member} (line {r.first_line})",
    )  # fmt: skip

    # orphans
    for code, kind in (
        ("ORPHAN_ACCOUNT", Kind.ACCOUNTS),
        ("ORPHAN_MOVEMENT", Kind.MOVEMENTS),
        ("ORPHAN_BALANCE", Kind.BALANCES),
    ):
        await _found(
            q, v, code, kind, "member_no",
            f"SELECT x.line, x.member_no AS key FROM lm_{kind.value} x"
            " WHERE x.member_no IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM lm_members m WHERE m.member_no = x.member_no)",
            lambda r: f"member {r.key} is not in the members file",
        )  # fmt: skip
    await _found(
        q, v, "UNKNOWN_ACCOUNT", Kind.MOVEMENTS, "account_no",
        "SELECT x.line, x.member_no AS key, x.account_no FROM lm_movements x"
        " WHERE x.account_no IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM lm_members m WHERE m.member_no = x.member_no)"
        " AND NOT EXISTS (SELECT 1 FROM lm_accounts a WHERE a.account_no = x.account_no"
        " AND a.member_no = x.member_no)",
        lambda r: f"account {r.account_no} is not one of member {r.key}'s accounts",
    )  # fmt: skip

    # reversals
    await _found(
        q, v, "UNKNOWN_ORIGIN", Kind.MOVEMENTS, "origin_id",
        "SELECT x.line, x.member_no AS key, x.origin_id FROM lm_movements x"
        " WHERE x.kind = 'REVERSAL' AND x.origin_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM lm_movements o WHERE o.movement_id = x.origin_id)",
        lambda r: f"the reversed movement {r.origin_id} is not in the export",
    )  # fmt: skip
    await _found(
        q, v, "INVALID_REVERSAL", Kind.MOVEMENTS, "origin_id",
        "SELECT DISTINCT x.line, x.member_no AS key, x.origin_id, o.member_no AS origin_member,"
        " o.kind AS origin_kind FROM lm_movements x JOIN lm_movements o"
        " ON o.movement_id = x.origin_id WHERE x.kind = 'REVERSAL' AND (o.member_no <> x.member_no"
        " OR o.kind IS NULL OR o.kind <> 'ACCRUAL' OR o.occurred_on > x.occurred_on)",
        lambda r: f"{r.origin_id} is not an earlier purchase of member {r.key}"
        f" (it is a {r.origin_kind} of member {r.origin_member})",
    )  # fmt: skip
    await _found(
        q, v, "INVALID_REVERSAL", Kind.MOVEMENTS, "points",
        "SELECT r.line, r.member_no AS key, r.origin_id, r.reversed, o.points AS earned FROM"
        " (SELECT line, member_no, origin_id, -sum(points) OVER (PARTITION BY origin_id"
        " ORDER BY occurred_on, line) AS reversed FROM lm_movements WHERE kind = 'REVERSAL'"
        " AND origin_id IS NOT NULL) r JOIN (SELECT movement_id, min(points) AS points"
        " FROM lm_movements GROUP BY movement_id) o ON o.movement_id = r.origin_id"
        " WHERE r.reversed > o.points",
        lambda r: f"reversals of {r.origin_id} take back {r.reversed} points; it earned {r.earned}",
    )  # fmt: skip

    if cutoff is not None:
        await _found(
            q, v, "MOVEMENT_AFTER_CUTOFF", Kind.MOVEMENTS, "occurred_on",
            "SELECT line, member_no AS key, occurred_on FROM lm_movements"
            " WHERE occurred_on > :cutoff",
            lambda r: f"dated {_as_date(r.occurred_on)}, after the cut-off {cutoff}",
            cutoff=cutoff,
        )  # fmt: skip
        await _found(
            q, v, "MIXED_CUTOFF", Kind.BALANCES, "cutoff",
            "SELECT line, member_no AS key, cutoff FROM lm_balances WHERE cutoff <> :cutoff",
            lambda r: f"cut-off {_as_date(r.cutoff)}; the export's is {cutoff}",
            cutoff=cutoff,
        )  # fmt: skip

    # balances
    await _found(
        q, v, "MISSING_BALANCE", Kind.MEMBERS, "member_no",
        "SELECT min(m.line) AS line, m.member_no AS key FROM lm_members m WHERE m.member_no IS NOT"
        " NULL AND NOT EXISTS (SELECT 1 FROM lm_balances b WHERE b.member_no = m.member_no)"
        " GROUP BY m.member_no",
        lambda r: f"member {r.key} has no balance at the cut-off",
    )  # fmt: skip
    if not v.mapping.allow_negative_balances:
        await _found(
            q, v, "NEGATIVE_BALANCE", Kind.BALANCES, "points",
            "SELECT line, member_no AS key, points FROM lm_balances WHERE points < 0",
            lambda r: f"a balance of {r.points} points (the program has no debt)",
        )  # fmt: skip
    sums = (
        "(SELECT member_no, sum(points) AS total, sum(CASE WHEN points > 0 THEN points ELSE 0 END)"
        " AS credited, count(*) AS n FROM lm_movements GROUP BY member_no)"
    )
    first_balance = (
        "(SELECT b.* FROM lm_balances b WHERE b.line = (SELECT min(line) FROM lm_balances b2"
        " WHERE b2.member_no = b.member_no))"
    )
    await _found(
        q, v, "IMPOSSIBLE_BALANCE", Kind.BALANCES, "points",
        f"SELECT b.line, b.member_no AS key, b.points, coalesce(s.credited, 0) AS credited"
        f" FROM {first_balance} b LEFT JOIN {sums} s ON s.member_no = b.member_no"
        " WHERE b.points > 0 AND b.points > coalesce(s.credited, 0)"
        " AND EXISTS (SELECT 1 FROM lm_members m WHERE m.member_no = b.member_no)",
        lambda r: f"a balance of {r.points} points, more than the {r.credited} ever credited",
    )  # fmt: skip
    await _found(
        q, v, "IMPOSSIBLE_BALANCE", Kind.BALANCES, "next_expiry_points",
        "SELECT line, member_no AS key, points, next_expiry_points FROM lm_balances"
        " WHERE next_expiry_points < 0 OR (points >= 0 AND next_expiry_points > points)",
        lambda r: f"{r.next_expiry_points} points to expire next, of a balance of {r.points}",
    )  # fmt: skip
    if cutoff is not None:
        await _found(
            q, v, "IMPOSSIBLE_BALANCE", Kind.BALANCES, "next_expiry_on",
            "SELECT line, member_no AS key, next_expiry_on FROM lm_balances"
            " WHERE next_expiry_on < :cutoff",
            lambda r: f"the next expiry ({_as_date(r.next_expiry_on)}) is before the cut-off",
            cutoff=cutoff,
        )  # fmt: skip
    await _found(
        q, v, "BALANCE_MISMATCH", Kind.BALANCES, "points",
        f"SELECT b.line, b.member_no AS key, b.points, coalesce(s.total, 0) AS total,"
        f" coalesce(s.n, 0) AS n FROM {first_balance} b LEFT JOIN {sums} s"
        " ON s.member_no = b.member_no WHERE b.points <> coalesce(s.total, 0)"
        " AND EXISTS (SELECT 1 FROM lm_members m WHERE m.member_no = b.member_no)",
        lambda r: f"the legacy balance is {r.points}; its {r.n} movements add up to {r.total}"
        f" ({int(r.points) - int(r.total):+d})",
    )  # fmt: skip

    # against Trama
    customers = table_of(Customer).name
    await _found(
        q, v, "AMBIGUOUS_CUSTOMER", Kind.MEMBERS, "document_number",
        f"SELECT min(m.line) AS line, p.member_no AS key, count(DISTINCT c.id) AS n"
        f" FROM lm_person_ids p JOIN {customers} c ON c.national_id_type = p.id_type"
        " AND c.national_id = p.number JOIN lm_members m ON m.member_no = p.member_no"
        " GROUP BY p.member_no HAVING count(DISTINCT c.id) > 1",
        lambda r: f"{r.n} Trama customers are this person (by DNI and CUIL): merge them first",
    )  # fmt: skip
    await _found(
        q, v, "CUSTOMER_MATCH", Kind.MEMBERS, "document_number",
        f"SELECT min(m.line) AS line, p.member_no AS key FROM lm_person_ids p JOIN {customers} c"
        " ON c.national_id_type = p.id_type AND c.national_id = p.number"
        " JOIN lm_members m ON m.member_no = p.member_no GROUP BY p.member_no",
        lambda r: f"member {r.key} is already a Trama customer: the account will be theirs",
    )  # fmt: skip
    v.counts["customer_matches"] = v.log.counts.get("CUSTOMER_MATCH", 0)
    if program_id is not None:
        accounts = table_of(LoyaltyAccount).name
        legacy = table_of(LegacyMember).name
        not_this_run = (
            f" AND NOT EXISTS (SELECT 1 FROM {legacy} lm WHERE lm.run_id = :run"
            " AND lm.member_no = m.member_no)"
        )
        await _found(
            q, v, "ALREADY_MIGRATED", Kind.MEMBERS, "member_no",
            f"SELECT min(m.line) AS line, m.member_no AS key FROM lm_members m JOIN {accounts} a"
            f" ON a.external_ref = m.member_no AND a.program_id = :program WHERE 1 = 1"
            f"{not_this_run} GROUP BY m.member_no",
            lambda r: f"member {r.key} was migrated into the program before",
            program=program_id, run=resuming_run_id,
        )  # fmt: skip
        await _found(
            q, v, "ALREADY_ENROLLED", Kind.MEMBERS, "document_number",
            f"SELECT min(m.line) AS line, m.member_no AS key FROM lm_members m"
            f" JOIN lm_person_ids p ON p.member_no = m.member_no JOIN {customers} c"
            " ON c.national_id_type = p.id_type AND c.national_id = p.number"
            f" JOIN {accounts} a ON a.customer_id = c.id AND a.program_id = :program"
            " WHERE (a.external_ref IS NULL OR a.external_ref <> m.member_no)"
            f"{not_this_run} GROUP BY m.member_no",
            lambda r: f"member {r.key} is already a member of the program in Trama",
            program=program_id, run=resuming_run_id,
        )  # fmt: skip

    await _parameters(session, validation)


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def _parameters(session: AsyncSession, validation: Validation) -> None:
    rows = (
        await session.execute(
            sa.text(
                "SELECT line, kind, code, description, value, valid_from, valid_to"
                " FROM lm_parameters ORDER BY line"
            )
        )
    ).all()
    out: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        if row.kind is None or row.code is None or row.value is None or row.valid_from is None:
            continue
        item = {
            "line": row.line,
            "kind": row.kind,
            "code": row.code,
            "description": row.description,
            "value": row.value,
            "validFrom": _as_date(row.valid_from).isoformat(),
            "validTo": _as_date(row.valid_to).isoformat() if row.valid_to is not None else None,
        }
        out.append(item)
        by_key.setdefault((row.kind, row.code), []).append(item)
    validation.parameters = out
    name = validation.file_name(Kind.PARAMETERS)
    for (kind, code), items in by_key.items():
        items.sort(key=lambda i: i["validFrom"])
        for before, after in itertools.pairwise(items):
            if before["validTo"] is None or before["validTo"] >= after["validFrom"]:
                validation.log.add(
                    "OVERLAPPING_PARAMETER",
                    kind="parameters",
                    file=name,
                    line=after["line"],
                    column=validation.column(Kind.PARAMETERS, "valid_from"),
                    key=f"{kind} {code}",
                    message=f"{kind} {code} is also in force then (line {before['line']})",
                )
    kinds = Counter(i["kind"] for i in out)
    needed = (ParameterKind.RATE, ParameterKind.EXPIRY_MONTHS)
    for kind in needed:
        if not kinds.get(kind):
            validation.log.add(
                "MISSING_PARAMETER",
                kind="parameters",
                file=name,
                line=None,
                column=None,
                key=kind,
                message=f"no {kind} parameter: the shadow run cannot recompute accruals without it",
            )
    if not any(i["kind"] == ParameterKind.RATE and i["code"] == "*" for i in out):
        validation.log.add(
            "MISSING_PARAMETER",
            kind="parameters",
            file=name,
            line=None,
            column=None,
            key="RATE *",
            message="no default rate ('*'): purchases at other MCCs earn nothing in the shadow run",
        )
