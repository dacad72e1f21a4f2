"""OPML subscription lists in and out.

Usage::

    from worker.feeds import OpmlOutline, read_opml, write_opml

    outlines = read_opml(Path("subscriptions.opml").read_bytes())   # flattened, de-duplicated
    data = write_opml([OpmlOutline("https://example.com/feed.xml", title="Example")])

Reading goes through defusedxml: no entity expansion, no external DTD or entity, ever. Folders
(nested outlines) are flattened; an outline without an http(s) ``xmlUrl`` is a folder or a
bookmark, not a feed, and is skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from worker.text.normalize import squash_spaces, strip_control_chars
from worker.text.sanitize import absolute_http_url

DEFAULT_OPML_TITLE = "Storywire feeds"
_URL_ATTRS = ("xmlUrl", "xmlurl", "xmlURL", "XMLURL", "url")
_SITE_ATTRS = ("htmlUrl", "htmlurl", "htmlURL")


@dataclass(frozen=True)
class OpmlOutline:
    """One feed subscription."""

    url: str
    title: str | None = None
    site_url: str | None = None


class OpmlError(ValueError):
    """Not an OPML document we can read; ``error_class``: malformed, forbidden or not_opml."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class

    def __reduce__(self) -> tuple[type[OpmlError], tuple[str, str]]:
        return (type(self), (self.error_class, str(self)))


def read_opml(data: bytes) -> list[OpmlOutline]:
    """All feed outlines of an OPML document, in document order, each URL once."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise OpmlError("forbidden", f"OPML uses a forbidden XML feature: {err}") from None
    except ET.ParseError as err:
        raise OpmlError("malformed", f"OPML is not well-formed XML: {err}") from None
    if _local(root.tag) != "opml":
        raise OpmlError("not_opml", f"root element is <{_local(root.tag)}>, not <opml>")
    outlines: list[OpmlOutline] = []
    seen: set[str] = set()
    for element in root.iter():
        if _local(element.tag) != "outline":
            continue
        url = _feed_url(_first_attr(element, _URL_ATTRS))
        if url is None or url in seen:
            continue
        seen.add(url)
        title = _first_attr(element, ("title", "text"))
        outlines.append(
            OpmlOutline(
                url=url,
                title=squash_spaces(strip_control_chars(title)) or None if title else None,
                site_url=absolute_http_url(_first_attr(element, _SITE_ATTRS), None),
            )
        )
    return outlines


def write_opml(outlines: Iterable[OpmlOutline], *, title: str = DEFAULT_OPML_TITLE) -> bytes:
    """An OPML 2.0 document (UTF-8 bytes) listing ``outlines`` as flat RSS outlines."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = strip_control_chars(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    for outline in outlines:
        name = strip_control_chars(outline.title or outline.url)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": outline.url}
        if outline.site_url:
            attrs["htmlUrl"] = outline.site_url
        ET.SubElement(body, "outline", {k: strip_control_chars(v) for k, v in attrs.items()})
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _first_attr(element: ET.Element, names: Iterable[str]) -> str | None:
    for name in names:
        value = element.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _feed_url(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    # feed:// and feed:https://... are old subscription-link conventions for plain http(s).
    if lowered.startswith("feed:"):
        value = (
            value[5:].lstrip("/")
            if lowered.startswith(("feed:http:", "feed:https:"))
            else ("http://" + value[5:].lstrip("/"))
        )
    return absolute_http_url(value, None)
