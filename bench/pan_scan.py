"""The card-number search and the attachment check: linear, and bounded before inflating.

    python -m bench.pan_scan [--repeat 3] [--sizes 1,10] [--compare-with 590a0b6]

For 1 MiB and 10 MiB (``--sizes``) of each kind of text:

- ``prose``: Spanish case descriptions full of look-alikes (amounts, dates, RUTs, phone
  numbers, invoice numbers), one card number per MiB;
- ``statement``: a bank statement CSV (dates, amounts, references, balances);
- ``dense_fours``: ``4111 4111 4111 …`` — every group could start a card number (the worst
  case for the four-digit layout);
- ``dense_boxes``: ``4 1 1 1 …`` — one digit per group;
- ``digits``: one unbroken run of digits;

it times ``domain.shared.pan.find_pans`` on the text and ``attachment_rules.inspect`` on the
file (UTF-8 check, type, search), best and median of ``--repeat`` runs.

Word files: the audit's zip bomb (a small .docx whose body unpacks to 63 MB of XML) and one
of 40 MB (under the size limit, over the ratio) through ``inspect`` with the default limits
(refused before anything is inflated); the 63 MB one searched with the limits lifted (what
the search costs on 63 MB of XML: it is linear); and a 4 MiB .docx of tables (about 45 MB of
XML) searched in full.

``--compare-with REV`` also times the detector as it was at git revision REV (read with
``git show``) on the 1 MiB texts, to show the change.

Prints one JSON object, with the machine's load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.cases import attachment_rules as rules
from domain.shared import pan

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
TYPES = '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


# --- data --------------------------------------------------------------------------------
def prose(size: int, rng: random.Random) -> str:
    parts = []
    total = 0
    planted = 0
    while total < size:
        sentence = rng.choice(
            [
                "El cliente {n} reclama el cobro de ${a} en la cuota {c} de 36.",
                "Pagó el {d} con transferencia folio 0001-{f:08d}; RUT {r}.",
                "Llamó desde +56 9 {p1:04d} {p2:04d} el {d} a las 14:{m:02d}.",
                "Monto en disputa: ${a},00. Saldo al {d}: ${b}.",
                "Se deriva al partner con la referencia CS-2026-{f:06d} (últimos 4: {l4}).",
            ]
        ).format(
            n=rng.randint(1, 99),
            a=f"{rng.randint(1_000, 9_999_999):,}".replace(",", "."),
            b=f"{rng.randint(1_000, 99_999_999):,}".replace(",", "."),
            c=rng.randint(1, 36),
            d=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026",
            f=rng.randint(1, 99_999_999),
            r=f"{rng.randint(5, 25)}.{rng.randint(100, 999)}.{rng.randint(100, 999)}-"
            f"{rng.randint(0, 9)}",
            p1=rng.randint(1000, 9999),
            p2=rng.randint(1000, 9999),
            m=rng.randint(0, 59),
            l4=rng.randint(1000, 9999),
        )
        if total // MiB >= planted:
            sentence += " Tarjeta 4111 1111 1111 1111."
            planted += 1
        parts.append(sentence)
        total += len(sentence) + 1
    return "\n".join(parts)[:size]


def statement(size: int, rng: random.Random) -> str:
    lines = ["fecha;descripcion;cargo;abono;saldo;referencia"]
    total = len(lines[0])
    while total < size:
        line = (
            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026;"
            f"COMPRA COMERCIO {rng.randint(1, 999)};"
            f"-{rng.randint(1_000, 999_999):,};0;{rng.randint(1_000, 99_999_999):,};"
            f"{rng.randint(10**8, 10**10)}"
        ).replace(",", ".")
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


def repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def kinds(size: int, rng: random.Random) -> dict[str, str]:
    return {
        "prose": prose(size, rng),
        "statement": statement(size, rng),
        "dense_fours": repeated("4111 ", size),
        "dense_boxes": repeated("4 ", size),
        "digits": repeated("1", size),
    }


def docx(body: str, *, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", TYPES)
        archive.writestr(
            "word/document.xml", f"<w:document {W}><w:body>{body}</w:body></w:document>"
        )
        archive.writestr(
            "docProps/core.xml",
            "<cp:coreProperties><dc:title>Informe</dc:title></cp:coreProperties>",
        )
    return buffer.getvalue()


def bomb(unpacked: int) -> bytes:
    filler = "<w:p><w:r><w:t>0</w:t></w:r></w:p>"
    return docx(filler * (unpacked // len(filler)), level=9)


def tables_docx(packed: int, rng: random.Random) -> bytes:
    """A Word file of about ``packed`` bytes: tables of statement rows (random text packs
    poorly, like real documents)."""
    rows = []
    content = b""
    while True:
        for _ in range(2000):
            cells = [
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026",
                f"Comercio {rng.randint(1, 10**6)} "
                + rng.choice(["Santiago", "Valparaíso", "Concepción"]),
                f"${rng.randint(1_000, 9_999_999):,}".replace(",", "."),
                f"{rng.randint(10**8, 10**10)}",
            ]
            rows.append(
                "<w:tr>"
                + "".join(f"<w:tc><w:p><w:r><w:t>{c}</w:t></w:r></w:p></w:tc>" for c in cells)
                + "</w:tr>"
            )
        content = docx(f"<w:tbl>{''.join(rows)}</w:tbl>")
        if len(content) >= packed:
            return content


# --- timing -------------------------------------------------------------------------------
def timed(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    runs = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return {
        "best_s": round(min(runs), 4),
        "median_s": round(statistics.median(runs), 4),
        "result": result,
    }


def count_pans(find: Callable[[str], list[Any]], text: str) -> int:
    return len(find(text))


def inspect_outcome(content: bytes, name: str, limits: rules.ScanLimits | None = None) -> str:
    try:
        found = rules.inspect(
            content, file_name=name, declared_type=None, max_bytes=64 * MiB, limits=limits
        )
    except rules.ValidationFailed as exc:
        return f"refused: {exc.problems[0].message[:90]}"
    return f"accepted as {found.file_type.key}"


def old_detector(revision: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:domain/shared/pan.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("pan_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pan_before"] = module
    exec(compile(source, f"{revision}:domain/shared/pan.py", "exec"), module.__dict__)
    return module


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10", help="MiB, comma-separated")
    parser.add_argument("--compare-with", default="", help="a git revision of the old detector")
    args = parser.parse_args()
    rng = random.Random(20261207)
    report: dict[str, Any] = {
        "benchmark": "pan_scan",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "uptime_before": uptime(),
        "text": {},
        "word": {},
    }
    texts_1mib: dict[str, str] = {}
    for mib in (int(s) for s in args.sizes.split(",")):
        for kind, text in kinds(mib * MiB, rng).items():
            if mib == 1:
                texts_1mib[kind] = text
            data = text.encode()
            name = "cartola.csv" if kind == "statement" else "nota.txt"
            scan = timed(functools.partial(count_pans, pan.find_pans, text), args.repeat)
            check = timed(functools.partial(inspect_outcome, data, name), args.repeat)
            scan["matches"] = scan.pop("result")
            check["outcome"] = check.pop("result")
            report["text"][f"{kind}_{mib}mib"] = {
                "bytes": len(data),
                "find_pans": scan,
                "inspect": check,
            }
    if args.compare_with:
        before = old_detector(args.compare_with)
        report["before"] = {"revision": args.compare_with}
        for kind, text in texts_1mib.items():
            old = timed(functools.partial(count_pans, before.find_pans, text), 1)
            old["matches"] = old.pop("result")
            report["before"][f"{kind}_1mib"] = old

    the_bomb = bomb(63 * 1000 * 1000)
    refused = timed(lambda: inspect_outcome(the_bomb, "informe.docx"), args.repeat)
    small_bomb = bomb(40 * 1000 * 1000)  # under the size limit: its ratio refuses it
    by_ratio = timed(lambda: inspect_outcome(small_bomb, "informe.docx"), args.repeat)
    lifted = rules.ScanLimits(max_unzipped_bytes=1 << 30, max_ratio=1 << 20)
    searched = timed(lambda: inspect_outcome(the_bomb, "informe.docx", lifted), 1)
    big = tables_docx(4 * MiB, rng)  # about 45 MB of XML: under the 50 MiB limit
    tables = timed(lambda: inspect_outcome(big, "cartola.docx"), args.repeat)
    with zipfile.ZipFile(io.BytesIO(big)) as archive:
        big_unpacked = sum(i.file_size for i in archive.infolist())
    for entry in (refused, by_ratio, searched, tables):
        entry["outcome"] = entry.pop("result")
    report["word"] = {
        "zip_bomb_default_limits": {
            "packed_bytes": len(the_bomb),
            "unpacks_to_bytes": 63 * 1000 * 1000,
            **refused,
        },
        "zip_bomb_40mb_default_limits": {
            "packed_bytes": len(small_bomb),
            "unpacks_to_bytes": 40 * 1000 * 1000,
            **by_ratio,
        },
        "zip_bomb_limits_lifted": searched,
        "tables_docx": {"packed_bytes": len(big), "unpacks_to_bytes": big_unpacked, **tables},
    }
    report["uptime_after"] = uptime()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
