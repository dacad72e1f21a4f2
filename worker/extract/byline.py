"""Title, authors, description and site name of a page, by trafilatura's own readers.

Usage::

    from worker.extract.byline import read_byline

    byline = read_byline(tree)
    byline.title, byline.author, byline.description, byline.sitename

The same readers, in the same order, as ``trafilatura.extract_metadata`` (meta tags and
OpenGraph, then JSON-LD, then the page's ``<h1>``/``<title>`` and byline markup) without
what that function adds and Storywire does not use: categories, tags, licence and URL
detection, and an htmldate scan of every page (dates are :mod:`worker.extract.dates`'s
job, which scans only the pages nothing else dates). Together those cost about a fifth of
an extraction (``docs/extraction.md``). Only reads the tree: the readers copy what they prune.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from collections.abc import Iterator
from copy import deepcopy
from itertools import accumulate
from typing import Any, cast

from lxml import etree
from lxml.html import HtmlElement
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
)
from trafilatura.utils import trim
from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS, AUTHOR_XPATHS

from worker.extract.headline import Surroundings
from worker.extract.site import letters
from worker.text.normalize import clean_authors


def read_byline(tree: HtmlElement) -> Any:
    """A ``trafilatura.settings.Document`` with ``title``, ``author``, ``description`` and
    ``sitename`` filled where the page has them (entities decoded, whitespace trimmed)."""
    document = examine_meta(tree)
    if document.author and " " not in document.author:
        document.author = None  # a single word is a handle or a role, not a name
    # Malformed JSON-LD that trafilatura's reader trips on: what the meta tags said stays.
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, RecursionError):
        document = extract_meta_json(tree, document)
    document.title = document.title or extract_title(tree)
    document.author = document.author or _author_from_markup(tree)
    document.sitename = (document.sitename or _sitename_in_title(tree) or "").lstrip("@") or None
    document.clean_and_trim()
    return document


# An initial's full stop ("R. K. Lilley"): a letter standing alone before it, a space after.
_INITIAL = re.compile(r"(?<!\w)[^\W\d_]\.(?=\s)")


def _sitename_in_title(tree: HtmlElement) -> str | None:
    """``extract_sitename``'s part of the ``<title>`` (the first or last: "Headline -
    zeit.de", "Markt - Wehranlage Horka e.V."), unless its only full stops are initials' or
    its last. trafilatura takes any part with a full stop in it: a title "Love is War -
    Sehnsucht von R. K. Lilley" made the book's author the site's name, and the title then
    lost that part as the site's."""
    found = extract_sitename(tree)
    return found if found and "." in _INITIAL.sub("", found).rstrip(".") else None


# ``extract_author`` copies the whole tree, prunes the copy and runs three XPaths over it:
# 10-15 ms a page, most of it lxml calling a Python function for each ``re:test`` on each
# element. Every one of its expressions needs an element named ``author`` (or ``rel``: the
# first expression's ``rel='me'`` tests a child element) or one of these attributes holding
# one of these words, whatever the case (``tests/worker/extract/test_byline.py`` checks the
# words against trafilatura's expressions). So the few elements that hold one are found in
# one C-level pass over the attribute values, and trafilatura's own expressions are then run
# on those elements alone (``_author_from_markup``).
_AUTHOR_ATTRIBUTE_NAMES = ("class", "id", "rel", "itemprop", "data-testid", "data-component")
_AUTHOR_WORDS = (
    "author",
    "bbl",
    "bianji",
    "byl",  # byl, byline
    "channel-name",
    "journalist-name",
    "posted-by",
    "screenname",
    "submitted-by",
    "username",
    "writer",
    "xiaobian",
    "zuozhe",
)
# The values of those attributes, in document order, within the tree (which may be an element
# of a larger document): as plain strings (cheap) to see whether any holds a word, and as
# strings that know their element to find which.
_ATTRIBUTES_PATH = "|".join(f"descendant-or-self::*/@{name}" for name in _AUTHOR_ATTRIBUTE_NAMES)
_AUTHOR_VALUES = etree.XPath(_ATTRIBUTES_PATH, smart_strings=False)
_AUTHOR_VALUE_HOLDERS = etree.XPath(_ATTRIBUTES_PATH)
_AUTHOR_ELEMENTS = etree.XPath("descendant-or-self::author|descendant-or-self::*[rel]")
# The expressions test case-sensitively, for ASCII letters in some case: lowering ASCII letters
# only (which keeps every offset) finds a superset of what they match.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# extract_author's ``len_limit``: longer texts are not a byline.
_AUTHOR_MAX_CHARS = 120
# Bounds of the search on candidates, beyond which trafilatura's one pass over the page costs
# less: a hostile page can hold thousands of candidates, or nest them so that each copy holds
# the rest (quadratic). Real pages: at most 164 candidates, 2,144 elements below them all
# (the 2,075 corpus pages).
_MAX_CANDIDATES = 400
_MAX_COPIED_ELEMENTS = 5_000
_DESCENDANTS = etree.XPath("count(descendant::*)")


def _author_from_markup(tree: HtmlElement) -> str | None:
    """What ``trafilatura.metadata.extract_author(tree)`` returns, at a fraction of its cost.

    It returns the text of the first element, expression by expression in document order,
    that survives its pruning (``AUTHOR_DISCARD_XPATHS``: comments, sidebars, dates,
    figures) and is 3-119 characters long. Here the same expressions and pruning run on the
    candidates alone: an element matches by its own tag and attributes (and a ``rel``
    child), it is pruned when it or an ancestor below the root is, and its text is read from
    a pruned copy of it alone, which deletes the same descendants and joins the same tails.
    Past ``_MAX_CANDIDATES`` or ``_MAX_COPIED_ELEMENTS``, trafilatura's own search runs."""
    found = _author_candidates(tree)
    if not found:
        return None
    if len(found) > _MAX_CANDIDATES:
        return extract_author(tree)
    # In document order, as the expressions return their matches.
    candidates = sorted(found, key=_document_position)
    lone = {element: _lone_copy(element) for element in candidates}
    pruned = _Pruned(tree)
    budget = _MAX_COPIED_ELEMENTS
    for expression in AUTHOR_XPATHS:
        for element in candidates:
            if not _selects(expression, lone[element], lone[element]) or pruned(element):
                continue
            budget -= 1 + int(cast(float, _DESCENDANTS(element)))
            if budget < 0:
                return extract_author(tree)
            copy = prune_unwanted_nodes(deepcopy(element), AUTHOR_DISCARD_XPATHS)
            content = trim(" ".join(copy.itertext()))
            if content and 2 < len(content) < _AUTHOR_MAX_CHARS:
                return normalize_authors(None, content)
    return None


def _author_candidates(tree: HtmlElement) -> list[HtmlElement]:
    """The elements an author expression may match, each once."""
    found = cast(list[HtmlElement], _AUTHOR_ELEMENTS(tree))
    values = cast(list[str], _AUTHOR_VALUES(tree))
    joined = "\n".join(values).translate(_ASCII_LOWER)
    offsets = [at for word in _AUTHOR_WORDS for at in _occurrences(joined, word)]
    if offsets:
        ends = list(accumulate(len(value) + 1 for value in values))
        holders = cast(list[Any], _AUTHOR_VALUE_HOLDERS(tree))
        found.extend(holders[bisect_right(ends, at)].getparent() for at in offsets)
    return list(dict.fromkeys(found))


def _occurrences(text: str, word: str) -> Iterator[int]:
    at = text.find(word)
    while at != -1:
        yield at
        at = text.find(word, at + len(word))


def _document_position(element: HtmlElement) -> list[int]:
    position = []
    parent = element.getparent()
    while parent is not None:
        position.append(parent.index(element))
        element, parent = parent, parent.getparent()
    return position[::-1]


def _lone_copy(element: HtmlElement) -> HtmlElement:
    """``element``'s tag and attributes, and its ``rel`` children, without the rest of its
    subtree: what the expressions test of an element, at the cost of a few attributes."""
    try:
        lone = etree.Element(element.tag, dict(element.attrib))
    except ValueError:  # a tag name lxml's API refuses (``<fb:like>``): the whole subtree
        return cast(HtmlElement, deepcopy(element))
    for child in element.iterchildren("rel"):
        lone.append(deepcopy(child))
    return cast(HtmlElement, lone)


def _selects(expression: etree.XPath, context: HtmlElement, element: HtmlElement) -> bool:
    """Whether ``expression``, evaluated at ``context``, selects ``element`` itself."""
    return any(match is element for match in cast(list[Any], expression(context)))


class _Pruned:
    """Whether ``AUTHOR_DISCARD_XPATHS`` deletes an element of ``tree`` (or an ancestor of
    it) from ``extract_author``'s copy of the page; remembered per element, since the
    candidates share their ancestors."""

    def __init__(self, tree: HtmlElement) -> None:
        self._root = tree
        self._known: dict[HtmlElement, bool] = {}

    def __call__(self, element: HtmlElement) -> bool:
        chain = []
        node: HtmlElement | None = element
        pruned = False
        # The root is never deleted: the relative expression looks below it, and
        # ``delete_element`` leaves an element without a parent where it is.
        while node is not None and node is not self._root:
            known = self._known.get(node)
            if known is not None:
                pruned = known
                break
            chain.append(node)
            if self._discarded(node):
                pruned = True
                break
            node = node.getparent()
        for visited in chain:
            self._known[visited] = pruned
        return pruned

    @staticmethod
    def _discarded(node: HtmlElement) -> bool:
        # Below a stand-in parent, as in the page: the first expression looks at descendants.
        holder = etree.Element("div")
        lone = _lone_copy(node)
        holder.append(lone)
        return any(_selects(expression, holder, lone) for expression in AUTHOR_DISCARD_XPATHS)


# A name with an initial or a generational suffix: trafilatura's author normalization takes
# the dots out of them ("Leah C. Stokes" -> "Leah C Stokes", "Perry Bacon Jr.").
_BARE_INITIAL = re.compile(r"(?:^|\s)(?:\w|Jr|Sr)(?=\s|$)")


def with_initials(names: list[str], page: str) -> list[str]:
    """``names`` with the dots of their initials back where the ``page`` (its HTML) spells
    the same words in the same order with dots between them: "Leah C Stokes" -> "Leah C.
    Stokes", "R C Baker" (the page: "R.C. BAKER") -> "R. C. Baker". Only dots are added; the
    words and their case stay trafilatura's."""
    return [_with_dots(name, page) for name in names]


def with_page_case(names: list[str], page: str) -> list[str]:
    """``names`` in the case the ``page`` (its HTML) writes them, where the page does not
    write them as they are and writes them in one other case only: trafilatura's
    normalization capitalises a blog's handle ("karstenruppert" -> "Karstenruppert",
    "der Michel" -> "Der Michel"). Only the case changes, never a letter, and a name of
    several words keeps a capital."""
    return [_page_case(name, page) for name in names]


def _page_case(name: str, page: str) -> str:
    if not name or name in page:
        return name
    pattern = r"\s+".join(re.escape(word) for word in name.split())
    spellings = {
        " ".join(found.group(0).split())
        for found in re.finditer(rf"(?<!\w){pattern}(?!\w)", page, re.IGNORECASE)
    }
    if len(spellings) != 1:
        return name
    spelt = spellings.pop()
    # A handle is written in lowercase; a person's name is not ("giampiero maggio" is a URL's
    # or a search index's spelling of one).
    if " " in spelt and spelt == spelt.lower():
        return name
    return spelt


def _with_dots(name: str, page: str) -> str:
    words = name.split()
    if len(words) < 2 or not _BARE_INITIAL.search(name):
        return name
    # Dots and spaces between the words ("R.C. Baker" as well as "R. C. Baker"), and what
    # follows the last one.
    pattern = r"[\s.]*".join(f"({re.escape(word)})" for word in words)
    found = re.search(rf"(?<![\w.]){pattern}([\s.]?)(?!\w)", page, re.IGNORECASE)
    if found is None:
        return name
    n = len(words)
    after = [page[found.end(i) : found.start(i + 1)] for i in range(1, n)] + [found.group(n + 1)]
    # A dot after an initial is its own; one after a full word would end a sentence.
    return " ".join(
        word + "." if "." in sep and _BARE_INITIAL.fullmatch(f" {word}") else word
        for word, sep in zip(words, after, strict=True)
    )


# The byline a reader sees under the headline: a label ("By", "Von", "Par", "Author:", ...)
# and the names after it, in the same text ("By Ann Writer | 3 June") or in the next one
# ("by", then "<a>ann</a>": blogs link a handle). Page text, so only where it reads as a
# byline: a name's words capitalised (lowercase particles between them: "Justus von
# Daniels"), and after the names only a separator, a date or the start of "on 3 June".
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0100-\u017f\u0391-\u03a9\u0401-\u042f"
# ("y" joins names, as in "Caro y Latorre": as a particle too, a list of names could be read
# in exponentially many ways by the expression below.)
_PARTICLE = r"(?:von|van|der|den|de|da|di|del|della|la|le|du|dos|das|bin|al|ten|ter|zu|vom)"
_NAME_WORD = rf"[{_UPPER}][\w'\u2019.\-]*"
_NAME = rf"{_NAME_WORD}(?:\s+(?:{_PARTICLE}\s+)*{_NAME_WORD}){{0,3}}"
_NAMES = rf"{_NAME}(?:(?:\s*,\s*|\s+(?:und|and|&|et|y)\s+){_NAME})*"
# Words that caption a name, with a colon ("Autor: ...") or, in a text of their own, without.
_CAPTIONS = r"autor(?:in|en)?|authors?|verfasser(?:in)?"
_LABEL = (
    r"(?i:(?:(?:posted|written|geschrieben|verfasst|erstellt|publi\u00e9|publicado"
    r"|ein\s+artikel|ein\s+beitrag|text|artikel|beitrag|article|story|reported)\s+)?"
    r"(?:by|von|par|por|door|di|av|af)"
    rf"|(?:{_CAPTIONS}|auteur|autore|text|redaktion|written\s+by|by|von)\s*:)"
)
_LEAD = r"^[\s\u00b7|\u2022/,\u2013\u2014\-]*"
_LABEL_ALONE = re.compile(rf"{_LEAD}{_LABEL}[\s:]*$")
_CAPTION_ALONE = re.compile(rf"{_LEAD}(?i:{_CAPTIONS})\s*$")
_LABELLED_NAMES = re.compile(rf"{_LEAD}{_LABEL}\s+(?P<names>{_NAMES})(?P<rest>.*)$", re.DOTALL)
_AFTER_NAMES = re.compile(
    r"\s*(?:$|[|\u00b7\u2022,/\u2013\u2014\-(]|\d|(?:am|on|le|el|il|under|in|im|op)\b)", re.I
)
_DATE_AFTER_COMMA = re.compile(r"\s*,\s*\d")
# "Posted on September 21, 2020 by Adi Tzlil", "06.11.2023 13:30 von Olga": a date, then the
# label. The date must spell a year or a numeric day ("10-in-1 ... von Wellaflex" is not one).
_DATED_LABEL = re.compile(
    rf"^(?i:(?:posted|published|ver\u00f6ffentlicht)\s+(?:on|am)\s+)?"
    rf"(?P<date>[^|]{{0,40}}?)\s{_LABEL}\s+(?P<names>{_NAMES})(?P<rest>.*)$",
    re.DOTALL,
)
_A_DATE = re.compile(r"(?<!\d)(?:(?:19|20)\d\d|\d{1,2}\.\d{1,2}\.\d{2,4})(?!\d)")
_NAMES_ALONE = re.compile(_NAMES)
_HANDLE = re.compile(r"[\w.\-'\u2019]{3,40}")
DEFAULT_MAX_BYLINE_CHARS = 200
"""A longer text is a paragraph, not a byline: it is not read for names (which also bounds
the expressions' work on a hostile page)."""


def shown_authors(around: Surroundings) -> list[str]:
    """The names of the byline shown beside the headline (below it first), cleaned as every
    author is (:func:`worker.text.normalize.clean_authors`), or ``[]``."""
    for texts in (around.texts_below, around.texts_above):
        for i, text in enumerate(texts):
            if len(text) > DEFAULT_MAX_BYLINE_CHARS:
                continue
            named = _named_after(text, texts[i + 1]) if i + 1 < len(texts) else None
            if named is not None:
                return clean_authors([named])
            found = _LABELLED_NAMES.match(text) or _DATED_LABEL.match(text)
            if found is not None and _reads_as_byline(found):
                return clean_authors([found.group("names")])
    return []


def _named_after(label: str, following: str) -> str | None:
    """The name in ``following`` when ``label`` is a label standing alone: names or a blog's
    handle after "by" or "Autor:"; after a bare caption ("Autor", no colon: also a menu's or
    a widget's heading, "Autor" over "Suche"), only a person's name of two words or more."""
    if len(following) > DEFAULT_MAX_BYLINE_CHARS:
        return None
    if _LABEL_ALONE.match(label):
        if _NAMES_ALONE.fullmatch(following) or (
            _HANDLE.fullmatch(following) and not following.isdigit()
        ):
            return following
    elif _CAPTION_ALONE.match(label):
        name = following.rstrip(": ")
        if len(name.split()) >= 2 and _NAMES_ALONE.fullmatch(name):
            return name
    return None


def _reads_as_byline(found: re.Match[str]) -> bool:
    """Whether a label's names end a byline: what precedes the label, if anything, is a date;
    what follows the names ends it. One word and a comma must be followed by a date ("Von
    Redaktion, 3. Juni"): "By Tuesday, officials expect ..." and "Di Jakarta, hujan ..."
    (Indonesian "in") are sentences."""
    names, rest = found.group("names"), found.group("rest")
    if "date" in found.re.groupindex and not _A_DATE.search(found.group("date")):
        return False
    if not _AFTER_NAMES.match(rest):
        return False
    if " " not in names.strip() and rest.lstrip().startswith(","):
        return bool(_DATE_AFTER_COMMA.match(rest))
    return True


def prefer_shown(found: list[str], shown: list[str]) -> list[str]:
    """The authors of a page: what its byline shows (``shown``) over what its markup and
    metadata name (``found``), unless they name the same person. The markup names a theme's
    author, a commenter, a CMS account or the outlet as often as the writer; the byline under
    the headline is the one the reader is given. The same person (the byline's first name
    and one of ``found`` share all the words of the shorter): ``found`` stands, as it may name
    more people, with that name as the page spells it ("Zahlenzauberin" -> "zahlenzauberin")
    or in full, one word more ("Todd" -> "Todd Bates"; not "Jim Heintz" -> "JIM HEINTZ
    Associated Press")."""
    if not shown or not found:
        return shown or found
    first = shown[0]
    first_words = {letters(word) for word in first.split()}
    for i, name in enumerate(found):
        words = {letters(word) for word in name.split()}
        fuller = words < first_words and len(first_words - words) == 1
        if letters(name) == letters(first) or fuller:
            return [*found[:i], first, *found[i + 1 :]]
        if first_words <= words or words <= first_words:
            return found
    return shown
