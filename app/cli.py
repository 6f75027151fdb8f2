"""``trama`` — run, migrate, seed and administer Trama."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    return config


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def _ensure_var(settings: Settings) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)


async def _with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    from app.db import close_database, init_database

    init_database(settings.effective_database_url)
    try:
        return await work()
    finally:
        await close_database()


# --- commands ---------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    _ensure_var(settings)
    migrate(settings.effective_database_url, args.revision)
    print(f"database at {args.revision}: {_safe_url(settings.effective_database_url)}")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from app import seed

    _ensure_var(settings)

    async def work() -> str:
        if args.if_empty and not await seed.is_empty():
            return "demo data already present; nothing to do"
        report = await seed.seed(
            customers_count=args.customers, var_dir=settings.var_dir, cases_count=args.cases
        )
        return report.describe()

    print(asyncio.run(_with_db(settings, work)))
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.keys import KeyStore
    from app.auth.tokens import TokenService
    from app.devtokens import dev_token
    from domain.shared.errors import ValidationFailed

    _ensure_var(settings)
    keys = KeyStore.load_or_create(settings.var_dir / "keys", settings.signing_key_file)
    tokens = TokenService(settings, keys)

    async def work() -> str:
        return await dev_token(
            tokens,
            role=args.role,
            partner=args.partner,
            subject=args.subject,
            ttl=args.ttl,
            customer=args.customer,
            investor=args.investor,
        )

    try:
        print(asyncio.run(_with_db(settings, work)))
    except ValidationFailed as exc:
        print(f"trama token: {exc.message}", file=sys.stderr)
        return 2
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import read_session
    from domain.shared import audit

    async def work() -> audit.VerifyResult:
        async with read_session() as session:
            return await audit.verify(session)

    result = asyncio.run(_with_db(settings, work))
    print("ok" if result.ok else result.describe())
    if result.ok:
        print(f"{result.checked} records checked", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_audit_card_numbers(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import read_session
    from domain.shared import audit

    async def work() -> list[audit.CardNumberFinding]:
        async with read_session() as session:
            return await audit.find_card_numbers(session)

    findings = asyncio.run(_with_db(settings, work))
    for item in findings:
        places = ", ".join(item.places)
        print(f"seq {item.seq}\t{item.occurred_at.isoformat()}\t{item.action}\t{places}")
    print(f"{len(findings)} records hold a card number", file=sys.stderr)
    return 1 if findings else 0


def cmd_client_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import transaction
    from domain.identity import service as identity
    from domain.partners import service as partners
    from domain.shared.errors import DomainError, ValidationFailed
    from domain.shared.principal import SYSTEM

    async def work() -> dict[str, Any]:
        async with transaction() as session:
            partner_id = None
            if args.partner:
                partner = await partners.find_by_code(session, args.partner.upper())
                if partner is None:
                    raise ValidationFailed.on("partner", f"no partner {args.partner!r}")
                partner_id = partner.id
            issued = await identity.create_client(
                session,
                principal=SYSTEM,
                name=args.name,
                partner_id=partner_id,
                roles=args.role,
                scopes=args.scope or None,
            )
        return {
            "client_id": issued.client.client_id,
            "client_secret": issued.secret,
            "roles": issued.client.roles,
            "scopes": issued.client.scopes,
        }

    try:
        print(json.dumps(asyncio.run(_with_db(settings, work)), indent=2))
    except DomainError as exc:
        print(f"trama client create: {exc.message}", file=sys.stderr)
        return 2
    return 0


def cmd_uf_load(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import transaction
    from domain.credits import uf
    from domain.shared.errors import DomainError, ValidationFailed
    from domain.shared.principal import SYSTEM

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"trama uf load: cannot read {path}: {exc}", file=sys.stderr)
        return 2

    async def work() -> uf.LoadResult:
        async with transaction() as session:
            return await uf.load_uf_csv(session, principal=SYSTEM, csv_text=text)

    try:
        result = asyncio.run(_with_db(settings, work))
    except ValidationFailed as exc:
        print(f"trama uf load: {path} was not loaded; nothing changed:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.message}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"trama uf load: {exc.message}", file=sys.stderr)
        return 2
    print(
        f"UF values {result.first_day} to {result.last_day}: {result.inserted} added, "
        f"{result.updated} corrected, {result.unchanged} unchanged"
    )
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.keys import KeyStore

    store = KeyStore.rotate(settings.var_dir / "keys")
    print(f"new signing key {store.signing_key.kid}; restart the API processes to use it")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.server import default_workers, serve

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers if args.workers is not None else default_workers(settings)
    _ensure_var(settings)
    return serve(settings, host=host, port=port, workers=workers)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers.runner import run_workers

    _ensure_var(settings)
    queues = [q.strip() for q in (args.queues or "").split(",") if q.strip()] or None
    return run_workers(settings, processes=args.processes, threads=args.threads, queues=queues)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trama", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the API (HTTP + WebSocket)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--workers",
        type=int,
        help="API processes sharing the port (default TRAMA_WORKERS; unset: one per "
        "available CPU in production, 1 elsewhere)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run background workers (needs TRAMA_REDIS_URL)")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--threads", type=int, default=8, help="worker threads per process")
    p.add_argument("--queues", help="comma-separated queues to consume (default: all)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("seed", help="create the demo network")
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--cases", type=int, default=60, help="demo cases (default 60)")
    p.add_argument("--if-empty", action="store_true", help="only when the database is empty")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("token", help="print a development token signed by Trama")
    p.add_argument("--role", required=True)
    p.add_argument("--partner", help="partner code (omit for roles not tied to a partner)")
    p.add_argument("--subject")
    p.add_argument("--ttl", type=int)
    p.add_argument("--customer", help="with --role customer: the customer's id or national ID")
    p.add_argument(
        "--investor",
        help="with --role investor: the investor's id as the API shows it, or its UUID",
    )
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("audit", help="audit trail tools")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    v = audit_sub.add_parser("verify", help="check the hash chain")
    v.set_defaults(func=cmd_audit_verify)
    v = audit_sub.add_parser(
        "card-numbers",
        help="list the records written before redaction that still hold a card number",
    )
    v.set_defaults(func=cmd_audit_card_numbers)

    p = sub.add_parser("client", help="OAuth clients for partner systems")
    client_sub = p.add_subparsers(dest="client_command", required=True)
    c = client_sub.add_parser("create", help="register a client; prints its secret once")
    c.add_argument("--name", required=True)
    c.add_argument("--partner")
    c.add_argument("--role", action="append", required=True)
    c.add_argument("--scope", action="append")
    c.set_defaults(func=cmd_client_create)

    p = sub.add_parser("uf", help="Unidad de Fomento values")
    uf_sub = p.add_subparsers(dest="uf_command", required=True)
    u = uf_sub.add_parser("load", help="load daily UF values (CLP) from a date,value CSV file")
    u.add_argument(
        "file", help="CSV: date,value per line (ISO or dd-mm-yyyy; 39643.59 or 39.643,59)"
    )
    u.set_defaults(func=cmd_uf_load)

    p = sub.add_parser("statements", help="bank statements of collection accounts")
    statements_sub = p.add_subparsers(dest="statements_command", required=True)
    from app import statements_cli

    statements_cli.register(statements_sub)

    from app import collections_cli

    p = sub.add_parser("collections", help="collections work: the daily run")
    collections_sub = p.add_subparsers(dest="collections_command", required=True)
    collections_cli.register_collections(collections_sub)
    p = sub.add_parser("reports", help="financial reports of lenders")
    reports_sub = p.add_subparsers(dest="reports_command", required=True)
    collections_cli.register_reports(reports_sub)

    p = sub.add_parser("loyalty", help="loyalty programs and the legacy CRM migration")
    loyalty_sub = p.add_subparsers(dest="loyalty_command", required=True)
    from app import loyalty_migration_cli

    loyalty_migration_cli.register(loyalty_sub)
    from app import loyalty_cli

    loyalty_cli.register(loyalty_sub)

    from app import persisted_queries_cli

    persisted_queries_cli.register(sub)

    from app import marketplace_cli

    marketplace_cli.register(sub)

    from app import scoring_cli

    scoring_cli.register(sub)

    from app import crm_cli

    crm_cli.register(sub)

    p = sub.add_parser("keys", help="signing keys")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("rotate", help="generate a new signing key")
    k.set_defaults(func=cmd_keys_rotate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    os.environ.setdefault("TRAMA_ENV", settings.env)
    from app.policies import configure_clock

    configure_clock(settings)
    return int(args.func(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
