"""UTC time helpers and keyset-pagination cursors."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from domain.shared import time as clock
from domain.shared.errors import DomainError, ValidationFailed
from domain.shared.pagination import Page, clamp_page_size, decode_cursor, encode_cursor
from domain.shared.time import NaiveDatetimeError, ensure_utc, isoformat, utcnow
from tests.clock import TEST_EPOCH

# ---------------------------------------------------------------------------------------
# time
# ---------------------------------------------------------------------------------------

_ONE_US = timedelta(microseconds=1)
# any offset datetime.timezone allows: strictly inside ±24 h, down to the microsecond
_offsets = st.one_of(
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
    st.timedeltas(
        min_value=-timedelta(hours=24) + _ONE_US, max_value=timedelta(hours=24) - _ONE_US
    ).map(timezone),
)
_aware = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=_offsets
)
_naive = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1))


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: the datetime is effectively naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_the_system_clock_reads_the_machine() -> None:
    assert abs(clock.SystemClock().now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_the_suite_runs_on_its_own_clock_not_the_machines() -> None:
    """tests/conftest.py sets the business clock to a fixed start: nothing in the suite
    depends on when (or in which timezone) the machine runs it."""
    current = clock.get_clock()
    assert isinstance(current, clock.OffsetClock)
    assert current.start == TEST_EPOCH
    assert timedelta(0) <= utcnow() - TEST_EPOCH < timedelta(days=1)


def test_a_frozen_clock_stands_still_and_moves_when_told() -> None:
    start = datetime(2028, 2, 29, 2, 0, tzinfo=UTC)
    with clock.clock_at(start) as frozen:
        assert utcnow() == start
        assert clock.local_today("America/Santiago") == date(2028, 2, 28)  # 23:00 the day before
        assert isinstance(frozen, clock.FrozenClock)
        frozen.advance(timedelta(hours=2))
        assert clock.local_today("America/Santiago") == date(2028, 2, 29)
    assert isinstance(clock.get_clock(), clock.OffsetClock)  # restored


def test_an_offset_clock_moves_on_from_its_start() -> None:
    start = datetime(2030, 12, 31, 23, 59, 30, tzinfo=UTC)
    moving = clock.OffsetClock(start)
    first = moving.now()
    second = moving.now()
    assert start <= first <= second < start + timedelta(seconds=5)
    with pytest.raises(NaiveDatetimeError):
        clock.OffsetClock(datetime(2030, 1, 1))


def test_the_clock_setting_is_refused_in_production() -> None:
    from app.policies import configure_clock
    from app.settings import Settings

    with pytest.raises(ValueError, match="refused in production"):
        configure_clock(Settings(env="production", clock_start=TEST_EPOCH))
    with pytest.raises(ValueError, match="timezone"):
        configure_clock(Settings(env="test", clock_start=datetime(2030, 1, 1)))
    previous = clock.get_clock()
    try:
        configure_clock(Settings(env="development", clock_start="2031-01-01T00:00:00Z"))
        assert clock.local_today("America/Santiago") == date(2030, 12, 31)
    finally:
        clock.set_clock(previous)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 1),
        datetime(2024, 1, 1, 12, 30, 15, 123456),
        datetime(2024, 1, 1, tzinfo=_NoOffset()),
    ],
)
def test_ensure_utc_refuses_naive(value: datetime) -> None:
    with pytest.raises(NaiveDatetimeError, match="naive datetime"):
        ensure_utc(value)
    with pytest.raises(NaiveDatetimeError):
        isoformat(value)


def test_naive_datetime_error_is_value_error() -> None:
    assert issubclass(NaiveDatetimeError, ValueError)


@given(_naive)
def test_ensure_utc_refuses_every_naive_datetime(value: datetime) -> None:
    with pytest.raises(NaiveDatetimeError):
        ensure_utc(value)


def test_ensure_utc_converts_offsets() -> None:
    santiago_summer = datetime(2024, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert ensure_utc(santiago_summer) == datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    assert ensure_utc(santiago_summer).tzinfo is UTC
    assert ensure_utc(santiago_summer).hour == 12

    india = datetime(2024, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert ensure_utc(india) == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert ensure_utc(india).day == 1 and ensure_utc(india).hour == 0

    crosses_midnight = datetime(2024, 12, 31, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert ensure_utc(crosses_midnight) == datetime(2025, 1, 1, 3, 0, tzinfo=UTC)


def test_ensure_utc_with_iana_zone() -> None:
    santiago = ZoneInfo("America/Santiago")
    winter = datetime(2024, 7, 1, 8, 0, tzinfo=santiago)  # UTC-4
    summer = datetime(2024, 1, 1, 8, 0, tzinfo=santiago)  # UTC-3
    assert ensure_utc(winter) == datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert ensure_utc(summer) == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert ensure_utc(winter).tzinfo is UTC


def test_ensure_utc_keeps_utc_values() -> None:
    value = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert ensure_utc(value) == value
    assert ensure_utc(value).tzinfo is UTC


_ODD_OFFSET = timezone(_ONE_US)


@given(_aware)
@example(datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=_ODD_OFFSET))
@example(datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=timezone(-_ONE_US)))
@example(datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=timezone(timedelta(hours=24) - _ONE_US)))
def test_ensure_utc_keeps_the_instant(value: datetime) -> None:
    result = ensure_utc(value)
    assert result == value  # aware comparison: same instant
    assert result.utcoffset() == timedelta(0)
    assert result.tzinfo is UTC
    # the wall-clock fields move by exactly the offset (an offset with microseconds
    # changes the microsecond field too)
    offset = value.utcoffset()
    assert offset is not None
    assert result.replace(tzinfo=None) == value.replace(tzinfo=None) - offset


def test_ensure_utc_with_sub_second_offset() -> None:
    value = datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=_ODD_OFFSET)
    assert ensure_utc(value) == datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert isoformat(value) == "2023-12-31T23:59:59.999999Z"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T00:00:00.000000Z"),
        (datetime(2024, 1, 1, 12, 30, 15, 123456, tzinfo=UTC), "2024-01-01T12:30:15.123456Z"),
        (datetime(2024, 1, 1, 12, 30, 15, 1, tzinfo=UTC), "2024-01-01T12:30:15.000001Z"),
        (
            datetime(2024, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3))),
            "2024-01-01T12:00:00.000000Z",
        ),
        (
            datetime(2024, 7, 1, 8, 0, 0, 100000, tzinfo=ZoneInfo("America/Santiago")),
            "2024-07-01T12:00:00.100000Z",
        ),
        (
            datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=timezone(timedelta(hours=2))),
            "2023-12-31T22:00:00.000500Z",
        ),
    ],
)
def test_isoformat_examples(value: datetime, text: str) -> None:
    assert isoformat(value) == text


@given(_aware)
@example(datetime(2024, 1, 1, tzinfo=UTC))
@example(datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=_ODD_OFFSET))
def test_isoformat_ends_with_z_and_round_trips(value: datetime) -> None:
    text = isoformat(value)
    assert text.endswith("Z")
    assert "+" not in text
    assert text.count("Z") == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    parsed = datetime.fromisoformat(text)
    assert parsed == value  # the same instant, to the microsecond
    assert parsed.utcoffset() == timedelta(0)
    assert len(text) == len("2024-01-01T00:00:00.000000Z")


@given(_aware, _aware)
@example(
    datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
)
def test_isoformat_sorts_like_the_instants(a: datetime, b: datetime) -> None:
    # with a varying number of fractional digits "…00Z" would sort after "…00.5Z"
    assert (isoformat(a) < isoformat(b)) == (a < b)
    assert (isoformat(a) == isoformat(b)) == (a == b)


# ---------------------------------------------------------------------------------------
# cursors
# ---------------------------------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=30),
)
_CURSOR_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _problem(exc: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    assert len(exc.value.problems) == 1
    problem = exc.value.problems[0]
    return problem.field, problem.message


def test_cursor_round_trip_example() -> None:
    cursor = encode_cursor("transactions", "2024-01-01T00:00:00Z", 42, None)
    assert decode_cursor(cursor, "transactions", 3) == ["2024-01-01T00:00:00Z", 42, None]
    assert "=" not in cursor


@given(st.text(max_size=20), st.lists(_values, max_size=5))
@example("t", [])
@example("", [""])
@example("ñandú", ["Ñuñoa", -(2**63), 2**63 - 1, None])
def test_cursor_round_trips(tag: str, values: list[str | int | None]) -> None:
    cursor = encode_cursor(tag, *values)
    assert _CURSOR_ALPHABET.fullmatch(cursor)
    assert decode_cursor(cursor, tag, len(values)) == values
    assert decode_cursor(cursor, tag, len(values), field="before") == values


def test_cursor_is_deterministic() -> None:
    assert encode_cursor("t", 1, "a") == encode_cursor("t", 1, "a")
    assert encode_cursor("t", 1, "a") != encode_cursor("t", 1, "b")


@given(st.text(max_size=10), st.text(max_size=10), st.lists(_values, max_size=3))
def test_cursor_with_another_tag_is_refused(
    tag: str, other: str, values: list[str | int | None]
) -> None:
    assume(tag != other)
    cursor = encode_cursor(tag, *values)
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(cursor, other, len(values), field="after")
    assert _problem(exc) == ("after", "this cursor does not belong to this list")


@given(st.lists(_values, max_size=4), st.integers(min_value=0, max_value=6))
def test_cursor_with_another_arity_is_refused(values: list[str | int | None], arity: int) -> None:
    assume(arity != len(values))
    cursor = encode_cursor("people", *values)
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(cursor, "people", arity, field="before")
    assert _problem(exc) == ("before", "this cursor does not belong to this list")


@pytest.mark.parametrize(
    "payload",
    [b'{"tag": "people"}', b'"people"', b"42", b"null", b"[]", b'[1, "x"]', b'[["people"], 1]'],
)
def test_cursor_with_valid_json_of_another_shape_is_refused(payload: bytes) -> None:
    cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(cursor, "people", 1)
    assert _problem(exc) == ("after", "this cursor does not belong to this list")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "a",
        "!!!!",
        "====",
        "not a cursor",
        "e30",  # "{}": JSON, but not a list
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),  # not UTF-8
        base64.urlsafe_b64encode(b'["people", 1').decode(),  # truncated JSON
        base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode(),  # too deep
        "\ud800",  # lone surrogate: not encodable
        "ñandú",
    ],
)
def test_garbage_cursor_raises_validation_failed(garbage: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(garbage, "people", 1, field="after")
    field, message = _problem(exc)
    assert field == "after"
    assert message in {"this cursor is not valid", "this cursor does not belong to this list"}
    assert exc.value.code == "VALIDATION"
    assert isinstance(exc.value, DomainError)
    assert "after" in str(exc.value)


@given(st.text(max_size=60), st.integers(min_value=0, max_value=3))
def test_random_garbage_never_raises_anything_else(garbage: str, arity: int) -> None:
    try:
        result = decode_cursor(garbage, "people", arity, field="cursorField")
    except ValidationFailed as exc:
        assert exc.problems[0].field == "cursorField"
    else:  # astronomically unlikely, but then it must be well formed
        assert isinstance(result, list)
        assert len(result) == arity


@given(st.binary(max_size=60), st.integers(min_value=0, max_value=3))
def test_random_bytes_never_raise_anything_else(raw: bytes, arity: int) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    try:
        result = decode_cursor(cursor, "people", arity)
    except ValidationFailed as exc:
        assert exc.problems[0].field == "after"
    else:
        assert orjson.loads(raw) == ["people", *result]


@given(st.text(max_size=10), st.lists(_values, max_size=3), st.sampled_from(_B64))
def test_cursor_with_a_corrupted_first_character_is_refused(
    tag: str, values: list[str | int | None], replacement: str
) -> None:
    cursor = encode_cursor(tag, *values)
    assume(replacement != cursor[0])
    tampered = replacement + cursor[1:]
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(tampered, tag, len(values), field="after")
    assert _problem(exc)[0] == "after"


@given(st.text(max_size=10), st.lists(_values, max_size=3), st.integers(min_value=1, max_value=3))
def test_truncated_cursor_is_refused(tag: str, values: list[str | int | None], cut: int) -> None:
    cursor = encode_cursor(tag, *values)
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(cursor[:-cut], tag, len(values), field="before")
    assert _problem(exc)[0] == "before"


def test_corrupted_cursor_examples_are_refused() -> None:
    # cursors are not signed: only cursors that no longer decode to this list's shape
    # can be told apart; these do not
    cursor = encode_cursor("people", "2024-01-01", 7)
    for corrupted in (cursor + "A", cursor[:-1], "A" + cursor, cursor[1:]):
        with pytest.raises(ValidationFailed):
            decode_cursor(corrupted, "people", 2)


@pytest.mark.parametrize("cursor", [None, 42, b"WyJwZW9wbGUiLDFd", ["people", 1], 1.5])
def test_cursor_that_is_not_a_string_is_refused(cursor: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(cursor, "people", 1, field="after")  # type: ignore[arg-type]
    assert _problem(exc) == ("after", "this cursor is not valid")


def test_cursor_longer_than_1000_characters_is_refused() -> None:
    at_limit = encode_cursor("people", "x" * 737)  # 750 bytes of JSON
    assert len(at_limit) == 1000
    assert decode_cursor(at_limit, "people", 1) == ["x" * 737]
    over_limit = encode_cursor("people", "x" * 738)
    assert len(over_limit) == 1002
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(over_limit, "people", 1, field="before")
    assert _problem(exc) == ("before", "this cursor is not valid")
    with pytest.raises(ValidationFailed):
        decode_cursor("A" * 10**6, "people", 1)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:4] + " " + c[4:],
        lambda c: c[:4] + "\n" + c[4:],
        lambda c: " " + c,
        lambda c: c + "\n",
        lambda c: c + "\t",
        lambda c: c[:4] + "." + c[4:],
        lambda c: c[:4] + "=" + c[4:],
        lambda c: c[:4] + "\u00e9" + c[4:],
        lambda c: c[:4] + "\uff21" + c[4:],  # FULLWIDTH LATIN CAPITAL LETTER A
    ],
    ids=[
        "space",
        "newline",
        "leading-space",
        "trailing-newline",
        "tab",
        "dot",
        "inner-pad",
        "non-ascii",
        "fullwidth",
    ],
)
def test_cursor_with_characters_outside_the_alphabet_is_refused(
    mangle: Callable[[str], str],
) -> None:
    # non-strict base64 would silently skip these characters and decode the rest
    cursor = encode_cursor("people", "2024-01-01", 7)
    with pytest.raises(ValidationFailed) as exc:
        decode_cursor(mangle(cursor), "people", 2)
    assert _problem(exc) == ("after", "this cursor is not valid")


@pytest.mark.parametrize(("urlsafe", "standard"), [("-", "+"), ("_", "/")])
def test_cursor_in_the_standard_base64_alphabet_is_refused(urlsafe: str, standard: str) -> None:
    values = [">>>?", 7]  # encodes with both '-' and '_' in it
    cursor = encode_cursor("people", *values)
    assert urlsafe in cursor
    assert decode_cursor(cursor, "people", 2) == values
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor.replace(urlsafe, standard), "people", 2)


# ---------------------------------------------------------------------------------------
# clamp_page_size
# ---------------------------------------------------------------------------------------


def test_clamp_page_size_bounds() -> None:
    assert clamp_page_size(None, default=20, maximum=100) == 20
    assert clamp_page_size(0, default=20, maximum=100) == 0
    assert clamp_page_size(1, default=20, maximum=100) == 1
    assert clamp_page_size(100, default=20, maximum=100) == 100


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (-1, "must not be negative"),
        (-(10**9), "must not be negative"),
        (101, "at most 100 items per page"),
        (10**9, "at most 100 items per page"),
    ],
)
def test_clamp_page_size_refuses_out_of_range(first: int, message: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        clamp_page_size(first, default=20, maximum=100)
    assert _problem(exc) == ("first", message)
    with pytest.raises(ValidationFailed) as exc:
        clamp_page_size(first, default=20, maximum=100, field="last")
    assert _problem(exc) == ("last", message)


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=-1000, max_value=1000))
def test_clamp_page_size_property(maximum: int, first: int) -> None:
    if 0 <= first <= maximum:
        assert clamp_page_size(first, default=10, maximum=maximum) == first
    else:
        with pytest.raises(ValidationFailed):
            clamp_page_size(first, default=10, maximum=maximum)


def test_page_defaults() -> None:
    page: Page[int] = Page(items=[1, 2], cursors=["a", "b"], has_next=True, has_previous=False)
    assert page.total is None
    assert page.items == [1, 2]
