"""Small normalizers shared by feed parsing and page extraction.

Usage::

    from worker.text.normalize import clean_authors, html_to_text

    clean_authors(["By Jane Doe and John Roe", "Staff", "desk@example.com"])
    # ['Jane Doe', 'John Roe']
    html_to_text("<p>Fish &amp; <b>chips</b></p><p>Second</p>")
    # 'Fish & chips\\n\\nSecond'

Every function here is total: bad input gives ``None`` / an empty value, never an exception,
because its input comes straight from arbitrary servers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import lxml.etree
import lxml.html

DEFAULT_MAX_AUTHOR_CHARS = 100
"""A 'name' longer than this is a sentence that landed in an author field."""
DEFAULT_MAX_AUTHORS = 50
"""Names kept from one byline, in order: beyond this it is a contributor list or junk."""

_MAX_BYLINE_CHARS = DEFAULT_MAX_AUTHORS * (DEFAULT_MAX_AUTHOR_CHARS + 10)
# C0 controls except tab/newline/carriage return, DEL, lone surrogates and the two
# noncharacters U+FFFE and U+FFFF: XML forbids controls and noncharacters, PostgreSQL text
# refuses NUL, and surrogates cannot be encoded as UTF-8.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NONCHARACTERS = ("\ufffe", "\uffff")
# The same controls as bytes of UTF-8 (where a surrogate cannot be: encoding refuses it).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# Shorter texts (titles, names, most calls) go straight to the expression: microseconds.
_CONTROL_TEST_CHARS = 4_096
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\n\s*\n+")

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "hr",
        "address",
        "main",
        "nav",
    ]
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "svg", "math")

# Author strings seen in the wild: "By Jane Doe and John Roe", "Jane Doe, John Roe",
# "Von Max Muster", "Jane Doe | Staff Writer", "jane@example.com (Jane Doe)", "Ana Caro y
# Rui Lima" (a lowercase "y" only: "Malcolm Y. Lee" keeps his initial).
_AUTHOR_SPLIT_RE = re.compile(
    r"\s*(?:;|\||/|,|\band\b|\bund\b|\bet\b|(?-i:\by\b)|&|\bwith\b)\s*", re.I
)
_AUTHOR_PREFIX_RE = re.compile(
    r"^\s*(?:(?:written|posted)\s+by|(?:geschrieben|verfasst)\s+von|by|von|vom|par|por|di"
    r"|autor(?:in)?|author|text|interview)(?:\s*[:\-]\s*|\s+)"
    # Chinese bylines label the editor, author or reporter with a full-width colon.
    r"|^\s*(?:\u8d23\u4efb\u7f16\u8f91|\u7f16\u8f91|\u4f5c\u8005|\u8bb0\u8005)\s*[:\uff1a]\s*",
    re.I,
)
# A blog theme's link to the author's archive, read as the byline: WordPress's "View all
# posts by %s" and its translations ("Alle Beiträge von %s anzeigen", "Voir tous les articles
# de %s", "Ver todas las entradas de %s", ...).
_ARCHIVE_LINK_RE = re.compile(
    r"^\s*(?:(?:view\s+|see\s+)?(?:all|more)\s+posts\s+by|(?:zeige\s+)?alle\s+beitr(?:ä|ae)ge\s+von"
    r"|(?:voir\s+)?tous\s+les\s+articles\s+de|(?:ver\s+)?todas\s+las\s+entradas\s+de"
    r"|(?:visualizza\s+)?tutti\s+gli\s+articoli\s+di|(?:bekijk\s+)?alle\s+berichten\s+van)"
    r"\s+(?P<name>.+?)(?:\s+(?:anzeigen|bekijken))?\s*$",
    re.I,
)
# A photo or illustration credit beside the byline ("Text: Eva Schmidt, Fotos: Max Muster"):
# whom it names took the pictures, not wrote the article.
_CREDIT_RE = re.compile(
    r"^\s*(?:fotos?|photos?|photography|bilder?|images?|illustrations?|grafik|video)\s*:", re.I
)
# A date's label after the name, its date gone ("Sara Zinnecker Stand: 05. Februar 2020" read
# as one text, the date dropped by trafilatura's normalization). Cut only where two words or
# more are left.
_DATE_LABEL_AFTER_RE = re.compile(
    r"\s+(?:stand|aktualisiert|ver\u00f6ffentlicht|updated|published|posted|publi\u00e9"
    r"|mis\s+\u00e0\s+jour)\s*:?\s*$",
    re.I,
)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+")
_PAREN_NAME_RE = re.compile(r"^\S+@\S+\s*\(([^)]+)\)\s*$")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
# What a CMS or a feed puts where no one signed: never an author.
_NOT_A_NAME = frozenset(
    {
        "admin", "administrator", "anonymous", "unknown", "guest", "user", "author",
        "contributor",
        # a byline's labels and buttons, read without the name beside them
        "name", "text", "interview", "follow", "datum", "date",
        # degrees a byline's comma split off the name before them
        "phd", "ph.d", "ph. d", "md", "mba", "msc", "mph", "rn",
    }
)  # fmt: skip
# An outlet's desk: the byline where no person signed ("Von Redaktion"), a role beside one
# ("Jane Doe, Staff Writer").
_DESKS = frozenset(
    {
        "staff", "staff writer", "staff reporter", "editor", "editors", "the editors",
        "redaktion", "newsroom", "news desk", "web desk", "team",
    }
)  # fmt: skip


def strip_control_chars(text: str) -> str:
    """``text`` without characters no database or XML consumer accepts (NUL, C0, surrogates,
    U+FFFE and U+FFFF)."""
    if len(text) >= _CONTROL_TEST_CHARS:
        # A whole page has none, nearly always, and the expression looks at every character
        # in turn (~0.8 ms for a 170 KB page): encoding and deleting the controls' bytes in
        # C tell that in a third of the time.
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return _CONTROL_RE.sub("", text)
        if len(data.translate(None, _CONTROL_BYTES)) == len(data) and not any(
            nonchar in text for nonchar in _NONCHARACTERS
        ):
            return text
    return _CONTROL_RE.sub("", text)


def cap(text: str | None, max_chars: int) -> str | None:
    """``text`` cut to at most ``max_chars`` characters; ``None`` stays ``None``."""
    if text is None or len(text) <= max_chars:
        return text
    return text[:max_chars]


def squash_spaces(text: str) -> str:
    """All runs of whitespace (newlines included) as one space, trimmed."""
    return " ".join(text.split())


def html_to_text(fragment: str | None, *, single_line: bool = False) -> str | None:
    """Plain text of an HTML fragment: tags stripped, entities decoded, scripts dropped.

    Block elements become paragraph breaks (a blank line); with ``single_line`` all whitespace
    is squashed to single spaces (titles). Returns ``None`` when nothing readable is left.
    """
    if not fragment:
        return None
    fragment = strip_control_chars(fragment)
    plain = "<" not in fragment and "&" not in fragment
    text = fragment if plain else _lxml_text(fragment)
    if single_line:
        text = squash_spaces(text)
    else:
        lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
        text = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()
        text = "\n\n".join(p.replace("\n", " ") for p in text.split("\n\n"))
    return text or None


def html_to_lines(fragment: str) -> str | None:
    """Plain text of an HTML fragment, one line per block element, blank lines dropped: an
    article's fallback text, from its feed entry's content, when its page gives none."""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return None
    for node in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote"):
        node.tail = "\n" + (node.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n".join(line for line in lines if line) or None


def plain_text(text: str | None, *, single_line: bool = False) -> str | None:
    """Declared plain text, tidied: entities left by double escaping decoded, controls removed,
    whitespace normalized like :func:`html_to_text`; any ``<...>`` is kept as literal text."""
    if not text:
        return None
    text = strip_control_chars(html.unescape(text) if "&" in text else text)
    if single_line:
        return squash_spaces(text) or None
    paragraphs = [squash_spaces(p) for p in _BLANK_LINES_RE.split(text)]
    return "\n\n".join(p for p in paragraphs if p) or None


def _lxml_text(fragment: str) -> str:
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        # Unparseable markup: fall back to the raw string rather than losing the field.
        return fragment
    for bad in root.iter(*_DROP_TAGS):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            # Surround blocks by blank lines so "<p>a</p><p>b</p>" does not read "ab".
            element.tail = "\n\n" + (element.tail or "")
            element.text = "\n\n" + (element.text or "")
    return str(root.text_content())


def clean_authors(raw: Iterable[str | None] | str | None) -> list[str]:
    """Clean person names from author strings: split lists, drop bylines' "By", roles,
    e-mail addresses and URLs; keep order, drop duplicates (case-insensitive). An outlet's
    desk ("Redaktion", "Staff") stays only where no person signed."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    names: list[str] = []
    seen: set[str] = set()
    for item in items:
        if not item or not isinstance(item, str):
            continue
        if len(names) >= DEFAULT_MAX_AUTHORS:
            break
        # Enough text for every name still wanted; the part cut in two is dropped below.
        cut = len(item) > _MAX_BYLINE_CHARS
        item = strip_control_chars(item[:_MAX_BYLINE_CHARS])
        paren = _PAREN_NAME_RE.match(item.strip())
        if paren:  # RSS style "jane@example.com (Jane Doe)"
            item = paren.group(1)
        item = _URL_RE.sub(" ", _EMAIL_RE.sub(" ", item))
        parts = _AUTHOR_SPLIT_RE.split(item)
        for part in parts[:-1] if cut else parts:
            name = _clean_name(part)
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                names.append(name)
    people = [name for name in names if name.casefold() not in _DESKS]
    return (people or names)[:DEFAULT_MAX_AUTHORS]


def _clean_name(part: str) -> str | None:
    name = squash_spaces(part)
    if _CREDIT_RE.match(name):
        return None
    archive = _ARCHIVE_LINK_RE.match(name)
    if archive:
        name = archive.group("name")
    previous = None
    while previous != name:  # "By: by Jane" and similar stacked prefixes
        previous = name
        name = _AUTHOR_PREFIX_RE.sub("", name)
    dated = _DATE_LABEL_AFTER_RE.sub("", name)
    if len(dated.split()) >= 2:  # "Kurt Stand" is a name
        name = dated
    name = name.strip(" -\u2013\u2014:\u00b7\u2022,.()[]\"'@")
    if not name or len(name) > DEFAULT_MAX_AUTHOR_CHARS:
        return None
    if name.casefold() in _NOT_A_NAME or not any(ch.isalpha() for ch in name):
        return None
    return name
