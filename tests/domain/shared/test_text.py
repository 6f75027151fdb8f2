"""Text folding for search keys and LIKE escaping."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared.text import clean_name, fold, like_escape


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Ñuñoa  PÉREZ", "nunoa perez"),
        ("Ñuñoa  Pérez", "nunoa perez"),
        ("  São\tPaulo\n", "sao paulo"),
        ("JOSÉ MARÍA", "jose maria"),
        ("Bogotá D.C.", "bogota d.c."),
        ("Peñalolén", "penalolen"),
        ("Straße", "strasse"),
        ("ﬁesta", "fiesta"),  # compatibility ligature
        ("Ｍａｒíａ", "maria"),  # full-width letters
        ("İstanbul", "istanbul"),
        ("Ü ü Ç ç", "u u c c"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_fold_examples(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_precomposed_and_decomposed_are_equal() -> None:
    precomposed = unicodedata.normalize("NFC", "Pérez Ñuñoa")
    decomposed = unicodedata.normalize("NFD", "Pérez Ñuñoa")
    assert precomposed != decomposed
    assert fold(precomposed) == fold(decomposed) == "perez nunoa"


@given(st.text())
def test_fold_properties(text: str) -> None:
    folded = fold(text)
    assert fold(folded) == folded  # idempotent
    assert folded == folded.strip()
    assert "  " not in folded
    assert not any(ch.isspace() and ch != " " for ch in folded)
    assert not any(unicodedata.combining(ch) for ch in folded)
    assert folded == folded.casefold()


_SPANISH = "abcdefghijklmnñopqrstuvwxyzáéíóúüàèìòùâêîôûãõç"


@given(st.text(alphabet=st.sampled_from(_SPANISH + " "), max_size=30))
def test_fold_ignores_case_and_accents(text: str) -> None:
    assert fold(text.upper()) == fold(text.lower()) == fold(text)
    assert fold(text).isascii()


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=30))
def test_fold_of_ascii_is_lower_and_collapsed(text: str) -> None:
    assert fold(text.upper()) == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("  María   José  ", "María José"),
        ("O'Higgins", "O'Higgins"),
        ("PÉREZ\tsoto", "PÉREZ soto"),
    ],
)
def test_clean_name_keeps_spelling(text: str, cleaned: str) -> None:
    assert clean_name(text) == cleaned


def test_clean_name_composes_accents() -> None:
    decomposed = unicodedata.normalize("NFD", "Pérez")
    assert clean_name(decomposed) == "Pérez"
    assert len(clean_name(decomposed)) == 5


# ---------------------------------------------------------------------------------------
# like_escape
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("50%", "50\\%"),
        ("a_b", "a\\_b"),
        ("back\\slash", "back\\\\slash"),
        ("\\%", "\\\\\\%"),
        ("\\_", "\\\\\\_"),
        ("%_\\", "\\%\\_\\\\"),
        ("100% off_sale\\", "100\\% off\\_sale\\\\"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_like_escape_examples(text: str, escaped: str) -> None:
    assert like_escape(text) == escaped


def _unescape(escaped: str) -> Iterator[tuple[str, bool]]:
    """Yield (char, was_escaped) pairs of a LIKE pattern with escape character '\\'."""
    it = iter(escaped)
    for ch in it:
        if ch == "\\":
            nxt = next(it)  # an escape is never the last character
            assert nxt in "\\%_"
            yield nxt, True
        else:
            yield ch, False


@given(st.text())
def test_like_escape_is_reversible_and_leaves_no_bare_wildcard(text: str) -> None:
    pairs = list(_unescape(like_escape(text)))
    assert "".join(ch for ch, _ in pairs) == text
    for ch, was_escaped in pairs:
        if ch in "%_\\":
            assert was_escaped


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    yield conn
    conn.close()


def _like(db: sqlite3.Connection, value: str, pattern: str) -> bool:
    row = db.execute("SELECT ? LIKE ? ESCAPE '\\'", (value, pattern)).fetchone()
    return bool(row[0])


@given(st.text(alphabet=st.sampled_from("ab%_\\ x"), max_size=12))
def test_like_escape_matches_literally_in_sql(db: sqlite3.Connection, text: str) -> None:
    assert _like(db, text, like_escape(text))
    # a contains-search built from the escaped text finds it inside other text
    assert _like(db, f"xx{text}yy", f"%{like_escape(text)}%")


@pytest.mark.parametrize(
    ("needle", "haystack"),
    [("50%", "500"), ("50%", "50 pesos"), ("a_c", "abc"), ("%", "anything"), ("_", "x")],
)
def test_like_escape_does_not_act_as_wildcard(
    db: sqlite3.Connection, needle: str, haystack: str
) -> None:
    assert _like(db, haystack, needle)  # unescaped, the wildcard matches
    assert not _like(db, haystack, like_escape(needle))
