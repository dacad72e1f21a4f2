"""A page's headline out of its ``<title>``: the site's name and other parts taken off.

Usage::

    site = SiteNames("The Harbour Times", ["https://harbourtimes.example/a/1"])
    clean_title("Locks reopen | The Harbour Times", site=site, headings=page_headings(tree))
    # -> "Locks reopen"

Pages title themselves "headline | site", "site - headline", "headline - section - site".
trafilatura keeps the whole ``<title>`` (or ``og:title``) when that is all the page has, and
a stored title with the outlet's name in it is wrong twice: for the consumers that show it,
and for the story step, which weighs title words above the body's (every article of an
outlet would share its name's terms). A part is only taken off on evidence from the page
itself, never because of its position alone:

1. A first or last part that *names the site* (``worker.extract.site``): the same letters
   and digits (case, spacing and punctuation aside) as the page's site name
   (``og:site_name``, ``application-name``) or its host ("evang.at"), or a short part
   holding the host's name ("The Japan Times" on japantimes.co.jp).
2. Then the run of what is left that the page's ``<h1>`` spells (its own headline), split
   at the same separators and after a kicker's colon ("Analysis: ..."), provided no part it
   leaves out is longer: a site logo set in an ``<h1>`` must not become the title.

On the trafilatura evaluation pages with a gold title (``bench/extraction_eval.py``), exact
titles went from 0.587 to 0.725 on the half the rules were chosen on and from 0.567 to 0.714
on the other half (docs/extraction.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml.html import HtmlElement

from worker.extract.site import SiteNames, letters

# Separators between spaces ("Coca-Cola" and "24/7" are words, " - " is not), and a bar with
# or without them (no word holds one). Dashes (en, em), middle dot, bullet, star operator,
# single and double right-pointing angle quotes.
_SEPARATOR = re.compile(
    r"(\s*\|\s*|\s+(?:-|\u2013|\u2014|\u00b7|\u2022|\u22c6|\u203a|\u00bb|::|/|~|\\)\s+)"
)

# Where the page's <h1> may start or end inside a title: the separators above, and a colon
# after a kicker ("Analysis: ...", "Klimaschutz: ..."). Only a heading spelling the rest
# takes a kicker off: on its own a colon is part of many headlines.
_HEADING_SEPARATOR = re.compile(_SEPARATOR.pattern[:-1] + r"|:\s+)")

DEFAULT_HEADINGS = 5
"""How many of a page's ``<h1>`` elements its headline is looked for among."""

DEFAULT_MAX_HEADING_PARTS = 12
"""A title split into more parts than this is not searched for its ``<h1>``: every run of
parts is a candidate, so the search grows with the cube of the parts (a hostile
"a - a - a ..." title of 2,000 characters would take seconds). Real titles have a few."""


def clean_title(title: str | None, *, site: SiteNames, headings: Sequence[str]) -> str | None:
    """``title`` without the parts that name the ``site``, or the run of its parts that one
    of the page's ``headings`` spells. A title with one part, or whose parts all name the
    site, is returned as it is."""
    if not title:
        return title
    pieces = _SEPARATOR.split(title)
    parts, separators = pieces[0::2], pieces[1::2]
    while len(parts) > 1 and site.named_by(parts[-1]):
        parts.pop()
        separators.pop()
    while len(parts) > 1 and site.named_by(parts[0]):
        parts.pop(0)
        separators.pop(0)
    left = _join(parts, separators, 0, len(parts))
    spelled = {letters(h) for h in headings} - {""}
    pieces = _HEADING_SEPARATOR.split(left) if spelled else [left]
    if 1 < len(pieces) <= 2 * DEFAULT_MAX_HEADING_PARTS - 1:
        headline = _headline_run(pieces[0::2], pieces[1::2], spelled)
        if headline is not None:
            return headline
    return left


def page_headings(tree: HtmlElement) -> list[str]:
    """The texts of a parsed page's first ``DEFAULT_HEADINGS`` ``<h1>`` elements."""
    found = []
    for element in tree.iter("h1"):
        text = " ".join(element.text_content().split())
        if text:
            found.append(text)
            if len(found) == DEFAULT_HEADINGS:
                break
    return found


def _headline_run(parts: list[str], separators: list[str], headings: set[str]) -> str | None:
    """The longest run of ``parts`` (not all of them) that a heading spells, and that leaves
    out no part longer than itself."""
    best: str | None = None
    for start in range(len(parts)):
        for end in range(start + 1, len(parts) + 1):
            if end - start == len(parts):
                continue
            run = _join(parts, separators, start, end)
            left_out = parts[:start] + parts[end:]
            if any(len(part) > len(run) for part in left_out):
                continue
            if letters(run) in headings and (best is None or len(run) > len(best)):
                best = run
    return best


def _join(parts: list[str], separators: list[str], start: int, end: int) -> str:
    """``parts[start:end]`` with the separators that stood between them."""
    joined = parts[start]
    for i in range(start + 1, end):
        joined += separators[i - 1] + parts[i]
    return joined
