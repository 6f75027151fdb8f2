"""Settings: environment variables prefixed ``TRAMA_`` (documented in the README)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.auth.issuers import TrustedIssuer


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAMA_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    #: API processes of ``trama serve`` (unset: one per available CPU in production, else 1).
    workers: Annotated[int | None, Field(ge=1, le=512)] = None
    #: Several API processes listen with SO_REUSEPORT, one socket each (false: one shared).
    reuse_port: bool = True
    #: Persisted queries (README, "Persisted queries"): "apq" (Apollo's automatic persisted
    #: queries), "allowlist" (only documents registered with `trama persisted-queries add`
    #: run) or "off".
    persisted_queries: Literal["off", "apq", "allowlist"] = "apq"
    #: Seconds an APQ document stays in Redis after its registration.
    apq_ttl: Annotated[int, Field(ge=60)] = 86400
    #: APQ documents kept per API process (in front of Redis, or the only store), at most …
    apq_cache_size: Annotated[int, Field(ge=0)] = 2000
    #: … and in all at most this many characters.
    apq_cache_chars: Annotated[int, Field(ge=0)] = 20_000_000
    #: Seconds an API process keeps the allow-list before reading it again (a removed
    #: document stops running within this time; an added one is found at once).
    persisted_queries_refresh: Annotated[float, Field(gt=0, le=3600)] = 30.0
    #: max-age of an anonymous GET of a public query (the calculators), for CDNs; 0: no-store.
    public_cache_max_age: Annotated[int, Field(ge=0, le=86400)] = 60
    var_dir: Path = Path("var")
    database_url: str = ""
    db_pool_size: int = 10
    db_echo: bool = False
    redis_url: str | None = None
    #: Development and tests only: the business clock starts at this instant (ISO 8601 with
    #: a zone) and moves on from it, instead of reading the machine's date. Refused in
    #: production.
    clock_start: datetime | None = None

    # identity
    #: Trama's own issuer: the ``iss`` of the tokens it signs. Set it to the public URL in
    #: production; the default does not follow TRAMA_PORT so tokens stay valid across ports.
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "api://trama"
    signing_key_file: Path | None = None  # PEM or JWK JSON; generated under var/keys if unset
    token_ttl: int = 3600
    clock_skew: Annotated[int, Field(ge=0, le=300)] = 60
    jwks_cache_ttl: int = 3600
    jwks_min_refresh_interval: int = 30
    #: Verified tokens kept per API process until they expire (0: verify every request).
    token_cache_size: Annotated[int, Field(ge=0, le=1_000_000)] = 10_000
    #: Longest lifetime (``exp`` - ``iat``) of a token Trama accepts, its own or an external
    #: issuer's, in seconds.
    max_token_lifetime: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400
    trusted_issuers: Annotated[list[TrustedIssuer], NoDecode] = []

    # public address
    #: The URL clients reach Trama at (``https://api.trama.example``): the links Trama hands
    #: out (attachment downloads, OpenID discovery) are made from it, never from a request's
    #: ``Host``. Required in production.
    public_url: str | None = None
    #: Host names the server answers for ("api.example.com", "*.example.com", "*" for any).
    #: Empty: in production the host of TRAMA_PUBLIC_URL, elsewhere any.
    allowed_hosts: Annotated[list[str], NoDecode] = []

    # API protection
    introspection: bool | None = None  # None: on except in production
    graphiql: bool | None = None  # None: on except in production
    max_depth: int = 12
    max_tokens: int = 3000
    max_aliases: int = 30
    max_page_size: int = 100
    default_page_size: int = 20
    max_body_bytes: int = 1_000_000
    allowed_origins: Annotated[list[str], NoDecode] = []
    #: Budget of the public calculators (simulateCredit, compareCreditSchemes,
    #: simulateInvestment) per client address: "60/minute", "5/10s", "1000/hour" or "off".
    public_rate_limit: str = "60/minute"
    #: The same budget for authenticated callers, counted per subject.
    authenticated_rate_limit: str = "600/minute"
    #: Exact national-ID lookups (customerByNationalId) per subject: a masked number shows
    #: its last digits, so unlimited lookups could guess the rest.
    national_id_lookup_rate_limit: str = "120/hour"
    #: Lead forms (leadFormToken + captureLead) per client address (per subject when logged
    #: in): people send one or two; scripts many.
    lead_capture_rate_limit: str = "30/hour"
    #: Seconds a lead form must stay open before it is sent (people take longer).
    lead_form_min_seconds: Annotated[int, Field(ge=0, le=600)] = 3
    #: Signs the lead forms' tokens (32+ characters); unset: a key kept in var/keys.
    lead_form_secret: Annotated[SecretStr | None, Field(min_length=32)] = None
    #: Highest cost of one operation (README, "Query cost"): refused before it runs above it.
    query_cost_limit: Annotated[int, Field(ge=1)] = 50_000
    #: Limits per role, JSON: {"admin": 200000, "anonymous": 5000}. A caller gets the highest
    #: of its roles' limits; with none listed, TRAMA_QUERY_COST_LIMIT.
    query_cost_limits: Annotated[dict[str, int], NoDecode] = {}
    #: Client ids of the federation router's credentials: when introspection is off (the
    #: production default) only they may read `_service { sdl }`.
    federation_router_clients: Annotated[list[str], NoDecode] = []
    #: Compiled reads (README, "Compiled reads"): "on" answers the query operations it can
    #: from their compiled plans, "shadow" answers normally and compares (tests), "off".
    compiled_reads: Literal["on", "off", "shadow"] = "on"
    #: Compiled plans kept per API process (LRU; as many parsed documents).
    compiled_reads_cache: Annotated[int, Field(ge=1, le=100_000)] = 1024

    # events and workers
    #: Days relayed events are kept as the log partners replay from.
    event_retention_days: Annotated[int, Field(ge=1)] = 30
    #: Seconds between relay sweeps (the relay is also woken right after commits).
    relay_sweep_interval: Annotated[float, Field(gt=0)] = 1.0
    #: Seconds between cluster-wide sweeps re-sending stale deliveries (one process a tick).
    sweep_interval: Annotated[float, Field(ge=1)] = 30.0
    #: Seconds a delivery may stay pending before its message is sent again.
    redeliver_after: Annotated[float, Field(gt=0)] = 300.0
    #: Worker threads of the in-process broker that ``trama serve`` runs when embedded.
    embedded_worker_threads: Annotated[int, Field(ge=1, le=64)] = 4
    #: Extra modules that declare actors (comma-separated).
    worker_modules: Annotated[list[str], NoDecode] = []
    #: Prefix of Redis keys and channels (several deployments can share one Redis).
    redis_namespace: str = "trama"
    #: Events buffered per subscriber before a slow one is disconnected.
    subscription_buffer: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_subscriptions_per_connection: Annotated[int, Field(ge=1, le=1000)] = 50
    #: Seconds between the fan-out's checks of the log head (repairs lost pub/sub messages).
    fanout_poll_interval: Annotated[float, Field(gt=0)] = 2.0
    ws_keepalive_interval: Annotated[float, Field(gt=0)] = 15.0

    # synchronization of cases with partner platforms
    #: Longest a push to a platform may take, seconds (a connector may set a shorter one).
    case_sync_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    #: Retries of a failed push before it lands in the failed jobs list.
    case_sync_max_retries: Annotated[int, Field(ge=0, le=100)] = 15
    #: Backoff between retries of a push: from the first, doubling, up to the last (seconds).
    case_sync_min_backoff: Annotated[float, Field(gt=0)] = 2.0
    case_sync_max_backoff: Annotated[float, Field(gt=0)] = 300.0
    #: Seconds between sweeps that push again what was left behind.
    case_sync_sweep_interval: Annotated[float, Field(ge=1)] = 60.0
    #: Seconds a (case, partner) pair may stay behind with nothing tried before the sweep
    #: pushes it again.
    case_sync_idle_after: Annotated[float, Field(gt=0)] = 600.0
    #: Failures in a row after which a platform's pushes pause (per worker process) …
    case_sync_breaker_threshold: Annotated[int, Field(ge=1)] = 5
    #: … for this many seconds, before one trial push.
    case_sync_breaker_cooldown: Annotated[float, Field(ge=0)] = 30.0
    #: Networks (CIDR, comma-separated) connectors may reach although they are not public
    #: internet addresses: a partner's private network. Empty: only public addresses.
    connector_allowed_networks: Annotated[list[str], NoDecode] = []

    # credits (rates are fractions: "0.5" is 50% a year; unset: the domain's defaults)
    #: Highest nominal annual rate a credit may carry (default 1.5).
    credit_max_annual_rate: Annotated[Decimal | None, Field(ge=0)] = None
    #: Late-interest rate of credits registered without one (default 0.30).
    late_annual_rate: Annotated[Decimal | None, Field(ge=0)] = None
    #: The cap of late interest, e.g. Chile's tasa máxima convencional (default 0.50).
    late_annual_rate_cap: Annotated[Decimal | None, Field(ge=0)] = None
    #: Largest principal of one credit per currency, major units, JSON ({"CLP": "500000000"}):
    #: products without their own limit and the calculators; others keep the defaults.
    credit_max_principal: dict[str, Decimal] = {}
    #: The product catalogue's limits, JSON: {"AUTO-USADO": {"CLP": "60000000"}}.
    credit_product_max_principal: dict[str, dict[str, Decimal]] = {}

    # investors (unset: the domain's defaults)
    #: Servicing fee kept from investors' interest by fundings made from now on, as a
    #: fraction below 1 with at most six decimals (default 0.01).
    investor_servicing_fee_rate: Annotated[Decimal | None, Field(ge=0, lt=1)] = None
    #: Investors per batch of a settlement run (default 2000).
    settlement_batch_size: Annotated[int | None, Field(ge=1, le=100_000)] = None

    # case attachments
    #: Where attachment bytes are kept: "local" (TRAMA_VAR_DIR/attachments) or "s3".
    attachments_store: Literal["local", "s3"] = "local"
    #: Largest file that may be attached, in bytes (default 10 MiB).
    attachment_max_bytes: Annotated[int, Field(ge=1, le=1024 * 1024 * 1024)] = 10 * 1024 * 1024
    #: Seconds a download link stays valid.
    attachment_link_ttl: Annotated[int, Field(ge=10, le=3600)] = 300
    #: HMAC key of download links (at least 32 characters); unset: generated under var/keys.
    attachment_link_secret: Annotated[SecretStr | None, Field(min_length=32)] = None
    #: Most bytes the parts of a Word or Excel file may unpack to, in all (default 50 MiB).
    attachment_max_unzipped_bytes: Annotated[int, Field(ge=1024)] = 50 * 1024 * 1024
    #: Largest unpacked-to-packed ratio of a part of a Word or Excel file (a zip bomb's is
    #: in the thousands).
    attachment_max_zip_ratio: Annotated[int, Field(ge=1)] = 100
    # webhook inbox (POST /webhooks/{source})
    #: Largest webhook body accepted, in bytes (413 PAYLOAD_TOO_LARGE above it).
    webhook_max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    #: Cal.com: the webhook's secret (``X-Cal-Signature-256``); unset: /webhooks/calcom
    #: answers 503 WEBHOOK_NOT_CONFIGURED.
    calcom_webhook_secret: SecretStr | None = None
    #: Cal.com bookings to lenders, JSON: {"eventType:<id>" | "<organizer e-mail>":
    #: "<partner code>"}; the event type wins over the organizer.
    calcom_lenders: dict[str, str] = {}
    #: The lender (partner code) of bookings the mapping does not name; unset: such
    #: deliveries are stored and ignored.
    calcom_default_lender: str | None = None
    # collections: bank statements in
    #: Largest statement file (upload, CLI, inbox), in bytes (default 64 MiB).
    statement_max_bytes: Annotated[int, Field(ge=1024, le=4 * 1024 * 1024 * 1024)] = 64 * 1024**2
    #: Most bytes a zip of statements may inflate to, in all (default 256 MiB).
    statement_max_unzipped_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    #: Largest inflated-to-packed ratio of one member of a zip of statements.
    statement_max_zip_ratio: Annotated[int, Field(ge=1)] = 100
    #: Refuse a statement whose balances or sequence break (an account's own setting wins).
    statement_refuse_broken: bool = False
    #: Folder swept for statement files (unset: no inbox); done/ and rejected/ beside them.
    statement_inbox: Path | None = None
    #: Seconds between sweeps of the inbox.
    statement_inbox_every: Annotated[int, Field(ge=5, le=86400)] = 60
    #: A file is taken once its size and modification time have not changed for this many
    #: seconds (a file still being written is left for the next sweep); ``*.part`` files
    #: and dot-files are never taken.
    statement_inbox_settle_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    #: Worker processes that check uploaded files (type, card numbers), at most.
    attachment_check_workers: Annotated[int, Field(ge=1, le=64)] = 2
    #: Checks that may wait for a worker; one more is refused with RATE_LIMITED.
    attachment_check_queue: Annotated[int, Field(ge=0, le=1000)] = 8
    #: Seconds a file's check may take before it is stopped and the file refused.
    attachment_check_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: S3-compatible store (TRAMA_ATTACHMENTS_STORE=s3). No endpoint: AWS S3. No keys:
    #: boto3's usual credential chain (environment, instance role…).
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str | None = None

    # collections work (issue 10): e-mail of strategy steps, webhooks, reports
    #: The SMTP server collection e-mails go through; unset: outside production they are
    #: written as .eml files under TRAMA_VAR_DIR/mail, in production they fail.
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    #: "starttls" (upgrade on the submission port; refused if the server cannot), "tls"
    #: (implicit TLS, port 465) or "none" (loopback relays only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    #: A CA bundle (PEM) to trust besides the system's (a private relay's certificate).
    smtp_ca_file: Path | None = None
    #: The From address of collection e-mails (and the domain of their Message-IDs); the
    #: display name is the lender's unless TRAMA_MAIL_FROM_NAME says otherwise.
    mail_from: str = "cobranza@trama.example"
    mail_from_name: str | None = None
    mail_reply_to: str | None = None
    #: Retries of a notification (e-mail or webhook) before it is listed in failedJobs.
    notify_max_retries: Annotated[int, Field(ge=0, le=100)] = 10
    notify_min_backoff: Annotated[float, Field(gt=0)] = 5.0
    notify_max_backoff: Annotated[float, Field(gt=0)] = 1800.0
    #: Seconds between sweeps that send again notifications left pending …
    notify_sweep_interval: Annotated[float, Field(ge=1)] = 60.0
    #: … for this long with nothing tried.
    notify_idle_after: Annotated[float, Field(gt=0)] = 300.0
    #: Credits per transaction of the daily collections run.
    collections_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    #: Reconciliation: lines decided and booked per transaction of collections.reconcile …
    reconcile_chunk: Annotated[int, Field(ge=1, le=20_000)] = 1000
    #: … seconds between sweeps that reconcile NEW lines no event brought (a safety net) …
    reconcile_sweep_interval: Annotated[float, Field(ge=10)] = 600.0
    #: … and business days (the lender's country calendar) a received payment may stay
    #: unmatched before it opens an "unidentified payment" case.
    unidentified_payment_business_days: Annotated[int, Field(ge=1, le=60)] = 5
    #: Seconds a report's download link stays valid.
    report_link_ttl: Annotated[int, Field(ge=10, le=3600)] = 300
    #: Reports kept for each day (the last 7 days' are made when missing) and for each month
    #: (the month before's are made when missing), by the hourly collections.scheduled_reports.
    reports_daily: Annotated[list[str], NoDecode] = ["RECONCILIATION", "AGING"]
    reports_monthly: Annotated[list[str], NoDecode] = [
        "AGING",
        "PORTFOLIO",
        "COLLECTIONS",
        "RECONCILIATION",
    ]

    @field_validator("reports_daily", "reports_monthly", mode="before")
    @classmethod
    def _parse_report_kinds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip().upper() for v in value.split(",") if v.strip()]
        known = {"RECONCILIATION", "AGING", "COLLECTIONS", "PORTFOLIO"}
        bad = [v for v in value if v not in known]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a report kind ({', '.join(sorted(known))})")
        return value

    # origination: contracts signed through DocuSeal (issue 11)
    #: DocuSeal's base URL (``https://api.docuseal.com``, or an instance's
    #: ``https://sign.example.com/api``); unset: contracts are not sent.
    docuseal_url: str | None = None
    #: The API key, sent as ``X-Auth-Token``.
    docuseal_api_key: SecretStr | None = None
    #: A template to create submissions from; unset: the generated contract PDF is sent
    #: (``POST /submissions/pdf``, signature fields from the PDF's text tags).
    docuseal_template_id: Annotated[int | None, Field(ge=1)] = None
    #: DocuSeal's role names for the customer and the lender's signer (the template's, or
    #: the ones Trama prints in the PDF's tags).
    docuseal_customer_role: str = "Cliente"
    docuseal_lender_role: str = "Acreedor"
    #: Who signs for the lender.
    docuseal_lender_signer_email: str = "firmas@trama.example"
    docuseal_lender_signer_name: str = "Apoderado del acreedor"
    #: Seconds a call to DocuSeal (or a signed document's download) may take.
    docuseal_timeout: Annotated[float, Field(gt=0, le=120)] = 15.0
    #: Secret of ``X-Docuseal-Signature`` (``<ts>.<hex HMAC-SHA256(secret, "<ts>.<body>")>``).
    docuseal_webhook_secret: SecretStr | None = None
    #: Older DocuSeal instances: a custom header and its value instead of the signature.
    docuseal_webhook_header: str | None = None
    docuseal_webhook_header_value: SecretStr | None = None
    #: Seconds a signature's timestamp may be away from now.
    docuseal_webhook_tolerance: Annotated[int, Field(ge=1, le=3600)] = 300

    # scoring: the credit bureau (issue 11)
    #: The bureau's base URL (``POST {url}/v1/reports``); unset: no bureau is asked and
    #: every application whose scorecard reads bureau facts is referred (BUREAU_UNAVAILABLE).
    bureau_url: str | None = None
    #: Sent as ``X-Api-Key``.
    bureau_api_key: SecretStr | None = None
    #: Signs each request: ``X-Signature`` = hex HMAC-SHA256(secret, "<X-Timestamp>.<body>").
    bureau_secret: SecretStr | None = None
    #: Seconds the bureau may take before the application is referred.
    bureau_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _parse_issuers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("worker_modules", mode="before")
    @classmethod
    def _parse_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("allowed_hosts", "connector_allowed_networks", mode="before")
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("connector_allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        from domain.shared.netguard import parse_networks

        return [str(n) for n in parse_networks(value)]  # a ValueError names a bad one

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        from app.hosts import check_public_url

        return check_public_url(value) if value else None

    @model_validator(mode="after")
    def _check_token_ttl(self) -> Settings:
        if self.token_ttl > self.max_token_lifetime:
            raise ValueError(
                f"TRAMA_TOKEN_TTL ({self.token_ttl}) is longer than TRAMA_MAX_TOKEN_LIFETIME "
                f"({self.max_token_lifetime}): Trama would refuse its own tokens"
            )
        return self

    @field_validator(
        "public_rate_limit",
        "authenticated_rate_limit",
        "national_id_lookup_rate_limit",
        "lead_capture_rate_limit",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from app.ratelimit import Rate

        Rate.parse(value)  # a ValueError names the accepted forms
        return value

    @field_validator("query_cost_limits", mode="before")
    @classmethod
    def _parse_cost_limits(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("query_cost_limits")
    @classmethod
    def _check_cost_limits(cls, value: dict[str, int]) -> dict[str, int]:
        from domain.shared.principal import Role

        known = {r.value for r in Role} | {"anonymous"}
        for role, limit in value.items():
            if role not in known:
                raise ValueError(f"{role!r} is not a role (one of {', '.join(sorted(known))})")
            if limit < 1:
                raise ValueError(f"the limit of {role!r} must be at least 1")
        return value

    @field_validator("federation_router_clients", mode="before")
    @classmethod
    def _parse_router_clients(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    # derived ---------------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'trama.db').resolve()}"

    @property
    def effective_issuer(self) -> str:
        return self.issuer.rstrip("/")


@functools.cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    get_settings.cache_clear()
