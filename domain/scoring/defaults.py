"""A reference scorecard for a vehicle lender (the demo's active version, and the shape a
lender's analysts start from). Points are integers; scaling 600 points at 50:1 good:bad
odds, 20 points to double them."""

from __future__ import annotations

from typing import Any


def _reason(es: str, en: str) -> dict[str, str]:
    return {"es": es, "en": en}


def reference_document() -> dict[str, Any]:
    return {
        "format": "trama.scoring.scorecard/1",
        "scaling": {"baseScore": 600, "baseOdds": "50", "pdo": 20},
        "basePoints": 0,
        "reasonCount": 4,
        "attributes": [
            {
                "code": "BUREAU_SCORE",
                "feature": "bureau_score",
                "reasonCode": "LOW_BUREAU_SCORE",
                "reason": _reason(
                    "Su puntaje en el buró de crédito es bajo.",
                    "Your credit bureau score is low.",
                ),
                "bins": [
                    {"max": "500", "points": 40},
                    {"min": "500", "max": "650", "points": 75},
                    {"min": "650", "max": "800", "points": 110},
                    {"min": "800", "points": 135},
                    {"missing": True, "points": 70},
                ],
            },
            {
                "code": "BUREAU_DELINQUENCIES",
                "feature": "bureau_delinquencies",
                "reasonCode": "BUREAU_DELINQUENCIES",
                "reason": _reason(
                    "Registra morosidades recientes en el sistema financiero.",
                    "You have recent delinquencies with other lenders.",
                ),
                "bins": [
                    {"max": "1", "points": 95},
                    {"min": "1", "max": "3", "points": 55},
                    {"min": "3", "points": 15},
                    {"missing": True, "points": 55},
                ],
            },
            {
                "code": "BUREAU_INQUIRIES",
                "feature": "bureau_inquiries",
                "reasonCode": "MANY_INQUIRIES",
                "reason": _reason(
                    "Ha solicitado crédito muchas veces en los últimos meses.",
                    "You applied for credit many times in recent months.",
                ),
                "bins": [
                    {"max": "3", "points": 70},
                    {"min": "3", "max": "6", "points": 55},
                    {"min": "6", "points": 35},
                    {"missing": True, "points": 55},
                ],
            },
            {
                "code": "DEBT_TO_INCOME",
                "feature": "debt_to_income",
                "reasonCode": "HIGH_DEBT_TO_INCOME",
                "reason": _reason(
                    "Sus deudas mensuales son altas en relación a su ingreso.",
                    "Your monthly debts are high for your income.",
                ),
                "bins": [
                    {"max": "0.15", "points": 90},
                    {"min": "0.15", "max": "0.35", "points": 70},
                    {"min": "0.35", "max": "0.50", "points": 45},
                    {"min": "0.50", "points": 20},
                    {"missing": True, "points": 30},
                ],
            },
            {
                "code": "DOWN_PAYMENT",
                "feature": "down_payment_ratio",
                "reasonCode": "LOW_DOWN_PAYMENT",
                "reason": _reason(
                    "El pie es bajo en relación al precio del vehículo.",
                    "Your down payment is low for the vehicle's price.",
                ),
                "bins": [
                    {"max": "0.10", "points": 40},
                    {"min": "0.10", "max": "0.25", "points": 60},
                    {"min": "0.25", "points": 80},
                    {"missing": True, "points": 40},
                ],
            },
            {
                "code": "EMPLOYMENT",
                "feature": "employment_type",
                "reasonCode": "EMPLOYMENT_TYPE",
                "reason": _reason(
                    "Su tipo de empleo implica ingresos menos estables.",
                    "Your type of employment means less stable income.",
                ),
                "bins": [
                    {"categories": ["EMPLOYED", "RETIRED"], "points": 75},
                    {"categories": ["FIXED_TERM", "SELF_EMPLOYED"], "points": 55},
                    {"categories": ["UNEMPLOYED"], "points": 10},
                    {"other": True, "points": 40},
                    {"missing": True, "points": 30},
                ],
            },
            {
                "code": "EMPLOYMENT_TENURE",
                "feature": "employment_months",
                "reasonCode": "SHORT_EMPLOYMENT",
                "reason": _reason(
                    "Tiene poca antigüedad en su empleo actual.",
                    "You have been in your current job for a short time.",
                ),
                "bins": [
                    {"max": "12", "points": 40},
                    {"min": "12", "max": "36", "points": 60},
                    {"min": "36", "points": 75},
                    {"missing": True, "points": 40},
                ],
            },
            {
                "code": "TRAMA_HISTORY",
                "feature": "trama_max_dpd",
                "reasonCode": "PAST_DUE_WITH_US",
                "reason": _reason(
                    "Tiene cuotas atrasadas en sus créditos con nosotros.",
                    "You have overdue installments on your credits with us.",
                ),
                "bins": [
                    {"max": "1", "points": 70},
                    {"min": "1", "max": "30", "points": 45},
                    {"min": "30", "points": 5},
                    {"missing": True, "points": 60},
                ],
            },
            {
                "code": "OPEN_CASES",
                "feature": "trama_open_cases",
                "reasonCode": "OPEN_DISPUTES",
                "reason": _reason(
                    "Tiene reclamos abiertos que debemos resolver primero.",
                    "You have open claims we need to resolve first.",
                ),
                "bins": [
                    {"max": "1", "points": 30},
                    {"min": "1", "max": "3", "points": 20},
                    {"min": "3", "points": 5},
                    {"missing": True, "points": 20},
                ],
            },
        ],
        "grades": [
            {"grade": "A", "minScore": 690, "annualRate": "0.1290", "maxTermMonths": 72},
            {"grade": "B", "minScore": 650, "annualRate": "0.1590", "maxTermMonths": 60},
            {"grade": "C", "minScore": 610, "annualRate": "0.1990", "maxTermMonths": 48},
            {"grade": "D", "minScore": 570, "annualRate": "0.2490", "maxTermMonths": 36},
            {"grade": "E", "minScore": 530, "annualRate": "0.2990", "maxTermMonths": 24},
        ],
        "cutoffs": {"approve": 610, "refer": 550},
    }
