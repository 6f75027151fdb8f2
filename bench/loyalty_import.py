"""Import of a legacy points-CRM export (issue 13): rows per second with the validation on.

Generates a PuntosPlus export (``domain/loyalty_migration/generator.py``) of ``--transactions``
movements, then runs what ``trama loyalty import`` runs, in this process, on one database
connection: the validation (every file streamed and checked, the cross-file checks as SQL over
temporary tables), the batches (customers, accounts, the whole history through the ledger's
bulk path, the archive, the journal), and the after-proofs (balances read back member by
member, months; the shadow run of the rules when ``--shadow``). Prints one JSON object with
each phase's seconds and the rows per second.

    TRAMA_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench_loyalty \\
        .venv/bin/python -m bench.loyalty_import --transactions 1000000

``TRAMA_BENCH_DATABASE_URL`` must name an empty database of its own (it is migrated, a few
partners are seeded and a program created). Without it: SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


async def _run(args: argparse.Namespace, url: str, folder: Path) -> dict[str, Any]:
    from app.db import close_database, init_database, transaction
    from app.loyalty_migration_cli import PinnedConnection, drop_staging
    from domain.loyalty import accounts
    from domain.loyalty_migration import importer, reconcile
    from domain.loyalty_migration.mapping import load_mapping
    from domain.partners import service as partners
    from domain.shared.principal import SYSTEM

    init_database(url)
    try:
        code = f"BENCH{int(time.time()) % 100000}"
        async with transaction() as session:
            partner = (await partners.list_all(session))[0]
            await accounts.create_program(
                session,
                SYSTEM,
                partner_id=partner.id,
                code=code,
                settings=accounts.ProgramSettings(
                    name="PuntosPlus (bench)",
                    unit_name="Puntos",
                    point_value="0.50",
                    currency="ARS",
                    timezone="America/Argentina/Buenos_Aires",
                    expiry_policy="END_OF_MONTH",
                    expiry_count=24,
                ),
            )
        marks: dict[str, float] = {}
        batches = 0

        def progress(what: str, figures: dict[str, Any]) -> None:
            nonlocal batches
            marks[what] = time.perf_counter()
            if what == "batch":
                batches += 1
                if args.verbose:
                    elapsed = time.perf_counter() - start
                    print(
                        f"[batch {figures['seq']}/{figures['of']}] {elapsed:.1f}s", file=sys.stderr
                    )

        mapping = load_mapping(folder / "mapping.yaml")
        start = time.perf_counter()
        async with PinnedConnection(dry_run=False) as pinned:
            result = await importer.import_export(
                pinned.unit,
                principal=SYSTEM,
                folder=folder,
                mapping=mapping,
                options=importer.ImportOptions(program_code=code, batch_size=args.batch_size),
                progress=progress,
            )
            imported = time.perf_counter()
            assert result.outcome == importer.Outcome.IMPORTED, result.validation.log.counts
            proof = await reconcile.reconcile(
                pinned.unit, principal=SYSTEM, run_id=result.run_id, shadow=False, progress=progress
            )
            proved = time.perf_counter()
            shadow_seconds = None
            if args.shadow:
                again = await reconcile.reconcile(
                    pinned.unit, principal=SYSTEM, run_id=result.run_id, shadow=True
                )
                shadow_seconds = round(time.perf_counter() - proved, 2)
                shadow_purchases = again.shadow_purchases
            await drop_staging(pinned)
    finally:
        await close_database()
    movements = result.validation.counts.get("movements", 0)
    validated = marks.get("validated", imported)
    out: dict[str, Any] = {
        "database": url.split("://", 1)[0],
        "movements": movements,
        "members": result.validation.counts.get("members", 0),
        "batch_size": args.batch_size,
        "batches": batches,
        "seconds": {
            "validation": round(validated - start, 2),
            "batches": round(imported - validated, 2),
            "proofs": round(proved - imported, 2),
            "total": round(proved - start, 2),
        },
        "rows_per_second": {
            "validation": round(movements / max(validated - start, 1e-9)),
            "import_with_validation": round(movements / max(imported - start, 1e-9)),
            "import_validation_and_proofs": round(movements / max(proved - start, 1e-9)),
        },
        "balances": {"agreeing": proof.agreeing, "differing": proof.differing},
        "months_differing": proof.months_differing,
        "entries": result.counts.get("entries"),
    }
    if args.shadow:
        out["shadow"] = {
            "seconds": shadow_seconds,
            "purchases": shadow_purchases,
            "purchases_per_second": round(shadow_purchases / max(shadow_seconds or 1e-9, 1e-9)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, help="default: one per 20 movements")
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--export", help="reuse (or keep) the export in this folder")
    parser.add_argument("--shadow", action="store_true", help="also time the shadow run")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="trama-bench-loyalty-"))
    url = os.environ.get("TRAMA_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "TRAMA_DATABASE_URL": url, "TRAMA_VAR_DIR": str(tmp)}
    trama = str(Path(sys.executable).parent / "trama")
    load_before = _load()
    try:
        subprocess.run([trama, "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
        subprocess.run(
            [trama, "seed", "--customers", "10", "--cases", "0"],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        folder = Path(args.export) if args.export else tmp / "export"
        generated = None
        if not (folder / "mapping.yaml").exists():
            from domain.loyalty_migration.generator import generate

            began = time.perf_counter()
            generate(
                folder,
                members=args.members or max(1, args.transactions // 20),
                transactions=args.transactions,
                seed=args.seed,
            )
            generated = round(time.perf_counter() - began, 1)
        os.environ["TRAMA_DATABASE_URL"] = url
        result = asyncio.run(_run(args, url, folder))
        result["export_bytes"] = sum(p.stat().st_size for p in folder.glob("*.csv"))
        result["generation_seconds"] = generated
        # this process's peak (generation, validation, batches, proofs); not the server's
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        result["load_before"] = load_before
        result["load_after"] = _load()
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
