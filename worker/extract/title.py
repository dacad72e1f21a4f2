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
2. Then the run of what is left that one of the page's ``<h1>``/``<h2>`` spells (its own
   headline), split at the same separators and after a kicker's colon ("Analysis: ...").
   A run leaving out a longer part must be an ``<h1>`` of two words or more, and not a
   kicker itself: a one-word logo, a sidebar's ``<h2>`` ("Local News") or the kicker's own
   heading is not the title, but in "Headline | A longer description of the site" the
   headline is.
3. Spelt as a heading spells it, when one has the same letters and as many words: ``og:title``
   is often typed for sharing, with straight quotes and hyphens where the visible headline
   has the typographer's curly quotes, en dashes and ellipses.
4. The page's only ``<h1>``, where the title spells it and a little more ("... Rezept",
   "Receita de ...", "... (neues deutschland)"): at least half the title's letters, two
   words or more, not the site's name.
5. A title that only names the site (a blog's logo is its only ``<h1>``, which trafilatura
   takes), or that none of the page's own titles holds (a category's or a menu's ``<h1>``:
   "Allgemein", "Hauptmenü"), gives way to the page's own titles (``<title>``, ``og:title``,
   ``twitter:title``), cleaned the same way, when that comes to one of its headings' words.
6. The page's first ``<h1>``, where it words the same headline otherwise: ``og:title`` is
   often a second wording, typed for search or sharing ("Brexit: Nervenkrieg geht in nächste
   Runde" over "Der Nervenkrieg um den Brexit geht in die nächste Runde"). The two share a
   word of four letters or more, neither holds the other, and the ``<h1>`` is two words or
   more, half the title's letters or more, and not the site's name. (Any later ``<h1>`` that
   does so is as often a related story's headline.)

Before all that, a title cut short at a double quote (an attribute written with the quote
unescaped) is taken whole from the ``<title>`` or a heading that goes on with the quote.

On the trafilatura evaluation pages with a gold title (``bench/extraction_eval.py``), exact
titles went from 0.587 to 0.829 on the half the rules were chosen on and from 0.567 to 0.815
on the other half (docs/extraction.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from lxml.html import HtmlElement

from worker.extract.headline import page_titles
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
"""How many of a page's ``<h1>`` elements, and of its ``<h2>``, its headline is looked for
among."""

DEFAULT_H1_INSIDE_SHARE = 0.5
"""A page's only ``<h1>`` inside its title is the headline when it holds at least this share
of the title's letters (a shorter one is a section or a logo)."""

DEFAULT_PAGE_TITLES = 3
"""How many of the page's own titles (``<title>``, ``og:title``, ``twitter:title``) are read:
what a title is looked for in, and what a title naming only the site may give way to."""

DEFAULT_SHARED_WORD_CHARS = 4
"""The page's first ``<h1>`` words the headline otherwise than its ``og:title`` only if the
two share a word this long (shorter ones are "the", "der", "in")."""

_WORD = re.compile(r"\w+")

DEFAULT_MAX_TITLE_CHARS = 2_000
"""A page's ``<title>`` or ``og:title`` is cut to this length before it is looked at; a
longer heading is not read."""

DEFAULT_MAX_HEADING_PARTS = 12
"""A title split into more parts than this is not searched for its ``<h1>``: every run of
parts is a candidate, so the search grows with the cube of the parts (a hostile
"a - a - a ..." title of 2,000 characters would take seconds). Real titles have a few."""


class PageHeadings(NamedTuple):
    """The texts of a page's first ``<h1>`` and ``<h2>`` elements, and its own titles
    (``<title>``, ``og:title``, ``twitter:title``: :func:`page_headings`)."""

    h1: Sequence[str]
    h2: Sequence[str] = ()
    titles: Sequence[str] = ()


def clean_title(title: str | None, *, site: SiteNames, headings: PageHeadings) -> str | None:
    """``title`` without the parts that name the ``site``, or the run of its parts that one
    of the page's ``headings`` spells, as that heading spells it. A title with one part, or
    whose parts all name the site, keeps its words, unless one of the page's other titles
    (``headings.titles``) comes to a heading's words: a blog's logo ``<h1>`` is its only
    ``<h1>``, which trafilatura takes for the title. The same when none of the page's titles
    holds the title: a category or a menu's ``<h1>`` ("Allgemein", "Hauptmenü"). And the
    page's first ``<h1>`` where it words the same headline otherwise (``_reworded``)."""
    if title:
        title = _uncut(title, [*headings.titles, *headings.h1, *headings.h2])
    cleaned = _clean_title(title, site=site, headings=headings)
    if cleaned and len(headings.h1) == 1:
        cleaned = _h1_inside(cleaned, " ".join(headings.h1[0].split()), site)
    # A title that names the site, or that none of the page's own titles holds: a category or
    # a menu trafilatura took from an <h1> ("Allgemein", "Hauptmenü", "Pressemitteilungen").
    if cleaned and (site.named_by(cleaned) or not _in_titles(cleaned, headings.titles)):
        spelled = {letters(h) for h in [*headings.h1, *headings.h2]} - {letters(cleaned), ""}
        for other in headings.titles:
            found = _clean_title(other, site=site, headings=headings)
            if found and letters(found) in spelled:
                return found
    if cleaned and headings.h1 and _reworded(cleaned, headings.h1[0], site):
        return headings.h1[0]
    return cleaned


def _reworded(title: str, h1: str, site: SiteNames) -> bool:
    """Whether the page's first ``<h1>`` words its headline otherwise than ``title``: "Der
    Nervenkrieg um den Brexit geht in die nächste Runde" against "Brexit: Nervenkrieg geht in
    nächste Runde" from ``og:title``. A title typed for search or sharing is the page's second
    wording; the one the reader sees is the headline. The two must share a word of
    :data:`DEFAULT_SHARED_WORD_CHARS` letters or more (an ``<h1>`` about something else is a
    logo or a section), neither may hold the other (a kicker or a site part, which the rules
    above take off), and the ``<h1>`` must be two words or more, at least
    :data:`DEFAULT_H1_INSIDE_SHARE` of the title's letters ("US Election 2024" is a topic
    page's heading), and not name the site."""
    inner, outer = letters(h1), letters(title)
    if not inner or inner in outer or outer in inner or len(h1.split()) < 2:
        return False
    if len(inner) < DEFAULT_H1_INSIDE_SHARE * len(outer):  # a section's or a topic's <h1>
        return False
    if site.named_by(h1) or site.named_by(h1.split()[0]):
        return False
    return bool(_long_words(h1) & _long_words(title))


def _long_words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text) if len(w) >= DEFAULT_SHARED_WORD_CHARS}


def _uncut(title: str, others: Sequence[str]) -> str:
    """The first of ``others`` that goes on from ``title`` with a double quote, else
    ``title``. A headline with a double quote written unescaped into an attribute
    (``<meta property="og:title" content="Senator calls Biden "unfit"">``) ends where the quote
    opens; the ``<title>`` or a heading has it whole."""
    for other in others:
        rest = other[len(title) :] if other.startswith(title) else ""
        if rest.lstrip().startswith('"'):
            return other
    return title


def _in_titles(title: str, titles: Sequence[str]) -> bool:
    own = letters(title)
    return any(own in letters(other) for other in titles if other)


def _clean_title(title: str | None, *, site: SiteNames, headings: PageHeadings) -> str | None:
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
    h1 = {letters(h) for h in headings.h1} - {""}
    spelled = h1 | {letters(h) for h in headings.h2} - {""}
    pieces = _HEADING_SEPARATOR.split(left) if spelled else [left]
    if 1 < len(pieces) <= 2 * DEFAULT_MAX_HEADING_PARTS - 1:
        headline = _headline_run(pieces[0::2], pieces[1::2], spelled, h1)
        if headline is not None:
            left = headline
    return _as_spelt(left, [*headings.h1, *headings.h2])


def _h1_inside(title: str, h1: str, site: SiteNames) -> str:
    """The page's only ``<h1>`` where ``title`` spells it and a little more: "Schneewittchen-
    Kuchen mit Mini-Marshmallows Rezept", "Receita de Sequilho com Chocolate Amargo". The
    ``<h1>`` must be of two words or more, at least :data:`DEFAULT_H1_INSIDE_SHARE` of the
    title's letters, and not the site's name."""
    inner, outer = letters(h1), letters(title)
    if (
        inner
        and inner != outer
        and inner in outer
        and len(inner) >= DEFAULT_H1_INSIDE_SHARE * len(outer)
        and len(h1.split()) >= 2
        and not site.named_by(h1)
    ):
        return h1
    return title


def page_headings(tree: HtmlElement) -> PageHeadings:
    """The texts of a parsed page's first ``DEFAULT_HEADINGS`` ``<h1>`` and ``<h2>``, and of
    its own titles (:func:`worker.extract.headline.page_titles`)."""
    titles = [
        " ".join(title.split())[:DEFAULT_MAX_TITLE_CHARS]
        for title in page_titles(tree)[:DEFAULT_PAGE_TITLES]
    ]
    return PageHeadings(_first_texts(tree, "h1"), _first_texts(tree, "h2"), titles)


# Layout hints, not text: a headline's soft hyphens ("Messenger\u00addienste") and zero-width
# spaces would make a stored title differ from the same title typed.
_INVISIBLE = str.maketrans("", "", "\u00ad\u200b")


def _first_texts(tree: HtmlElement, tag: str) -> list[str]:
    found = []
    for element in tree.iter(tag):
        text = " ".join(element.text_content().translate(_INVISIBLE).split())
        # A heading wrapping half the page (broken markup) is no headline, and every title
        # rule would read its letters again.
        if text and len(text) <= DEFAULT_MAX_TITLE_CHARS:
            found.append(text)
            if len(found) == DEFAULT_HEADINGS:
                break
    return found


def _headline_run(
    parts: list[str], separators: list[str], headings: set[str], h1: set[str]
) -> str | None:
    """The longest run of ``parts`` (not all of them) that a heading spells (``headings``:
    their letters). One that leaves out a longer part must be an ``<h1>``'s (``h1``) of two
    words or more, and not a kicker (a run before a colon)."""
    best: str | None = None
    for start in range(len(parts)):
        for end in range(start + 1, len(parts) + 1):
            if end - start == len(parts):
                continue
            run = _join(parts, separators, start, end)
            if any(len(part) > len(run) for part in parts[:start] + parts[end:]):
                kicker = end < len(parts) and ":" in separators[end - 1]
                if len(run.split()) < 2 or kicker or letters(run) not in h1:
                    continue
            if letters(run) in headings and (best is None or len(run) > len(best)):
                best = run
    return best


def _as_spelt(title: str, headings: Sequence[str]) -> str:
    """``title`` as the first of ``headings`` with the same letters and as many words spells
    it (quotes, dashes, case); as it is without one."""
    found = letters(title)
    words = len(title.split())
    for heading in headings:
        if len(heading.split()) == words and letters(heading) == found:
            return " ".join(heading.split())
    return title


def _join(parts: list[str], separators: list[str], start: int, end: int) -> str:
    """``parts[start:end]`` with the separators that stood between them."""
    joined = parts[start]
    for i in range(start + 1, end):
        joined += separators[i - 1] + parts[i]
    return joined
