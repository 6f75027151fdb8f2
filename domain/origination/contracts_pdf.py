"""The contract PDF: the accepted offer's figures laid out in Spanish, with fpdf2.

The output depends only on :class:`ContractTerms`: the creation date written into the PDF
is the contract's issue instant (the domain clock's, kept on the contract), and nothing
else varies (no random ids), so the same offer renders to the same bytes and the SHA-256
kept with the contract can be recomputed.

The signature boxes carry DocuSeal text field tags (``{{Firma;role=Cliente;type=signature}}``):
a PDF sent to ``POST /api/submissions/pdf`` becomes a form with a signature field per party
where the tag is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from fpdf import FPDF

from domain.shared.money import exponent
from domain.shared.time import ensure_utc

_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


@dataclass(frozen=True)
class Party:
    name: str
    id_label: str  # "RUT 12.345.678-5", "CUIT 20-…"
    address: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ScheduleRow:
    number: int
    due_date: str  # ISO date
    installment: int
    interest: int
    principal: int
    balance: int


@dataclass(frozen=True)
class ContractTerms:
    reference: str
    application_reference: str
    issued_at: datetime
    #: The lender's city/country line for "En <lugar>, a <fecha>".
    place: str
    lender: Party
    customer: Party
    vehicle: str | None
    vehicle_price: int | None
    down_payment: int
    currency: str
    principal: int
    annual_rate: Decimal
    term_months: int
    installment: int
    cae: Decimal
    total_interest: int
    total_paid: int
    disbursement_date: str
    scheme: str
    schedule: tuple[ScheduleRow, ...] = field(default_factory=tuple)
    customer_role: str = "Cliente"
    lender_role: str = "Acreedor"


def amount_text(amount: int, currency: str) -> str:
    """``CLP 12.345.678`` / ``USD 1.234,50``: Spanish grouping, the currency's decimals."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    grouped = f"{whole:,}".replace(",", ".")
    return f"{currency} {sign}{grouped}" + (f",{frac:0{exp}d}" if exp else "")


def percent_text(rate: Decimal) -> str:
    """A fraction as a percentage with two decimals and a decimal comma (``24,90 %``)."""
    value = (Decimal(rate) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{value:.2f}".replace(".", ",") + " %"


def date_text(value: date) -> str:
    return f"{value.day} de {_MONTHS[value.month - 1]} de {value.year}"


def _latin1(text: str) -> str:
    """The core fonts speak Latin-1: keep Spanish letters, replace what they cannot show."""
    table = {"\u2014": "-", "\u2013": "-", "\u201c": '"', "\u201d": '"', "\u2019": "'"}
    text = "".join(table.get(ch, ch) for ch in text)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, reference: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._reference = reference

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(
            0,
            5,
            _latin1(f"Contrato {self._reference} - página {self.page_no()} de {{nb}}"),
            align="C",
        )


def render_contract(terms: ContractTerms) -> bytes:
    """The contract as PDF bytes (same terms, same bytes)."""
    pdf = _Document(terms.reference)
    pdf.set_creation_date(ensure_utc(terms.issued_at))
    pdf.set_title(_latin1(f"Contrato de crédito automotriz {terms.reference}"))
    pdf.set_author(_latin1(terms.lender.name))
    pdf.set_subject(_latin1(f"Solicitud {terms.application_reference}"))
    pdf.set_creator("Trama")
    pdf.set_producer("Trama")
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(18, 16, 18)
    pdf.add_page()
    width = pdf.epw
    money = terms.currency

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(width, 6, _latin1(text))
        pdf.set_font("Helvetica", size=10)

    def para(text: str) -> None:
        pdf.multi_cell(width, 5, _latin1(text), align="J")
        pdf.ln(1)

    pdf.set_font("Helvetica", style="B", size=14)
    pdf.multi_cell(width, 8, _latin1("CONTRATO DE CRÉDITO AUTOMOTRIZ"), align="C")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        width,
        5,
        _latin1(f"N° {terms.reference} - Solicitud {terms.application_reference}"),
        align="C",
    )
    pdf.ln(3)
    issued = ensure_utc(terms.issued_at).date()
    para(f"En {terms.place}, a {date_text(issued)}, comparecen:")

    heading("PRIMERO: Las partes")
    lender = terms.lender
    para(
        f'(a) {lender.name}, {lender.id_label}, en adelante "el Acreedor"; y '
        f"(b) {terms.customer.name}, {terms.customer.id_label}"
        + (f", con domicilio en {terms.customer.address}" if terms.customer.address else "")
        + (f", correo electrónico {terms.customer.email}" if terms.customer.email else "")
        + ', en adelante "el Deudor".'
    )

    heading("SEGUNDO: Objeto")
    if terms.vehicle:
        vehicle = f"la adquisición del vehículo {terms.vehicle}"
        if terms.vehicle_price is not None:
            vehicle += f", de precio {amount_text(terms.vehicle_price, money)}"
        if terms.down_payment:
            vehicle += f", con un pie de {amount_text(terms.down_payment, money)}"
    else:
        vehicle = "la adquisición de un vehículo"
    para(
        f"El Acreedor otorga al Deudor un crédito para {vehicle}. El Deudor declara conocer "
        "y aceptar las condiciones de la oferta que aceptó en la plataforma, que se "
        "transcriben a continuación."
    )

    heading("TERCERO: Condiciones del crédito")
    rows = (
        ("Monto del crédito (capital)", amount_text(terms.principal, money)),
        ("Tasa de interés nominal anual", percent_text(terms.annual_rate)),
        ("Plazo", f"{terms.term_months} meses"),
        ("Sistema de amortización", _scheme_text(terms.scheme)),
        ("Valor de la cuota mensual", amount_text(terms.installment, money)),
        ("Carga Anual Equivalente (CAE)", percent_text(terms.cae)),
        ("Total de intereses", amount_text(terms.total_interest, money)),
        ("Costo total del crédito", amount_text(terms.total_paid, money)),
        ("Fecha de desembolso", date_text(date.fromisoformat(terms.disbursement_date))),
    )
    pdf.set_font("Helvetica", size=10)
    for label, value in rows:
        pdf.cell(width * 0.55, 6, _latin1(label), border=1)
        pdf.cell(
            width * 0.45, 6, _latin1(value), border=1, align="R", new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(2)
    para(
        "La CAE es el indicador que permite comparar el costo total de créditos de igual "
        "monto y plazo; incluye intereses y gastos asociados al crédito."
    )

    heading("CUARTO: Tabla de desarrollo")
    _schedule_table(pdf, terms, width)

    heading("QUINTO: Pago y mora")
    para(
        "El Deudor pagará las cuotas en las fechas indicadas en la tabla de desarrollo. El "
        "atraso en el pago de una cuota devengará el interés moratorio que permita la ley, "
        "sin exceder la tasa máxima convencional, desde la fecha de vencimiento hasta el pago."
    )
    heading("SEXTO: Prepago")
    para(
        "El Deudor podrá pagar anticipadamente todo o parte del crédito, con la comisión "
        "de prepago que permita la ley."
    )
    heading("SÉPTIMO: Firma electrónica")
    para(
        "Las partes firman este contrato electrónicamente. La huella SHA-256 del documento "
        "firmado y el registro de auditoría de la firma quedan guardados con el crédito."
    )

    _signatures(pdf, terms, width)
    out = pdf.output()
    return bytes(out)


def _scheme_text(scheme: str) -> str:
    return {
        "FRENCH": "cuota fija (francés)",
        "GERMAN": "amortización constante (alemán)",
        "BULLET": "pago al vencimiento",
    }.get(scheme, scheme)


def _schedule_table(pdf: FPDF, terms: ContractTerms, width: float) -> None:
    columns = (("N°", 0.08), ("Vencimiento", 0.2), ("Cuota", 0.18), ("Interés", 0.18),
               ("Capital", 0.18), ("Saldo", 0.18))  # fmt: skip
    money = terms.currency

    def header() -> None:
        pdf.set_font("Helvetica", style="B", size=8)
        for title, share in columns:
            pdf.cell(width * share, 5, _latin1(title), border=1, align="C")
        pdf.ln()
        pdf.set_font("Helvetica", size=8)

    header()
    for row in terms.schedule:
        if pdf.will_page_break(5):
            pdf.add_page()
            header()
        values = (
            str(row.number),
            row.due_date,
            amount_text(row.installment, money),
            amount_text(row.interest, money),
            amount_text(row.principal, money),
            amount_text(row.balance, money),
        )
        for (_, share), value in zip(columns, values, strict=True):
            pdf.cell(width * share, 5, _latin1(value), border=1, align="R")
        pdf.ln()
    pdf.set_font("Helvetica", size=10)


def _signatures(pdf: FPDF, terms: ContractTerms, width: float) -> None:
    if pdf.will_page_break(45):
        pdf.add_page()
    pdf.ln(8)
    half = width / 2
    top = pdf.get_y()
    for index, (party, role, title) in enumerate(
        (
            (terms.customer, terms.customer_role, "Deudor"),
            (terms.lender, terms.lender_role, "Acreedor"),
        )
    ):
        x = pdf.l_margin + index * half
        pdf.set_xy(x + 4, top)
        # DocuSeal's text tag: the signature field of this role goes here.
        pdf.set_font("Helvetica", size=7)
        pdf.set_text_color(255, 255, 255)
        pdf.cell(half - 8, 18, _latin1(f"{{{{Firma {title};role={role};type=signature}}}}"))
        pdf.set_text_color(0, 0, 0)
        pdf.set_xy(x + 4, top + 20)
        pdf.set_font("Helvetica", size=9)
        pdf.cell(half - 8, 0, "", border="T")
        pdf.set_xy(x + 4, top + 21)
        pdf.multi_cell(half - 8, 4, _latin1(f"{title}\n{party.name}\n{party.id_label}"), align="C")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schedule_rows(rows: list[dict[str, Any]]) -> tuple[ScheduleRow, ...]:
    """The offer's stored schedule (``number, due_date, installment, interest, principal,
    balance``; amounts as minor-unit integers or their text) as rows."""
    out = []
    for row in rows:
        out.append(
            ScheduleRow(
                number=int(row["number"]),
                due_date=str(row["due_date"]),
                installment=int(row["installment"]),
                interest=int(row["interest"]),
                principal=int(row["principal"]),
                balance=int(row["balance"]),
            )
        )
    return tuple(out)
