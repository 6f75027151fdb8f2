"""ISO 20022 bank-to-customer cash management: camt.053 statements, camt.052 account
reports and camt.054 debit/credit notifications, every version from .001.02 to .001.14.

The file has passed :func:`~domain.collections.formats.xmlsafe.check_xml`. It is read with
lxml ``iterparse``: each entry (``Ntry``) is turned into lines when it ends and then dropped,
so a statement of a million entries never sits whole in memory. Elements are found by name
in the file's own namespace, whatever the version; the places where versions differ are
handled where they are read (``Sts`` text or ``Sts/Cd``, ``Dbtr/Nm`` or ``Dbtr/Pty/Nm``,
``BIC`` or ``BICFI``, ``TxDtls/Amt`` or ``AmtDtls/TxAmt/Amt``).

Rules (docs in README "Collections"):

- Only booked entries (``Sts`` BOOK) become lines; pending and information entries are
  counted in a problem, not stored.
- The sign is the entry's ``CdtDbtInd``: CRDT > 0, DBIT < 0. A reversal (``RvslInd`` true)
  keeps its own indicator, as ISO 20022 defines it (CRDT + reversal = a debit given back).
- A batch entry (``NtryDtls`` with several ``TxDtls``) is split into one line per
  transaction when every transaction has its amount in the entry's currency and they add up
  to the entry; otherwise it stays one line and a problem says why.
- Balances: opening OPBD, else PRCD, else the first ITBD; closing CLBD, else the last ITBD.
- Schema: the file is checked against the official XSD of its message and version
  (``schema.py``); deviations are reported on the statements, not fatal.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

from lxml import etree

from domain.collections.errors import RefusalCode, StatementRefused
from domain.collections.formats.base import (
    AccountRef,
    Balance,
    ParsedLine,
    ParsedStatement,
    Problem,
    known_currency,
    malformed,
    to_minor,
)
from domain.collections.models import StatementKind

__all__ = ["NAMESPACE", "message_of", "parse_camt"]

NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.(\d{2})$")

#: message → (kind, its root's child, the repeated statement element)
_MESSAGES = {
    "camt.053": (StatementKind.CAMT053, "BkToCstmrStmt", "Stmt"),
    "camt.052": (StatementKind.CAMT052, "BkToCstmrAcctRpt", "Rpt"),
    "camt.054": (StatementKind.CAMT054, "BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}

_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)


def message_of(namespace: str) -> tuple[str, int] | None:
    """(``"camt.053"``, 8) for a camt namespace, else None."""
    match = NAMESPACE.match(namespace or "")
    if match is None:
        return None
    return match.group(1), int(match.group(2))


class _Node:
    """An element as plain Python: children by local name. Reading an entry through these
    is several times faster than lxml's ``find`` with namespaced names."""

    __slots__ = ("el", "kids", "text")

    def __init__(self, el: etree._Element, cut: int) -> None:
        self.el = el
        self.text = el.text
        kids: dict[str, list[_Node]] = {}
        for child in el:
            tag = child.tag
            if isinstance(tag, str):
                kids.setdefault(tag[cut:], []).append(_Node(child, cut))
        self.kids = kids

    def get(self, name: str) -> str | None:
        value = self.el.get(name)
        return value if isinstance(value, str) else None

    @property
    def sourceline(self) -> int | None:
        return self.el.sourceline


class _Reader:
    """Element helpers bound to one namespace."""

    def __init__(self, ns: str) -> None:
        self.ns = "{" + ns + "}"
        self.cut = len(self.ns)

    def node(self, el: etree._Element) -> _Node:
        return _Node(el, self.cut)

    def child(self, el: _Node | None, *names: str) -> _Node | None:
        for name in names:
            if el is None:
                return None
            found = el.kids.get(name)
            el = found[0] if found else None
        return el

    def children(self, el: _Node | None, name: str) -> list[_Node]:
        return [] if el is None else el.kids.get(name, [])

    def text(self, el: _Node | None, *names: str) -> str | None:
        found = self.child(el, *names)
        if found is None or found.text is None:
            return None
        value = found.text.strip()
        return value or None


def _where(path: str, el: _Node | None) -> str:
    line = getattr(el, "sourceline", None)
    return f"{path} (line {line})" if line else path


def _date(text: str | None, where: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise malformed(f"{text[:30]!r} is not a date", where) from None


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:  # ISO 20022 local time without offset: kept as UTC wall time
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _compact(text: str | None) -> str | None:
    if not text:
        return None
    value = re.sub(r"[\s.\-]", "", text).upper()
    return value or None


class _Statement:
    """A statement being read: its header is read when it ends; its entries as they end."""

    def __init__(self, kind: StatementKind, path: str, version: str) -> None:
        self.kind = kind
        self.path = path
        self.version = version
        self.lines: list[ParsedLine] = []
        self.entries_sum = 0
        self.entry_count = 0
        self.problems: list[Problem] = []
        self.not_booked: dict[str, int] = {}
        self.currency: str | None = None


def parse_camt(content: bytes, *, message: str, version: int, ns: str) -> list[ParsedStatement]:
    """Every statement (report, notification) of the file, in file order."""
    kind, group_name, item_name = _MESSAGES[message]
    r = _Reader(ns)
    msg_version = f"{message}.001.{version:02d}"
    statements: list[ParsedStatement] = []
    root_path = f"/Document/{group_name}"
    item_tag = r.ns + item_name
    entry_tag = r.ns + "Ntry"
    current: _Statement | None = None
    item_index = 0
    entry_index = 0
    seen_group = False
    try:
        events: Iterator[tuple[str, etree._Element]] = etree.iterparse(
            io.BytesIO(content),
            events=("start", "end"),
            tag=(item_tag, entry_tag, r.ns + group_name),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        for event, el in events:
            if el.tag == r.ns + group_name:
                seen_group = True
                continue
            if el.tag == item_tag:
                if event == "start":
                    item_index += 1
                    entry_index = 0
                    current = _Statement(
                        kind, f"{root_path}/{item_name}[{item_index}]", msg_version
                    )
                else:
                    assert current is not None
                    statements.append(_finish(r, current, _header(r, el, entry_tag)))
                    current = None
                    el.clear()
                    parent = el.getparent()
                    if parent is not None:
                        while el.getprevious() is not None:
                            del parent[0]
                continue
            # an entry
            if event == "start" or current is None:
                continue
            entry_index += 1
            _entry(r, current, r.node(el), f"{current.path}/Ntry[{entry_index}]")
            el.clear()
            previous = el.getprevious()
            if previous is not None and previous.tag == entry_tag:
                parent = el.getparent()
                if parent is not None:
                    parent.remove(previous)
    except etree.XMLSyntaxError as error:
        raise malformed(f"not well-formed XML: {error.msg}", f"line {error.lineno}") from None
    if not seen_group:
        raise malformed(f"a {message} document needs {group_name}", "/Document")
    if not statements:
        raise malformed(f"the {message} document has no {item_name}", root_path)
    return statements


def _header(r: _Reader, el: etree._Element, entry_tag: str) -> _Node:
    """The statement's own elements (entries were read and dropped already)."""
    node = _Node.__new__(_Node)
    node.el = el
    node.text = el.text
    node.kids = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag != entry_tag:
            node.kids.setdefault(tag[r.cut :], []).append(r.node(child))
    return node


def _entry(r: _Reader, st: _Statement, ntry: _Node, path: str) -> None:
    amt = r.child(ntry, "Amt")
    if amt is None or not (amt.text or "").strip():
        raise malformed("the entry has no amount (Amt)", _where(f"{path}/Amt", ntry))
    currency = known_currency(amt.get("Ccy"), _where(f"{path}/Amt/@Ccy", amt))
    if st.currency is None:
        st.currency = currency
    elif currency != st.currency:
        raise StatementRefused(
            RefusalCode.CURRENCY_MISMATCH,
            f"an entry in {currency} in a statement in {st.currency}",
            where=_where(f"{path}/Amt/@Ccy", amt),
        )
    magnitude = to_minor(amt.text or "", currency, _where(f"{path}/Amt", amt))
    indicator = r.text(ntry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise malformed(
            f"CdtDbtInd must be CRDT or DBIT, not {indicator!r}", _where(f"{path}/CdtDbtInd", ntry)
        )
    status = r.text(ntry, "Sts") or r.text(ntry, "Sts", "Cd") or r.text(ntry, "Sts", "Prtry")
    if status is None:
        raise malformed("the entry has no status (Sts)", _where(f"{path}/Sts", ntry))
    status = status.upper()
    if status != "BOOK":
        st.not_booked[status] = st.not_booked.get(status, 0) + 1
        return
    if magnitude == 0:
        st.problems.append(
            Problem("ZERO_ENTRY", "an entry of zero was left out", _where(path, ntry))
        )
        return
    sign = 1 if indicator == "CRDT" else -1
    amount = sign * magnitude
    reversal = (r.text(ntry, "RvslInd") or "").lower() in ("true", "1")
    booking = _date(
        r.text(ntry, "BookgDt", "Dt") or r.text(ntry, "BookgDt", "DtTm"),
        _where(f"{path}/BookgDt", ntry),
    )
    value = _date(
        r.text(ntry, "ValDt", "Dt") or r.text(ntry, "ValDt", "DtTm"),
        _where(f"{path}/ValDt", ntry),
    )
    if booking is None:
        booking = value
    if booking is None:
        raise malformed("the entry has neither a booking nor a value date", _where(path, ntry))
    entry_ref = r.text(ntry, "AcctSvcrRef")
    base = ParsedLine(
        booking_date=booking,
        value_date=value,
        amount=amount,
        currency=currency,
        where=_where(path, ntry),
        is_reversal=reversal,
        bank_reference=entry_ref,
        customer_reference=r.text(ntry, "NtryRef"),
        bank_transaction_code=_bank_code(r, ntry),
        bank_transaction_text=_clip(r.text(ntry, "AddtlNtryInf"), 140),
    )
    st.entries_sum += amount
    st.entry_count += 1
    details = [tx for nd in r.children(ntry, "NtryDtls") for tx in r.children(nd, "TxDtls")]
    if len(details) <= 1:
        if details:
            _details(r, base, details[0], reversal, indicator)
        if base.remittance_info is None and r.text(ntry, "AddtlNtryInf"):
            base.remittance_info = r.text(ntry, "AddtlNtryInf")
        st.lines.append(base)
        return
    # A batch: split when every transaction has an amount that adds up to the entry.
    parts: list[int] = []
    for index, tx in enumerate(details, start=1):
        tx_amt = r.child(tx, "Amt")
        if tx_amt is None:
            tx_amt = r.child(tx, "AmtDtls", "TxAmt", "Amt")
        if tx_amt is None or (tx_amt.get("Ccy") or currency) != currency:
            parts = []
            break
        tx_indicator = r.text(tx, "CdtDbtInd") or indicator
        tx_sign = 1 if tx_indicator == "CRDT" else -1
        parts.append(
            tx_sign * to_minor(tx_amt.text or "", currency, _where(f"{path}/TxDtls[{index}]", tx))
        )
    batch_key = entry_ref or r.text(ntry, "NtryRef")
    if not parts or sum(parts) != amount or any(p == 0 for p in parts):
        st.problems.append(
            Problem(
                "BATCH_NOT_SPLIT",
                f"a batch of {len(details)} transactions kept as one line: their amounts "
                "are missing or do not add up to the entry",
                _where(path, ntry),
            )
        )
        base.batch_size = len(details)
        texts = [r.text(tx, "RmtInf", "Ustrd") for tx in details]
        base.remittance_info = "\n".join(t for t in texts if t) or base.remittance_info
        st.lines.append(base)
        return
    for index, (tx, part) in enumerate(zip(details, parts, strict=True), start=1):
        line = ParsedLine(
            booking_date=booking,
            value_date=value,
            amount=part,
            currency=currency,
            where=_where(f"{path}/NtryDtls/TxDtls[{index}]", tx),
            is_reversal=reversal,
            bank_reference=None,
            customer_reference=base.customer_reference,
            bank_transaction_code=base.bank_transaction_code,
            bank_transaction_text=base.bank_transaction_text,
            batch_key=batch_key,
            batch_amount=amount,
            batch_size=len(details),
            batch_index=index,
        )
        _details(r, line, tx, reversal, r.text(tx, "CdtDbtInd") or indicator)
        st.lines.append(line)


def _clip(text: str | None, size: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= size else text[: size - 1] + "…"


def _bank_code(r: _Reader, el: _Node) -> str | None:
    bk = r.child(el, "BkTxCd")
    if bk is None:
        return None
    domain = r.text(bk, "Domn", "Cd")
    if domain:
        family = r.text(bk, "Domn", "Fmly", "Cd") or ""
        sub = r.text(bk, "Domn", "Fmly", "SubFmlyCd") or ""
        return "/".join(p for p in (domain, family, sub) if p)[:60]
    proprietary = r.text(bk, "Prtry", "Cd")
    return proprietary[:60] if proprietary else None


def _party(r: _Reader, el: _Node | None) -> tuple[str | None, str | None]:
    """(name, national/organisation id) of a party, whatever the version's shape."""
    if el is None:
        return None, None
    party = r.child(el, "Pty")
    if party is None:
        party = el
    name = r.text(party, "Nm")
    ident = r.text(party, "Id", "PrvtId", "Othr", "Id") or r.text(
        party, "Id", "OrgId", "Othr", "Id"
    )
    return name, ident


def _account(r: _Reader, el: _Node | None) -> str | None:
    if el is None:
        return None
    return _compact(r.text(el, "Id", "IBAN") or r.text(el, "Id", "Othr", "Id"))


def _agent(r: _Reader, el: _Node | None) -> str | None:
    if el is None:
        return None
    return r.text(el, "FinInstnId", "BICFI") or r.text(el, "FinInstnId", "BIC")


def _details(r: _Reader, line: ParsedLine, tx: _Node, reversal: bool, indicator: str) -> None:
    refs = r.child(tx, "Refs")
    if refs is not None:
        own = r.text(refs, "AcctSvcrRef")
        if own:
            line.bank_reference = own
        line.end_to_end_id = _not_provided(r.text(refs, "EndToEndId"))
        line.transaction_id = _not_provided(r.text(refs, "TxId"))
        line.customer_reference = r.text(refs, "InstrId") or line.customer_reference
    instructed = r.child(tx, "AmtDtls", "InstdAmt", "Amt")
    if instructed is not None and instructed.get("Ccy") and instructed.get("Ccy") != line.currency:
        try:
            line.instructed_currency = known_currency(instructed.get("Ccy"), line.where)
            line.instructed_amount = to_minor(
                instructed.text or "", line.instructed_currency, line.where
            )
        except StatementRefused:
            line.instructed_currency = None
            line.instructed_amount = None
    # Money in (a credit, or a debit given back) names the payer as debtor.
    incoming = (indicator == "CRDT") != reversal
    parties = r.child(tx, "RltdPties")
    side = "Dbtr" if incoming else "Cdtr"
    name, ident = _party(r, r.child(parties, side))
    ultimate_name, ultimate_id = _party(r, r.child(parties, "Ultmt" + side))
    line.counterparty_name = _clip(name or ultimate_name, 140)
    line.counterparty_id_raw = _clip(ident or ultimate_id, 64)
    line.counterparty_account = _clip(_account(r, r.child(parties, side + "Acct")), 64)
    agents = r.child(tx, "RltdAgts")
    line.counterparty_bank = _agent(r, r.child(agents, side + "Agt"))
    rmt = r.child(tx, "RmtInf")
    if rmt is not None:
        lines = [t.text.strip() for t in r.children(rmt, "Ustrd") if t.text and t.text.strip()]
        for strd in r.children(rmt, "Strd"):
            ref = r.text(strd, "CdtrRefInf", "Ref")
            if ref and line.creditor_reference is None:
                line.creditor_reference = ref
            lines += [t.text.strip() for t in r.children(strd, "AddtlRmtInf") if t.text]
        if lines:
            line.remittance_info = "\n".join(lines)
    code = _bank_code(r, tx)
    if code:
        line.bank_transaction_code = code
    extra = r.text(tx, "AddtlTxInf")
    if extra and not line.remittance_info:
        line.remittance_info = extra


def _not_provided(value: str | None) -> str | None:
    return None if value is None or value.upper() == "NOTPROVIDED" else value


def _balance(r: _Reader, bal: _Node, currency: str | None, where: str) -> Balance:
    code = r.text(bal, "Tp", "CdOrPrtry", "Cd") or r.text(bal, "Tp", "CdOrPrtry", "Prtry") or ""
    amt = r.child(bal, "Amt")
    if amt is None:
        raise malformed("a balance has no amount", where)
    ccy = known_currency(amt.get("Ccy") or currency, where)
    magnitude = to_minor(amt.text or "", ccy, where)
    indicator = r.text(bal, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise malformed(f"a balance's CdtDbtInd must be CRDT or DBIT, not {indicator!r}", where)
    on = _date(r.text(bal, "Dt", "Dt") or r.text(bal, "Dt", "DtTm"), where)
    return Balance(magnitude if indicator == "CRDT" else -magnitude, code.upper()[:4], on)


def _finish(r: _Reader, st: _Statement, el: _Node) -> ParsedStatement:
    acct = r.child(el, "Acct")
    account = AccountRef(
        iban=_compact(r.text(acct, "Id", "IBAN")),
        other=_compact(r.text(acct, "Id", "Othr", "Id")),
        bic=r.text(acct, "Svcr", "FinInstnId", "BICFI")
        or r.text(acct, "Svcr", "FinInstnId", "BIC"),
        currency=r.text(acct, "Ccy"),
    )
    if acct is None or not account.candidates():
        raise malformed(
            "the statement does not name its account (Acct/Id)", _where(f"{st.path}/Acct", el)
        )
    declared = account.currency
    if declared is not None:
        declared = known_currency(declared, _where(f"{st.path}/Acct/Ccy", acct))
        if st.currency is not None and st.currency != declared:
            raise StatementRefused(
                RefusalCode.CURRENCY_MISMATCH,
                f"entries in {st.currency} on an account in {declared}",
                where=_where(f"{st.path}/Acct/Ccy", acct),
            )
    currency = declared or st.currency
    balances: list[Balance] = []
    for index, bal in enumerate(r.children(el, "Bal"), start=1):
        balances.append(_balance(r, bal, currency, _where(f"{st.path}/Bal[{index}]", bal)))
        if currency is None:
            currency = known_currency(r.child(bal, "Amt").get("Ccy"), st.path)  # type: ignore[union-attr]
    opening = next((b for t in _OPENING for b in balances if b.type == t), None)
    closing = next((b for t in _CLOSING for b in balances if b.type == t), None)
    interim = [b for b in balances if b.type == "ITBD"]
    if opening is None and len(interim) >= 2:
        opening = interim[0]
    if closing is None and interim:
        closing = interim[-1]
    if st.kind is StatementKind.CAMT053 and (opening is None or closing is None):
        st.problems.append(
            Problem(
                "NO_BALANCES",
                "the statement lacks an opening or a closing booked balance",
                _where(st.path, el),
            )
        )
    if st.not_booked:
        listed = ", ".join(f"{n} {s}" for s, n in sorted(st.not_booked.items()))
        st.problems.append(
            Problem("NOT_BOOKED", f"entries not booked were left out: {listed}", st.path)
        )
    if currency is None:
        raise StatementRefused(
            RefusalCode.UNKNOWN_CURRENCY,
            "the statement states no currency (no Acct/Ccy, balance or entry)",
            where=_where(st.path, el),
        )
    sequence = r.text(el, "ElctrncSeqNb")
    legal = r.text(el, "LglSeqNb")
    page = r.text(el, "StmtPgntn", "PgNb")
    parsed = ParsedStatement(
        kind=st.kind,
        account=account,
        currency=currency,
        where=_where(st.path, el),
        statement_ref=r.text(el, "Id"),
        message_version=st.version,
        sequence=_int(sequence, f"{st.path}/ElctrncSeqNb"),
        legal_sequence=_int(legal, f"{st.path}/LglSeqNb"),
        page=_int(page, f"{st.path}/StmtPgntn/PgNb"),
        created_at=_datetime(r.text(el, "CreDtTm")),
        from_date=_date(r.text(el, "FrToDt", "FrDtTm"), f"{st.path}/FrToDt/FrDtTm"),
        to_date=_date(r.text(el, "FrToDt", "ToDtTm"), f"{st.path}/FrToDt/ToDtTm"),
        opening=opening,
        closing=closing,
        lines=st.lines,
        entries_sum=st.entries_sum,
        problems=st.problems,
    )
    summary = r.child(el, "TxsSummry")
    if summary is not None:
        for side, prefix in (("TtlCdtNtries", "credit"), ("TtlDbtNtries", "debit")):
            count = r.text(summary, side, "NbOfNtries")
            total = r.text(summary, side, "Sum")
            where = f"{st.path}/TxsSummry/{side}"
            if count is not None:
                setattr(parsed, f"declared_{prefix}_count", _int(count, where))
            if total is not None:
                setattr(parsed, f"declared_{prefix}_sum", to_minor(total, currency, where))
    if parsed.from_date is None and parsed.lines:
        parsed.from_date = min(line.booking_date for line in parsed.lines)
    if parsed.to_date is None and parsed.lines:
        parsed.to_date = max(line.booking_date for line in parsed.lines)
    return parsed


def _int(text: str | None, where: str) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.split(".")[0])
    except ValueError:
        raise malformed(f"{text[:20]!r} is not a number", where) from None
    if value < 0 or value >= 10**18:
        raise malformed(f"{text[:20]!r} is out of range", where)
    return value
