"""Financial reports through GraphQL and their signed download links: figures as data, a
kept report with CSV and XLSX files, the link working only for the person it was made for
and only while valid, reruns that match, and nothing for anyone outside the lender."""

from __future__ import annotations

import hashlib
import io
import time
import uuid

import openpyxl

from app.report_links import report_signer
from tests.api.credit_support import data, error_code, gid, partner_ids

FIGURES = """
query F($kind: FinancialReportKind!, $period: String!, $lender: ID) {
  financialReport(kind: $kind, period: $period, lenderId: $lender) {
    kind stored revision knownAt timezone period { start end label }
    lender { code }
    summary { key label type currency value { text money { amount currency } number integer } }
    table(name: "aging") {
      name title columns { key type } rows { cells { key text integer money { amount } } }
    }
    report { id }
  }
}
"""
GENERATE = """
mutation G($input: GenerateReportInput!) {
  generateReport(input: $input) {
    __typename
    ... on GenerateReportSuccess { report {
      id kind revision trigger figuresSha256
      csv { fileName size sha256 url contentType }
      xlsx { fileName size sha256 url }
      figures { stored table(name: "aging") { rows { cells { text } } } }
    } }
    ... on UserError { message code }
    ... on ValidationError { field }
  }
}
"""
RERUN = """
mutation R($id: ID!) {
  rerunReport(input: {reportId: $id}) {
    __typename
    ... on RerunReportSuccess { identical csvSha256 report { rerunCount } }
    ... on UserError { message code }
  }
}
"""


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1]


async def test_figures_a_kept_report_and_its_files(gql, token, client):
    supervisor = token("supervisor", partner="AUTOCREDITO")
    live = data(
        await gql(FIGURES, {"kind": "AGING", "period": "2026-11"}, token=supervisor),
        "financialReport",
    )
    assert (live["stored"], live["report"], live["lender"]["code"]) == (False, None, "AUTOCREDITO")
    assert live["period"] == {"start": "2026-11-01", "end": "2026-11-30", "label": "2026-11"}
    assert live["timezone"] == "America/Santiago"
    rows = live["table"]["rows"]
    clp_total = next(
        r for r in rows if r["cells"][0]["text"] == "CLP" and r["cells"][1]["text"] == "TOTAL"
    )
    counts = {c["key"]: c for c in clp_total["cells"]}
    assert counts["credits"]["integer"] >= 1 and counts["share"]["text"] == "1.0000"

    made = data(
        await gql(GENERATE, {"input": {"kind": "AGING", "period": "2026-11"}}, token=supervisor),
        "generateReport",
    )
    assert made["__typename"] == "GenerateReportSuccess"
    report = made["report"]
    assert (report["revision"], report["trigger"], report["figures"]["stored"]) == (
        1,
        "MANUAL",
        True,
    )
    assert report["figures"]["table"]["rows"] == [
        {"cells": [{"text": c["text"]} for c in r["cells"]]} for r in rows
    ]
    csv_file, xlsx_file = report["csv"], report["xlsx"]
    assert csv_file["fileName"] == "reporte-aging-AUTOCREDITO-2026-11-r1.csv"

    answer = await client.get(
        "/" + _path(csv_file["url"]), headers={"authorization": f"Bearer {supervisor}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        hashlib.sha256(answer.content).hexdigest()
        == csv_file["sha256"]
        == answer.headers["x-report-sha256"]
    )
    assert "reporte-aging-AUTOCREDITO-2026-11-r1.csv" in answer.headers["content-disposition"]
    sheet = await client.get(
        "/" + _path(xlsx_file["url"]), headers={"authorization": f"Bearer {supervisor}"}
    )
    assert sheet.status_code == 200 and len(sheet.content) == xlsx_file["size"]
    book = openpyxl.load_workbook(io.BytesIO(sheet.content))
    assert "Tramos de mora" in book.sheetnames and book["Tramos de mora"]._charts

    # the link alone is not enough, nor is someone else's token, a changed link or an old one
    path = "/" + _path(csv_file["url"])
    assert (await client.get(path)).status_code == 401
    colleague = token("agent", partner="AUTOCREDITO")
    refused = await client.get(path, headers={"authorization": f"Bearer {colleague}"})
    assert (
        refused.status_code == 403
        and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    )
    tampered = path.replace("/csv?", "/xlsx?")
    assert (
        await client.get(tampered, headers={"authorization": f"Bearer {supervisor}"})
    ).status_code == 403
    signer = report_signer(client._transport.app.state.runtime.settings)  # type: ignore[attr-defined]
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    principal = await runtime.authenticator.authenticate(f"Bearer {supervisor}")
    old = int(time.time()) - 5
    sig = signer._mac(uuid.UUID(report["id"]), "csv", old, principal)
    expired = await client.get(
        f"/reports/{report['id']}/csv?exp={old}&sig={sig}",
        headers={"authorization": f"Bearer {supervisor}"},
    )
    assert (
        expired.status_code == 410
        and expired.json()["errors"][0]["extensions"]["code"] == "LINK_EXPIRED"
    )

    stored = data(
        await gql(FIGURES, {"kind": "AGING", "period": "2026-11"}, token=supervisor),
        "financialReport",
    )
    assert stored["stored"] is True and stored["report"]["id"] == report["id"]
    rerun = data(await gql(RERUN, {"id": report["id"]}, token=supervisor), "rerunReport")
    assert rerun == {
        "__typename": "RerunReportSuccess",
        "identical": True,
        "csvSha256": csv_file["sha256"],
        "report": {"rerunCount": 1},
    }
    listed = data(
        await gql("{ reports(first: 5) { edges { node { id kind } } } }", token=supervisor),
        "reports",
    )
    assert [e["node"]["id"] for e in listed["edges"]] == [report["id"]]


async def test_reports_are_the_lenders_own(gql, token, client):
    supervisor = token("supervisor", partner="AUTOCREDITO")
    made = data(
        await gql(
            GENERATE, {"input": {"kind": "PORTFOLIO", "period": "2026-11-30"}}, token=supervisor
        ),
        "generateReport",
    )
    report_id = made["report"]["id"]
    outsider = token("supervisor", partner="BANCO_ANDINO")
    assert (
        data(
            await gql(
                "query R($id: ID!) { report(id: $id) { id } }", {"id": report_id}, token=outsider
            ),
            "report",
        )
        is None
    )
    assert (
        data(await gql("{ reports { edges { node { id } } } }", token=outsider), "reports")["edges"]
        == []
    )
    rerun = data(await gql(RERUN, {"id": report_id}, token=outsider), "rerunReport")
    assert rerun["__typename"] == "NotFoundError"
    ids = await partner_ids()
    lender = gid("Partner", ids["AUTOCREDITO"])
    body = await gql(
        FIGURES, {"kind": "AGING", "period": "2026-11", "lender": lender}, token=outsider
    )
    assert error_code(body) == "FORBIDDEN"
    assert (
        error_code(
            await gql(
                FIGURES, {"kind": "AGING", "period": "2026-11"}, token=token("network_viewer")
            )
        )
        == "FORBIDDEN"
    )
    admin = token("admin")
    assert (
        error_code(await gql(FIGURES, {"kind": "AGING", "period": "2026-11"}, token=admin))
        == "VALIDATION"
    )
    seen = data(
        await gql(FIGURES, {"kind": "AGING", "period": "2026-11", "lender": lender}, token=admin),
        "financialReport",
    )
    assert seen["lender"]["code"] == "AUTOCREDITO"
    for period in ("2030-01", "ayer", "2026-11-31"):
        body = await gql(FIGURES, {"kind": "AGING", "period": period}, token=supervisor)
        assert error_code(body) == "VALIDATION"
        assert body["errors"][0]["extensions"].get("field") in (None, "period")
    wrong = data(
        await gql(GENERATE, {"input": {"kind": "AGING", "period": "2030-01"}}, token=supervisor),
        "generateReport",
    )
    assert (wrong["__typename"], wrong["field"]) == ("ValidationError", "period")
