"""The DocuSeal client against the fake DocuSeal (httpx over ASGI: no port needed)."""

from __future__ import annotations

import httpx
import pytest

from app.docuseal import (
    DocusealClient,
    DocusealRefused,
    DocusealUnavailable,
    SubmitterSpec,
)
from domain.origination.contracts_pdf import render_contract
from tests.domain.contracts.test_contract_pdf import TERMS
from tests.fake_docuseal import FakeDocuseal

PEOPLE = [
    SubmitterSpec("Cliente", "jose@example.cl", "José Núñez", "c1:customer"),
    SubmitterSpec("Acreedor", "firmas@autofin.test", "Ana Apoderada", "c1:lender"),
]


def _client(fake: FakeDocuseal, *, key: str | None = None) -> DocusealClient:
    return DocusealClient(
        f"{fake.base_url}/api",
        key or fake.api_key,
        transport=httpx.ASGITransport(app=fake.app()),
    )


async def test_a_submission_from_the_contract_pdf_and_its_signed_document() -> None:
    fake = FakeDocuseal()
    client = _client(fake)
    pdf = render_contract(TERMS)
    created = await client.create_submission(name="CT-2026-000001", submitters=PEOPLE, pdf=pdf)
    submission = fake.only()
    assert created.submission_id == submission.id
    assert set(created.submitters) == {"c1:customer", "c1:lender"}
    assert submission.document == pdf  # the bytes Trama rendered, untouched
    assert [(s.role, s.email) for s in submission.submitters] == [
        ("Cliente", "jose@example.cl"),
        ("Acreedor", "firmas@autofin.test"),
    ]
    # a retried send finds it by Trama's external id, with both submitters
    found = await client.find_submission("c1:customer")
    assert found == created
    assert await client.find_submission("c2:customer") is None
    # signed: fresh links, downloaded at once
    fake.complete(submission)
    data, documents = await client.download_signed(submission.id, backoff=0)
    assert data == submission.signed and data.startswith(b"%PDF-") and data != pdf
    assert documents.audit_log_url == f"https://docuseal.test/audit/{submission.id}.pdf"


async def test_an_expired_link_is_replaced_by_a_fresh_one() -> None:
    fake = FakeDocuseal()
    client = _client(fake)
    created = await client.create_submission(
        name="x", submitters=PEOPLE, pdf=render_contract(TERMS)
    )
    fake.complete(fake.only())
    stale = (await client.get_submission(created.submission_id)).documents[0][1]
    fake.expire_links()
    from app.docuseal import LinkExpired

    with pytest.raises(LinkExpired):
        await client.download(stale)
    data, _ = await client.download_signed(created.submission_id, backoff=0)
    assert data == fake.only().signed


async def test_a_template_submission() -> None:
    fake = FakeDocuseal()
    created = await _client(fake).create_submission(name="x", submitters=PEOPLE, template_id=42)
    assert fake.only().template_id == 42
    assert set(created.submitters) == {"c1:customer", "c1:lender"}


async def test_refusals_and_outages_are_told_apart() -> None:
    fake = FakeDocuseal()
    with pytest.raises(DocusealRefused) as refused:
        await _client(fake, key="wrong").find_submission("c1:customer")
    assert refused.value.status == 401
    # a PDF whose tags do not name the roles: DocuSeal answers 422
    with pytest.raises(DocusealRefused) as bad:
        await _client(fake).create_submission(
            name="x",
            submitters=[SubmitterSpec("Garante", "g@example.cl", "G", "c1:guarantor")],
            pdf=render_contract(TERMS),
        )
    assert bad.value.status == 422 and "Garante" in str(bad.value)
    fake.fail_next = 1
    with pytest.raises(DocusealUnavailable):
        await _client(fake).find_submission("c1:customer")
    assert fake.submissions == {}
