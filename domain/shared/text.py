"""Text normalisation for search and sort keys (accent- and case-insensitive)."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case without accents, single spaces: "Ñuñoa  Pérez" → "nunoa perez"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def clean_name(text: str) -> str:
    """Trim and collapse spaces, keep the person's own spelling."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (use with escape='\\\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
