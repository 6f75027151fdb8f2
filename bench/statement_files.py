"""Generators of statement files for the parsing benchmark: a camt.053 and an MT940 of
``n`` lines each, in the shapes banks send (batches, reversals, remittance text with a
credit reference and a RUT), with balances that add up. Deterministic for a seed."""

# ruff: noqa: E501 - XML and MT940 templates read best on one line each

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

ACCOUNT = "CL0012345678901234"


def _rut(rng: random.Random) -> str:
    body = rng.randint(5_000_000, 25_000_000)
    digits = list(map(int, reversed(str(body))))
    total = sum(d * (2 + i % 6) for i, d in enumerate(digits))
    check = 11 - total % 11
    dv = {10: "K", 11: "0"}.get(check, str(check))
    text = f"{body:,}".replace(",", ".")
    return f"{text}-{dv}"


def _amounts(n: int, rng: random.Random) -> Iterator[tuple[int, bool, bool]]:
    """(amount in CLP, is_reversal, batch of 3) for n lines."""
    for index in range(n):
        reversal = index % 997 == 5
        credit = rng.random() < 0.9
        amount = rng.randint(1_000, 2_000_000)
        yield (amount if credit else -amount), reversal, False


def camt053(n: int, *, version: int = 8, seed: int = 7, per_statement: int = 100_000) -> bytes:
    """A camt.053.001.<version> file with ``n`` entries split into statements of at most
    ``per_statement`` entries (one per day)."""
    rng = random.Random(seed)
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"
    party = (
        "<Pty><Nm>{name}</Nm><Id><PrvtId><Othr><Id>{rut}</Id></Othr></PrvtId></Id></Pty>"
        if version >= 7
        else "<Nm>{name}</Nm><Id><PrvtId><Othr><Id>{rut}</Id></Othr></PrvtId></Id>"
    )
    out: list[str] = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2026-12-01T20:00:00</CreDtTm></GrpHdr>"
    ]
    balance = 10_000_000
    day = date(2026, 1, 1)
    made = 0
    seq = 1
    amounts = _amounts(n, rng)
    while made < n:
        count = min(per_statement, n - made)
        entries: list[str] = []
        opening = balance
        for k in range(count):
            amount, reversal, _ = next(amounts)
            balance += amount
            ind = "CRDT" if amount > 0 else "DBIT"
            ref = f"AS{seq:05d}{k:07d}"
            rut = _rut(rng)
            who = party.format(name=f"CLIENTE {k}", rut=rut)
            side = "Dbtr" if amount > 0 else "Cdtr"
            entries.append(
                f'<Ntry><NtryRef>{k + 1}</NtryRef><Amt Ccy="CLP">{abs(amount)}</Amt><CdtDbtInd>{ind}</CdtDbtInd>'
                + ("<RvslInd>true</RvslInd>" if reversal else "")
                + ("<Sts><Cd>BOOK</Cd></Sts>" if version >= 7 else "<Sts>BOOK</Sts>")
                + f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
                f"<AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
                f"<NtryDtls><TxDtls><Refs><EndToEndId>E2E{seq}-{k}</EndToEndId></Refs>"
                + (
                    f'<Amt Ccy="CLP">{abs(amount)}</Amt><CdtDbtInd>{ind}</CdtDbtInd>'
                    if version >= 3
                    else ""
                )
                + f"<RltdPties><{side}>{who}</{side}></RltdPties>"
                f"<RmtInf><Ustrd>PAGO CUOTA CR-2026-{k % 100000:06d} RUT {rut}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
            )
        bal = '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="CLP">{amt}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>'
        out.append(
            f"<Stmt><Id>STMT-{seq}</Id><ElctrncSeqNb>{seq}</ElctrncSeqNb><CreDtTm>{day}T20:00:00</CreDtTm>"
            f"<FrToDt><FrDtTm>{day}T00:00:00</FrDtTm><ToDtTm>{day}T23:59:59</ToDtTm></FrToDt>"
            f"<Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id><Ccy>CLP</Ccy></Acct>"
            + bal.format(
                code="OPBD", amt=abs(opening), ind="CRDT" if opening >= 0 else "DBIT", day=day
            )
            + bal.format(
                code="CLBD", amt=abs(balance), ind="CRDT" if balance >= 0 else "DBIT", day=day
            )
            + "".join(entries)
            + "</Stmt>"
        )
        made += count
        seq += 1
        day += timedelta(days=1)
    out.append("</BkToCstmrStmt></Document>\n")
    return "".join(out).encode()


def _mt_amount(value: int) -> str:
    return f"{abs(value)},"


def mt940(n: int, *, seed: int = 7, per_statement: int = 100_000) -> bytes:
    """MT940 messages (one per day, in SWIFT envelopes, CRLF) with ``n`` lines in all."""
    rng = random.Random(seed)
    out: list[str] = []
    balance = 10_000_000
    day = date(2026, 1, 1)
    made = 0
    seq = 1
    amounts = _amounts(n, rng)
    while made < n:
        count = min(per_statement, n - made)
        opening = balance
        body: list[str] = []
        for k in range(count):
            amount, reversal, _ = next(amounts)
            balance += amount
            mark = ("RD" if amount > 0 else "RC") if reversal else ("C" if amount > 0 else "D")
            ymd = day.strftime("%y%m%d")
            md = day.strftime("%m%d")
            rut = _rut(rng)
            body.append(f":61:{ymd}{md}{mark}{_mt_amount(amount)}NTRFCR{k:09d}//B{seq:04d}{k:07d}")
            body.append(f":86:TRANSFERENCIA DE {rut} CLIENTE {k}")
            body.append(f"PAGO CUOTA CR-2026-{k % 100000:06d}")
        ymd = day.strftime("%y%m%d")
        o_mark = "C" if opening >= 0 else "D"
        c_mark = "C" if balance >= 0 else "D"
        out.append(
            "{1:F01BANKCLRMAXXX0000000000}{2:O9401200261201BANKCLRMAXXX00000000002612011200N}{4:\r\n"
            + f":20:STMT{seq}\r\n:25:{ACCOUNT}\r\n:28C:{seq:05d}/001\r\n"
            + f":60F:{o_mark}{ymd}CLP{_mt_amount(opening)}\r\n"
            + "\r\n".join(body)
            + f"\r\n:62F:{c_mark}{ymd}CLP{_mt_amount(balance)}\r\n-}}\r\n"
        )
        made += count
        seq += 1
        day += timedelta(days=1)
    return "".join(out).encode()


#: The column mapping of :func:`cartola_csv` (as saved on the bank account).
CARTOLA_MAPPING = {
    "date": "Fecha",
    "date_format": "%d/%m/%Y",
    "description": "Descripción",
    "bank_reference": "Nº Documento",
    "national_id": "RUT",
    "debit": "Cargos",
    "credit": "Abonos",
    "balance": "Saldo",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "delimiter": ";",
    "encoding": "latin-1",
    "header_row": 3,
}


def _thousands(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def cartola_csv(n: int, *, seed: int = 7) -> bytes:
    """A Chilean bank's web export (a "cartola") of ``n`` movements: Latin-1, semicolons,
    dd/mm/yyyy, thousands with dots, separate debit and credit columns and a running balance,
    two title rows above the header. One file is one statement."""
    rng = random.Random(seed)
    out = [
        "Cartola de movimientos;;;;;;",
        f"Cuenta corriente {ACCOUNT};Moneda CLP;;;;;",
        "Fecha;Descripción;Nº Documento;RUT;Cargos;Abonos;Saldo",
    ]
    balance = 10_000_000
    day = date(2026, 1, 1)
    per_day = max(1, n // 365 + 1)
    for k, (amount, _reversal, _batch) in enumerate(_amounts(n, rng)):
        if k and k % per_day == 0:
            day += timedelta(days=1)
        balance += amount
        rut = _rut(rng)
        debit, credit = ("", _thousands(amount)) if amount > 0 else (_thousands(-amount), "")
        out.append(
            f"{day:%d/%m/%Y};TRANSF. DE CLIENTE {k} PAGO CUOTA CR-2026-{k % 100000:06d};"
            f"{k + 1:010d};{rut};{debit};{credit};{_thousands(balance)}"
        )
    return ("\r\n".join(out) + "\r\n").encode("latin-1")
