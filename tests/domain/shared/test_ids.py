"""UUIDv7 generation (RFC 9562) and parsing of client-supplied UUIDs."""

from __future__ import annotations

import threading
import time
import uuid
from itertools import pairwise
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared import ids
from domain.shared.ids import parse_uuid, uuid7


def _ms(value: uuid.UUID) -> int:
    return value.int >> 80


def _counter(value: uuid.UUID) -> int:
    return (value.int >> 64) & 0xFFF


def test_uuid7_version_and_variant() -> None:
    for _ in range(1000):
        value = uuid7()
        assert isinstance(value, uuid.UUID)
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert (value.int >> 76) & 0xF == 0x7
        assert (value.int >> 62) & 0b11 == 0b10
        assert str(value)[14] == "7"
        assert str(value)[19] in "89ab"


def test_uuid7_is_strictly_increasing_and_unique() -> None:
    values = [uuid7() for _ in range(10_000)]
    assert len(set(values)) == len(values)
    assert all(a < b for a, b in pairwise(values))
    # the canonical text form sorts the same way (fixed width, lower-case hex)
    texts = [str(v) for v in values]
    assert texts == sorted(texts)
    assert len(set(texts)) == len(texts)
    assert all(a.bytes < b.bytes for a, b in pairwise(values))


def test_uuid7_timestamp_is_now() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert abs(_ms(value) - before) < 1000
    assert abs(_ms(value) - after) < 1000
    # and it decodes to a plausible wall-clock time
    assert abs(_ms(value) / 1000 - time.time()) < 1


def test_uuid7_randomness_differs() -> None:
    rand_bits = {uuid7().int & ((1 << 62) - 1) for _ in range(1000)}
    assert len(rand_bits) == 1000


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Replace the clock seen by ``ids`` and isolate its module state for one test."""
    clock = SimpleNamespace(now_ns=1_700_000_000_000 * 1_000_000)
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: clock.now_ns))
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids, "_counter", 0)
    return clock


def test_uuid7_same_millisecond_uses_counter(frozen_clock: SimpleNamespace) -> None:
    values = [uuid7() for _ in range(100)]
    assert {_ms(v) for v in values} == {1_700_000_000_000}
    assert [_counter(v) for v in values] == list(range(100))
    assert all(a < b for a, b in pairwise(values))


def test_uuid7_counter_exhaustion_borrows_next_millisecond(frozen_clock: SimpleNamespace) -> None:
    values = [uuid7() for _ in range(0x1000 * 2 + 10)]
    assert all(a < b for a, b in pairwise(values))
    assert len(set(values)) == len(values)
    assert _ms(values[0x0FFF]) == 1_700_000_000_000
    assert _counter(values[0x0FFF]) == 0xFFF
    assert _ms(values[0x1000]) == 1_700_000_000_001
    assert _counter(values[0x1000]) == 0
    assert _ms(values[-1]) == 1_700_000_000_002
    for v in values:
        assert v.version == 7
        assert v.variant == uuid.RFC_4122


def test_uuid7_clock_going_backwards_stays_increasing(frozen_clock: SimpleNamespace) -> None:
    first = uuid7()
    frozen_clock.now_ns -= 5_000 * 1_000_000  # NTP step back by five seconds
    second = uuid7()
    third = uuid7()
    assert first < second < third
    assert _ms(second) == _ms(first)
    frozen_clock.now_ns += 10_000 * 1_000_000
    fourth = uuid7()
    assert third < fourth
    assert _ms(fourth) == 1_700_000_005_000
    assert _counter(fourth) == 0


def test_uuid7_unique_across_threads() -> None:
    results: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def work(out: list[uuid.UUID]) -> None:
        for _ in range(1000):
            out.append(uuid7())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [v for out in results for v in out]
    assert len(set(everything)) == len(everything) == 8000
    for out in results:  # each thread sees its own keys in increasing order
        assert all(a < b for a, b in pairwise(out))


# ---------------------------------------------------------------------------------------
# parse_uuid
# ---------------------------------------------------------------------------------------


def test_parse_uuid_accepts_uuid_strings() -> None:
    value = uuid7()
    text = str(value)
    assert parse_uuid(text) == value
    assert parse_uuid(text.upper()) == value
    assert parse_uuid(text.replace("-", "")) == value
    assert parse_uuid(text.replace("-", "").upper()) == value
    assert parse_uuid("00000000-0000-0000-0000-000000000000") == uuid.UUID(int=0)
    assert parse_uuid("ffffffff-ffff-ffff-ffff-ffffffffffff") == uuid.UUID(int=(1 << 128) - 1)
    assert parse_uuid("0190A5D0-1234-7abc-8DEF-0123456789ab") == uuid.UUID(
        "0190a5d0-1234-7abc-8def-0123456789ab"
    )


def test_parse_uuid_returns_uuid_instances_unchanged() -> None:
    value = uuid7()
    assert parse_uuid(value) is value
    assert parse_uuid(uuid.UUID(int=0)) == uuid.UUID(int=0)


@given(st.uuids())
def test_parse_uuid_round_trips(value: uuid.UUID) -> None:
    assert parse_uuid(str(value)) == value
    assert parse_uuid(value.hex) == value


@pytest.mark.parametrize(
    "junk",
    [
        "",
        " ",
        "not-a-uuid",
        "1234",
        "0190a5d0-1234-7abc-8def-0123456789a",  # one digit short
        "0190a5d0-1234-7abc-8def-0123456789abc",  # one digit long
        "0190a5d0-1234-7abc-8def-0123456789ag",  # not hex
        "' OR 1=1 --",
        "<script>",
        "null",
        None,
        b"\x00" * 16,
        3.14,
        object(),
    ],
)
def test_parse_uuid_refuses_junk(junk: object) -> None:
    assert parse_uuid(junk) is None  # type: ignore[arg-type]


@given(
    st.text(alphabet=st.characters(exclude_categories=["Nd"], exclude_characters="abcdefABCDEF"))
)
def test_parse_uuid_refuses_text_without_hex(text: str) -> None:
    assert parse_uuid(text) is None


@given(st.text(max_size=50))
def test_parse_uuid_never_raises(text: str) -> None:
    result = parse_uuid(text)
    assert result is None or isinstance(result, uuid.UUID)


_CANONICAL = "0190a5d0-1234-7abc-8def-0123456789ab"


@pytest.mark.parametrize(
    "junk",
    [
        # forms uuid.UUID() accepts through its lenient int(hex, 16)
        "\u0660" * 32,  # ARABIC-INDIC DIGIT ZERO
        "\u0660" * 8 + "-0000-0000-0000-000000000000",
        "\uff10" * 32,  # FULLWIDTH DIGIT ZERO
        "+" + "1" * 31,
        "-" + "1" * 31,
        "1" * 16 + "_" + "1" * 15,
        " " + "a" * 31,
        "a" * 31 + "\n",
        "0x" + "a" * 30,
        # wrappers uuid.UUID() strips
        "{" + _CANONICAL + "}",
        "{" + _CANONICAL.replace("-", "") + "}",
        "urn:uuid:" + _CANONICAL,
        "uuid:" + _CANONICAL,
        "URN:UUID:" + _CANONICAL,
        "urn:" + _CANONICAL,
        # surrounding or inner whitespace
        " " + _CANONICAL,
        _CANONICAL + " ",
        "\t" + _CANONICAL,
        _CANONICAL.replace("-", " "),
        # hyphens in the wrong places or doubled
        _CANONICAL[:9] + "-" + _CANONICAL[9:],
        "-" + _CANONICAL.replace("-", ""),
        _CANONICAL.replace("-", "") + "-",
        _CANONICAL[:7] + "-" + _CANONICAL[7:8] + _CANONICAL[9:],
    ],
)
def test_parse_uuid_refuses_non_canonical_forms(junk: str) -> None:
    assert parse_uuid(junk) is None


@given(st.uuids(), st.sampled_from(["{}", "urn:uuid:", " ", "\t", "+", "_"]), st.booleans())
def test_parse_uuid_refuses_decorated_uuids(value: uuid.UUID, extra: str, hyphens: bool) -> None:
    text = str(value) if hyphens else value.hex
    decorated = f"{extra[0]}{text}{extra[1]}" if extra == "{}" else extra + text
    assert parse_uuid(decorated) is None


@pytest.mark.parametrize("text", [_CANONICAL + "\n", _CANONICAL.replace("-", "") + "\n"])
def test_parse_uuid_refuses_trailing_newline(text: str) -> None:
    assert parse_uuid(text) is None
