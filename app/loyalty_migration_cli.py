"""``trama loyalty import|validate|verify-journal|migration-report|migrations|legacy-export``:
the legacy CRM migration from the command line (issue 13).

The import runs on one database connection of its own for its whole length (the
validation's temporary tables live on it); each batch is a transaction on that connection.
``--dry-run`` runs everything — validation, every batch, the after-proofs, the reports —
inside one transaction it rolls back at the end (batches are savepoints in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.settings import Settings

EXIT_OK = 0
EXIT_DIFFERENCES = 1  # imported, and the proofs found discrepancies / the journal is broken
EXIT_REFUSED = 2  # bad input: nothing written


class PinnedConnection:
    """One connection for a whole import; each unit of work is a transaction on it (or a
    savepoint of one outer transaction, rolled back at the end, in a dry run)."""

    def __init__(self, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.connection: AsyncConnection | None = None
        self._outer: Any = None

    async def __aenter__(self) -> PinnedConnection:
        from app.db import get_database

        database = get_database()
        connection = await database.engine.connect()
        # SQLite: writers take the write lock up front (app.db's BEGIN IMMEDIATE).
        self.connection = await connection.execution_options(trama_write=True)
        if self.dry_run:
            self._outer = await self.connection.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        try:
            if self._outer is not None:
                await self._outer.rollback()
            elif self.connection.in_transaction():
                await self.connection.rollback()
        finally:
            await self.connection.close()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        from domain.shared import audit, outbox

        connection = self.connection
        assert connection is not None
        transaction = await connection.begin_nested() if self.dry_run else await connection.begin()
        # The session commits (or releases) exactly the transaction begun here.
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="control_fully"
        )
        try:
            yield session
            await session.flush()
            await audit.seal(session)
            session.info.pop(outbox.ADDED_FLAG, None)
            await session.commit()
            if transaction.is_active:  # the session never used it
                await transaction.commit()
        except BaseException:
            audit.discard_pending(session)
            session.info.pop(outbox.ADDED_FLAG, None)
            await session.rollback()
            if transaction.is_active:
                await transaction.rollback()
            raise
        finally:
            await session.close()


def _principal(actor: str | None) -> Any:
    from dataclasses import replace

    from domain.shared.principal import SYSTEM

    if not actor:
        return SYSTEM
    return replace(SYSTEM, subject=f"cli:{actor}"[:200], display_name=actor)


def _load_mapping(args: argparse.Namespace, folder: Path) -> Any:
    from domain.loyalty_migration.mapping import load_mapping
    from domain.shared.errors import ValidationFailed

    if args.mapping:
        return load_mapping(Path(args.mapping))
    for name in ("mapping.yaml", "mapping.yml", "mapping.json"):
        if (folder / name).is_file():
            return load_mapping(folder / name)
    raise ValidationFailed.on("mapping", f"give --mapping FILE (no mapping.yaml in {folder})")


def _print_issues(validation: Any, limit: int = 40) -> None:
    items = validation.log.sorted_items()
    for issue in items[:limit]:
        print(
            f"  {issue.severity:7} {issue.code:22} {issue.where()}: {issue.message}",
            file=sys.stderr,
        )
    if len(items) > limit:
        print(f"  … {len(items) - limit} more in the report", file=sys.stderr)
    counts = ", ".join(f"{code} {n}" for code, n in sorted(validation.log.counts.items()))
    if counts:
        print(f"  by code: {counts}", file=sys.stderr)


def _report_dir(args: argparse.Namespace, settings: Settings, name: str) -> Path:
    if args.report_dir:
        return Path(args.report_dir)
    return settings.var_dir / "loyalty-migrations" / name


async def _with_db(settings: Settings, work: Callable[[], Any]) -> Any:
    from app.db import close_database, init_database

    init_database(settings.effective_database_url)
    try:
        return await work()
    finally:
        await close_database()


def _progress(quiet: bool) -> Callable[[str, dict[str, Any]], None] | None:
    if quiet:
        return None

    def say(what: str, figures: dict[str, Any]) -> None:
        text = " ".join(f"{k}={v}" for k, v in figures.items())
        print(f"[{what}] {text}", file=sys.stderr, flush=True)

    return say


# --- import ---------------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from domain.loyalty_migration import importer, reconcile, reports
    from domain.shared.errors import DomainError

    folder = Path(args.folder)
    principal = _principal(args.actor)
    progress = _progress(args.quiet)

    async def work() -> int:
        mapping = _load_mapping(args, folder)
        options = importer.ImportOptions(
            program_code=args.program,
            batch_size=args.batch_size,
            pause=args.pause_ms / 1000,
            resume_run_id=uuid.UUID(args.resume) if args.resume else None,
            max_batches=args.max_batches,
        )
        async with PinnedConnection(dry_run=args.dry_run) as pinned:
            run_id: uuid.UUID | None = None
            try:
                result = await importer.import_export(
                    pinned.unit,
                    principal=principal,
                    folder=folder,
                    mapping=mapping,
                    options=options,
                    progress=progress,
                )
                run_id = result.run_id
                if result.outcome == importer.Outcome.REJECTED:
                    out = _report_dir(
                        args, settings, "rejected-" + result.validation.export_hash[:12]
                    )
                    written = reports.write_validation(result.validation, out)
                    print(
                        f"trama loyalty import: {folder} was not imported; nothing written:",
                        file=sys.stderr,
                    )
                    _print_issues(result.validation)
                    print(f"  report: {', '.join(str(p) for p in written)}", file=sys.stderr)
                    return EXIT_REFUSED
                if result.outcome == importer.Outcome.ALREADY_IMPORTED:
                    print(f"already imported as run {result.run_id}; nothing to do")
                    return EXIT_OK
                assert run_id is not None
                if args.max_batches is not None:
                    async with pinned.unit() as session:
                        from domain.loyalty_migration.models import MigrationRun

                        run = await session.get(MigrationRun, run_id)
                        assert run is not None
                        if run.batches_done < run.batches_planned:
                            print(
                                f"run {run_id}: {run.batches_done} of {run.batches_planned} batches"
                                " written; run the same command again to go on"
                            )
                            return EXIT_OK
                proof = await reconcile.reconcile(
                    pinned.unit,
                    principal=principal,
                    run_id=run_id,
                    shadow=not args.no_shadow,
                    progress=progress,
                )
                out = _report_dir(
                    args, settings, ("dry-run-" if args.dry_run else "") + str(run_id)
                )
                async with pinned.unit() as session:
                    written = await reports.write_run(
                        session, run_id, out, validation=result.validation
                    )
                    summary = await reports.summary(session, run_id)
            except DomainError as exc:
                if run_id is not None and not args.dry_run:
                    await importer.mark_failed(pinned.unit, run_id, importer.describe_error(exc))
                raise
            finally:
                await drop_staging(pinned)
        summary["dryRun"] = args.dry_run
        print(json.dumps(summary, indent=2, default=str))
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
        if args.dry_run:
            print("dry run: everything was rolled back; nothing written", file=sys.stderr)
        return EXIT_DIFFERENCES if proof.differing or proof.months_differing else EXIT_OK

    return _run(settings, work, "import")


async def drop_staging(pinned: PinnedConnection) -> None:
    """Drop the validation's temporary tables (a dry run's go with its rollback)."""
    from domain.loyalty_migration import staging

    if pinned.dry_run:
        return
    try:
        async with pinned.unit() as session:
            await staging.drop(session)
    except Exception:  # the connection may be gone: its temporary tables went with it
        return


def _run(settings: Settings, work: Callable[[], Any], name: str) -> int:
    from domain.shared.errors import DomainError, ValidationFailed

    try:
        return int(asyncio.run(_with_db(settings, work)))
    except ValidationFailed as exc:
        print(f"trama loyalty {name}: nothing written:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.field}: {problem.message}", file=sys.stderr)
        return EXIT_REFUSED
    except DomainError as exc:
        print(f"trama loyalty {name}: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED


# --- validate -------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from domain.loyalty import accounts as loyalty_accounts
    from domain.loyalty_migration import reports, validation

    folder = Path(args.folder)

    async def work() -> int:
        mapping = _load_mapping(args, folder)
        async with PinnedConnection(dry_run=True) as pinned, pinned.unit() as session:
            program_id = None
            code = args.program or (mapping.program.split("/", 1)[1] if mapping.program else None)
            if code:
                program = await loyalty_accounts.find_program(session, code)
                program_id = program.id if program else None
            found = await validation.check_export(
                session, folder=folder, mapping=mapping, program_id=program_id
            )
        out = _report_dir(args, settings, "validation-" + found.export_hash[:12])
        written = reports.write_validation(found, out)
        print(
            json.dumps(
                {
                    "ok": found.ok,
                    "errors": found.log.errors,
                    "warnings": found.log.warnings,
                    "cutoff": found.cutoff,
                    "counts": found.counts,
                    "movementPoints": found.movement_points,
                    "balancePoints": found.balance_points,
                    "byCode": dict(found.log.counts),
                    "exportHash": found.export_hash,
                },
                indent=2,
                default=str,
            )
        )
        if not found.ok:
            _print_issues(found)
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
        return EXIT_OK if found.ok else EXIT_REFUSED

    return _run(settings, work, "validate")


# --- journal, reports, runs ------------------------------------------------------------------
def cmd_verify_journal(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import read_session
    from domain.loyalty_migration import journal

    async def work() -> int:
        ids = [uuid.UUID(r) for r in args.runs] if args.runs else None
        async with read_session() as session:
            checks = await journal.verify_all(session, ids)
        for check in checks:
            print(check.describe())
        if not checks:
            print("no migration runs", file=sys.stderr)
        return EXIT_OK if all(c.ok for c in checks) else EXIT_DIFFERENCES

    return _run(settings, work, "verify-journal")


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import read_session
    from domain.loyalty_migration import reports

    async def work() -> int:
        run_id = uuid.UUID(args.run)
        out = _report_dir(args, settings, str(run_id))
        async with read_session() as session:
            written = await reports.write_run(session, run_id, out)
            summary = await reports.summary(session, run_id)
        print(json.dumps(summary, indent=2, default=str))
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
        return EXIT_OK

    return _run(settings, work, "migration-report")


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import read_session
    from domain.loyalty_migration import reports

    async def work() -> int:
        async with read_session() as session:
            rows = await reports.runs(session)
        for row in rows:
            print("\t".join(str(v) for v in row))
        return EXIT_OK

    return _run(settings, work, "migrations")


def cmd_legacy_export(args: argparse.Namespace, settings: Settings) -> int:
    from domain.loyalty_migration.generator import DEFECTS, generate

    defects: dict[str, int] = {}
    for item in args.defect or []:
        name, _, count = item.partition("=")
        if name not in DEFECTS or (count and not count.isdigit()):
            print(
                f"trama loyalty legacy-export: unknown defect {item!r};"
                f" known: {', '.join(DEFECTS)}",
                file=sys.stderr,
            )
            return EXIT_REFUSED
        defects[name] = int(count or 1)
    out = generate(
        Path(args.folder),
        members=args.members,
        transactions=args.transactions,
        seed=args.seed,
        defects=defects,
        program=args.program,
    )
    print(
        json.dumps(
            {
                "folder": str(out.folder),
                "members": out.members,
                "accounts": out.accounts,
                "movements": out.movements,
                "points": out.points_total,
                "cutoff": out.cutoff.isoformat(),
                "defects": [e.__dict__ for e in out.expected],
            },
            indent=2,
        )
    )
    return EXIT_OK


def register(loyalty_sub: Any) -> None:
    """Add the migration's commands to ``trama loyalty``."""
    p = loyalty_sub.add_parser(
        "import", help="import a legacy CRM export (validated first; batches; resumable)"
    )
    p.add_argument("folder", help="the export's folder")
    p.add_argument("--mapping", help="mapping file (YAML or JSON); default FOLDER/mapping.yaml")
    p.add_argument("--program", help="the program's code (default: the mapping's)")
    p.add_argument("--dry-run", action="store_true", help="do everything, then roll it back")
    p.add_argument("--resume", metavar="RUN", help="resume this run only")
    p.add_argument("--batch-size", type=int, default=20_000, help="movements per batch")
    p.add_argument("--pause-ms", type=int, default=0, help="pause between batches")
    p.add_argument("--max-batches", type=int, help="stop after this many batches")
    p.add_argument("--no-shadow", action="store_true", help="skip the shadow run of the rules")
    p.add_argument("--report-dir", help="where the CSV/XLSX reports go")
    p.add_argument("--actor", help="who runs the import (for the audit trail)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)

    p = loyalty_sub.add_parser("validate", help="check a legacy export; writes nothing")
    p.add_argument("folder")
    p.add_argument("--mapping")
    p.add_argument("--program")
    p.add_argument("--report-dir")
    p.set_defaults(func=cmd_validate)

    p = loyalty_sub.add_parser("verify-journal", help="check the migration journals' hash chains")
    p.add_argument("runs", nargs="*", metavar="RUN")
    p.set_defaults(func=cmd_verify_journal)

    p = loyalty_sub.add_parser("migration-report", help="write a migration run's reports")
    p.add_argument("run")
    p.add_argument("--report-dir")
    p.set_defaults(func=cmd_report)

    p = loyalty_sub.add_parser("migrations", help="list the migration runs")
    p.set_defaults(func=cmd_runs)

    p = loyalty_sub.add_parser("legacy-export", help="write a synthetic legacy export")
    p.add_argument("folder")
    p.add_argument("--members", type=int, default=1_000)
    p.add_argument("--transactions", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--program", help="PARTNER/PROGRAM for the mapping")
    p.add_argument("--defect", action="append", metavar="NAME[=COUNT]")
    p.set_defaults(func=cmd_legacy_export)
