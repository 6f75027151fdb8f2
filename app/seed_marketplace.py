"""Demo marketplace: two Chilean dealers (and Retail Sur, a retailer that also sells
vehicles) with a few hundred vehicles, each with photos. The stock arrives through each
dealer's feed (``domain.marketplace.feeds``, the same path as ``trama vehicles import``);
the photos are small PNGs drawn here, one per colour, stored once (content-addressed) and
shared by the vehicles of that colour. Deterministic; added once (a dealer's stock already
there is unchanged by the same feed).
"""

from __future__ import annotations

import random
import struct
import uuid
import zlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import transaction
from app.storage import LocalFileStore
from domain.cases.attachment_rules import PNG, sha256_of
from domain.marketplace import feeds, service
from domain.marketplace.models import Vehicle, VehiclePhoto
from domain.partners.models import Partner, PartnerKind
from domain.shared.ids import uuid7
from domain.shared.models import table_of
from domain.shared.principal import SYSTEM
from domain.shared.time import utcnow

DEALERS = (
    ("AUTOMOTORA_ANDES", "Automotora Los Andes", 130),
    ("AUTOS_PACIFICO", "Autos del Pacífico", 110),
    ("RETAIL_SUR", None, 60),  # the retailer of the demo network sells cars too
)
#: make → models with a base price in CLP (a new car's, roughly).
CATALOGUE = {
    "Toyota": [
        ("Yaris", 13_990_000),
        ("Corolla", 19_990_000),
        ("RAV4", 29_990_000),
        ("Hilux", 27_490_000),
    ],
    "Kia": [("Morning", 8_990_000), ("Rio", 11_490_000), ("Sportage", 22_990_000)],
    "Hyundai": [("Accent", 11_990_000), ("Tucson", 24_990_000), ("Creta", 16_990_000)],
    "Chevrolet": [("Sail", 9_490_000), ("Groove", 12_990_000), ("Tracker", 17_490_000)],
    "Suzuki": [("Swift", 10_990_000), ("Vitara", 18_490_000), ("Baleno", 11_290_000)],
    "Mazda": [("Mazda2", 12_990_000), ("CX-5", 26_990_000), ("BT-50", 28_990_000)],
    "Nissan": [("Versa", 13_490_000), ("Kicks", 17_990_000), ("Navara", 29_490_000)],
    "Peugeot": [("208", 14_490_000), ("2008", 19_490_000), ("Partner", 16_490_000)],
    "MG": [("ZS", 13_990_000), ("MG3", 9_990_000)],
    "BYD": [("Dolphin", 21_990_000), ("Song Plus", 32_990_000)],
}
COLOURS = {
    "Blanco": (240, 240, 240),
    "Negro": (25, 25, 25),
    "Gris": (128, 128, 128),
    "Plata": (192, 192, 200),
    "Rojo": (180, 30, 30),
    "Azul": (30, 60, 160),
}
FUELS = ["Bencina"] * 6 + ["Diésel"] * 2 + ["Híbrido", "Eléctrico"]
HEADER = "stock_id;marca;modelo;version;año;km;combustible;transmision;color;precio"


def png(colour: tuple[int, int, int], *, width: int = 96, height: int = 64) -> bytes:
    """A plain picture of one colour with a darker band (the demo's 'photo')."""
    dark = tuple(max(0, c - 60) for c in colour)
    rows = []
    for y in range(height):
        pixel = bytes(dark if height // 2 <= y < height // 2 + 8 else colour)
        rows.append(b"\x00" + pixel * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def feed_of(code: str, count: int, this_year: int) -> bytes:
    rng = random.Random(f"trama-marketplace-{code}")  # noqa: S311 (demo data)
    lines = [HEADER]
    makes = sorted(CATALOGUE)
    for n in range(1, count + 1):
        make = rng.choice(makes)
        model, base = rng.choice(CATALOGUE[make])
        age = rng.choice([0, 0, 1, 1, 2, 3, 4, 5, 6, 8, 10, 12])
        year = this_year - age
        km = 0 if age == 0 and rng.random() < 0.6 else rng.randint(8_000, 22_000) * max(age, 1)
        price = int(base * (0.88**age) * rng.uniform(0.92, 1.05)) // 10_000 * 10_000
        fuel = "Eléctrico" if make == "BYD" else rng.choice(FUELS)
        gearbox = rng.choice(["Automática", "Automática", "Manual"])
        colour = rng.choice(sorted(COLOURS))
        trim = rng.choice(["GL", "GLX", "XEI", "LT", "Limited", "Sport", ""])
        price_text = f"{price:,}".replace(",", ".")
        lines.append(
            f"{code[:3]}-{n:04d};{make};{model};{trim};{year};{km};{fuel};{gearbox};{colour};"
            f"{price_text}"
        )
    return ("\n".join(lines) + "\n").encode()


async def seed_marketplace(var_dir: Path) -> int:
    """Add the demo dealers and their stock; returns how many vehicles were listed."""
    store = LocalFileStore(var_dir / "attachments")
    photos = {name: png(rgb) for name, rgb in COLOURS.items()}
    for content in photos.values():
        await store.put(service.photo_key(sha256_of(content)), content, content_type=PNG.media_type)
    created = 0
    this_year = utcnow().year
    for code, name, count in DEALERS:
        async with transaction() as session:
            dealer = (
                await session.execute(sa.select(Partner).where(col(Partner.code) == code))
            ).scalar_one_or_none()
            if dealer is None:
                assert name is not None
                dealer = Partner(code=code, name=name, country="CL", kind=PartnerKind.DEALER)
                session.add(dealer)
                await session.flush()
            result = await feeds.import_feed(
                session,
                principal=SYSTEM,
                dealer_id=dealer.id,
                content=feed_of(code, count, this_year),
                file_name=f"{code.lower()}-stock.csv",
                full=True,
            )
            created += result.feed.created
            await _photos(session, dealer.id, photos)
    return created


async def _photos(session: AsyncSession, dealer_id: uuid.UUID, photos: dict[str, bytes]) -> None:
    """One photo (its colour's) for each vehicle of the dealer that has none, set-based."""
    has_photo = sa.select(col(VehiclePhoto.vehicle_id))
    rows = (
        await session.execute(
            sa.select(col(Vehicle.id), col(Vehicle.colour)).where(
                col(Vehicle.dealer_id) == dealer_id, col(Vehicle.id).not_in(has_photo)
            )
        )
    ).all()
    now = utcnow()
    values = []
    for vehicle_id, colour in rows:
        content = photos.get(colour or "", photos["Gris"])
        digest = sha256_of(content)
        values.append(
            {
                "id": uuid7(),
                "vehicle_id": vehicle_id,
                "position": 1,
                "storage_key": service.photo_key(digest),
                "content_type": PNG.media_type,
                "size_bytes": len(content),
                "sha256": digest,
                "uploaded_at": now,
                "uploaded_by": SYSTEM.subject,
            }
        )
    if values:
        await session.execute(table_of(VehiclePhoto).insert(), values)
