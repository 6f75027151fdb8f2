"""The lot engine alone (hypothesis): whatever the movements, nothing is created or lost —
the lots hold exactly what the postings say, lots stay within their bounds, and an account
never holds debt and points at once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.loyalty.lots import Book, InsufficientPoints, Overdraw, expiry_date

START = date(2026, 1, 1)

step = st.one_of(
    st.tuples(st.just("credit"), st.integers(1, 500), st.integers(0, 60), st.integers(0, 10)),
    st.tuples(st.just("debit"), st.integers(1, 700), st.sampled_from(list(Overdraw)), st.just(0)),
    st.tuples(st.just("expire"), st.integers(0, 0), st.integers(0, 0), st.just(0)),
    st.tuples(st.just("claw"), st.integers(1, 400), st.booleans(), st.just(0)),
)


def _check(book: Book, total: int, day: date) -> None:
    held = sum(lot.remaining for lot in book.lots)
    assert held == total
    for lot in book.lots:
        if lot.kind == "EARN":
            assert 0 <= lot.remaining <= lot.points
        else:
            assert lot.points < 0 and lot.remaining <= 0
    debt = any(lot.kind == "DEBT" and lot.remaining < 0 for lot in book.lots)
    # lots past their last day wait for the expiry job: they do not count
    points = any(
        lot.kind == "EARN" and lot.remaining > 0 and not lot.expired(day) for lot in book.lots
    )
    assert not (debt and points)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_postings_are_what_the_lots_hold(steps: list[tuple[object, ...]]) -> None:
    book = Book(uuid.uuid4())
    total = 0
    day = START
    for i, (kind, a, b, c) in enumerate(steps):
        day = START + timedelta(days=i * 7)
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        entry = uuid.uuid4()
        if kind == "credit":
            posting = book.credit(
                entry_id=entry,
                points=int(a),
                opened_at=at,
                available_on=day + timedelta(days=int(c)),
                expires_on=day + timedelta(days=int(b)),
            )
            assert posting.points == a
        elif kind == "debit":
            try:
                posting = book.debit(
                    entry_id=entry, points=int(a), day=day, at=at, overdraw=Overdraw(b)
                )
            except InsufficientPoints:
                continue
            assert posting.points == -int(a) + posting.forgiven
        elif kind == "expire":
            for last in book.expiring_days(day):
                posting = book.expire(entry_id=uuid.uuid4(), last_day=last)
                total += posting.points
            _check(book, total, day)
            continue
        else:
            own = next((x.id for x in book.lots if x.kind == "EARN"), None)
            posting = book.clawback(
                entry_id=entry,
                points=int(a),
                lot_id=own,
                expired_unwaived=0,
                day=day,
                at=at,
                allow_debt=bool(b),
            )
            assert -posting.points + posting.forgiven == a
        total += posting.points
        _check(book, total, day)


def test_expiry_dates() -> None:
    assert expiry_date("AFTER_DAYS", 30, date(2026, 12, 1)) == date(2026, 12, 30)
    assert expiry_date("END_OF_MONTH", 0, date(2026, 2, 10)) == date(2026, 2, 28)
    assert expiry_date("END_OF_MONTH", 13, date(2026, 12, 31)) == date(2028, 1, 31)
    assert expiry_date("END_OF_NTH_YEAR", 2, date(2026, 5, 1)) == date(2028, 12, 31)
    assert expiry_date("NEVER", None, date(2026, 5, 1)) is None
