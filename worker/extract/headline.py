"""A page's headline and the text its reader sees around it: where the page shows the
article's date and byline.

Usage::

    from worker.extract.headline import around_headline

    around = around_headline(tree)
    around.below      # ("By Ann Writer", "3 June 2020", "The ferry resumes ..."): reading order
    around.above      # ("News", "Harbour"): reading order, the last one nearest
    around.nearest()  # all of them, nearest to the headline first

The headline is the ``<h1>``/``<h2>`` most of whose words are in the page's title
(``og:title``, ``<title>``), the one that repeats most of it (the site's name is in the
title too, but says less of it); without one, the first ``<h1>``. A dateline or a kicker is
right above it, a byline and a standfirst right below: the texts within
:data:`DEFAULT_BEFORE_CHARS` before and :data:`DEFAULT_AFTER_CHARS` after. Read once a page,
for :mod:`worker.extract.shown` (the date) and :mod:`worker.extract.byline` (the authors).
Only reads the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml.html import HtmlElement

DEFAULT_BEFORE_CHARS = 200
"""Text read above the headline: a dateline or kicker, not the page's navigation."""
DEFAULT_AFTER_CHARS = 300
"""Text read below the headline: the byline and a standfirst, not the article's body."""
DEFAULT_MIN_HEADLINE_CHARS = 8
"""A shorter heading is a section name or a logo, not a headline."""
DEFAULT_TITLE_SHARE = 0.75
"""A heading is the headline when this share of its words is in the page's title."""

# Text no reader sees, and form controls (a date picker's options are not the page's date).
_VISIBLE = (
    "[not(parent::script or parent::style or parent::noscript or parent::template"
    " or parent::option or parent::button or ancestor::head)]"
)
# Text nodes looked at on each side of the headline, whitespace between tags included: enough
# to fill the windows, without walking the whole page.
_NEAR_NODES = 120
_ABOVE = f"preceding::text()[position() <= {_NEAR_NODES}]{_VISIBLE}"
_BELOW = f"following::text()[position() <= {_NEAR_NODES}]{_VISIBLE}"
# In the <head> (searched alone when there is one: a whole-page search costs as much again).
_TITLES = (
    ".//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content"
    "|.//title/text()"
)
_NON_WORD_RE = re.compile(r"\W+")


@dataclass(frozen=True)
class Surroundings:
    """The texts around a page's headline (none without one), each with its distance in
    characters: text below as far as where it starts; text above as far as where it starts
    too, so its own length counts (a long paragraph above is not a dateline)."""

    above: tuple[tuple[int, str], ...] = ()
    below: tuple[tuple[int, str], ...] = ()

    @property
    def texts_above(self) -> list[str]:
        """The texts above, in reading order."""
        return [text for _, text in self.above]

    @property
    def texts_below(self) -> list[str]:
        """The texts below, in reading order."""
        return [text for _, text in self.below]

    def nearest(self) -> list[str]:
        """Every text, nearest to the headline first (below before above at equal distance)."""
        near = sorted(self.below + self.above, key=lambda item: item[0])
        return [text for _, text in near]


def around_headline(tree: HtmlElement) -> Surroundings:
    """The texts around the headline of the parsed page ``tree``."""
    headline = _headline(tree)
    if headline is None:
        return Surroundings()
    above = _window(reversed(headline.xpath(_ABOVE)), DEFAULT_BEFORE_CHARS, below=False)
    below = _window(headline.xpath(_BELOW), DEFAULT_AFTER_CHARS, below=True)
    return Surroundings(above=tuple(reversed(above)), below=tuple(below))


def page_titles(tree: HtmlElement) -> list[str]:
    """The page's own titles for itself, in document order: ``<title>``, ``og:title``,
    ``twitter:title`` (as written: entities decoded, spacing kept)."""
    head = tree.find("head")
    return [str(text) for text in (head if head is not None else tree).xpath(_TITLES)]


def _headline(tree: HtmlElement) -> HtmlElement | None:
    """The heading that repeats the page's title best; else the first ``<h1>``."""
    titles = [set(_folded(title).split()) for title in page_titles(tree)]
    best: tuple[int, HtmlElement] | None = None
    first_h1: HtmlElement | None = None
    for heading in tree.xpath("//h1|//h2"):
        text = _folded(heading.text_content())
        if len(text) < DEFAULT_MIN_HEADLINE_CHARS:
            continue
        if first_h1 is None and heading.tag == "h1":
            first_h1 = heading
        words = text.split()
        # Most of its words in the title, and as much of the title as any: the site's name
        # is in the title too, but the article's headline repeats more of it.
        in_title = max((sum(w in title for w in words) for title in titles), default=0)
        if in_title >= DEFAULT_TITLE_SHARE * len(words) and (best is None or in_title > best[0]):
            best = (in_title, heading)
    return best[1] if best is not None else first_h1


def _window(nodes: Iterable[Any], window: int, *, below: bool) -> list[tuple[int, str]]:
    """The stripped texts of ``nodes`` (nearest first) within ``window`` characters."""
    near: list[tuple[int, str]] = []
    passed = 0  # characters between the headline and this text
    for node in nodes:
        text = str(node).strip()
        if not text:
            continue
        distance = passed + 1 if below else passed + len(text) + 1
        if distance > window:
            break
        near.append((distance, text))
        passed += len(text) + 1
    return near


def _folded(text: str) -> str:
    return _NON_WORD_RE.sub(" ", text).strip().casefold()
