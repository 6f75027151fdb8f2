"""Attachments: the type read from the bytes, names, card numbers, limits, hashes; the
use case (timeline, audit, event, versions, idempotence, access) on a real local store."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import read_session
from app.storage import LocalFileStore
from domain.cases import attachment_rules as rules
from domain.cases import attachments
from domain.cases.attachments import AttachmentNotFound, check_file
from domain.cases.errors import CaseNotFound
from domain.cases.models import CaseAttachment
from domain.shared.errors import Conflict, Forbidden, ValidationFailed
from domain.shared.event_schemas import global_id as gid
from domain.shared.models import table_of
from tests.domain.cases import attachment_files as files
from tests.domain.cases.conftest import (
    Network,
    audience,
    audits,
    derived_to,
    events,
    fingerprint,
    load,
    open_case,
    run,
    timeline,
)


def inspect(
    content: bytes, name: str | None = "archivo", declared: str | None = None, **kw: Any
) -> rules.Inspected:
    return rules.inspect(content, file_name=name, declared_type=declared, **kw)


def problem(
    content: bytes, name: str | None = "archivo", declared: str | None = None, **kw: Any
) -> str:
    with pytest.raises(ValidationFailed) as caught:
        inspect(content, name, declared, **kw)
    [first, *_] = caught.value.problems
    assert first.field == "file"
    return first.message


# --- the type, from the bytes -----------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "name", "declared", "media_type", "stored_name"),
    [
        (files.pdf(), "cartola.pdf", "application/pdf", "application/pdf", "cartola.pdf"),
        (files.png(), "foto.PNG", "image/png", "image/png", "foto.png"),
        (files.jpeg(), "boleta.jpg", "image/jpeg", "image/jpeg", "boleta.jpg"),
        (files.jpeg(), "boleta.jpeg", "image/jpg", "image/jpeg", "boleta.jpeg"),
        (files.tiff(), "fax.tif", "image/tiff", "image/tiff", "fax.tif"),
        (files.TEXT, "nota.txt", "text/plain", "text/plain; charset=utf-8", "nota.txt"),
        (files.CSV, "movimientos.csv", "text/csv", "text/csv; charset=utf-8", "movimientos.csv"),
        # Windows browsers label CSV files as Excel.
        (files.CSV, "mov.csv", "application/vnd.ms-excel", "text/csv; charset=utf-8", "mov.csv"),
        (files.docx(), "carta.docx", None, rules.DOCX.media_type, "carta.docx"),
        (
            files.xlsx(),
            "tabla.xlsx",
            "application/octet-stream",
            rules.XLSX.media_type,
            "tabla.xlsx",
        ),
    ],
)
def test_accepted_types(
    content: bytes, name: str, declared: str | None, media_type: str, stored_name: str
) -> None:
    result = inspect(content, name, declared)
    assert result.content_type == media_type
    assert result.file_name == stored_name
    assert result.size_bytes == len(content)
    assert result.sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (files.exe(), "programs"),
        (files.gif(), "GIF"),
        (files.ole(), "old Office"),
        (files.plain_zip(), "zip archives"),
        (files.docx(macros=True), "macros"),
        (b"PK\x03\x04 not really a zip", "damaged"),
        (b"\x00\x01\x02\x03binary", "not accepted"),
        (b"texto con NUL\x00 dentro", "not accepted"),
        ("latin-1 ñandú".encode("latin-1"), "not accepted"),  # not UTF-8
        (b"<svg onload=alert(1)>\x1b", "not accepted"),
    ],
)
def test_refused_types(content: bytes, fragment: str) -> None:
    assert fragment in problem(content)


@pytest.mark.parametrize(
    ("content", "name", "declared"),
    [
        (files.pdf(), "x.pdf", "image/png"),
        (files.png(), "x.png", "application/pdf"),
        (files.TEXT, "x.txt", "text/html"),
        (
            files.docx(),
            "x.docx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (files.jpeg(), "x.jpg", "image/svg+xml"),
    ],
)
def test_a_declared_type_that_disagrees_with_the_bytes_is_refused(
    content: bytes, name: str, declared: str
) -> None:
    assert "but the content is" in problem(content, name, declared)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (files.pdf(), "foto.png"),
        (files.png(), "scan.jpg"),
        (files.xlsx(), "carta.docx"),
        (files.TEXT, "a.pdf"),
    ],
)
def test_a_name_of_another_accepted_type_is_refused(content: bytes, name: str) -> None:
    assert "the name ends in" in problem(content, name)


@pytest.mark.parametrize(
    ("content", "name", "stored"),
    [
        (files.pdf(), "scan", "scan.pdf"),
        (files.pdf(), "Informe.v2", "Informe.v2.pdf"),
        (files.TEXT, "page.html", "page.html.txt"),
        (files.CSV, "datos.csv", "datos.csv"),
        (files.png(), None, "file.png"),
        (files.png(), "../../", "file.png"),
        (files.pdf(), "../../etc/passwd", "passwd.pdf"),
        (files.pdf(), "C:\\Users\\ana\\Reclamo.PDF", "Reclamo.pdf"),
        (files.pdf(), "fac\u202eFDP.exe", "facFDP.exe.pdf"),  # right-to-left override dropped
        (files.pdf(), "CON.pdf", "_CON.pdf"),
        (files.pdf(), '<b>"hola"|?*.pdf', "_b__hola____.pdf"),
        (files.pdf(), "  .oculto.pdf  ", "oculto.pdf"),
    ],
)
def test_names_are_cleaned(content: bytes, name: str | None, stored: str) -> None:
    assert inspect(content, name).file_name == stored


def test_long_names_are_shortened_keeping_the_extension() -> None:
    name = inspect(files.pdf(), "á" * 400 + ".pdf").file_name
    assert len(name) == rules.NAME_MAX and name.endswith(".pdf")


# --- card numbers -----------------------------------------------------------------------
def test_a_card_number_in_a_text_file_is_refused_naming_the_line() -> None:
    text = f"linea uno\nlinea dos\ntarjeta {files.PAN} vence 12/29\n".encode()
    message = problem(text, "nota.txt")
    assert "line 3" in message and "1111" in message
    assert files.PAN not in message


def test_a_card_number_in_a_csv_is_refused() -> None:
    content = files.CSV + b"2026-03-05,1000,4111-1111-1111-1111\n"
    assert "line 4" in problem(content, "mov.csv", "text/csv")


def test_long_numbers_that_are_not_card_numbers_pass() -> None:
    content = b"operacion,monto\n4111111111111112,1000\n00000000000000000000,5\n"  # Luhn fails
    assert inspect(content, "ops.csv").file_type is rules.CSV


@pytest.mark.parametrize(
    "content",
    [
        files.docx("Tarjeta del cliente:", f"numero {files.PAN}"),
        files.xlsx("Tarjeta", files.PAN.replace(" ", "")),
    ],
)
def test_a_card_number_in_a_word_or_excel_file_is_refused(content: bytes) -> None:
    assert "card number" in problem(content, "doc")


def test_a_card_number_in_the_file_name_is_refused() -> None:
    assert "card number" in problem(files.pdf(), f"tarjeta {files.PAN}.pdf")


def test_word_numbers_on_separate_paragraphs_are_not_joined() -> None:
    content = files.docx("Monto 41111111", "Folio 11111111")  # one number would pass Luhn
    assert inspect(content, "carta.docx").file_type is rules.DOCX


# --- limits and hashes ------------------------------------------------------------------
def test_size_limit() -> None:
    content = files.pdf() + b"\x00" * 100
    assert inspect(content, "a.pdf", max_bytes=len(content)).size_bytes == len(content)
    assert "larger than the limit of 1 KB" in problem(
        content + b"\x00" * 1024, "a.pdf", max_bytes=1024
    )


def test_hashes_are_stable_and_exact() -> None:
    first = inspect(files.pdf(), "a.pdf")
    again = inspect(files.pdf(), "otro nombre.pdf", "application/pdf")
    assert first.sha256 == again.sha256 == hashlib.sha256(files.pdf()).hexdigest()
    assert inspect(files.pdf("otro"), "a.pdf").sha256 != first.sha256


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    content=st.binary(max_size=600)
    | st.sampled_from([files.pdf(), files.png(), files.CSV, files.docx()]).flatmap(
        lambda base: st.binary(max_size=40).map(lambda tail: base + tail)
    ),
    name=st.text(max_size=300),
    declared=st.none() | st.sampled_from(["", "application/pdf", "text/plain", "image/png", "x/y"]),
)
def test_any_input_is_accepted_as_an_allowed_type_or_refused_clearly(
    content: bytes, name: str, declared: str | None
) -> None:
    try:
        result = rules.inspect(content, file_name=name, declared_type=declared)
    except ValidationFailed as exc:
        assert exc.problems and exc.problems[0].field == "file"
        return
    assert result.file_type in rules.ALLOWED
    assert 0 < len(result.file_name) <= rules.NAME_MAX
    assert "/" not in result.file_name and "\\" not in result.file_name
    assert result.file_name.endswith(result.file_type.extensions)
    assert result.sha256 == hashlib.sha256(content).hexdigest()


# --- the use case -----------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "attachments")


def stored_files(store: LocalFileStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file()) if store.root.exists() else []


async def attach(
    net: Network,
    store: LocalFileStore,
    by: Any,
    case: Any,
    version: int,
    content: bytes,
    name: str = "documento",
    **kw: Any,
) -> attachments.AttachResult:
    return await run(
        attachments.attach_file,
        by,
        store=store,
        case_id=case.id,
        expected_version=version,
        file=check_file(content, file_name=name, declared_type=None),
        **kw,
    )


async def written() -> dict[str, Any]:
    state = await fingerprint()
    async with read_session() as session:
        rows = (await session.execute(sa.select(table_of(CaseAttachment)))).all()
    state["case_attachments"] = sorted(tuple(map(repr, r)) for r in rows)
    return state


async def test_attach_records_everything_and_stores_the_bytes(
    net: Network, store: LocalFileStore
) -> None:
    case = await open_case(net)
    result = await attach(
        net, store, net.agent("BANCO_ANDINO"), case, 1, files.pdf(), "Cartola Juan Pérez.pdf"
    )
    assert result.created and result.case_version == 2
    row = result.attachment
    assert row.file_name == "Cartola Juan Pérez.pdf" and row.content_type == "application/pdf"
    assert row.storage_key == f"cases/{case.id}/{row.id}"
    assert await store.get(row.storage_key) == files.pdf()
    assert [p.name for p in stored_files(store)] == [str(row.id)]  # no temporary left behind
    assert (await load(case.id)).version == 2
    entry = (await timeline(case.id))[-1]
    assert entry.kind == "ATTACHMENT_ADDED" and entry.visibility == "INTERNAL"
    assert entry.after is not None and entry.after["attachment_id"] == str(row.id)
    assert "file_name" not in entry.after  # names often hold personal data
    [event] = await events("cases.attachment_added")
    assert event.payload["attachmentId"] == gid("CaseAttachment", row.id)
    assert event.payload["version"] == 2
    assert (
        event.payload["sha256"] == row.sha256 and event.payload["contentType"] == "application/pdf"
    )
    assert "fileName" not in event.payload and "storageKey" not in event.payload
    assert audience(event) == {net.ids["BANCO_ANDINO"]}
    [record] = await audits("cases.attachment_added")
    assert record.after is not None and record.after["file_name"] == "Cartola Juan Pérez.pdf"


async def test_the_same_bytes_again_are_the_same_attachment(
    net: Network, store: LocalFileStore
) -> None:
    case = await open_case(net)
    first = await attach(net, store, net.agent("BANCO_ANDINO"), case, 1, files.png(), "a.png")
    before = await written()
    # A retry whose answer was lost names the old version: no conflict, no duplicate.
    again = await attach(net, store, net.agent("BANCO_ANDINO"), case, 1, files.png(), "b.png")
    assert not again.created and again.attachment.id == first.attachment.id
    assert again.case_version == 2
    assert await written() == before
    assert len(stored_files(store)) == 1


async def test_a_stale_version_is_refused_and_nothing_is_written(
    net: Network, store: LocalFileStore
) -> None:
    case = await open_case(net)
    await attach(net, store, net.agent("BANCO_ANDINO"), case, 1, files.png(), "a.png")
    before = await written()
    with pytest.raises(Conflict):
        await attach(net, store, net.agent("BANCO_ANDINO"), case, 1, files.pdf())
    assert await written() == before
    assert len(stored_files(store)) == 1


async def test_involved_partners_attach_and_others_cannot(
    net: Network, store: LocalFileStore
) -> None:
    case = await derived_to(net, await open_case(net), "RETAIL_SUR")  # version 3
    # The originator keeps collaborating after handing the case over.
    result = await attach(
        net, store, net.agent("BANCO_ANDINO"), case, 3, files.pdf(), visibility="CUSTOMER"
    )
    assert result.attachment.visibility == "CUSTOMER"
    before = await written()
    with pytest.raises(CaseNotFound):  # not involved: the case does not exist for it
        await attach(net, store, net.agent("BANCO_PAMPA"), case, 4, files.png())
    with pytest.raises(Forbidden):  # reads only
        await attach(net, store, net.viewer(), case, 4, files.png())
    with pytest.raises(Forbidden):  # sees the network, is not involved
        await attach(net, store, net.supervisor("CLUB_PUNTOS"), case, 4, files.png())
    with pytest.raises(ValidationFailed):
        await attach(net, store, net.agent("RETAIL_SUR"), case, 4, files.png(), visibility="PUBLIC")
    assert await written() == before
    assert len(stored_files(store)) == 1


async def test_a_case_holds_a_bounded_number_of_files(
    net: Network, store: LocalFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "MAX_PER_CASE", 2)
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    await attach(net, store, agent, case, 1, files.png(), "a.png")
    await attach(net, store, agent, case, 2, files.pdf(), "b.pdf")
    before = await written()
    with pytest.raises(ValidationFailed) as caught:
        await attach(net, store, agent, case, 3, files.jpeg(), "c.jpg")
    assert "already has 2 files" in caught.value.message
    assert await written() == before


async def test_reading_follows_the_case(net: Network, store: LocalFileStore) -> None:
    case = await open_case(net)
    agent = net.agent("BANCO_ANDINO")
    internal = (await attach(net, store, agent, case, 1, files.pdf(), "interno.pdf")).attachment
    public = (
        await attach(net, store, agent, case, 2, files.png(), "cliente.png", visibility="CUSTOMER")
    ).attachment

    async def listed(who: Any) -> list[tuple[str, bool]]:
        async with read_session() as session:
            views = await attachments.list_attachments(session, principal=who, case_id=case.id)
        return [(v.file_name, v.downloadable) for v in views]

    assert await listed(agent) == [("interno.pdf", True), ("cliente.png", True)]
    # A supervisor of another partner sees the case in the network view: not internal files.
    assert await listed(net.supervisor("CLUB_PUNTOS")) == [("cliente.png", True)]
    # A network viewer has no pii:read: names masked, no download.
    assert await listed(net.viewer()) == [("•••.png", False)]
    with pytest.raises(CaseNotFound):
        await listed(net.agent("BANCO_PAMPA"))

    async def download(who: Any, attachment_id: Any) -> CaseAttachment:
        async with read_session() as session:
            return await attachments.get_for_download(
                session, principal=who, attachment_id=attachment_id
            )

    assert (await download(agent, internal.id)).id == internal.id
    assert (await download(net.supervisor("CLUB_PUNTOS"), public.id)).id == public.id
    with pytest.raises(AttachmentNotFound):
        await download(net.supervisor("CLUB_PUNTOS"), internal.id)
    with pytest.raises(AttachmentNotFound):
        await download(net.agent("BANCO_PAMPA"), public.id)
    with pytest.raises(Forbidden):
        await download(net.viewer(), public.id)
