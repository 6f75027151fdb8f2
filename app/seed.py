"""Demo network for development and benchmarks: ``trama seed [--customers N]``.

Deterministic: the same N gives the same people, and running it again adds only what is
missing, so it is safe on every start.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from domain.customers import service as customers
from domain.customers.rules import Address
from domain.identity import service as identity
from domain.partners import service as partners
from domain.partners.models import Partner, PartnerKind
from domain.shared.principal import SYSTEM

PARTNERS = [
    ("BANCO_ANDINO", "Banco Andino", "CL", PartnerKind.ISSUER),
    ("RETAIL_SUR", "Retail Sur Servicios Financieros", "CL", PartnerKind.RETAILER),
    ("AUTOCREDITO", "AutoCrédito Club", "CL", PartnerKind.LENDER),
    ("BANCO_PAMPA", "Banco de la Pampa", "AR", PartnerKind.BANK),
    ("TARJETA_PLATA", "Tarjeta Plata", "AR", PartnerKind.ISSUER),
    ("CLUB_PUNTOS", "Club Puntos", "AR", PartnerKind.LOYALTY),
]

GIVEN = [
    "María José",
    "Camila",
    "Valentina",
    "Javiera",
    "Catalina",
    "Fernanda",
    "Sofía",
    "Martina",
    "Florencia",
    "Agustina",
    "Lucía",
    "Josefa",
    "Isidora",
    "Antonella",
    "Daniela",
    "Juan Pablo",
    "Matías",
    "Benjamín",
    "Vicente",
    "Tomás",
    "Joaquín",
    "Santiago",
    "Martín",
    "Lucas",
    "Nicolás",
    "Sebastián",
    "Diego",
    "Facundo",
    "Cristóbal",
    "Ignacio",
    "Agustín",
]
FAMILY = [
    "González",
    "Muñoz",
    "Rojas",
    "Díaz",
    "Pérez",
    "Soto",
    "Contreras",
    "Silva",
    "Martínez",
    "Sepúlveda",
    "Morales",
    "Rodríguez",
    "López",
    "Fuentes",
    "Hernández",
    "Torres",
    "Araya",
    "Flores",
    "Espinoza",
    "Valenzuela",
    "Castillo",
    "Tapia",
    "Reyes",
    "Gutiérrez",
    "Castro",
    "Fernández",
    "García",
    "Romero",
    "Sosa",
    "Álvarez",
    "Ruiz",
    "Benítez",
    "Acosta",
    "Medina",
    "Herrera",
    "Suárez",
    "Aguirre",
    "Giménez",
    "Gómez",
    "Núñez",
]
CL_PLACES = [
    ("Providencia", "Región Metropolitana"),
    ("Ñuñoa", "Región Metropolitana"),
    ("Viña del Mar", "Valparaíso"),
    ("Concepción", "Biobío"),
    ("Temuco", "La Araucanía"),
    ("Antofagasta", "Antofagasta"),
]
AR_PLACES = [
    ("Palermo", "Ciudad Autónoma de Buenos Aires"),
    ("Rosario", "Santa Fe"),
    ("Córdoba", "Córdoba"),
    ("Mendoza", "Mendoza"),
    ("La Plata", "Buenos Aires"),
]
STREETS = [
    "Av. Providencia",
    "Los Leones",
    "Irarrázaval",
    "Av. Libertador",
    "Corrientes",
    "San Martín",
    "Av. Colón",
    "Belgrano",
    "O'Higgins",
    "Las Heras",
]


def rut_check_digit(body: int) -> str:
    total, factor = 0, 2
    for digit in reversed(str(body)):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    rest = 11 - total % 11
    return {11: "0", 10: "K"}.get(rest, str(rest))


def cuil_check_digit(prefix: str, dni: str) -> int | None:
    weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    digits = prefix + dni
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if rest == 11:
        return 0
    if rest == 10:
        return None  # that prefix cannot carry this DNI; the registry uses 23 instead
    return rest


def _valid_phone(rng: random.Random, prefix: str, low: int, high: int) -> str:
    """A number in a range the numbering plan has actually assigned."""
    while True:
        candidate = f"{prefix}{rng.randrange(low, high)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def _person(i: int, country: str) -> customers.CustomerDraft:
    rng = random.Random(i * 7919 + (1 if country == "CL" else 2))
    given = rng.choice(GIVEN)
    family = f"{rng.choice(FAMILY)} {rng.choice(FAMILY)}"
    local = f"{given.split()[0]}.{family.split()[0]}{i}".lower()
    email = (
        local.replace("á", "a")
        .replace("é", "e")
        .replace("í", "i")
        .replace("ó", "o")
        .replace("ú", "u")
        .replace("ñ", "n")
        + "@example.com"
    )
    if country == "CL":
        body = 10_000_000 + i * 37 % 15_000_000 + i
        national = ("CL_RUT", f"{body}-{rut_check_digit(body)}")
        phone = _valid_phone(rng, "+569", 20_000_000, 99_999_999)
        city, region = rng.choice(CL_PLACES)
    else:
        dni = f"{20_000_000 + i * 53 % 20_000_000 + i:08d}"
        prefix = "27" if i % 2 else "20"
        check = cuil_check_digit(prefix, dni)
        if check is None:
            prefix = "23"
            check = cuil_check_digit(prefix, dni)
        national = ("AR_CUIL", f"{prefix}{dni}{check}") if i % 3 else ("AR_DNI", dni)
        phone = _valid_phone(rng, "+54911", 30_000_000, 69_999_999)
        city, region = rng.choice(AR_PLACES)
    return customers.CustomerDraft(
        national_id_type=national[0],
        national_id=national[1],
        given_names=given,
        family_names=family,
        email=email,
        phone=phone,
        address=Address(
            line1=f"{rng.choice(STREETS)} {rng.randrange(100, 9999)}",
            line2=None if rng.random() < 0.6 else f"Depto {rng.randrange(1, 200)}",
            city=city,
            region=region,
            postal_code=None,
            country=country,
        ),
        consent_marketing=rng.random() < 0.4,
        # about two in five share their data with the network: the others are masked to
        # every partner but their own and those they deal with (issue 9's rule)
        consent_data_sharing=rng.random() < 0.4,
    )


@dataclass
class SeedReport:
    partners: int = 0
    users: int = 0
    clients: int = 0
    customers: int = 0
    credits: int = 0
    cases: int = 0
    statement_lines: int = 0
    vehicles: int = 0

    def describe(self) -> str:
        return (
            f"added {self.partners} partners, {self.users} users, {self.clients} clients, "
            f"{self.customers} customers, {self.credits} credits, {self.cases} cases, "
            f"{self.statement_lines} bank statement lines, {self.vehicles} vehicles"
        )


async def _partners(session: AsyncSession, report: SeedReport) -> list[Partner]:
    out = []
    for code, name, country, kind in PARTNERS:
        partner = await partners.find_by_code(session, code)
        if partner is None:
            partner = await partners.create_partner(
                session, principal=SYSTEM, code=code, name=name, country=country, kind=kind
            )
            report.partners += 1
        out.append(partner)
    return out


async def _users(session: AsyncSession, all_partners: list[Partner], report: SeedReport) -> None:
    wanted: list[tuple[str, str, Partner | None, list[str]]] = []
    for p in all_partners:
        slug = p.code.lower().replace("_", "")
        wanted.append((f"agent@{slug}", f"Agente {p.name}", p, ["agent"]))
        wanted.append((f"supervisor@{slug}", f"Supervisora {p.name}", p, ["supervisor"]))
    wanted.append(("viewer@trama", "Analista de Red", None, ["network_viewer"]))
    wanted.append(("investor@trama", "Inversionista Demo", None, ["investor"]))
    wanted.append(("admin@trama", "Administración Trama", None, ["admin"]))
    for subject, name, partner, roles in wanted:
        if await identity.find_user_by_subject(session, subject) is None:
            await identity.create_user(
                session,
                principal=SYSTEM,
                subject=subject,
                display_name=name,
                email=f"{subject.replace('@', '.')}@example.com",
                partner_id=partner.id if partner else None,
                roles=roles,
            )
            report.users += 1


def _read_secrets(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_secrets(path: Path, secrets: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(secrets, indent=2))


async def _clients(
    session: AsyncSession, all_partners: list[Partner], secrets_file: Path, report: SeedReport
) -> None:
    """One partner_system client per partner; secrets go to a 0600 file for development."""
    secrets = await asyncio.to_thread(_read_secrets, secrets_file)
    for p in all_partners:
        if await identity.clients_of(session, partner_id=p.id):
            continue
        issued = await identity.create_client(
            session,
            principal=SYSTEM,
            name=f"{p.name} platform",
            partner_id=p.id,
            roles=["partner_system"],
        )
        secrets[p.code] = {"client_id": issued.client.client_id, "client_secret": issued.secret}
        report.clients += 1
    if report.clients:
        await asyncio.to_thread(_write_secrets, secrets_file, secrets)


async def seed(
    *, customers_count: int = 300, var_dir: Path = Path("var"), cases_count: int = 0
) -> SeedReport:
    """``cases_count``: demo cases (``trama seed`` asks for 60 by default; 0 leaves the
    cases domain without demo data, typologies and homologation tables — the tests'
    template)."""
    report = SeedReport()
    async with transaction() as session:
        all_partners = await _partners(session, report)
        await _users(session, all_partners, report)
    async with transaction() as session:
        await _clients(session, all_partners, var_dir / "demo-clients.json", report)
    homes = [p for p in all_partners if p.kind != PartnerKind.LOYALTY]
    per_home: dict[str, list[customers.CustomerDraft]] = {p.code: [] for p in homes}
    for i in range(customers_count):
        home = homes[i % len(homes)]
        per_home[home.code].append(_person(i, home.country))
    for home in homes:
        drafts = per_home[home.code]
        for start in range(0, len(drafts), 5000):
            async with transaction() as session:
                result = await customers.import_customers(
                    session,
                    principal=SYSTEM,
                    home_partner_id=home.id,
                    drafts=drafts[start : start + 5000],
                )
            report.customers += result.inserted
            if result.rejected:
                raise RuntimeError(f"seed produced invalid customers: {result.rejected[:3]}")
    from app.seed_credits import seed_credits

    report.credits = await seed_credits(
        {p.code: p for p in all_partners},
        lambda i: _person(i, homes[i % len(homes)].country),
    )
    from app.seed_investors import seed_investors

    await seed_investors(lambda i: _person(i, homes[i % len(homes)].country))
    from app.seed_statements import seed_statements

    lender = next(p for p in all_partners if p.code == "AUTOCREDITO")
    report.statement_lines = await seed_statements(lender)
    from app.seed_collections import seed_collections

    await seed_collections({p.code: p for p in all_partners})
    from app.seed_loyalty import seed_loyalty

    await seed_loyalty()
    from app.seed_marketplace import seed_marketplace

    report.vehicles = await seed_marketplace(var_dir)
    from app.seed_scoring import seed_scoring

    await seed_scoring(var_dir)
    from app.seed_origination import seed_origination

    await seed_origination()
    if cases_count:  # the demo (trama seed); the tests' template has no CRM demo data
        from app.seed_crm import seed_crm

        await seed_crm()
        from app.seed_cases import seed_cases

        report.cases = await seed_cases(cases_count)
    return report


async def is_empty() -> bool:
    """No customers yet (a seed cut short before its customers runs again)."""
    async with transaction() as session:
        return not await customers.any_customer(session)
