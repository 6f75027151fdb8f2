"""The gate every XML statement passes before lxml reads it.

defusedxml's expat parser scans the whole document first (no tree is built, so the scan
runs at expat's speed): entity declarations (billion laughs, quadratic blowup) are refused
as ``XML_BOMB``, external entities and DTDs that point outside the file as
``XML_EXTERNAL_ENTITY`` (XXE), any other DTD as ``XML_FORBIDDEN`` — ISO 20022 messages never
carry one. Only then does lxml parse the file, with entity resolution, DTD loading and the
network off and its default limits on depth and text size (``huge_tree`` off).
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml.common import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser
from lxml import etree

from domain.collections.errors import RefusalCode, StatementRefused

__all__ = ["check_xml", "lxml_parser"]


class _Doctype(DefusedXmlException):
    def __init__(self, sysid: str | None, pubid: str | None) -> None:
        super().__init__()
        self.sysid = sysid
        self.pubid = pubid


class _Nothing:
    """A tree-builder target without methods: the scan builds nothing."""


class _Gate(DefusedXMLParser):
    def __init__(self) -> None:
        super().__init__(
            target=_Nothing(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        # Nothing to build: let expat skip what the pure-Python parser would hand to
        # ``_default`` (the DTD hooks defusedxml installed stay).
        self.parser.DefaultHandlerExpand = None
        self.parser.DefaultHandler = None
        self.doctype: _Doctype | None = None

    def defused_start_doctype_decl(
        self, name: str, sysid: str | None, pubid: str | None, has_internal_subset: Any
    ) -> None:
        # Noted, not raised at once: the entity declarations inside say more (a bomb, XXE).
        self.doctype = _Doctype(sysid, pubid)


def _line_of(error: ParseError) -> str | None:
    position = getattr(error, "position", None)
    if position:
        return f"line {position[0]}, column {position[1] + 1}"
    return None


def check_xml(content: bytes) -> None:
    """Refuse unsafe or ill-formed XML with its code; return quietly for a safe document."""
    gate = _Gate()
    try:
        gate.feed(content)
        gate.close()
        if gate.doctype is not None:
            raise gate.doctype
    except _Doctype as doctype:
        if doctype.sysid or doctype.pubid:
            raise StatementRefused(
                RefusalCode.XML_EXTERNAL_ENTITY,
                "the XML names an external DTD; statements are read without any",
            ) from None
        raise StatementRefused(
            RefusalCode.XML_FORBIDDEN,
            "the XML carries a DTD; ISO 20022 statements never do",
        ) from None
    except EntitiesForbidden as entity:
        if entity.sysid or entity.pubid:
            raise StatementRefused(
                RefusalCode.XML_EXTERNAL_ENTITY,
                f"the XML declares an external entity {entity.name!r} (XXE)",
            ) from None
        raise StatementRefused(
            RefusalCode.XML_BOMB,
            f"the XML declares entity {entity.name!r}; entity expansion is refused",
        ) from None
    except ExternalReferenceForbidden:
        raise StatementRefused(
            RefusalCode.XML_EXTERNAL_ENTITY, "the XML refers to an external resource"
        ) from None
    except ParseError as error:
        raise StatementRefused(
            RefusalCode.MALFORMED_STATEMENT,
            f"not well-formed XML: {str(error).split(':')[0]}",
            where=_line_of(error),
        ) from None


def lxml_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
