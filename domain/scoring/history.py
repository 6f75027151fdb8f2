"""A lender's history of applications and outcomes as a CSV file (what ``trama scoring fit``
reads), and a synthetic one for the demo and the tests.

Columns: ``application_id`` (optional), the features a card may read (see
``domain/scoring/features.py``; empty = missing), and ``bad`` — 1 when the credit went 90
days past due or was written off within its observation window, 0 otherwise.
"""

from __future__ import annotations

import csv
import io
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.scoring.features import FEATURES, Kind

TARGET = "bad"
HISTORY_FEATURES = (
    "bureau_score",
    "bureau_delinquencies",
    "bureau_inquiries",
    "debt_to_income",
    "down_payment_ratio",
    "employment_type",
    "employment_months",
    "trama_max_dpd",
    "trama_open_cases",
)


class HistoryProblem(ValueError):
    pass


def read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]], list[int]]:
    """The file's features, each row's exact facts (Decimal/int/str, ``None`` when empty)
    and the target. Refuses an unknown column, a bad value (with its line) or a target
    that is not 0/1."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    if TARGET not in columns:
        raise HistoryProblem(f"the file has no {TARGET!r} column")
    unknown = [c for c in columns if c not in FEATURES and c not in (TARGET, "application_id")]
    if unknown:
        raise HistoryProblem(f"unknown columns: {', '.join(unknown)}")
    features = [c for c in columns if c in FEATURES]
    if not features:
        raise HistoryProblem("the file names no feature")
    rows: list[dict[str, Any]] = []
    targets: list[int] = []
    for line, record in enumerate(reader, start=2):
        target = (record.get(TARGET) or "").strip()
        if target not in ("0", "1"):
            raise HistoryProblem(f"line {line}: {TARGET} must be 0 or 1")
        facts: dict[str, Any] = {}
        for name in features:
            raw = (record.get(name) or "").strip()
            if not raw:
                facts[name] = None
            elif FEATURES[name][0] is Kind.CATEGORICAL:
                facts[name] = raw
            else:
                try:
                    value = Decimal(raw)
                except ArithmeticError:
                    raise HistoryProblem(f"line {line}: {name} {raw!r} is not a number") from None
                if not value.is_finite():
                    raise HistoryProblem(f"line {line}: {name} {raw!r} is not a number")
                facts[name] = value
        rows.append(facts)
        targets.append(int(target))
    if len(rows) < 200:
        raise HistoryProblem(f"{len(rows)} rows: at least 200 are needed to fit")
    if len(set(targets)) < 2:
        raise HistoryProblem("the history needs good and bad outcomes")
    return features, rows, targets


def synthetic_rows(n: int, *, seed: int = 11, shift: int = 0) -> list[dict[str, Any]]:
    """``n`` applications with outcomes drawn from a known logistic model (bureau score,
    delinquencies, debt to income, down payment, employment and past due days drive risk)."""
    rng = random.Random(seed)  # noqa: S311 (demo data, reproducible)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        bureau = (
            None if rng.random() < 0.04 else max(300, min(999, int(rng.gauss(640 + shift, 110))))
        )
        delinquencies = rng.choice([0, 0, 0, 0, 0, 1, 1, 2, 3, 5])
        inquiries = rng.choice([0, 1, 1, 2, 2, 3, 4, 6, 8])
        dti = Decimal(max(0, min(9000, int(rng.gauss(2800, 1500))))) / 10000
        down = Decimal(rng.randint(0, 4500)) / 10000
        employment = rng.choice(
            ["EMPLOYED"] * 5
            + ["FIXED_TERM", "SELF_EMPLOYED", "SELF_EMPLOYED", "RETIRED", "UNEMPLOYED"]
        )
        months = rng.randint(0, 240)
        dpd = rng.choice([0] * 12 + [5, 15, 40, 95])
        cases = rng.choice([0, 0, 0, 0, 1, 2])
        logit = (
            -2.9
            - 0.009 * ((bureau if bureau is not None else 600) - 640)
            + 0.45 * delinquencies
            + 0.08 * inquiries
            + 2.2 * float(dti)
            - 2.5 * float(down)
            + {"EMPLOYED": -0.3, "RETIRED": -0.2, "UNEMPLOYED": 1.1}.get(employment, 0.2)
            - 0.004 * months
            + 0.02 * dpd
            + 0.15 * cases
        )
        bad = 1 if rng.random() < 1 / (1 + math.exp(-logit)) else 0
        rows.append(
            {
                "application_id": f"H-{seed}-{i:06d}",
                "bureau_score": bureau,
                "bureau_delinquencies": delinquencies,
                "bureau_inquiries": inquiries,
                "debt_to_income": dti,
                "down_payment_ratio": down,
                "employment_type": employment,
                "employment_months": months,
                "trama_max_dpd": dpd,
                "trama_open_cases": cases,
                TARGET: bad,
            }
        )
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = ["application_id", *HISTORY_FEATURES, TARGET]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
