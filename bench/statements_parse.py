"""Parsing throughput of bank statements: camt.053, MT940 and a CSV export.

    python -m bench.statements_parse [--lines 1000000] [--per-statement 100000] [--only camt053]

For each format a file of ``--lines`` lines (``bench/statement_files.py``, in the shapes
banks send: reversals, remittance text with a credit reference and a RUT, balances that
add up) is generated once (not measured), then read by ``formats.read_file`` — exactly
what ingestion does before it touches the database:

- ``camt053`` (one statement a day of ``--per-statement`` lines): the XML safety gate
  (defusedxml's expat scan), the streaming reader (lxml iterparse: lines in minor units
  with references, parties and national IDs) and the XSD check (libxml2; files above
  ``ReadLimits.full_schema_report_bytes`` are checked while streaming). The three parts
  are also timed on their own.
- ``mt940`` (SWIFT envelopes, CRLF, one message a day): tokenising, the ``mt-940`` library
  on every message, then our own balances, reversal signs and ``:86:`` texts.
- ``csv`` (a Chilean "cartola": Latin-1, ``;``, dd/mm/yyyy, thousands with dots, debit and
  credit columns, running balance checked row by row) with its saved column mapping.

Nothing is written to a database. Both wall-clock seconds and this process's CPU seconds
are given (the machine is shared: CPU seconds are the steadier figure); lines/s are
computed from CPU seconds. Prints one JSON object with the load (``uptime``) before/after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench.statement_files import ACCOUNT, CARTOLA_MAPPING, camt053, cartola_csv, mt940
from domain.collections.formats import ReadLimits, TabularTarget, read_file, schema
from domain.collections.formats.base import ParsedFile
from domain.collections.formats.camt import parse_camt
from domain.collections.formats.tabular import ColumnMapping
from domain.collections.formats.xmlsafe import check_xml

FORMATS = ("camt053", "mt940", "csv")


def _uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def _timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _rate(lines: int, seconds: float) -> int:
    return int(lines / seconds) if seconds > 0 else 0


def _read(content: bytes, name: str) -> ParsedFile:
    target = TabularTarget(ColumnMapping.from_json(CARTOLA_MAPPING), "CLP", ACCOUNT)
    return read_file(content, file_name=name, tabular=lambda _ref: target, limits=ReadLimits())


def _summary(fmt: str, content: bytes, name: str, lines: int) -> dict[str, Any]:
    parsed, wall, cpu = _timed(lambda: _read(content, name))
    statements = parsed.statements
    read = sum(len(s.lines) for s in statements)
    assert read == lines, (fmt, read, lines)
    return {
        "format": fmt,
        "lines": lines,
        "statements": len(statements),
        "bytes": len(content),
        "read_wall_s": round(wall, 2),
        "read_cpu_s": round(cpu, 2),
        "lines_per_cpu_s": _rate(lines, cpu),
        "lines_per_wall_s": _rate(lines, wall),
        "schema_status": parsed.schema_status,
        "problems": [p.message for s in statements for p in s.problems][:3],
        "balances_add_up": all(
            s.opening is not None
            and s.closing is not None
            and s.opening.amount + s.entries_sum == s.closing.amount
            for s in statements
        ),
        "reversals": sum(1 for s in statements for line in s.lines if line.is_reversal),
    }


def bench_camt(lines: int, per_statement: int) -> dict[str, Any]:
    content = camt053(lines, per_statement=per_statement)
    out = _summary("camt.053.001.08", content, "bench.xml", lines)
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    parts: dict[str, float] = {}
    _, _, parts["gate_cpu_s"] = _timed(lambda: check_xml(content))
    _, _, parts["parse_cpu_s"] = _timed(
        lambda: parse_camt(content, message="camt.053", version=8, ns=ns)
    )
    _, _, parts["xsd_cpu_s"] = _timed(
        lambda: schema.validate(
            content, "camt.053", 8, full_report_bytes=ReadLimits().full_schema_report_bytes
        )
    )
    out["parts"] = {k: round(v, 2) for k, v in parts.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--per-statement", type=int, default=100_000)
    parser.add_argument("--only", choices=FORMATS, action="append")
    args = parser.parse_args()
    chosen = args.only or list(FORMATS)
    out: dict[str, Any] = {
        "bench": "statements_parse",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": _uptime(),
        "results": [],
    }
    if "camt053" in chosen:
        out["results"].append(bench_camt(args.lines, args.per_statement))
    if "mt940" in chosen:
        content = mt940(args.lines, per_statement=args.per_statement)
        out["results"].append(_summary("MT940", content, "bench.sta", args.lines))
    if "csv" in chosen:
        content = cartola_csv(args.lines)
        out["results"].append(_summary("CSV (cartola)", content, "bench.csv", args.lines))
    out["load_after"] = _uptime()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
