"""Fit a new scorecard version from a history of applications and outcomes.

Optimal binning (optbinning's ``BinningProcess``) and a logistic regression (scikit-learn)
wrapped in optbinning's ``Scorecard`` with ``pdo_odds`` scaling (the lender's base score,
base odds and points to double the odds), fitted on a stratified 70 % with a fixed seed;
Gini and KS are measured on the 30 % holdout, both with the fitted model and with the card
as it is stored (bins and points converted to exact data, rounded deterministically), so a
conversion that lost the model shows. Grades, cut-offs and the customer's words of each
reason come from the lender's active version (or the reference card).

pandas, scikit-learn and optbinning are imported inside :func:`fit` only: nothing on the
API's import path loads them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from domain.scoring import psi
from domain.scoring.card import FORMAT, parse
from domain.scoring.defaults import reference_document
from domain.scoring.engine import score
from domain.scoring.features import FEATURES, Kind

SEED = 20261207
HOLDOUT = 0.3
EDGE_PLACES = Decimal("0.0001")
METRIC_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class FitResult:
    document: dict[str, Any]
    development: dict[str, Any]
    metrics: dict[str, Any]


def _edge(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(EDGE_PLACES, rounding=ROUND_HALF_EVEN)


def _points(value: Any) -> int:
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _metric(value: float) -> str:
    return str(Decimal(repr(float(value))).quantize(METRIC_PLACES, rounding=ROUND_HALF_EVEN))


def _gini_ks(targets: list[int], risk: list[float]) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    auc = float(roc_auc_score(targets, risk))
    fpr, tpr, _ = roc_curve(targets, risk)
    return 2 * auc - 1, float(max(tpr - fpr))


def _attribute(
    name: str, optb: Any, points_by_bin: list[tuple[str, float]], template: dict[str, Any] | None
) -> dict[str, Any]:
    kind = FEATURES[name][0]
    by_label = dict(points_by_bin)
    missing = _points(by_label.get("Missing", 0))
    bins: list[dict[str, Any]] = []
    regular = [(label, pts) for label, pts in points_by_bin if label not in ("Missing", "Special")]
    if kind is Kind.NUMERIC:
        # bin i of optbinning holds splits[i-1] <= x < splits[i]; an edge that rounds onto
        # the one before it merges the narrow bin between them into the one above
        kept: list[tuple[Decimal, int]] = []  # (edge, the optbinning bin that starts there)
        for i, split in enumerate(optb.splits, start=1):
            edge = _edge(split)
            if kept and edge <= kept[-1][0]:
                kept[-1] = (kept[-1][0], i)
            else:
                kept.append((edge, i))
        starts = [(None, 0), *kept]
        for j, (low, source) in enumerate(starts):
            high = starts[j + 1][0] if j + 1 < len(starts) else None
            entry: dict[str, Any] = {"points": _points(regular[min(source, len(regular) - 1)][1])}
            if low is not None:
                entry["min"] = str(low)
            if high is not None:
                entry["max"] = str(high)
            bins.append(entry)
    else:
        worst: int | None = None
        for categories, (_, pts) in zip(optb.splits, regular, strict=False):
            value = _points(pts)
            bins.append({"categories": sorted(str(c) for c in categories), "points": value})
            worst = value if worst is None else min(worst, value)
        bins.append({"other": True, "points": worst if worst is not None else missing})
    bins.append({"missing": True, "points": missing})
    words = (template or {}).get("reason") or {
        "es": f"Su perfil en {name.replace('_', ' ')} aumenta el riesgo.",
        "en": f"Your {name.replace('_', ' ')} adds to the risk.",
    }
    return {
        "code": (template or {}).get("code") or name.upper(),
        "feature": name,
        "reasonCode": (template or {}).get("reasonCode") or f"{name.upper()}_RISK"[:40],
        "reason": words,
        "bins": bins,
    }


def fit(
    features: list[str],
    rows: list[dict[str, Any]],
    targets: list[int],
    *,
    base: dict[str, Any] | None = None,
    seed: int = SEED,
) -> FitResult:
    """A draft document fitted on ``rows`` (exact facts per feature) and ``targets``
    (1 = bad); ``base``: the active version's document (grades, cut-offs, scaling, words)."""
    import numpy as np
    import pandas as pd
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    template = copy.deepcopy(base or reference_document())
    scaling = template["scaling"]
    categorical = [f for f in features if FEATURES[f][0] is Kind.CATEGORICAL]
    frame = pd.DataFrame(
        {
            f: [
                (None if r[f] is None else str(r[f]))
                if f in categorical
                else (np.nan if r[f] is None else float(r[f]))
                for r in rows
            ]
            for f in features
        }
    )
    y = np.array(targets)
    index = np.arange(len(rows))
    train_idx, test_idx = train_test_split(index, test_size=HOLDOUT, random_state=seed, stratify=y)
    process = BinningProcess(
        variable_names=features,
        categorical_variables=categorical,
        min_prebin_size=0.02,
        max_n_bins=6,
    )
    model = Scorecard(
        binning_process=process,
        estimator=LogisticRegression(max_iter=2000, random_state=seed),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": int(scaling["pdo"]),
            "odds": float(Decimal(str(scaling["baseOdds"]))),
            "scorecard_points": int(scaling["baseScore"]),
        },
        intercept_based=False,
        rounding=True,
    )
    model.fit(frame.iloc[train_idx], y[train_idx])
    table = model.table(style="summary")
    by_template = {a["feature"]: a for a in template.get("attributes", [])}
    attributes = []
    for name in features:
        part = table[table["Variable"] == name]
        points_by_bin = [
            (str(label) if not isinstance(label, (list, np.ndarray)) else "cats", float(p))
            for label, p in zip(part["Bin"], part["Points"], strict=True)
        ]
        optb = model.binning_process_.get_binned_variable(name)
        attributes.append(_attribute(name, optb, points_by_bin, by_template.get(name)))
    document = {
        "format": FORMAT,
        "scaling": scaling,
        "basePoints": 0,
        "reasonCount": template.get("reasonCount", 4),
        "attributes": attributes,
        "grades": template["grades"],
        "cutoffs": template["cutoffs"],
    }
    card = parse(document)  # the converted card obeys every rule of a stored one
    holdout_y = [int(y[i]) for i in test_idx]
    model_risk = [-float(s) for s in model.score(frame.iloc[test_idx])]
    gini, ks = _gini_ks(holdout_y, model_risk)
    stored_risk = [-float(score(card, rows[i]).total) for i in test_idx]
    stored_gini, stored_ks = _gini_ks(holdout_y, stored_risk)
    development = psi.development(card, [rows[i] for i in train_idx])
    metrics = {
        "rows": len(rows),
        "trainRows": len(train_idx),
        "holdoutRows": len(test_idx),
        "badRate": _metric(sum(targets) / len(targets)),
        "seed": seed,
        "gini": _metric(gini),
        "ks": _metric(ks),
        "storedGini": _metric(stored_gini),
        "storedKs": _metric(stored_ks),
        "features": features,
    }
    return FitResult(document=document, development=development, metrics=metrics)
