"""Checking camt files against the official ISO 20022 XSDs (vendored in ``xsd/``, see
``xsd/NOTICE``).

A file that bends its schema (a missing mandatory element, a proprietary one, a value too
long, elements out of order) is still read when the reader finds what it needs: the
deviations are reported on each statement (``schema_status`` INVALID and ``XSD`` problems
with the element's path), never a crash. A message version without a vendored XSD is
reported as such.

Two validators, the same XSD files:

- up to :data:`XMLSCHEMA_MAX_BYTES`, xmlschema: every deviation with its element path in
  words (``/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]``). It is pure Python and slow — about
  200 entries a second measured here (bench/README.md) — so only small files go through it;
- above, libxml2 through lxml (``etree.XMLSchema``), thousands of times faster: up to
  ``full_report_bytes`` on the whole tree (every deviation, with its line and path), beyond
  that while streaming through the file (the first deviation, with its line).

At most :data:`MAX_REPORTED` deviations are listed, with the count of the rest.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import xmlschema
from lxml import etree

from domain.collections.formats.base import Problem

__all__ = ["MAX_REPORTED", "XMLSCHEMA_MAX_BYTES", "available", "validate"]

XSD_DIR = Path(__file__).with_name("xsd")
MAX_REPORTED = 20
XMLSCHEMA_MAX_BYTES = 128 * 1024


def available(message: str, version: int) -> bool:
    return (XSD_DIR / f"{message}.001.{version:02d}.xsd").is_file()


@lru_cache(maxsize=64)
def _xmlschema(message: str, version: int) -> xmlschema.XMLSchema:
    path = XSD_DIR / f"{message}.001.{version:02d}.xsd"
    # The XSDs are self-contained: nothing to fetch, and nothing may be.
    return xmlschema.XMLSchema(str(path), allow="sandbox", defuse="always")


@lru_cache(maxsize=64)
def _libxml2(message: str, version: int) -> etree.XMLSchema:
    path = XSD_DIR / f"{message}.001.{version:02d}.xsd"
    return etree.XMLSchema(etree.parse(str(path), etree.XMLParser(no_network=True)))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def validate(
    content: bytes, message: str, version: int, *, full_report_bytes: int = 64 * 1024 * 1024
) -> tuple[bool, list[Problem]]:
    """(valid, problems). The document has already passed the XML safety gate."""
    name = f"{message}.001.{version:02d}"
    if not available(message, version):
        return False, [
            Problem("XSD_UNAVAILABLE", f"no official schema of {name} to check against", None)
        ]
    if len(content) <= XMLSCHEMA_MAX_BYTES:
        problems = _with_xmlschema(content, message, version, name)
    elif len(content) <= full_report_bytes:
        problems = _with_libxml2(content, message, version, name)
    else:
        problems = _streaming(content, message, version, name)
    return not problems, problems


def _cap(problems: list[Problem], extra: int, name: str) -> list[Problem]:
    if extra:
        problems.append(Problem("XSD", f"{name}: {extra} more deviations not listed", None))
    return problems


def _with_xmlschema(content: bytes, message: str, version: int, name: str) -> list[Problem]:
    tree = etree.fromstring(content, _parser())
    problems: list[Problem] = []
    extra = 0
    resource = xmlschema.XMLResource(tree, allow="none", defuse="always")
    for error in _xmlschema(message, version).iter_errors(resource):
        if len(problems) >= MAX_REPORTED:
            extra += 1
            continue
        element = error.elem
        line = getattr(element, "sourceline", None) if element is not None else None
        path = error.path or "/"
        where = f"{path} (line {line})" if line else path
        reason = (error.reason or str(error.message)).split("\n")[0][:300]
        problems.append(Problem("XSD", f"{name}: {reason}", where))
    return _cap(problems, extra, name)


def _readable(tree: etree._Element, path: str | None) -> str | None:
    """libxml2's ``/*/*[2]/*[8]`` as ``/Document/BkToCstmrStmt/Stmt[1]/Ntry[7]``."""
    if not path:
        return None
    try:
        found = tree.getroottree().xpath(path)
    except etree.XPathError:
        return path
    if not found or not isinstance(found[0], etree._Element):
        return path
    element = found[0]
    parts: list[str] = []
    while element is not None:
        local = etree.QName(element).localname
        parent = element.getparent()
        if parent is None:
            parts.append(local)
            break
        same = [c for c in parent if isinstance(c.tag, str) and c.tag == element.tag]
        parts.append(f"{local}[{same.index(element) + 1}]" if len(same) > 1 else local)
        element = parent
    return "/" + "/".join(reversed(parts))


def _with_libxml2(content: bytes, message: str, version: int, name: str) -> list[Problem]:
    tree = etree.fromstring(content, _parser())
    schema = _libxml2(message, version)
    if schema.validate(tree):
        return []
    problems: list[Problem] = []
    errors = list(schema.error_log)
    for error in errors[:MAX_REPORTED]:
        path = _readable(tree, error.path)
        where = f"{path} (line {error.line})" if path else f"line {error.line}"
        problems.append(Problem("XSD", f"{name}: {error.message[:300]}", where))
    return _cap(problems, max(0, len(errors) - MAX_REPORTED), name)


def _streaming(content: bytes, message: str, version: int, name: str) -> list[Problem]:
    entry = "{urn:iso:std:iso:20022:tech:xsd:" + name + "}Ntry"
    try:
        for _event, el in etree.iterparse(
            io.BytesIO(content),
            events=("end",),
            tag=entry,
            schema=_libxml2(message, version),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
        ):
            el.clear()
            previous = el.getprevious()
            parent = el.getparent()
            if previous is not None and parent is not None and previous.tag == entry:
                parent.remove(previous)
    except etree.XMLSyntaxError as error:
        reason = (error.msg or "").split("\n")[0][:300]
        return [
            Problem(
                "XSD",
                f"{name}: {reason} (a large file: checking stopped at the first deviation)",
                f"line {error.lineno}",
            )
        ]
    return []
