"""The mapping file: how a legacy points-CRM export maps onto Trama's model.

A legacy export is a folder of CSV files, one per kind of record (members, accounts,
movements, balances at the cut-off, rule parameters), each in the legacy system's own
encoding and formats. The mapping file (YAML or JSON) says, per kind: which file, its
encoding, separator, quoting, date and number formats, and which legacy column holds each of
Trama's fields; and the code tables that turn the legacy codes (``DNI``, ``ACU``, ``VISA ORO``)
into Trama's.

``load_mapping`` reads and checks one; every problem is reported with its path in the file
(``files.movements.columns.points``) and nothing else happens until it is right.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from domain.shared.errors import Problems, ValidationFailed
from domain.shared.national_ids import NationalIdType


class Kind(StrEnum):
    """The kinds of legacy records, in the order they are read."""

    MEMBERS = "members"
    ACCOUNTS = "accounts"
    MOVEMENTS = "movements"
    BALANCES = "balances"
    PARAMETERS = "parameters"


class FieldType(StrEnum):
    TEXT = "text"
    CODE = "code"  # through a code table
    DATE = "date"
    TIME = "time"
    INT = "int"  # an integer, possibly with thousands separators and a sign
    MONEY = "money"  # a decimal amount in the currency's major unit -> minor units
    DECIMAL = "decimal"  # an exact decimal (rates, multipliers)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    required: bool
    table: str | None = None  # the code table of a CODE field
    max_length: int = 200


def _f(
    name: str,
    type_: FieldType,
    required: bool = False,
    table: str | None = None,
    max_length: int = 200,
) -> FieldSpec:
    return FieldSpec(name, type_, required, table, max_length)


T = FieldType

#: Trama's fields of each kind, in the order they are stored. Required fields must be mapped
#: and present on every row; the others may be left out of the mapping.
FIELDS: dict[Kind, tuple[FieldSpec, ...]] = {
    Kind.MEMBERS: (
        _f("member_no", T.TEXT, True, max_length=40),
        _f("document_type", T.CODE, True, "document_type"),
        _f("document_number", T.TEXT, True, max_length=40),
        _f("family_names", T.TEXT, True, max_length=100),
        _f("given_names", T.TEXT, True, max_length=100),
        _f("birth_date", T.DATE),
        _f("joined_on", T.DATE, True),
        _f("segment", T.CODE, False, "segment", max_length=40),
        _f("status", T.CODE, False, "member_status"),
        _f("email", T.TEXT, max_length=254),
        _f("address", T.TEXT, max_length=400),
    ),
    Kind.ACCOUNTS: (
        _f("account_no", T.TEXT, True, max_length=40),
        _f("member_no", T.TEXT, True, max_length=40),
        _f("product", T.CODE, True, "card_product", max_length=40),
        _f("opened_on", T.DATE, True),
        _f("status", T.CODE, False, "account_status"),
    ),
    Kind.MOVEMENTS: (
        _f("movement_id", T.TEXT, True, max_length=40),
        _f("member_no", T.TEXT, True, max_length=40),
        _f("account_no", T.TEXT, max_length=40),
        _f("occurred_on", T.DATE, True),
        _f("occurred_time", T.TIME),
        _f("kind", T.CODE, True, "movement_kind"),
        _f("mcc", T.TEXT, max_length=4),
        _f("merchant", T.TEXT, max_length=120),
        _f("amount", T.MONEY),
        _f("currency", T.TEXT, max_length=3),
        _f("points", T.INT, True),
        _f("origin_id", T.TEXT, max_length=40),
        _f("expires_on", T.DATE),
        _f("reason", T.TEXT, max_length=400),
        _f("operator", T.TEXT, max_length=100),
    ),
    Kind.BALANCES: (
        _f("member_no", T.TEXT, True, max_length=40),
        _f("cutoff", T.DATE, True),
        _f("points", T.INT, True),
        _f("next_expiry_points", T.INT),
        _f("next_expiry_on", T.DATE),
    ),
    Kind.PARAMETERS: (
        _f("kind", T.CODE, True, "parameter_kind"),
        _f("code", T.TEXT, True, max_length=40),
        _f("description", T.TEXT, max_length=200),
        _f("value", T.DECIMAL, True),
        _f("valid_from", T.DATE, True),
        _f("valid_to", T.DATE),
    ),
}


class MovementKind(StrEnum):
    """What a legacy movement is, in Trama's words."""

    ACCRUAL = "ACCRUAL"  # points earned by a purchase (a lot with an expiry)
    BONUS = "BONUS"  # points given by a campaign (welcome, promotion): a lot
    REDEMPTION = "REDEMPTION"  # points spent on a reward
    EXPIRY = "EXPIRY"  # points expired by the legacy system's expiry run
    ADJUSTMENT = "ADJUSTMENT"  # a person's manual correction, either sign
    REVERSAL = "REVERSAL"  # a purchase refunded: takes back what its accrual earned


CREDIT_KINDS = frozenset({MovementKind.ACCRUAL, MovementKind.BONUS})
DEBIT_KINDS = frozenset({MovementKind.REDEMPTION, MovementKind.EXPIRY, MovementKind.REVERSAL})


class ParameterKind(StrEnum):
    """The legacy rule parameters (how the legacy system computed accruals)."""

    RATE = "RATE"  # points per peso spent, by merchant category code ('*' = any other)
    MULTIPLIER = "MULTIPLIER"  # a factor by card product
    MONTHLY_CAP = "MONTHLY_CAP"  # most points a member earns from purchases in a month
    EXPIRY_MONTHS = "EXPIRY_MONTHS"  # accrued points expire at the end of the Nth month
    MINIMUM_PURCHASE = "MINIMUM_PURCHASE"  # purchases below this earn nothing


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CLOSED = "CLOSED"


#: The values each code table may map to (``None``: any text, e.g. segments, products).
CODE_TARGETS: dict[str, frozenset[str] | None] = {
    "document_type": frozenset(
        {NationalIdType.AR_DNI, NationalIdType.AR_CUIL, NationalIdType.AR_CUIT}
    ),
    "movement_kind": frozenset(MovementKind),
    "parameter_kind": frozenset(ParameterKind),
    "member_status": frozenset(MemberStatus),
    "account_status": frozenset({"ACTIVE", "BLOCKED", "CLOSED"}),
    "segment": None,
    "card_product": None,
}
REQUIRED_TABLES = ("document_type", "movement_kind", "parameter_kind")

ENCODINGS = {
    "latin-1": "latin-1",
    "iso-8859-1": "latin-1",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-8-bom": "utf-8-sig",
}
DATE_FORMATS = ("dd/mm/yyyy", "dd-mm-yyyy", "yyyy-mm-dd", "ddmmyyyy", "yyyymmdd")


@dataclass(frozen=True)
class FileFormat:
    kind: Kind
    pattern: str  # a file name or a glob within the export folder
    encoding: str  # a Python codec name
    delimiter: str
    quote: str
    header: bool
    date_format: str
    decimal_separator: str
    thousands_separator: str
    columns: dict[str, str]  # Trama field -> legacy column name (header) or 1-based index

    def fields(self) -> tuple[FieldSpec, ...]:
        return FIELDS[self.kind]


@dataclass(frozen=True)
class Mapping:
    version: int
    source: str
    program: str | None  # "PARTNER_CODE/PROGRAM_CODE" of the target program
    currency: str
    currency_digits: int
    timezone: str
    files: dict[Kind, FileFormat]
    codes: dict[str, dict[str, str]]  # table -> legacy code (folded) -> Trama value
    allow_negative_balances: bool
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def digest(self) -> str:
        """A fingerprint of what the mapping says (not of its comments or layout)."""
        body = json.dumps(self.raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    def code(self, table: str, legacy: str) -> str | None:
        return self.codes.get(table, {}).get(fold_code(legacy))


def fold_code(value: str) -> str:
    """Legacy codes compare trimmed, upper case, inner spaces collapsed."""
    return " ".join(value.split()).upper()


_CURRENCY_DIGITS = {"ARS": 2, "USD": 2, "CLP": 0, "MXN": 2, "COP": 2, "PEN": 2, "UYU": 2}


def parse_mapping_text(text: str, *, name: str = "mapping") -> dict[str, Any]:
    """YAML or JSON text to a plain dict (JSON is tried first; YAML is read safely)."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise ValidationFailed.on(name, "the mapping file is empty")
    data: Any
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValidationFailed.on(name, f"not valid JSON: {exc}") from None
    else:
        import yaml  # PyYAML: safe_load builds plain dicts, lists and scalars only

        try:
            data = yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise ValidationFailed.on(name, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed.on(name, "the mapping must be an object at its top")
    return data


def load_mapping(path: Path) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed.on("mapping", f"cannot read {path}: {exc}") from None
    return build_mapping(parse_mapping_text(text))


def _text(
    problems: Problems, data: AnyMapping[str, Any], key: str, where: str, default: Any = None
) -> Any:
    value = data.get(key, default)
    if value is None:
        problems.add(f"{where}.{key}", "is required")
        return None
    if not isinstance(value, str) or not value:
        problems.add(f"{where}.{key}", "must be a non-empty text")
        return None
    return value


def _file(problems: Problems, kind: Kind, data: Any) -> FileFormat | None:
    where = f"files.{kind.value}"
    if not isinstance(data, dict):
        problems.add(where, "must be an object")
        return None
    unknown = set(data) - {
        "file", "encoding", "delimiter", "quote", "header", "date_format",
        "decimal_separator", "thousands_separator", "columns",
    }  # fmt: skip
    for key in sorted(unknown):
        problems.add(f"{where}.{key}", "is not a setting of a file")
    pattern = _text(problems, data, "file", where)
    if isinstance(pattern, str) and ("/" in pattern or "\\" in pattern or ".." in pattern):
        problems.add(f"{where}.file", "must name a file inside the export folder")
    encoding_name = _text(problems, data, "encoding", where, "utf-8")
    encoding = ENCODINGS.get(str(encoding_name).lower()) if encoding_name else None
    if encoding_name and encoding is None:
        problems.add(f"{where}.encoding", f"must be one of {', '.join(sorted(ENCODINGS))}")
    delimiter = _text(problems, data, "delimiter", where, ";")
    quote = _text(problems, data, "quote", where, '"')
    for key, value in (("delimiter", delimiter), ("quote", quote)):
        if isinstance(value, str) and (len(value) != 1 or value in "\r\n"):
            problems.add(f"{where}.{key}", "must be one character")
    header = data.get("header", True)
    if not isinstance(header, bool):
        problems.add(f"{where}.header", "must be true or false")
    date_format = _text(problems, data, "date_format", where, "dd/mm/yyyy")
    if isinstance(date_format, str) and date_format not in DATE_FORMATS:
        problems.add(f"{where}.date_format", f"must be one of {', '.join(DATE_FORMATS)}")
    decimal = data.get("decimal_separator", ",")
    thousands = data.get("thousands_separator", ".")
    if decimal not in (",", "."):
        problems.add(f"{where}.decimal_separator", "must be ',' or '.'")
    if thousands not in ("", ".", ",", " ", "'"):
        problems.add(f"{where}.thousands_separator", "must be '', '.', ',', ' ' or \"'\"")
    if decimal == thousands:
        problems.add(f"{where}.thousands_separator", "must differ from the decimal separator")
    columns = data.get("columns")
    mapped: dict[str, str] = {}
    specs = {f.name: f for f in FIELDS[kind]}
    if not isinstance(columns, dict) or not columns:
        problems.add(f"{where}.columns", "must map Trama's fields to legacy columns")
    else:
        for name, column in columns.items():
            if name not in specs:
                problems.add(
                    f"{where}.columns.{name}",
                    f"is not a field of {kind.value} (fields: {', '.join(specs)})",
                )
            elif isinstance(column, int) and not isinstance(column, bool) and column >= 1:
                mapped[name] = str(column)
            elif isinstance(column, str) and column.strip():
                mapped[name] = column.strip()
            else:
                problems.add(f"{where}.columns.{name}", "must be a column name or a 1-based index")
        for spec in FIELDS[kind]:
            if spec.required and spec.name not in columns:
                problems.add(f"{where}.columns.{spec.name}", "is required")
        if header is False and any(not v.isdigit() for v in mapped.values()):
            problems.add(f"{where}.columns", "without a header, columns are 1-based indexes")
    if problems.items:
        return None
    return FileFormat(
        kind=kind,
        pattern=str(pattern),
        encoding=str(encoding),
        delimiter=str(delimiter),
        quote=str(quote),
        header=bool(header),
        date_format=str(date_format),
        decimal_separator=str(decimal),
        thousands_separator=str(thousands),
        columns=mapped,
    )


def build_mapping(data: dict[str, Any]) -> Mapping:
    problems = Problems()
    version = data.get("version", 1)
    if version != 1:
        problems.add("version", "only version 1 is known")
    source = data.get("source", "legacy CRM")
    if not isinstance(source, str):
        problems.add("source", "must be a text")
    program = data.get("program")
    if program is not None and (not isinstance(program, str) or program.count("/") != 1):
        problems.add("program", "must be PARTNER_CODE/PROGRAM_CODE")
    currency = data.get("currency", "ARS")
    if currency not in _CURRENCY_DIGITS:
        problems.add("currency", f"must be one of {', '.join(sorted(_CURRENCY_DIGITS))}")
    timezone = data.get("timezone", "America/Argentina/Buenos_Aires")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(timezone))
    except (KeyError, ValueError):
        problems.add("timezone", "is not a known time zone")
    allow_negative = data.get("allow_negative_balances", False)
    if not isinstance(allow_negative, bool):
        problems.add("allow_negative_balances", "must be true or false")
    files_data = data.get("files")
    files: dict[Kind, FileFormat] = {}
    if not isinstance(files_data, dict):
        problems.add("files", "must describe the files of the export")
    else:
        for key in sorted(set(files_data) - {k.value for k in Kind}):
            problems.add(f"files.{key}", f"is not a kind of file ({', '.join(Kind)})")
        for kind in Kind:
            if kind.value not in files_data:
                problems.add(f"files.{kind.value}", "is required")
                continue
            inner = Problems()
            spec = _file(inner, kind, files_data[kind.value])
            problems.items.extend(inner.items)
            if spec is not None:
                files[kind] = spec
    codes_data = data.get("codes", {})
    codes: dict[str, dict[str, str]] = {}
    if not isinstance(codes_data, dict):
        problems.add("codes", "must be an object of code tables")
        codes_data = {}
    for table in sorted(set(codes_data) - set(CODE_TARGETS)):
        problems.add(f"codes.{table}", f"is not a code table ({', '.join(CODE_TARGETS)})")
    for table in REQUIRED_TABLES:
        if table not in codes_data:
            problems.add(f"codes.{table}", "is required")
    for table, allowed in CODE_TARGETS.items():
        entries = codes_data.get(table)
        if entries is None:
            continue
        if not isinstance(entries, dict) or not entries:
            problems.add(f"codes.{table}", "must map legacy codes to Trama's")
            continue
        folded: dict[str, str] = {}
        for legacy, target in entries.items():
            key = fold_code(str(legacy))
            if not isinstance(target, str) or not target or len(target) > 40:
                problems.add(f"codes.{table}.{legacy}", "must be a text of 1 to 40 characters")
            elif allowed is not None and target not in allowed:
                problems.add(
                    f"codes.{table}.{legacy}", f"must be one of {', '.join(sorted(allowed))}"
                )
            elif key in folded and folded[key] != target:
                problems.add(f"codes.{table}.{legacy}", "the same legacy code maps twice")
            else:
                folded[key] = target
        codes[table] = folded
    problems.raise_if_any()
    return Mapping(
        version=1,
        source=str(source),
        program=program,
        currency=str(currency),
        currency_digits=_CURRENCY_DIGITS[str(currency)],
        timezone=str(timezone),
        files=files,
        codes=codes,
        allow_negative_balances=bool(allow_negative),
        raw=data,
    )
