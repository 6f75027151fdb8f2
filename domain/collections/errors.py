"""Why a statement file is refused: one code per reason, and where in the file.

A refused file writes nothing. ``code`` is the ``extensions.code`` / ``StatementRefusedError.code``
a client sees and the name of the reason file the inbox writes beside a rejected file.
"""

from __future__ import annotations

from enum import StrEnum

from domain.shared.errors import DomainError


class RefusalCode(StrEnum):
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    ZIP_BOMB = "ZIP_BOMB"  # a zip whose members inflate past the limits, or too many
    XML_BOMB = "XML_BOMB"  # entity declarations (billion laughs, quadratic blowup)
    XML_EXTERNAL_ENTITY = "XML_EXTERNAL_ENTITY"  # XXE: external entities or DTDs
    XML_FORBIDDEN = "XML_FORBIDDEN"  # a DTD, processing the file would need it
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    MALFORMED_STATEMENT = "MALFORMED_STATEMENT"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"  # the file names an account nobody registered
    ACCOUNT_MISMATCH = "ACCOUNT_MISMATCH"  # the file names another account than --account
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"  # the statement's currency is not the account's
    INTEGRITY_BROKEN = "INTEGRITY_BROKEN"  # refused by TRAMA_STATEMENT_REFUSE_BROKEN / account
    NO_COLUMN_MAPPING = "NO_COLUMN_MAPPING"  # a CSV/XLSX for an account without a mapping
    STATEMENT_CONFLICT = "STATEMENT_CONFLICT"  # a statement received before, now different


class StatementRefused(DomainError):
    """The whole file is refused. ``where``: ``line 12``, ``/Document/…/Ntry[3]/Amt``,
    ``row 7, column Importe``, ``member camt.zip:day2.xml`` …; None when the file as a
    whole is the problem."""

    def __init__(self, code: RefusalCode, message: str, *, where: str | None = None) -> None:
        text = f"{message} ({where})" if where else message
        super().__init__(text)
        self.code = code.value  # instance attribute shadows DomainError.code
        self.reason = message
        self.where = where

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.reason, "where": self.where}
