"""WebDAV XML: reading request bodies safely and writing multistatus answers (lxml).

Request bodies are parsed without DTDs, entities or network access, and a body declaring a
DOCTYPE is refused outright (no entity expansion attack can get through); the caller bounds
the body's size before. Errors are `DavError`s, which the web layer turns into answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

from lxml import etree

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALSERVER = "http://calendarserver.org/ns/"
APPLE = "http://apple.com/ns/ical/"
NAMESPACES = {"D": DAV, "C": CALDAV, "CS": CALSERVER, "A": APPLE}

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def tag(namespace: str, name: str) -> str:
    """Clark notation, as lxml names elements: {DAV:}prop."""
    return f"{{{namespace}}}{name}"


class DavError(Exception):
    """A refusal: an HTTP status, a message for people and, for a failed precondition, the
    element naming it (RFC 4918 §16), written inside DAV:error."""

    def __init__(
        self, status: int, message: str, precondition: etree._Element | str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.precondition = precondition

    def body(self) -> bytes:
        if self.precondition is None:
            return (self.message + "\n").encode()
        error = etree.Element(tag(DAV, "error"), nsmap=NAMESPACES)
        if isinstance(self.precondition, str):
            etree.SubElement(error, self.precondition)
        else:
            error.append(self.precondition)
        etree.SubElement(error, tag(DAV, "responsedescription")).text = self.message
        return serialize(error)


def parse(body: bytes) -> etree._Element | None:
    """The root element of a request body, or None for an empty one."""
    if not body.strip():
        return None
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise DavError(400, f"The request body is not well-formed XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise DavError(400, "Request bodies with a DOCTYPE are not accepted.")
    return root


def serialize(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="utf-8")


def requested_properties(container: etree._Element | None) -> list[str] | None:
    """The property names inside a DAV:prop child of `container`, or None when it has none
    (allprop, or no body at all)."""
    if container is None:
        return None
    prop = container.find(tag(DAV, "prop"))
    if prop is None:
        return None
    return [child.tag for child in prop if isinstance(child.tag, str)]


@dataclass
class PropertyAnswer:
    """One resource in a multistatus: the properties found (with their values) and the
    names of those it does not have."""

    href: str
    found: list[etree._Element] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def multistatus(
    answers: Iterable[PropertyAnswer],
    *,
    gone: Iterable[str] = (),
    sync_token: str | None = None,
) -> etree._Element:
    """A DAV:multistatus: a response per answer (200 and 404 propstats), one per `gone` href
    (a 404 response, as sync-collection reports removed members), then the sync token."""
    root = etree.Element(tag(DAV, "multistatus"), nsmap=NAMESPACES)
    for answer in answers:
        response = etree.SubElement(root, tag(DAV, "response"))
        etree.SubElement(response, tag(DAV, "href")).text = answer.href
        for status, props in ((200, answer.found), (404, answer.missing)):
            if not props:
                continue
            propstat = etree.SubElement(response, tag(DAV, "propstat"))
            prop = etree.SubElement(propstat, tag(DAV, "prop"))
            for item in props:
                prop.append(item if not isinstance(item, str) else etree.Element(item))
            etree.SubElement(propstat, tag(DAV, "status")).text = status_line(status)
    for href in gone:
        response = etree.SubElement(root, tag(DAV, "response"))
        etree.SubElement(response, tag(DAV, "href")).text = href
        etree.SubElement(response, tag(DAV, "status")).text = status_line(404)
    if sync_token is not None:
        etree.SubElement(root, tag(DAV, "sync-token")).text = sync_token
    return root


def status_line(code: int) -> str:
    return f"HTTP/1.1 {code} {HTTPStatus(code).phrase}"


def element(name: str, text: str | None = None, *children: etree._Element) -> etree._Element:
    """A property element (Clark-notation `name`) with text or children."""
    node = etree.Element(name)
    node.text = text
    node.extend(children)
    return node


def href(url: str) -> etree._Element:
    return element(tag(DAV, "href"), url)
