"""A legacy points-CRM export of any size, deterministic by seed, with defects on request.

It writes what the legacy CRM of an Argentine bank's points program exports at its cut-off
("PuntosPlus", the program Banco del Plata ran since the start of the history):

=====================  ============  ==============================================
file                   encoding      what
=====================  ============  ==============================================
SOCIOS_<cut>.csv       Latin-1       members: DNI/LE/LC/CUIL/CUIT, names, address
                                     (quoted, sometimes over two lines), CRLF,
                                     fixed-width padding (trailing spaces)
CUENTAS_<cut>.csv      Latin-1       the cards each member earns with (product)
MOVIMIENTOS_<cut>.csv  UTF-8 + BOM   every movement with its points: purchases
                                     (amount with comma decimals, MCC, merchant),
                                     bonuses, redemptions, expirations, manual
                                     adjustments, reversals of purchases
SALDOS_<cut>.csv       Latin-1       each member's balance at the cut-off and the
                                     points that expire next
PARAMETROS_<cut>.csv   Latin-1       the legacy rule parameters (points per peso by
                                     MCC, product multipliers, monthly cap, expiry,
                                     minimum purchase), versioned by dates
mapping.yaml           UTF-8         how the files map onto Trama
=====================  ============  ==============================================

The legacy program's rules, which the generated history follows exactly:

- a purchase of ``amount`` pesos at MCC ``m`` with card product ``p`` earns
  ``floor(amount * rate(m) * multiplier(p))`` points (rates and multipliers in force on the
  purchase's date), nothing below the minimum purchase, and no more in a calendar month
  than the monthly cap (the excess is lost);
- earned points (and bonuses, and positive adjustments) are a lot that expires at the end of
  the month ``EXPIRY_MONTHS`` after the month it was earned in; the lot is usable through
  its expiry day and the legacy expiry run on the next day writes the expired rest as one
  ``VTO`` movement per expiry date;
- redemptions and negative adjustments take points from the open lots, earliest expiry
  first; a reversal (refund of a purchase) takes back the points of that purchase's lot;
- the balance is the sum of every movement's points.

Defects (``defects={"duplicate_movement": 3, ...}``, see :data:`DEFECTS`) are written into
the files and listed in ``GeneratedExport.expected`` with the file, line and column where
the validation must find each one.
"""

from __future__ import annotations

import calendar
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import IO, Any

from stdnum.ar import cuit as ar_cuit

from domain.shared import pan

# --- the legacy program ---------------------------------------------------------------------
PROGRAM_START = date(2023, 12, 1)
DEFAULT_CUTOFF = date(2026, 11, 30)

#: (MCC, description, [(valid_from, valid_to, points per peso)]); "*" is every other MCC.
RATES: list[tuple[str, str, list[tuple[date, date | None, Decimal]]]] = [
    (
        "5411",
        "SUPERMERCADOS",
        [
            (PROGRAM_START, date(2025, 6, 30), Decimal("0.02")),
            (date(2025, 7, 1), None, Decimal("0.015")),
        ],
    ),
    ("5541", "ESTACIONES DE SERVICIO", [(PROGRAM_START, None, Decimal("0.005"))]),
    ("5812", "RESTAURANTES", [(PROGRAM_START, None, Decimal("0.02"))]),
    ("5814", "COMIDAS RAPIDAS", [(PROGRAM_START, None, Decimal("0.02"))]),
    ("5311", "TIENDAS DEPARTAMENTALES", [(PROGRAM_START, None, Decimal("0.01"))]),
    ("5912", "FARMACIAS", [(PROGRAM_START, None, Decimal("0.01"))]),
    (
        "4511",
        "LINEAS AEREAS",
        [
            (PROGRAM_START, date(2024, 12, 31), Decimal("0.03")),
            (date(2025, 1, 1), None, Decimal("0.025")),
        ],
    ),
    ("5732", "ELECTRONICA", [(PROGRAM_START, None, Decimal("0.01"))]),
    ("*", "OTROS RUBROS", [(PROGRAM_START, None, Decimal("0.01"))]),
]
#: (legacy product, Trama code, multiplier, weight among cards)
PRODUCTS: list[tuple[str, str, Decimal, int]] = [
    ("VISA CLASICA", "VISA_CLASSIC", Decimal("1"), 35),
    ("VISA ORO", "VISA_GOLD", Decimal("1.5"), 20),
    ("VISA PLATINUM", "VISA_PLATINUM", Decimal("2"), 8),
    ("MC BLACK", "MC_BLACK", Decimal("2.5"), 4),
    ("MC STANDARD", "MC_STANDARD", Decimal("1"), 18),
    ("AMEX GOLD", "AMEX_GOLD", Decimal("1.5"), 5),
    ("DEBITO", "DEBIT", Decimal("0.5"), 10),
]
#: (valid_from, valid_to, cap)
MONTHLY_CAPS = [(PROGRAM_START, date(2024, 12, 31), 20_000), (date(2025, 1, 1), None, 25_000)]
EXPIRY_MONTHS = 24
MINIMUM_PURCHASE = Decimal("1000")
WELCOME_BONUS = 1_000
REWARD_COSTS = (2_000, 3_500, 5_000, 8_000, 12_000, 20_000, 40_000)

_MCC_WEIGHTS = [
    ("5411", 30), ("5541", 15), ("5812", 10), ("5814", 8), ("5311", 8), ("5912", 8),
    ("4511", 2), ("5732", 5), ("5999", 6), ("5651", 5), ("7832", 3),
]  # fmt: skip
_MERCHANTS = {
    "5411": ["COTO CICSA", "CARREFOUR ARGENTINA", "JUMBO RETAIL", "DIA ARGENTINA", "LA ANÓNIMA"],
    "5541": ["YPF SERVICLUB", "SHELL SELECT", "AXION ENERGY", "PUMA ENERGY"],
    "5812": ["PARRILLA DON JULIO", "EL CUARTITO", "CAFÉ TORTONI", "LA CABRERA"],
    "5814": ["MOSTAZA", "BURGER KING", "MCDONALD'S", "PANADERÍA LA ESPAÑOLA"],
    "5311": ["FALABELLA", "GARBARINO", "FRÁVEGA"],
    "5912": ["FARMACITY", "FARMACIA DEL PUEBLO", "DROGUERÍA SUIZA"],
    "4511": ["AEROLÍNEAS ARGENTINAS", "FLYBONDI", "LATAM AIRLINES"],
    "5732": ["MUSIMUNDO", "COMPUMUNDO", "MEGATONE"],
    "5999": ["MERCADOLIBRE", "TIENDA ÑANDÚ", "LIBRERÍA EL ATENEO"],
    "5651": ["ZARA ARGENTINA", "GRIMOLDI", "CARDON"],
    "7832": ["CINEMARK HOYTS", "SHOWCASE CINES"],
}
_FAMILY = [
    "González", "Rodríguez", "Gómez", "Fernández", "López", "Díaz", "Martínez", "Pérez",
    "García", "Sánchez", "Romero", "Sosa", "Álvarez", "Torres", "Ruiz", "Ramírez", "Flores",
    "Acosta", "Benítez", "Medina", "Núñez", "Peña", "Ibáñez", "Muñoz", "Giménez", "Castaño",
]  # fmt: skip
_GIVEN = [
    "María José", "Juan Pablo", "Sofía", "Joaquín", "Valentina", "Martín", "Lucía", "Tomás",
    "Camila", "Agustín", "Florencia", "Nicolás", "Ana Inés", "Matías", "Julieta", "Iñaki",
    "Begoña", "Ramón", "Mónica", "Germán", "Verónica", "Héctor",
]  # fmt: skip
_STREETS = [
    "Av. Corrientes", "Av. Santa Fe", "Florida", "Av. Rivadavia", "Av. Córdoba", "Lavalle",
    "Av. de Mayo", "Av. Cabildo", "Güemes", "Av. Belgrano", "Bv. Oroño", "San Martín",
]  # fmt: skip
_CITIES = ["CABA", "Rosario", "Córdoba", "La Plata", "Mendoza", "Mar del Plata", "Salta"]
_SEGMENTS = [("CLASICO", 55), ("ORO", 25), ("PLATINUM", 12), ("BLACK", 3), ("PYME", 5)]
_USERS = ["jperez", "mgonzalez", "lfernandez", "cromero", "sacosta"]
_REASONS = [
    "Ajuste por reclamo {n}",
    "Bonificación comercial",
    "Corrección de acreditación duplicada",
    "Reintegro por canje no entregado; ref {n}",
    "Acreditación manual;\nsegún nota de sucursal {n}",
]

# --- the files ------------------------------------------------------------------------------
MEMBER_COLUMNS = [
    "NRO_SOCIO", "TIPO_DOC", "NRO_DOC", "APELLIDO", "NOMBRES", "FEC_NAC", "FEC_ALTA",
    "SEGMENTO", "ESTADO", "EMAIL", "DOMICILIO",
]  # fmt: skip
ACCOUNT_COLUMNS = ["NRO_CUENTA", "NRO_SOCIO", "PRODUCTO", "FEC_ALTA", "ESTADO"]
MOVEMENT_COLUMNS = [
    "ID_MOV", "NRO_SOCIO", "NRO_CUENTA", "FEC_MOV", "HORA_MOV", "TIPO_MOV", "COD_RUBRO",
    "DESC_COMERCIO", "IMPORTE", "MONEDA", "PUNTOS", "ID_MOV_ORIGEN", "FEC_VTO", "MOTIVO",
    "USUARIO",
]  # fmt: skip
BALANCE_COLUMNS = ["NRO_SOCIO", "FEC_CORTE", "SALDO_PUNTOS", "PROX_VTO_PUNTOS", "PROX_VTO_FECHA"]
PARAMETER_COLUMNS = [
    "TIPO_PARAM", "CODIGO", "DESCRIPCION", "VALOR", "VIG_DESDE", "VIG_HASTA",
]  # fmt: skip

#: Defects the generator can write, and the issue code the validation must report.
DEFECTS: dict[str, str] = {
    "duplicate_member": "DUPLICATE_MEMBER",
    "duplicate_account": "DUPLICATE_ACCOUNT",
    "duplicate_movement": "DUPLICATE_MOVEMENT",
    "duplicate_national_id": "DUPLICATE_NATIONAL_ID",
    "orphan_movement": "ORPHAN_MOVEMENT",
    "orphan_account": "ORPHAN_ACCOUNT",
    "orphan_balance": "ORPHAN_BALANCE",
    "unknown_account": "UNKNOWN_ACCOUNT",
    "unknown_origin": "UNKNOWN_ORIGIN",
    "negative_balance": "NEGATIVE_BALANCE",
    "impossible_balance": "IMPOSSIBLE_BALANCE",
    "balance_mismatch": "BALANCE_MISMATCH",
    "missing_balance": "MISSING_BALANCE",
    "bad_check_digit": "INVALID_NATIONAL_ID",
    "bad_dni": "INVALID_NATIONAL_ID",
    "encoding_error": "ENCODING",
    "mojibake": "ENCODING",
    "bad_date": "INVALID_DATE",
    "bad_amount": "INVALID_NUMBER",
    "unknown_code": "UNKNOWN_CODE",
    "missing_value": "MISSING_VALUE",
    "wrong_field_count": "WRONG_FIELD_COUNT",
    "wrong_sign": "IMPOSSIBLE_MOVEMENT",
    "after_cutoff": "MOVEMENT_AFTER_CUTOFF",
    "card_number": "CARD_NUMBER",
}
#: Defects that leave the data importable: the legacy balance disagrees with its movements
#: (a warning, explained after the import by the discrepancy report).
WARNING_DEFECTS = frozenset({"balance_mismatch"})

FILE_NAMES = {
    "members": "SOCIOS_{cut}.csv",
    "accounts": "CUENTAS_{cut}.csv",
    "movements": "MOVIMIENTOS_{cut}.csv",
    "balances": "SALDOS_{cut}.csv",
    "parameters": "PARAMETROS_{cut}.csv",
}


@dataclass(frozen=True)
class Expected:
    """A defect written on purpose: where the validation must find it."""

    defect: str
    code: str
    kind: str  # members | accounts | movements | balances | parameters
    line: int
    column: str | None
    member_no: str | None


@dataclass
class MemberFacts:
    """What the legacy system holds for one member (for the tests' member-by-member proof)."""

    balance: int
    movements: int
    next_expiry_points: int
    next_expiry_on: date | None


@dataclass
class GeneratedExport:
    folder: Path
    cutoff: date
    members: int = 0
    accounts: int = 0
    movements: int = 0
    points_total: int = 0
    expected: list[Expected] = field(default_factory=list)
    #: Members whose data a defect touched (their balance may disagree as a consequence).
    touched: set[str] = field(default_factory=set)
    #: Legacy balance per member number (only kept when ``keep_facts``).
    facts: dict[str, MemberFacts] = field(default_factory=dict)
    #: Movements the balance_mismatch defect left out of a balance: member -> movement id.
    omitted: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


# --- writing --------------------------------------------------------------------------------
def _quote(value: str, delimiter: str = ";") -> str:
    if delimiter in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


class _Writer:
    """Writes records and counts physical lines (quoted fields may span lines)."""

    def __init__(self, stream: IO[bytes], encoding: str, newline: str) -> None:
        self.stream = stream
        self.encoding = encoding
        self.newline = newline
        self.line = 0
        self.buffer: list[bytes] = []

    def row(self, fields: list[str]) -> int:
        """Write one record; returns the line it starts on."""
        start = self.line + 1
        text = ";".join(_quote(f) for f in fields)
        text = text.replace("\r\n", "\n").replace("\n", self.newline) if "\n" in text else text
        self.line += text.count("\n") + 1
        self.buffer.append((text + self.newline).encode(self.encoding))
        if len(self.buffer) >= 4096:
            self.flush()
        return start

    def raw(self, data: bytes) -> int:
        start = self.line + 1
        self.line += data.count(b"\n")
        self.buffer.append(data)
        return start

    def flush(self) -> None:
        self.stream.write(b"".join(self.buffer))
        self.buffer.clear()


def _fmt_date(value: date | None) -> str:
    return "" if value is None else f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def _fmt_points(value: int) -> str:
    text = f"{abs(value):,}".replace(",", ".")
    return f"-{text}" if value < 0 else text


def _fmt_amount(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{cents:02d}"


def _fmt_decimal(value: Decimal) -> str:
    return format(value, "f").replace(".", ",")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def expiry_of(earned: date) -> date:
    month = earned.month - 1 + EXPIRY_MONTHS
    return _month_end(earned.year + month // 12, month % 12 + 1)


def _in_force(entries: list[tuple[date, date | None, Decimal]], on: date) -> Decimal:
    for start, end, value in entries:
        if start <= on and (end is None or on <= end):
            return value
    return entries[-1][2]


def _cap_on(on: date) -> int:
    for start, end, cap in MONTHLY_CAPS:
        if start <= on and (end is None or on <= end):
            return cap
    return MONTHLY_CAPS[-1][2]


_RATE_BY_MCC = {mcc: entries for mcc, _, entries in RATES}
_MULTIPLIER = {legacy: m for legacy, _, m, _ in PRODUCTS}


def legacy_points(amount_minor: int, mcc: str, product: str, on: date) -> int:
    """What the legacy system earned for a purchase, before the monthly cap."""
    amount = Decimal(amount_minor) / 100
    if amount < MINIMUM_PURCHASE:
        return 0
    rate = _in_force(_RATE_BY_MCC.get(mcc) or _RATE_BY_MCC["*"], on)
    return int((amount * rate * _MULTIPLIER[product]).to_integral_value(rounding=ROUND_FLOOR))


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _dni(rng: random.Random, old: bool = False) -> int:
    return rng.randint(1_000_000, 9_999_999) if old else rng.randint(10_000_000, 47_999_999)


def _cuit(prefix: str, body: int) -> str:
    number = f"{prefix}{body:08d}"
    return number + ar_cuit.calc_check_digit(number)


@dataclass
class _Lot:
    expires: date
    remaining: int
    movement_id: int
    points: int


def write_mapping(folder: Path, cut: str, *, program: str | None = None) -> Path:
    path = folder / "mapping.yaml"
    program_line = f"program: {program}\n" if program else ""
    path.write_text(MAPPING_TEMPLATE.format(cut=cut, program_line=program_line), encoding="utf-8")
    return path


MAPPING_TEMPLATE = """\
# How the PuntosPlus CRM export of Banco del Plata maps onto Trama (issue 13).
version: 1
source: PuntosPlus CRM (Banco del Plata)
{program_line}currency: ARS
timezone: America/Argentina/Buenos_Aires
allow_negative_balances: false
files:
  members:
    file: SOCIOS_{cut}.csv
    encoding: latin-1
    delimiter: ";"
    quote: '"'
    header: true
    date_format: dd/mm/yyyy
    columns:
      member_no: NRO_SOCIO
      document_type: TIPO_DOC
      document_number: NRO_DOC
      family_names: APELLIDO
      given_names: NOMBRES
      birth_date: FEC_NAC
      joined_on: FEC_ALTA
      segment: SEGMENTO
      status: ESTADO
      email: EMAIL
      address: DOMICILIO
  accounts:
    file: CUENTAS_{cut}.csv
    encoding: latin-1
    date_format: dd/mm/yyyy
    columns:
      account_no: NRO_CUENTA
      member_no: NRO_SOCIO
      product: PRODUCTO
      opened_on: FEC_ALTA
      status: ESTADO
  movements:
    file: MOVIMIENTOS_{cut}.csv
    encoding: utf-8-sig
    date_format: dd/mm/yyyy
    decimal_separator: ","
    thousands_separator: "."
    columns:
      movement_id: ID_MOV
      member_no: NRO_SOCIO
      account_no: NRO_CUENTA
      occurred_on: FEC_MOV
      occurred_time: HORA_MOV
      kind: TIPO_MOV
      mcc: COD_RUBRO
      merchant: DESC_COMERCIO
      amount: IMPORTE
      currency: MONEDA
      points: PUNTOS
      origin_id: ID_MOV_ORIGEN
      expires_on: FEC_VTO
      reason: MOTIVO
      operator: USUARIO
  balances:
    file: SALDOS_{cut}.csv
    encoding: latin-1
    date_format: dd/mm/yyyy
    columns:
      member_no: NRO_SOCIO
      cutoff: FEC_CORTE
      points: SALDO_PUNTOS
      next_expiry_points: PROX_VTO_PUNTOS
      next_expiry_on: PROX_VTO_FECHA
  parameters:
    file: PARAMETROS_{cut}.csv
    encoding: latin-1
    date_format: dd/mm/yyyy
    decimal_separator: ","
    thousands_separator: "."
    columns:
      kind: TIPO_PARAM
      code: CODIGO
      description: DESCRIPCION
      value: VALOR
      valid_from: VIG_DESDE
      valid_to: VIG_HASTA
codes:
  document_type: {{DNI: AR_DNI, LE: AR_DNI, LC: AR_DNI, CUIL: AR_CUIL, CUIT: AR_CUIT}}
  movement_kind:
    ACU: ACCRUAL
    BON: BONUS
    CAN: REDEMPTION
    VTO: EXPIRY
    AJU: ADJUSTMENT
    REV: REVERSAL
  parameter_kind:
    RUBRO: RATE
    PRODUCTO: MULTIPLIER
    TOPE_MENSUAL: MONTHLY_CAP
    VENCIMIENTO: EXPIRY_MONTHS
    MINIMO: MINIMUM_PURCHASE
  member_status: {{A: ACTIVE, S: SUSPENDED, B: CLOSED}}
  account_status: {{A: ACTIVE, BL: BLOCKED, B: CLOSED}}
  segment: {{CLASICO: CLASSIC, ORO: GOLD, PLATINUM: PLATINUM, BLACK: BLACK, PYME: SME}}
  card_product:
{products}
""".replace(
    "{products}",
    "\n".join(f"    {legacy}: {code}" for legacy, code, _, _ in PRODUCTS).replace("{", "{{"),
)


def generate(
    folder: Path,
    *,
    members: int = 100,
    transactions: int = 2_000,
    seed: int = 1,
    cutoff: date = DEFAULT_CUTOFF,
    defects: dict[str, int] | None = None,
    keep_facts: bool = False,
    program: str | None = None,
    shuffle_movements: bool = False,
    national_ids: list[tuple[str, str]] | None = None,
) -> GeneratedExport:
    """Write a legacy export into ``folder`` (created if needed).

    ``transactions`` is the number of movement lines to aim at (expirations included; the
    result is within a few lines of it). ``national_ids`` gives the documents (legacy type,
    number) of the first members, e.g. to make them Trama customers. ``shuffle_movements``
    writes the movements in a random order instead of member by member (a small export
    only: it holds them in memory)."""
    if not 1 <= members <= 3_000_000:
        raise ValueError("from 1 to 3,000,000 members (each has a national ID of its own)")
    wanted = dict(defects or {})
    for name in wanted:
        if name not in DEFECTS:
            raise ValueError(f"unknown defect {name!r} (known: {', '.join(DEFECTS)})")
    folder.mkdir(parents=True, exist_ok=True)
    cut = cutoff.strftime("%Y%m%d")
    out = GeneratedExport(folder=folder, cutoff=cutoff)
    paths = {kind: folder / name.format(cut=cut) for kind, name in FILE_NAMES.items()}
    out.files = dict(paths)
    write_mapping(folder, cut, program=program)
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible by seed

    # Which member gets which defect: distinct members, chosen up front.
    plan: dict[int, list[str]] = {}
    needed = sum(wanted.values())
    if needed > max(0, members - 2):
        raise ValueError("too many defects for so few members")
    chosen = rng.sample(range(1, members), needed) if needed else []
    position = 0
    for name, count in sorted(wanted.items()):
        for _ in range(count):
            plan.setdefault(chosen[position], []).append(name)
            position += 1

    # Movements per member: an even share with some spread.
    average = transactions / members
    counts = array("i", (max(1, round(average * rng.uniform(0.4, 1.6))) for _ in range(members)))
    target_so_far = 0
    emitted_so_far = 0

    files = {kind: path.open("wb") for kind, path in paths.items()}
    try:
        w_members = _Writer(files["members"], "latin-1", "\r\n")
        w_accounts = _Writer(files["accounts"], "latin-1", "\r\n")
        w_movements = _Writer(files["movements"], "utf-8", "\n")
        w_balances = _Writer(files["balances"], "latin-1", "\r\n")
        w_parameters = _Writer(files["parameters"], "latin-1", "\r\n")
        files["movements"].write(b"\xef\xbb\xbf")
        w_members.row(MEMBER_COLUMNS)
        w_accounts.row(ACCOUNT_COLUMNS)
        w_movements.row(MOVEMENT_COLUMNS)
        w_balances.row(BALANCE_COLUMNS)
        w_parameters.row(PARAMETER_COLUMNS)
        _write_parameters(w_parameters)

        movement_id = 10_000_000
        account_no = 4_100_000_000
        shuffled: list[tuple[int, list[str]]] = []
        previous_documents: list[tuple[str, str]] = []
        for index in range(members):
            member_defects = plan.get(index, [])
            member_no = str(20_000_000 + index * 7 + rng.randint(0, 6))
            if member_defects:
                out.touched.add(member_no)
            target_so_far += counts[index]
            quota = max(1, target_so_far - emitted_so_far)

            # -- the member
            given_doc = national_ids[index] if national_ids and index < len(national_ids) else None
            doc_type, doc_number = given_doc or _document(rng, index)
            if "duplicate_national_id" in member_defects and previous_documents:
                doc_type, doc_number = previous_documents[rng.randrange(len(previous_documents))]
            if len(previous_documents) < 50:
                previous_documents.append((doc_type, doc_number))
            family = rng.choice(_FAMILY)
            given = rng.choice(_GIVEN)
            if "mojibake" in member_defects:
                family = "Muñoz".encode().decode("latin-1")  # "MuÃ±oz"
            if "bad_check_digit" in member_defects:
                doc_type = rng.choice(["CUIL", "CUIT"])
                good = _cuit("27" if doc_type == "CUIL" else "30", _dni(rng))
                doc_number = good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
            if "bad_dni" in member_defects:
                doc_type, doc_number = "DNI", f"{rng.randint(100_000_000, 999_999_999)}"
            joined = PROGRAM_START - timedelta(days=rng.randint(0, 6000))
            if rng.random() < 0.35:
                joined = PROGRAM_START + timedelta(
                    days=rng.randint(0, (cutoff - PROGRAM_START).days - 60)
                )
            birth = date(rng.randint(1940, 2004), rng.randint(1, 12), rng.randint(1, 28))
            street = f"{rng.choice(_STREETS)} {rng.randint(100, 9800)}"
            if rng.random() < 0.1:
                street += f'\nPiso {rng.randint(1, 20)} Depto "{rng.choice("ABCDEF")}"'
            address = f"{street}; {rng.choice(_CITIES)}"
            user_name = f"{_ascii(given.split()[0])}.{_ascii(family)}{rng.randint(1, 99)}"
            email = f"{user_name}@correo.com.ar".lower() if rng.random() < 0.7 else ""
            member_row = [
                member_no.ljust(10),
                doc_type.ljust(4),
                doc_number,
                family.upper().ljust(30),
                given.upper().ljust(30),
                _fmt_date(birth),
                _fmt_date(joined),
                _weighted(rng, _SEGMENTS).ljust(10),
                rng.choices(["A", "S", "B"], weights=[95, 3, 2])[0],
                email,
                address,
            ]
            line = member_line = w_members.row(member_row)
            out.members += 1
            if "duplicate_national_id" in member_defects:
                out.expected.append(
                    Expected(
                        "duplicate_national_id",
                        "DUPLICATE_NATIONAL_ID",
                        "members",
                        line,
                        "NRO_DOC",
                        member_no,
                    )
                )
            if "mojibake" in member_defects:
                out.expected.append(
                    Expected("mojibake", "ENCODING", "members", line, "APELLIDO", member_no)
                )
            if "bad_check_digit" in member_defects or "bad_dni" in member_defects:
                defect = "bad_check_digit" if "bad_check_digit" in member_defects else "bad_dni"
                out.expected.append(
                    Expected(defect, "INVALID_NATIONAL_ID", "members", line, "NRO_DOC", member_no)
                )
            if "duplicate_member" in member_defects:
                line = w_members.row(member_row)
                out.expected.append(
                    Expected(
                        "duplicate_member",
                        "DUPLICATE_MEMBER",
                        "members",
                        line,
                        "NRO_SOCIO",
                        member_no,
                    )
                )

            # -- accounts
            start = max(joined, PROGRAM_START)
            cards: list[tuple[str, str]] = []
            for _ in range(rng.choices([1, 2, 3], weights=[60, 30, 10])[0]):
                account_no += rng.randint(1, 50)
                product = rng.choices([p[0] for p in PRODUCTS], weights=[p[3] for p in PRODUCTS])[0]
                cards.append((str(account_no), product))
                account_row = [str(account_no), member_no, product, _fmt_date(start), "A"]
                line = w_accounts.row(account_row)
                out.accounts += 1
                if "duplicate_account" in member_defects and len(cards) == 1:
                    line = w_accounts.row(account_row)
                    out.expected.append(
                        Expected(
                            "duplicate_account",
                            "DUPLICATE_ACCOUNT",
                            "accounts",
                            line,
                            "NRO_CUENTA",
                            member_no,
                        )
                    )
            if "orphan_account" in member_defects:
                ghost = str(90_000_000 + index)
                account_no += 1
                line = w_accounts.row([str(account_no), ghost, cards[0][1], _fmt_date(start), "A"])
                out.expected.append(
                    Expected(
                        "orphan_account", "ORPHAN_ACCOUNT", "accounts", line, "NRO_SOCIO", ghost
                    )
                )

            # -- history
            rows, lots, movement_id = _history(
                rng, member_no, cards, start, cutoff, quota, movement_id
            )
            balance = sum(r.points for r in rows)
            credited = sum(r.points for r in rows if r.points > 0)
            open_lots = [lot for lot in lots if lot.remaining > 0]
            next_on = min((lot.expires for lot in open_lots), default=None)
            next_points = sum(lot.remaining for lot in open_lots if lot.expires == next_on)
            emitted_so_far += len(rows)
            out.points_total += balance

            written: list[tuple[int, _Movement]] = []
            for movement in rows:
                fields = movement.fields(member_no)
                written.append((0, movement))
                if shuffle_movements:
                    shuffled.append((len(shuffled), fields))
                    continue
                line = w_movements.row(fields)
                written[-1] = (line, movement)
            line_of = {m.id: ln for ln, m in written}

            # -- movement defects (each on one movement of this member)
            for defect in member_defects:
                result = _movement_defect(
                    defect,
                    rng,
                    member_no,
                    index,
                    rows,
                    cards,
                    cutoff,
                    w_movements,
                    line_of,
                    movement_id,
                )
                if result is None:
                    continue
                movement_id += 1
                out.expected.append(result)
                out.movements += 1

            out.movements += len(rows)
            # -- balance
            legacy_balance = balance
            if "balance_mismatch" in member_defects:
                # a movement the balance leaves out (and nothing else wrong with it: the
                # balance stays positive and above the points that expire next)
                candidates = [
                    r
                    for r in rows
                    if r.kind in ("ACU", "BON", "CAN") and balance - r.points >= next_points
                ]
                if candidates:
                    omitted = candidates[rng.randrange(len(candidates))]
                    legacy_balance = balance - omitted.points
                    out.omitted[member_no] = str(omitted.id)
            if "negative_balance" in member_defects:
                legacy_balance = -rng.randint(100, 5_000)
            if "impossible_balance" in member_defects:
                legacy_balance = credited + rng.randint(1_000, 50_000)
            if keep_facts:
                out.facts[member_no] = MemberFacts(legacy_balance, len(rows), next_points, next_on)
            if "missing_balance" not in member_defects:
                line = w_balances.row(
                    [
                        member_no,
                        _fmt_date(cutoff),
                        _fmt_points(legacy_balance),
                        _fmt_points(next_points) if next_on else "",
                        _fmt_date(next_on),
                    ]
                )
                for defect, code in (
                    ("balance_mismatch", "BALANCE_MISMATCH"),
                    ("negative_balance", "NEGATIVE_BALANCE"),
                    ("impossible_balance", "IMPOSSIBLE_BALANCE"),
                ):
                    if defect in member_defects and (
                        defect != "balance_mismatch" or member_no in out.omitted
                    ):
                        out.expected.append(
                            Expected(defect, code, "balances", line, "SALDO_PUNTOS", member_no)
                        )
            else:
                out.expected.append(
                    Expected(
                        "missing_balance",
                        "MISSING_BALANCE",
                        "members",
                        member_line,
                        "NRO_SOCIO",
                        member_no,
                    )
                )
            if "orphan_balance" in member_defects:
                ghost = str(95_000_000 + index)
                line = w_balances.row([ghost, _fmt_date(cutoff), "1.000", "", ""])
                out.expected.append(
                    Expected(
                        "orphan_balance", "ORPHAN_BALANCE", "balances", line, "NRO_SOCIO", ghost
                    )
                )

        if shuffle_movements:
            rng.shuffle(shuffled)
            for _, fields in shuffled:
                w_movements.row(fields)
        for writer in (w_members, w_accounts, w_movements, w_balances, w_parameters):
            writer.flush()
    finally:
        for stream in files.values():
            stream.close()
    return out


def _ascii(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalpha())


def _document(rng: random.Random, index: int) -> tuple[str, str]:
    """A document of the ``index``-th member: random, but never another member's person
    (each member's number comes from a range of its own)."""
    person = 10_000_000 + index * 12 + rng.randrange(12)
    roll = rng.random()
    if roll < 0.62:
        text = f"{person:,}".replace(",", ".") if rng.random() < 0.4 else str(person)
        return "DNI", text
    if roll < 0.67:
        return rng.choice(["LE", "LC"]), str(1_000_000 + index * 2 + rng.randrange(2))
    if roll < 0.95:
        value = _cuit(rng.choice(["20", "27", "23"]), person)
        return "CUIL", f"{value[:2]}-{value[2:10]}-{value[10]}" if rng.random() < 0.5 else value
    value = _cuit(rng.choice(["30", "33"]), 50_000_000 + index * 7 + rng.randrange(7))
    return "CUIT", f"{value[:2]}-{value[2:10]}-{value[10]}"


@dataclass
class _Movement:
    id: int
    account: str
    on: date
    time: str
    kind: str
    mcc: str = ""
    merchant: str = ""
    amount: int | None = None
    points: int = 0
    origin: int | None = None
    expires: date | None = None
    reason: str = ""
    user: str = ""

    def fields(self, member_no: str) -> list[str]:
        return [
            str(self.id),
            member_no,
            self.account,
            _fmt_date(self.on),
            self.time,
            self.kind,
            self.mcc,
            self.merchant,
            "" if self.amount is None else _fmt_amount(self.amount),
            "ARS" if self.amount is not None else "",
            _fmt_points(self.points),
            "" if self.origin is None else str(self.origin),
            _fmt_date(self.expires),
            self.reason,
            self.user,
        ]


def _consume(lots: list[_Lot], points: int) -> None:
    """Take ``points`` from the open lots, earliest expiry first (then oldest)."""
    for lot in sorted(
        (lot for lot in lots if lot.remaining > 0), key=lambda x: (x.expires, x.movement_id)
    ):
        if points <= 0:
            return
        taken = min(lot.remaining, points)
        lot.remaining -= taken
        points -= taken


def _history(
    rng: random.Random,
    member_no: str,
    cards: list[tuple[str, str]],
    start: date,
    cutoff: date,
    quota: int,
    movement_id: int,
) -> tuple[list[_Movement], list[_Lot], int]:
    """One member's movements from ``start`` to the cut-off, about ``quota`` of them."""
    rows: list[_Movement] = []
    lots: list[_Lot] = []
    span = (cutoff - start).days
    planned = sorted(start + timedelta(days=rng.randint(0, span)) for _ in range(quota))
    month_earned: dict[tuple[int, int], int] = {}

    def add(movement: _Movement) -> _Movement:
        rows.append(movement)
        return movement

    last: list[Any] = [date.min, 0]

    def clock(day: date) -> str:
        """A time of day after the member's previous movement of that day (the legacy
        system orders a member's movements by date and time)."""
        earliest = last[1] + 1 if last[0] == day else 8 * 3600
        second = min(86_399, max(earliest, rng.randint(8 * 3600, 21 * 3600)))
        if second < earliest:
            second = earliest
        last[0], last[1] = day, second
        return f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"

    def expire_until(day: date) -> None:
        """The legacy expiry run: on the day after each expiry date, the rest of the lots
        that expired that day, as one movement."""
        nonlocal movement_id
        due: dict[date, int] = {}
        for lot in lots:
            if lot.remaining > 0 and lot.expires < day:
                due[lot.expires] = due.get(lot.expires, 0) + lot.remaining
        for expires in sorted(due):
            movement_id += 1
            run_day = expires + timedelta(days=1)
            add(
                _Movement(
                    movement_id,
                    "",
                    run_day,
                    "03:00:00",
                    "VTO",
                    points=-due[expires],
                    expires=expires,
                )
            )
            for lot in lots:
                if lot.expires == expires:
                    lot.remaining = 0

    accruals: list[tuple[_Movement, _Lot]] = []
    if rng.random() < 0.5:
        movement_id += 1
        bonus_day = start
        if bonus_day <= cutoff:
            expires = expiry_of(bonus_day)
            add(
                _Movement(
                    movement_id,
                    cards[0][0],
                    bonus_day,
                    clock(bonus_day),
                    "BON",
                    points=WELCOME_BONUS,
                    expires=expires,
                    reason="Bienvenida PuntosPlus",
                )
            )
            lots.append(_Lot(expires, WELCOME_BONUS, movement_id, WELCOME_BONUS))

    for day in planned:
        if len(rows) >= quota:
            break
        expire_until(day)
        if len(rows) >= quota:
            break
        balance = sum(lot.remaining for lot in lots)
        roll = rng.random()
        movement_id += 1
        if roll < 0.07 and balance >= REWARD_COSTS[0]:
            cost = rng.choice([c for c in REWARD_COSTS if c <= balance])
            _consume(lots, cost)
            add(
                _Movement(
                    movement_id, "", day, clock(day), "CAN", points=-cost,
                    reason=f"Canje catálogo #{rng.randint(100, 999)}",
                )
            )  # fmt: skip
        elif roll < 0.085:
            positive = rng.random() < 0.6 or balance < 200
            points = rng.choice([100, 250, 500, 1_000, 1_500, 3_000])
            user = rng.choice(_USERS)
            reason = rng.choice(_REASONS).format(n=rng.randint(10_000, 99_999))
            if positive:
                expires = expiry_of(day)
                lots.append(_Lot(expires, points, movement_id, points))
                add(
                    _Movement(
                        movement_id,
                        "",
                        day,
                        clock(day),
                        "AJU",
                        points=points,
                        expires=expires,
                        reason=reason,
                        user=user,
                    )
                )
            else:
                points = min(points, balance)
                _consume(lots, points)
                add(
                    _Movement(
                        movement_id,
                        "",
                        day,
                        clock(day),
                        "AJU",
                        points=-points,
                        reason=reason,
                        user=user,
                    )
                )
        elif roll < 0.105:
            # A refund: a recent purchase whose points are all still there.
            recent = [
                (m, lot)
                for m, lot in accruals
                if (day - m.on).days <= 45 and lot.remaining == lot.points
            ]
            if recent:
                original, lot = recent[rng.randrange(len(recent))]
                lot.remaining = 0
                assert original.amount is not None
                add(
                    _Movement(
                        movement_id,
                        original.account,
                        day,
                        clock(day),
                        "REV",
                        original.mcc,
                        original.merchant,
                        -original.amount,
                        -original.points,
                        original.id,
                        reason="Anulación de compra",
                    )
                )
            else:
                movement_id -= 1
        else:
            account, product = cards[rng.randrange(len(cards))]
            mcc = _weighted(rng, _MCC_WEIGHTS)
            amount = round(pow(10, rng.uniform(3.2, 5.6))) * 100 + rng.randint(0, 99)
            points = legacy_points(amount, mcc, product, day)
            month = (day.year, day.month)
            room = _cap_on(day) - month_earned.get(month, 0)
            points = max(0, min(points, room))
            if points <= 0:
                movement_id -= 1
                continue
            month_earned[month] = month_earned.get(month, 0) + points
            expires = expiry_of(day)
            merchant = rng.choice(_MERCHANTS.get(mcc, ["COMERCIO ADHERIDO"]))
            add(
                _Movement(
                    movement_id,
                    account,
                    day,
                    clock(day),
                    "ACU",
                    mcc,
                    f"{merchant} SUC {rng.randint(1, 300)}",
                    amount,
                    points,
                    expires=expires,
                )
            )
            lot = _Lot(expires, points, movement_id, points)
            lots.append(lot)
            accruals.append((rows[-1], lot))
    expire_until(cutoff)
    return rows, lots, movement_id


def _movement_defect(
    defect: str,
    rng: random.Random,
    member_no: str,
    index: int,
    rows: list[_Movement],
    cards: list[tuple[str, str]],
    cutoff: date,
    w: _Writer,
    line_of: dict[int, int],
    next_id: int,
) -> Expected | None:
    """Write one defective movement line for ``defect``; None when it is not a movement
    defect. Returns what the validation must find."""
    new_id = next_id + 1
    day = cutoff - timedelta(days=rng.randint(1, 200))
    base = _Movement(
        new_id,
        "",
        day,
        "12:00:00",
        "AJU",
        points=500,
        expires=expiry_of(day),
        reason="Ajuste",
        user="jperez",
    )
    if defect == "duplicate_movement":
        original = rows[rng.randrange(len(rows))]
        line = w.row(original.fields(member_no))
        return Expected(defect, "DUPLICATE_MOVEMENT", "movements", line, "ID_MOV", member_no)
    if defect == "orphan_movement":
        ghost = str(99_000_000 + index)
        line = w.row(base.fields(ghost))
        return Expected(defect, "ORPHAN_MOVEMENT", "movements", line, "NRO_SOCIO", ghost)
    if defect == "unknown_account":
        amount = 500_000
        mcc = "5411"
        points = legacy_points(amount, mcc, "VISA CLASICA", day)
        movement = _Movement(
            new_id,
            "4999999999",
            day,
            "12:00:00",
            "ACU",
            mcc,
            "COTO CICSA SUC 1",
            amount,
            points,
            expires=expiry_of(day),
        )
        line = w.row(movement.fields(member_no))
        return Expected(defect, "UNKNOWN_ACCOUNT", "movements", line, "NRO_CUENTA", member_no)
    if defect == "unknown_origin":
        movement = _Movement(
            new_id,
            cards[0][0],
            day,
            "12:00:00",
            "REV",
            "5411",
            "COTO CICSA SUC 1",
            -100_000,
            -20,
            origin=1,
        )
        line = w.row(movement.fields(member_no))
        return Expected(defect, "UNKNOWN_ORIGIN", "movements", line, "ID_MOV_ORIGEN", member_no)
    if defect == "encoding_error":
        fields = base.fields(member_no)
        data = (
            ";".join(_quote(f) for f in fields[:7]).encode("utf-8")
            + b";PANADERIA LA ESPA\xd1OLA;"
            + ";".join(_quote(f) for f in fields[8:]).encode("utf-8")
            + b"\n"
        )
        line = w.raw(data)
        return Expected(defect, "ENCODING", "movements", line, "DESC_COMERCIO", member_no)
    if defect == "bad_date":
        fields = base.fields(member_no)
        fields[3] = "31/02/2025"
        line = w.row(fields)
        return Expected(defect, "INVALID_DATE", "movements", line, "FEC_MOV", member_no)
    if defect == "bad_amount":
        fields = _Movement(
            new_id,
            cards[0][0],
            day,
            "12:00:00",
            "ACU",
            "5411",
            "COTO",
            150_000,
            30,
            expires=expiry_of(day),
        ).fields(member_no)
        fields[8] = "1.500,00,5"
        line = w.row(fields)
        return Expected(defect, "INVALID_NUMBER", "movements", line, "IMPORTE", member_no)
    if defect == "unknown_code":
        fields = base.fields(member_no)
        fields[5] = "XFR"
        line = w.row(fields)
        return Expected(defect, "UNKNOWN_CODE", "movements", line, "TIPO_MOV", member_no)
    if defect == "missing_value":
        fields = base.fields(member_no)
        fields[10] = ""
        line = w.row(fields)
        return Expected(defect, "MISSING_VALUE", "movements", line, "PUNTOS", member_no)
    if defect == "wrong_field_count":
        fields = base.fields(member_no)
        del fields[13]
        line = w.row(fields)
        return Expected(defect, "WRONG_FIELD_COUNT", "movements", line, None, member_no)
    if defect == "wrong_sign":
        fields = base.fields(member_no)
        fields[5] = "CAN"
        fields[10] = "2.000"
        fields[12] = ""
        line = w.row(fields)
        return Expected(defect, "IMPOSSIBLE_MOVEMENT", "movements", line, "PUNTOS", member_no)
    if defect == "after_cutoff":
        fields = base.fields(member_no)
        fields[3] = _fmt_date(cutoff + timedelta(days=3))
        line = w.row(fields)
        return Expected(defect, "MOVEMENT_AFTER_CUTOFF", "movements", line, "FEC_MOV", member_no)
    if defect == "card_number":
        fields = base.fields(member_no)
        fields[13] = "Reclamo tarjeta " + _spaced(
            _luhn_complete(f"450995{rng.randint(0, 10**9 - 1):09d}")
        )
        line = w.row(fields)
        return Expected(defect, "CARD_NUMBER", "movements", line, "MOTIVO", member_no)
    return None


def _luhn_complete(body: str) -> str:
    """``body`` with the Luhn check digit that makes it a card number."""
    for digit in "0123456789":
        if pan.luhn_valid(body + digit):
            return body + digit
    raise AssertionError(body)


def _spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _write_parameters(w: _Writer) -> None:
    for mcc, description, entries in RATES:
        for start, end, rate in entries:
            w.row(["RUBRO", mcc, description, _fmt_decimal(rate), _fmt_date(start), _fmt_date(end)])
    for legacy, _, multiplier, _ in PRODUCTS:
        w.row(
            [
                "PRODUCTO",
                legacy,
                f"Multiplicador {legacy.title()}",
                _fmt_decimal(multiplier),
                _fmt_date(PROGRAM_START),
                "",
            ]
        )
    for start, end, cap in MONTHLY_CAPS:
        w.row(
            [
                "TOPE_MENSUAL",
                "*",
                "Tope mensual de puntos por socio",
                _fmt_points(cap),
                _fmt_date(start),
                _fmt_date(end),
            ]
        )
    w.row(
        [
            "VENCIMIENTO",
            "*",
            "Meses hasta el vencimiento (fin de mes)",
            str(EXPIRY_MONTHS),
            _fmt_date(PROGRAM_START),
            "",
        ]
    )
    w.row(
        [
            "MINIMO",
            "*",
            "Compra mínima en pesos",
            _fmt_amount(int(MINIMUM_PURCHASE) * 100),
            _fmt_date(PROGRAM_START),
            "",
        ]
    )


def iter_lines(path: Path, encoding: str) -> Iterator[str]:
    """The text lines of a generated file (tests)."""
    with path.open(encoding=encoding, newline="") as stream:
        yield from stream
