"""The facts a scorecard attribute may read (``feature``), where each comes from and its kind.

Numbers are exact: money in minor units (int), ratios as :class:`~decimal.Decimal` with four
decimals, counts and months as int. A fact that is unknown is ``None`` (the attribute's
missing bin).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    NUMERIC = "NUMERIC"
    CATEGORICAL = "CATEGORICAL"


#: feature → (kind, source, description)
FEATURES: dict[str, tuple[Kind, str, str]] = {
    # the application
    "requested_principal": (Kind.NUMERIC, "application", "Requested principal (minor units)."),
    "down_payment_ratio": (
        Kind.NUMERIC,
        "application",
        "Down payment over the vehicle's price (principal + down payment), 4 decimals.",
    ),
    "term_months": (Kind.NUMERIC, "application", "Requested term in months."),
    "monthly_income": (Kind.NUMERIC, "application", "Declared monthly income (minor units)."),
    "employment_type": (Kind.CATEGORICAL, "application", "Employment type."),
    "employment_months": (Kind.NUMERIC, "application", "Months in the current employment."),
    "debt_to_income": (
        Kind.NUMERIC,
        "application",
        "Declared monthly obligations over monthly income, 4 decimals.",
    ),
    "loan_to_income": (
        Kind.NUMERIC,
        "application",
        "Requested principal over a year of income, 4 decimals.",
    ),
    # the customer's history in Trama
    "trama_credits": (Kind.NUMERIC, "trama", "Credits the customer holds or held in Trama."),
    "trama_max_dpd": (
        Kind.NUMERIC,
        "trama",
        "Largest days past due today among the customer's credits in Trama (0 without credits).",
    ),
    "trama_delinquent_credits": (
        Kind.NUMERIC,
        "trama",
        "Credits in Trama that are delinquent or were written off.",
    ),
    "trama_open_cases": (Kind.NUMERIC, "trama", "Open post-sale cases of the customer."),
    # the credit bureau
    "bureau_score": (Kind.NUMERIC, "bureau", "The bureau's score."),
    "bureau_open_debts": (Kind.NUMERIC, "bureau", "Open debts reported by the bureau (count)."),
    "bureau_delinquencies": (
        Kind.NUMERIC,
        "bureau",
        "Delinquencies reported by the bureau in the last 24 months.",
    ),
    "bureau_inquiries": (Kind.NUMERIC, "bureau", "Credit inquiries in the last 6 months."),
}

BUREAU_FEATURES = frozenset(k for k, v in FEATURES.items() if v[1] == "bureau")
