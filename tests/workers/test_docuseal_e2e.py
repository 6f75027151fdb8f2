"""From the accepted offer to the signed contract, end to end: Trama served by uvicorn with
its workers, a fake DocuSeal on another loopback port (``tests/fake_docuseal.py``) that
answers the API and sends signed webhooks — a wrong signature, an old timestamp, a replay,
events out of order, expired document links, and a lost answer to the create call."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlmodel import col

from app.db import Database, read_session, transaction
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings, reset_settings
from domain.origination import service as origination
from domain.origination.contracts_models import Contract, ContractSigner
from domain.origination.models import ApplicationState, CreditApplication, CreditOffer, OfferStatus
from domain.shared.principal import ROLE_SCOPES, Principal, Role
from domain.shared.time import utcnow
from domain.webhooks.models import WebhookDelivery
from tests.api.credit_support import customer_token
from tests.conftest import make_settings
from tests.domain.contracts.conftest import make_signing
from tests.fake_docuseal import FakeDocuseal
from tests.workers.conftest import eventually
from tests.workers.fake_platform import free_port
from workers.actors import docuseal as actors
from workers.actors import webhooks as webhook_actors
from workers.registry import REGISTRY, RetryPolicy

API_KEY = "e2e-docuseal-key"
SIGNED_QUERY = "query($id: ID!) { contract(id: $id) { status signed { url sha256 } } }"
SECRET = b"e2e-docuseal-webhook-secret"


class Served:
    """An ASGI app served by uvicorn on a free loopback port of this process."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Served:
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        assert self.task is not None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=10)


@pytest.fixture
def fake() -> FakeDocuseal:
    return FakeDocuseal(api_key=API_KEY, webhook_secret=SECRET)


@pytest.fixture
def docuseal_env(
    fake: FakeDocuseal, session_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    port = free_port()
    fake.base_url = f"http://127.0.0.1:{port}"
    values = {
        "docuseal_url": f"{fake.base_url}/api",
        "docuseal_api_key": API_KEY,
        "docuseal_webhook_secret": SECRET.decode(),
        "docuseal_lender_signer_email": "firmas@autofin.test",
        "docuseal_timeout": 5.0,
        "var_dir": session_tmp,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"TRAMA_{name.upper()}", str(value))
    reset_settings()
    yield {**values, "port": port}
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def backbone_settings(
    session_tmp: Path, database_url: str, docuseal_env: dict[str, Any]
) -> Settings:
    values = {k: v for k, v in docuseal_env.items() if k not in ("port", "var_dir")}
    return make_settings(
        session_tmp,
        database_url,
        redis_namespace=f"test-{uuid.uuid4().hex[:10]}",
        relay_sweep_interval=0.2,
        fanout_poll_interval=0.3,
        redeliver_after=1.0,
        embedded_worker_threads=2,
        **values,
    )


@pytest.fixture
def fast_retries() -> Iterator[None]:
    names = (actors.SUBMIT_JOB, actors.FETCH_JOB, webhook_actors.PROCESS_JOB)
    saved = {name: REGISTRY.jobs[name] for name in names}
    for name, spec in saved.items():
        REGISTRY.jobs[name] = dataclasses.replace(
            spec, retry=RetryPolicy(max_retries=5, min_backoff_ms=50, max_backoff_ms=200)
        )
    yield
    REGISTRY.jobs.update(saved)


@pytest.fixture
async def servers(
    backbone_settings: Settings,
    fake: FakeDocuseal,
    docuseal_env: dict[str, Any],
    db: Database,
    start_backbone: Any,
    fast_retries: None,
) -> AsyncIterator[tuple[str, Any]]:
    runtime = build_runtime(backbone_settings)
    app = create_app(
        backbone_settings, runtime=runtime, manage_database=False, manage_backbone=False
    )
    await start_backbone()
    async with Served(fake.app(), docuseal_env["port"]), Served(app) as trama:
        yield trama.url, runtime


async def _offer_accepted() -> tuple[Any, uuid.UUID]:
    """An application with an open offer, accepted by its customer through origination."""
    accepted = await make_signing(state=ApplicationState.OFFERED)
    async with transaction() as session:
        await session.execute(
            sa.update(CreditOffer)
            .where(col(CreditOffer.id) == accepted.offer_id)
            .values(status=OfferStatus.OPEN.value, accepted_at=None, accepted_by=None)
        )
    customer = Principal(
        subject=f"customer:{accepted.customer_id}",
        roles=frozenset({Role.CUSTOMER}),
        scopes=ROLE_SCOPES[Role.CUSTOMER],
        customer_id=accepted.customer_id,
    )
    async with transaction() as session:
        await origination.accept_offer(
            session,
            principal=customer,
            application_id=accepted.application_id,
            offer_id=accepted.offer_id,
        )
    return accepted, accepted.application_id


async def _contract(application_id: uuid.UUID) -> Contract | None:
    async with read_session() as session:
        return (
            await session.execute(
                sa.select(Contract).where(col(Contract.application_id) == application_id)
            )
        ).scalar_one_or_none()


async def _deliveries() -> int:
    async with read_session() as session:
        return int(
            await session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) or 0
        )


async def test_an_accepted_offer_ends_as_a_signed_contract_and_a_credit(
    servers: tuple[str, Any], fake: FakeDocuseal
) -> None:
    trama, runtime = servers
    fake.lose_create_answer = True  # DocuSeal makes it, but Trama never hears the answer
    accepted, application_id = await _offer_accepted()

    async def sent() -> bool:
        contract = await _contract(application_id)
        return contract is not None and contract.status == "SENT"

    await eventually(sent, timeout=30)
    contract = await _contract(application_id)
    assert contract is not None
    # the retried send found the submission instead of making a second one (the seeded
    # applications being signed get contracts of their own: only this one's are counted)
    ours = [
        sub
        for sub in fake.submissions.values()
        if sub.submitters[0].external_id == f"{contract.id}:customer"
    ]
    assert len(ours) == 1
    submission = ours[0]
    assert contract.submission_id == submission.id
    assert hashlib.sha256(submission.document).hexdigest() == contract.unsigned_sha256
    customer, lender = submission.submitters
    assert (customer.role, customer.email) == ("Cliente", "jose.nunez@example.cl")
    assert (lender.role, lender.email) == ("Acreedor", "firmas@autofin.test")

    async with httpx.AsyncClient(base_url=trama) as http:

        async def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
            return await http.post("/webhooks/docuseal", content=body, headers=headers)

        now = int(time.time())  # DocuSeal signs with its own (system) clock
        viewed = fake.webhook("form.viewed", submission, submitter=customer)
        wrong = await post(viewed, fake.signed_headers(viewed, at=now, secret=b"not the secret"))
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "INVALID_SIGNATURE"
        old = await post(viewed, fake.signed_headers(viewed, at=now - 400))
        assert old.status_code == 401 and old.json()["error"]["code"] == "SIGNATURE_EXPIRED"
        assert await _deliveries() == 0  # nothing refused was stored

        first = await post(viewed, fake.signed_headers(viewed, at=now))
        assert first.status_code == 202 and first.json()["duplicate"] is False
        replay = await post(viewed, fake.signed_headers(viewed, at=now))
        assert replay.status_code == 200 and replay.json()["duplicate"] is True

        # both sign; the links in the webhooks expire before Trama fetches the document
        late_viewed = fake.webhook(
            "form.viewed", submission, submitter=lender, at=utcnow() - timedelta(seconds=5)
        )
        fake.complete(submission)
        for signer in (customer, lender):
            body = fake.webhook("form.completed", submission, submitter=signer)
            answer = await post(body, fake.signed_headers(body, at=int(time.time())))
            assert answer.status_code == 202
        fake.expire_links()
        done = fake.webhook("submission.completed", submission)
        assert (await post(done, fake.signed_headers(done, at=int(time.time())))).status_code == 202
        # an earlier event of the lender arrives last
        assert (
            await post(late_viewed, fake.signed_headers(late_viewed, at=int(time.time())))
        ).status_code == 202

        async def signed() -> bool:
            found = await _contract(application_id)
            return found is not None and found.status == "SIGNED"

        await eventually(signed, timeout=30)

        async def all_processed() -> bool:
            async with read_session() as session:
                statuses = (
                    (await session.execute(sa.select(col(WebhookDelivery.status)))).scalars().all()
                )
            return len(statuses) == 5 and "received" not in statuses and "failed" not in statuses

        await eventually(all_processed, timeout=30)
        contract = await _contract(application_id)
        assert contract is not None and submission.signed is not None
        assert contract.signed_sha256 == hashlib.sha256(submission.signed).hexdigest()
        assert contract.audit_log_url == f"https://docuseal.test/audit/{submission.id}.pdf"
        async with read_session() as session:
            app = await session.get(CreditApplication, application_id)
            signers = (
                (
                    await session.execute(
                        sa.select(ContractSigner).where(
                            col(ContractSigner.contract_id) == contract.id
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert app is not None and app.state == "APPROVED"
        assert app.credit_id is not None and app.credit_id == contract.credit_id
        assert {s.role: s.status for s in signers} == {
            "CUSTOMER": "COMPLETED",
            "LENDER": "COMPLETED",
        }
        assert [sub.id for sub in fake.submissions.values() if sub.name == contract.reference] == [
            submission.id
        ]

        # the customer downloads the signed contract through the API's link
        token = customer_token(runtime, accepted.customer_id)
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": SIGNED_QUERY,
                    "variables": {"id": str(contract.id)},
                },
                headers={"authorization": f"Bearer {token}"},
            )
        ).json()
        found = body["data"]["contract"]
        assert found["status"] == "SIGNED" and found["signed"]["sha256"] == contract.signed_sha256
        path = found["signed"]["url"].split("://", 1)[1].split("/", 1)[1]
        pdf = await http.get("/" + path, headers={"authorization": f"Bearer {token}"})
        assert pdf.status_code == 200 and pdf.content == submission.signed
