"""Parsing XML that strangers send (a SAML Response posted by a browser) or that a tenant's
admin pastes or points at (IdP metadata), with everything that made XML parsers attack
surfaces turned off.

* A ``<!DOCTYPE`` anywhere is refused before parsing: SAML never needs one, and DTDs carry
  internal entities (billion laughs), external entities (XXE) and parameter entities.
* The parser itself resolves no entities, loads no DTD, reaches no network, keeps no
  comments or processing instructions as text (``victim@example.com<!---->.evil.test``
  must never read as ``victim@example.com``: see ``text_of``) and refuses huge trees.
* The document's size and its depth are bounded.
* XInclude is never processed (lxml does so only when asked); XSLT transforms in a signature
  are refused by signxml, which knows none.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lxml import etree

from app.errors import AppError

MAX_DOCUMENT_BYTES = 512 * 1024
MAX_DEPTH = 64

# "<!DOCTYPE" in any case, with any whitespace after "<!" (XML allows none, but refusing
# the variants costs nothing); encoded forms (UTF-16) are refused by the ASCII check below.
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


class UnsafeXmlError(AppError):
    """The XML was refused before or while parsing; the message says why, and never echoes
    the document."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=400)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_untrusted(document: bytes) -> etree._Element:
    """The document's root element, or ``UnsafeXmlError``."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise UnsafeXmlError("the XML document is too large")
    if document.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in document[:64]:
        # UTF-16 would hide a DOCTYPE from the check below; SAML is UTF-8 in practice.
        raise UnsafeXmlError("the XML document must be UTF-8")
    if _DOCTYPE.search(document) or _ENTITY.search(document):
        raise UnsafeXmlError("the XML document has a DOCTYPE, which SAML never needs")
    try:
        root = etree.fromstring(document, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise UnsafeXmlError("the XML document is not well-formed") from e
    if root is None:
        raise UnsafeXmlError("the XML document is empty")
    if _too_deep(root):
        raise UnsafeXmlError("the XML document is nested too deeply")
    return root


def _too_deep(root: etree._Element) -> bool:
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def text_of(element: etree._Element | None) -> str | None:
    """An element's text content, only when it is one text node: an element whose text is
    split (by a comment the parser dropped, a processing instruction, or a child element)
    is refused with None, so that no reader can take the first part for the whole."""
    if element is None:
        return None
    if len(element):
        return None
    return (element.text or "").strip()


def xs_datetime(value: str | None) -> datetime | None:
    """An xs:dateTime attribute (``2026-12-06T21:30:00Z``) as an aware datetime, None when
    absent; ``ValueError`` when unreadable. One without a zone is taken as UTC, as SAML
    requires UTC throughout (SAML Core 1.3.3)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
